import { PassThrough, Writable } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { runSession, type SessionEnd, type SessionOptions } from './session.js';
import { exitStatus } from './exit-code.js';

/**
 * The websh client against a plain local WebSocketServer playing the gateway's side of a channel
 * (the real gateway and agent are exercised by the end-to-end suites). Each test scripts the fake
 * gateway and checks what reaches the local stdout/stderr and what the client sent.
 */

class Sink extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** The TCP socket under a ws server-side socket (to stop reading from it for a while). */
const rawSocket = (sock: WebSocket): Socket => (sock as unknown as { _socket: Socket })._socket;

/** Frames the client sent: binary and text apart, and all of them in order. */
type Received = { binary: Buffer[]; text: string[]; all: string[] };
type Script = (sock: WebSocket, received: Received) => void;

let servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers) for (const c of s.clients) c.terminate();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/** Start a fake gateway running `script` for the one client that connects. */
async function fakeGateway(script: Script): Promise<{ url: string; received: Received }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  servers.push(wss);
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const received: Received = { binary: [], text: [], all: [] };
  wss.on('connection', (sock) => {
    sock.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) received.binary.push(data as Buffer);
      else received.text.push(data.toString());
      received.all.push(`${isBinary ? 'binary' : 'text'} ${data.toString()}`);
    });
    script(sock, received);
  });
  const { port } = wss.address() as AddressInfo;
  return { url: `ws://127.0.0.1:${port}/api/v1/channels/ch_1?token=t`, received };
}

async function run(script: Script, opts: SessionOptions, stdin = new PassThrough()) {
  const gw = await fakeGateway(script);
  const stdout = new Sink();
  const stderr = new Sink();
  const ws = new WebSocket(gw.url, { perMessageDeflate: false });
  const end = await runSession(ws, { stdin, stdout, stderr }, opts);
  ws.terminate();
  return { end, stdout, stderr, received: gw.received };
}

const exit = (sock: WebSocket, code: number | null, signal: string | null = null) => {
  sock.send(JSON.stringify({ type: 'exit', code, signal }));
  sock.close(1000);
};

describe('websh session (client side of a channel)', () => {
  it('writes binary frames to stdout and stderr frames to stderr, then ends with the exit code', async () => {
    const { end, stdout, stderr } = await run(
      (sock) => {
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's_1' }));
        sock.send(Buffer.from('hello '), { binary: true });
        sock.send(JSON.stringify({ type: 'stderr', data: Buffer.from('oops\n').toString('base64') }));
        sock.send(Buffer.from('world\n'), { binary: true });
        exit(sock, 3);
      },
      { stdinMode: 'none' },
    );
    expect(stdout.text()).toBe('hello world\n');
    expect(stderr.text()).toBe('oops\n');
    expect(end).toEqual({ kind: 'exit', code: 3, signal: null });
    expect(exitStatus(3, null)).toBe(3);
  });

  it('passes bytes through unchanged (binary-safe), including large frames', async () => {
    const big = Buffer.alloc(900 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const { stdout, end } = await run(
      (sock) => {
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
        sock.send(big, { binary: true });
        sock.send(Buffer.from([0, 255, 10, 13]), { binary: true });
        exit(sock, 0);
      },
      { stdinMode: 'none' },
    );
    expect(Buffer.concat(stdout.chunks).equals(Buffer.concat([big, Buffer.from([0, 255, 10, 13])]))).toBe(true);
    expect(end.kind).toBe('exit');
  });

  it('forwards piped stdin as binary frames after ready, then sends eof when stdin ends', async () => {
    const stdin = new PassThrough();
    stdin.write('line 1\n');
    stdin.end('line 2\n');
    const { end, received, stdout } = await run(
      (sock, got) => {
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
        // Like `cat`: echo input back, exit when eof arrives.
        sock.on('message', (data: RawData, isBinary: boolean) => {
          if (isBinary) sock.send(data as Buffer, { binary: true });
          else if (JSON.parse(data.toString()).type === 'eof') {
            expect(Buffer.concat(got.binary).toString()).toBe('line 1\nline 2\n');
            exit(sock, 0);
          }
        });
      },
      { stdinMode: 'pipe' },
      stdin,
    );
    expect(end).toEqual({ kind: 'exit', code: 0, signal: null });
    expect(Buffer.concat(received.binary).toString()).toBe('line 1\nline 2\n');
    expect(received.text.map((t) => JSON.parse(t))).toEqual([{ type: 'eof' }]);
    expect(stdout.text()).toBe('line 1\nline 2\n');
  });

  it('does not read stdin before the gateway says ready', async () => {
    const stdin = new PassThrough();
    stdin.end('early\n');
    const { received } = await run(
      (sock, got) => {
        // Give the client every chance to send too early, then check and finish.
        sock.send(JSON.stringify({ type: 'notice', message: 'waiting for the agent' }));
        sock.ping();
        sock.once('pong', () => {
          expect(got.binary).toHaveLength(0);
          expect(got.text).toHaveLength(0);
          sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
          sock.on('message', (d: RawData, isBinary: boolean) => {
            if (!isBinary && JSON.parse(d.toString()).type === 'eof') exit(sock, 0);
          });
        });
      },
      { stdinMode: 'pipe' },
      stdin,
    );
    expect(Buffer.concat(received.binary).toString()).toBe('early\n');
  });

  it('leaves stdin alone in "none" mode (a terminal stdin with a command and no -t) and sends eof at once', async () => {
    const stdin = new PassThrough();
    stdin.write('typed\n');
    const { received } = await run(
      (sock, got) => {
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
        sock.on('message', () => {
          if (got.text.length === 1) exit(sock, 0);
        });
      },
      { stdinMode: 'none' },
      stdin,
    );
    expect(received.all).toEqual(['text {"type":"eof"}']);
    expect(stdin.read()?.toString()).toBe('typed\n'); // still there, unread
  });

  it('backpressure: a slow stdout pauses the socket until it drains, and no byte is lost', async () => {
    const gw = await fakeGateway((sock) => {
      sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
      for (let i = 0; i < 40; i++) sock.send(Buffer.alloc(64 * 1024, i), { binary: true });
      exit(sock, 0);
    });
    // A stdout that takes each write a turn of the event loop to complete, with a tiny buffer.
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        setImmediate(cb);
      },
    });
    const ws = new WebSocket(gw.url, { perMessageDeflate: false });
    let pauses = 0;
    const pause = ws.pause.bind(ws);
    ws.pause = () => {
      pauses++;
      pause();
    };
    const end = await runSession(
      ws,
      { stdin: new PassThrough(), stdout: slow, stderr: new Sink() },
      { stdinMode: 'none' },
    );
    ws.terminate();
    expect(end.kind).toBe('exit');
    expect(pauses).toBeGreaterThan(0);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(40 * 64 * 1024);
    for (let i = 0; i < 40; i++) expect(all[i * 64 * 1024]).toBe(i);
  });

  it('backpressure: stdin is paused while more than 1 MiB waits on the socket, then resumes', async () => {
    // More than loopback socket buffers hold, so the excess must queue in the client.
    const total = 24 * 1024 * 1024;
    const stdin = new PassThrough({ highWaterMark: 64 * 1024 });
    let sawPaused = false;
    const { received, end } = await run(
      (sock, got) => {
        // The gateway stops reading for a while, so the client's bufferedAmount grows.
        rawSocket(sock).pause();
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
        const feed = (): void => {
          let left = total;
          const step = (): void => {
            while (left > 0) {
              left -= 256 * 1024;
              if (!stdin.write(Buffer.alloc(256 * 1024, 7))) return void stdin.once('drain', step);
            }
            stdin.end();
          };
          step();
        };
        feed();
        const check = (): void => {
          if (stdin.isPaused()) {
            sawPaused = true;
            rawSocket(sock).resume();
          } else setImmediate(check);
        };
        check();
        sock.on('message', (_d: RawData, isBinary: boolean) => {
          if (!isBinary && got.text.at(-1) === '{"type":"eof"}') exit(sock, 0);
        });
      },
      { stdinMode: 'pipe' },
      stdin,
    );
    expect(end.kind).toBe('exit');
    expect(sawPaused).toBe(true);
    expect(received.binary.reduce((n, b) => n + b.length, 0)).toBe(total);
  });

  it('reports a signal death in the exit frame (128 + signal number)', async () => {
    const { end } = await run((sock) => exit(sock, null, 'SIGKILL'), { stdinMode: 'none' });
    expect(end).toEqual({ kind: 'exit', code: null, signal: 'SIGKILL' });
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
  });

  it('reports a close without an exit frame with its code and reason', async () => {
    const { end } = await run((sock) => sock.close(4411, 'work session expired'), { stdinMode: 'none' });
    expect(end).toEqual({ kind: 'closed', code: 4411, reason: 'work session expired' });
  });

  it('prints error and notice frames to stderr and keeps the error for the end report', async () => {
    const { end, stderr } = await run(
      (sock) => {
        sock.send(JSON.stringify({ type: 'notice', message: 'recording this session' }));
        sock.send(JSON.stringify({ type: 'error', code: 'OS_USER_UNKNOWN', message: 'no user "bob"' }));
        sock.close(4403, 'refused');
      },
      { stdinMode: 'none' },
    );
    expect(stderr.text()).toBe('corral: recording this session\r\ncorral: OS_USER_UNKNOWN: no user "bob"\r\n');
    expect(end).toMatchObject({ kind: 'closed', code: 4403, error: { code: 'OS_USER_UNKNOWN' } });
  });

  it('answers ping frames and ignores frame types it does not know', async () => {
    const { received, end } = await run(
      (sock, got) => {
        sock.send(JSON.stringify({ type: 'some.future.frame', x: 1 }));
        sock.send(JSON.stringify({ type: 'ping', ts: 42 }));
        sock.on('message', () => {
          if (got.text.length === 1) exit(sock, 0);
        });
      },
      { stdinMode: 'none' },
    );
    expect(received.text.map((t) => JSON.parse(t))).toEqual([{ type: 'pong', ts: 42 }]);
    expect(end.kind).toBe('exit');
  });

  it('closes with 4000 on a malformed control frame', async () => {
    let closed!: Promise<number>;
    const { end } = await run(
      (sock) => {
        closed = new Promise((r) => sock.on('close', (code) => r(code)));
        sock.send('{"type":"exit","code":"zero","signal":null}');
      },
      { stdinMode: 'none' },
    );
    expect(end).toMatchObject({ kind: 'failed', message: expect.stringMatching(/protocol error/) });
    // run() terminates the client after the session, so the close frame may or may not get out first.
    expect([4000, 1006]).toContain(await closed);
  });

  it('sends resize frames when the terminal size changes', async () => {
    const { received } = await run(
      (sock, got) => {
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
        sock.on('message', () => {
          if (got.text.length === 1) exit(sock, 0);
        });
      },
      {
        stdinMode: 'raw',
        resize: {
          // A SIGWINCH right after the session started.
          subscribe: (cb) => {
            const t = setImmediate(cb);
            return () => clearImmediate(t);
          },
          size: () => ({ cols: 132, rows: 43 }),
          initial: { cols: 80, rows: 24 },
        },
      },
    );
    expect(received.text.map((t) => JSON.parse(t))).toEqual([{ type: 'resize', cols: 132, rows: 43 }]);
  });

  it('sends a pending resize before input typed after it, even if SIGWINCH was not handled yet', async () => {
    const stdin = new PassThrough();
    let size = { cols: 80, rows: 24 };
    const { received } = await run(
      (sock, got) => {
        sock.send(JSON.stringify({ type: 'ready', sessionId: 's' }));
        sock.on('message', () => {
          if (got.binary.length === 2) exit(sock, 0);
        });
        setImmediate(() => {
          stdin.write('a'); // same size: no resize
          setImmediate(() => {
            size = { cols: 120, rows: 40 }; // the terminal was resized; no signal seen yet
            stdin.write('stty size\r');
          });
        });
      },
      {
        stdinMode: 'raw',
        resize: { subscribe: () => () => {}, size: () => size, initial: { cols: 80, rows: 24 } },
      },
      stdin,
    );
    expect(received.all).toEqual(['binary a', 'text {"type":"resize","cols":120,"rows":40}', 'binary stty size\r']);
  });

  it('fails with the gateway error when the upgrade is refused', async () => {
    const { createServer } = await import('node:http');
    const http = createServer((_req, res) => res.end());
    http.on('upgrade', (_req, socket) => {
      const body = JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'channel token used or expired' } });
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const { port } = http.address() as AddressInfo;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/channels/x?token=t`);
    const end: SessionEnd = await runSession(
      ws,
      { stdin: new PassThrough(), stdout: new Sink(), stderr: new Sink() },
      { stdinMode: 'none' },
    );
    http.close();
    expect(end).toEqual({
      kind: 'failed',
      message: 'the gateway refused the channel: UNAUTHENTICATED: channel token used or expired',
    });
  });
});
