import type { WebSocket } from 'ws';
import { errorFromResponse, networkError } from '../api-client.js';
import type { InputStream, OutputStream } from '../context.js';
import { HIGH_WATER_MARK_BYTES, LOW_WATER_MARK_BYTES, CLOSE_PROTOCOL_ERROR, parseControl } from './wire.js';

/**
 * One websh channel from the user's side, over an already-created WebSocket:
 *
 *   stdin  --binary-->  socket  --binary-->  stdout
 *          --{"type":"eof"} (pipe mode)      --{"type":"stderr"}--> stderr
 *   resize --{"type":"resize"}-->            <--{"type":"exit"}  ends the session
 *
 * Input starts when the gateway says `ready` (or the first output arrives): bytes sent earlier would
 * have nowhere to go. Backpressure both ways: a full stdout/stderr pauses the socket until 'drain';
 * more than 1 MiB queued on the socket pauses stdin until a send callback sees less than 256 KiB.
 * No process-wide state here (no exit, no signals): commands/websh.ts owns those.
 */

/** How local stdin feeds the channel. */
export type StdinMode =
  /** Terminal in raw mode: every byte goes over as typed; no eof (Ctrl-D is just a byte). */
  | 'raw'
  /** A pipe or file: bytes go over, then `{"type":"eof"}` at its end. */
  | 'pipe'
  /**
   * Not read at all (a terminal stdin with a command and no -t). `eof` is sent at once, as `ssh -n`
   * does, so a command that reads stdin ends instead of waiting for input that can never come.
   */
  | 'none';

export interface TerminalSize {
  cols: number;
  rows: number;
}

export interface SessionIo {
  stdin: InputStream;
  stdout: OutputStream;
  stderr: OutputStream;
}

export interface SessionOptions {
  stdinMode: StdinMode;
  /**
   * The local terminal, for pty sessions: a `resize` frame goes out when `subscribe`'s callback fires
   * (SIGWINCH) and, should the signal not have been handled yet, before any input read after the size
   * changed, so that keys typed after a resize never reach the remote side before it.
   */
  resize?: {
    subscribe(onResize: () => void): () => void;
    /** The current size (read live; cheap enough to call per input chunk). */
    size(): TerminalSize;
    /** The size already sent when the session was opened. */
    initial?: TerminalSize;
  };
  /** Called once when input starts (the place to put the terminal into raw mode). */
  onStart?: () => void;
  /**
   * Look at each input chunk first: return the bytes to send, null to send nothing, or 'leave' to end
   * the session from this side (participants leave with Ctrl-]).
   */
  inputFilter?: (chunk: Buffer) => Buffer | null | 'leave';
}

/** How a session ended. */
export type SessionEnd =
  /** The remote process ended with this status. */
  | { kind: 'exit'; code: number | null; signal: string | null }
  /** The socket closed without an exit frame; `error` is the last `error` frame, if any (already printed). */
  | { kind: 'closed'; code: number; reason: string; error?: { code: string; message: string } }
  /** The socket could not be opened, or the gateway broke the protocol. */
  | { kind: 'failed'; message: string; network?: boolean }
  /** The user left (inputFilter said so); the session goes on without them. */
  | { kind: 'left' };

/** Run the session until exit, close or failure. Never rejects. */
export function runSession(ws: WebSocket, io: SessionIo, opts: SessionOptions): Promise<SessionEnd> {
  const { stdin, stdout, stderr } = io;
  return new Promise<SessionEnd>((resolve) => {
    let finished = false;
    let started = false;
    let lastError: { code: string; message: string } | undefined;
    let inputPaused = false;
    let unsubscribeResize: (() => void) | undefined;
    let lastSize = opts.resize?.initial;
    const waitingDrain = new Map<OutputStream, () => void>();

    const finish = (end: SessionEnd): void => {
      if (finished) return;
      finished = true;
      stdin.removeListener('data', onInput);
      stdin.removeListener('end', onInputEnd);
      stdin.removeListener('error', onInputEnd);
      if (started && opts.stdinMode !== 'none') stdin.pause();
      unsubscribeResize?.();
      for (const [s, onDrain] of waitingDrain) s.removeListener('drain', onDrain);
      resolve(end);
    };

    // --- remote -> local, with backpressure ------------------------------------------------------
    const output = (stream: OutputStream, data: Buffer): void => {
      if (stream.write(data) || waitingDrain.has(stream)) return;
      const onDrain = (): void => {
        waitingDrain.delete(stream);
        if (waitingDrain.size === 0 && !finished) ws.resume();
      };
      waitingDrain.set(stream, onDrain);
      ws.pause();
      stream.once('drain', onDrain);
    };

    // --- local -> remote, with backpressure ------------------------------------------------------
    const afterSend = (): void => {
      if (inputPaused && !finished && ws.bufferedAmount < LOW_WATER_MARK_BYTES) {
        inputPaused = false;
        stdin.resume();
      }
    };
    const sendResizeIfChanged = (): void => {
      if (!opts.resize || ws.readyState !== ws.OPEN) return;
      // size() may itself fire the subscribe callback (a re-entrant call); lastSize keeps it to one frame.
      const size = opts.resize.size();
      if (lastSize && size.cols === lastSize.cols && size.rows === lastSize.rows) return;
      lastSize = size;
      ws.send(JSON.stringify({ type: 'resize', cols: size.cols, rows: size.rows }));
    };
    function onInput(raw: Buffer | string): void {
      if (ws.readyState !== ws.OPEN) return;
      let chunk: Buffer | null | 'leave' = typeof raw === 'string' ? Buffer.from(raw) : raw;
      if (opts.inputFilter) chunk = opts.inputFilter(chunk);
      if (chunk === 'leave') {
        ws.close(1000, 'left');
        finish({ kind: 'left' });
        return;
      }
      if (chunk === null || chunk.length === 0) return;
      sendResizeIfChanged();
      ws.send(chunk, { binary: true }, afterSend);
      if (!inputPaused && ws.bufferedAmount > HIGH_WATER_MARK_BYTES) {
        inputPaused = true;
        stdin.pause();
      }
    }
    function onInputEnd(): void {
      if (opts.stdinMode === 'pipe' && ws.readyState === ws.OPEN) ws.send('{"type":"eof"}');
    }
    const start = (): void => {
      if (started || finished) return;
      started = true;
      opts.onStart?.();
      unsubscribeResize = opts.resize?.subscribe(sendResizeIfChanged);
      if (opts.stdinMode === 'none') {
        ws.send('{"type":"eof"}');
        return;
      }
      stdin.on('data', onInput);
      stdin.once('end', onInputEnd);
      stdin.once('error', onInputEnd);
      stdin.resume();
    };

    // --- the socket --------------------------------------------------------------------------------
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (finished) return;
      if (isBinary) {
        start();
        output(stdout, data);
        return;
      }
      const parsed = parseControl(data.toString('utf8'));
      if (!parsed.ok) {
        if (parsed.unknown) return; // a newer gateway's frame: nothing for us to do
        ws.close(CLOSE_PROTOCOL_ERROR, parsed.reason.slice(0, 120));
        finish({ kind: 'failed', message: `protocol error from the gateway: ${parsed.reason}` });
        return;
      }
      const f = parsed.frame;
      switch (f.type) {
        case 'ready':
          start();
          break;
        case 'stderr':
          start();
          output(stderr, Buffer.from(f.data, 'base64'));
          break;
        case 'exit':
          finish({ kind: 'exit', code: f.code, signal: f.signal });
          break;
        case 'notice':
          stderr.write(`corral: ${sanitizeLine(f.message)}\r\n`);
          break;
        case 'error':
          lastError = { code: f.code, message: f.message };
          stderr.write(`corral: ${sanitizeLine(f.code)}: ${sanitizeLine(f.message)}\r\n`);
          break;
        case 'ping':
          ws.send(JSON.stringify({ type: 'pong', ts: f.ts }));
          break;
        default:
          break; // pong, and frames meant for the agent
      }
    });
    ws.on('close', (code: number, reason: Buffer) => {
      finish({ kind: 'closed', code, reason: reason.toString('utf8'), ...(lastError ? { error: lastError } : {}) });
    });
    ws.on('error', (err: Error) => {
      let message = err.message;
      try {
        message = networkError(err, new URL(ws.url)).message;
      } catch {
        // keep the raw message
      }
      finish({ kind: 'failed', message, network: true });
    });
    ws.on('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const apiErr = errorFromResponse({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
        });
        finish({ kind: 'failed', message: `the gateway refused the channel: ${apiErr.toString()}` });
        req.destroy();
      });
    });
  });
}

// Control characters in gateway messages must not act on the user's terminal.
// eslint-disable-next-line no-control-regex
const sanitizeLine = (s: string): string => s.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ');
