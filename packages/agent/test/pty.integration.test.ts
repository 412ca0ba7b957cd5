import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userInfo } from 'node:os';
import {
  ChannelServer,
  channelOpen,
  hermeticPasswd,
  makeManager,
  removeTempHomes,
  waitFor,
} from './channel-harness.js';
import { spawnPty } from '../src/channels/pty-process.js';
import { planLaunch } from '../src/channels/launch-plan.js';
import { systemClock } from '../src/clock.js';
import { lookupUser } from '../src/channels/passwd.js';
import type { Socket } from 'node:net';

const START = '<<corral-start>>';
const END = '<<corral-end>>';

/** The bytes between the start and end markers (the shell's own chatter, if any, is ignored). */
function between(output: Buffer): string {
  const s = output.toString('latin1');
  const a = s.indexOf(START);
  const b = s.lastIndexOf(END);
  expect(a).toBeGreaterThanOrEqual(0);
  expect(b).toBeGreaterThan(a);
  return s.slice(a + START.length, b);
}

let server: ChannelServer;
beforeAll(async () => {
  server = await ChannelServer.start();
});
afterAll(async () => {
  await server.close();
  removeTempHomes();
});

describe('pty channel (node-pty, real processes)', () => {
  it('delivers exactly N bytes of `head -c N` before exit (node-pty tail-loss regression)', async () => {
    const N = 300_000;
    const { manager, rejects } = makeManager(server);
    manager.open(
      channelOpen({ pty: true, command: [`printf '${START}'; head -c ${N} /dev/zero | tr '\\0' a; printf '${END}'`] }),
    );
    const ch = await server.next();
    const t = await ch.done;
    expect(rejects).toEqual([]);
    expect(ch.url).toMatch(/^\/api\/v1\/channels\/ch_\d+_\d+\?token=tok_x+$/);
    const body = between(t.output);
    expect(body.length).toBe(N);
    expect(/^a*$/.test(body)).toBe(true);
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });
    expect(t.bytesBeforeExit).toBe(t.output.length);
    expect(t.closeCode).toBe(1000);
    await waitFor(() => manager.size === 0);
  });

  it('delivers every byte of a big output to a slow reader (backpressure, then drain at exit)', async () => {
    const N = 8 * 1024 * 1024;
    const { manager } = makeManager(server);
    manager.open(
      channelOpen({ pty: true, command: [`printf '${START}'; head -c ${N} /dev/zero | tr '\\0' b; printf '${END}'`] }),
    );
    const ch = await server.next();
    // Stop reading for a while so the agent's bufferedAmount passes the high-water mark.
    const raw = (ch.ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    await new Promise((r) => setTimeout(r, 300));
    raw.resume();
    const t = await ch.done;
    const body = between(t.output);
    expect(body.length).toBe(N);
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });
  });

  it('keeps the tail when the pty is paused at the moment the process exits', async () => {
    // Direct regression test for the drain guard: node-pty destroys the tty stream 200 ms after
    // exit, or on EIO, and drops what is buffered. Pause before exit, resume well after.
    const user = lookupUser(hermeticPasswd(), userInfo().username)!;
    const plan = planLaunch({
      user,
      pty: true,
      command: [`head -c 3000 /dev/zero | tr '\\0' c`],
      switchUser: false,
      homeExists: true,
    });
    const proc = spawnPty(plan, { cols: 80, rows: 24, term: 'xterm' }, systemClock);
    let got = '';
    let exit: unknown;
    proc.onData((d) => (got += d.toString('latin1')));
    proc.onExit((s) => (exit = s));
    proc.pause();
    await new Promise((r) => setTimeout(r, 600));
    proc.resume();
    await waitFor(() => exit !== undefined);
    expect(got.replace(/[^c]/g, '').length).toBe(3000);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('types keystrokes into the terminal and applies resize', async () => {
    const { manager } = makeManager(server);
    manager.open(
      channelOpen({ pty: true, cols: 80, rows: 24, command: ['stty size; read line; stty size; echo "got:$line"'] }),
    );
    const ch = await server.next();
    await waitFor(() => ch.received().includes('24 80'));
    ch.ws.send(JSON.stringify({ type: 'resize', cols: 100, rows: 30 }));
    ch.ws.send(Buffer.from('hello\r'), { binary: true });
    const t = await ch.done;
    const out = t.output.toString();
    expect(out).toContain('24 80');
    expect(out).toContain('30 100');
    expect(out).toContain('got:hello');
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });
  });

  it('reports the exit code of the command', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: true, command: ['exit 7'] }));
    const t = await (await server.next()).done;
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 7, signal: null });
  });

  it('hangs up the shell when the user leaves first', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: true }));
    const ch = await server.next();
    await waitFor(() => manager.size === 1);
    ch.ws.close(1000);
    await ch.done;
    await waitFor(() => manager.size === 0);
  });

  it('security: closes the channel with 4000 on a malformed control frame and ends the process', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: true, command: ['sleep 600'] }));
    const ch = await server.next();
    ch.ws.send('{"type":"resize","cols":"wide"}');
    const t = await ch.done;
    expect(t.closeCode).toBe(4000);
    await waitFor(() => manager.size === 0);
  });

  it('shuts down every channel with 1001', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: true, command: ['sleep 600'] }));
    manager.open(channelOpen({ pty: false, command: ['sleep 600'] }));
    const a = await server.next();
    const b = await server.next();
    await waitFor(() => manager.size === 2);
    await new Promise((r) => setTimeout(r, 50));
    await manager.dispose();
    expect((await a.done).closeCode).toBe(1001);
    expect((await b.done).closeCode).toBe(1001);
    expect(manager.size).toBe(0);
  });
});

describe('pipe channel (child_process)', () => {
  it('delivers exactly N bytes of `head -c N` before exit', async () => {
    const N = 3_000_000;
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: false, command: [`head -c ${N} /dev/zero`] }));
    const t = await (await server.next()).done;
    expect(t.output.length).toBe(N);
    expect(t.output.every((b) => b === 0)).toBe(true);
    expect(t.bytesBeforeExit).toBe(N);
    expect(t.controls).toEqual([{ type: 'exit', code: 0, signal: null }]);
    expect(t.closeCode).toBe(1000);
  });

  it('keeps stderr apart as base64 text frames and reports the exit code', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: false, command: ['echo out; echo err >&2; exit 3'] }));
    const t = await (await server.next()).done;
    expect(t.output.toString()).toBe('out\n');
    const stderr = t.controls
      .filter((c) => c.type === 'stderr')
      .map((c) => Buffer.from(c.data as string, 'base64').toString())
      .join('');
    expect(stderr).toBe('err\n');
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 3, signal: null });
  });

  it('feeds binary frames to stdin and closes it on eof', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: false, command: ['wc', '-c'] }));
    const ch = await server.next();
    const chunk = Buffer.alloc(100_000, 7);
    for (let i = 0; i < 20; i++) ch.ws.send(chunk, { binary: true });
    ch.ws.send(JSON.stringify({ type: 'eof' }));
    const t = await ch.done;
    expect(t.output.toString().trim()).toBe('2000000');
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });
  });

  it('finishes the close handshake when the process exits while stdin backpressure paused the socket', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: false, command: ['sleep 0.3'] })); // never reads its stdin
    const ch = await server.next();
    const chunk = Buffer.alloc(256 * 1024, 1);
    for (let i = 0; i < 16; i++) ch.ws.send(chunk, { binary: true });
    const t = await ch.done;
    expect(t.controls.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });
    expect(t.closeCode).toBe(1000);
    // Bounded below ws's 30 s close timeout: a socket left paused cannot read the peer's close
    // frame, and the handshake would then only end when that timeout fires.
  }, 10_000);

  it('kills the process group when the user leaves first', async () => {
    const { manager } = makeManager(server);
    manager.open(channelOpen({ pty: false, command: ['sleep 600 | cat'] }));
    const ch = await server.next();
    await waitFor(() => manager.size === 1);
    await new Promise((r) => setTimeout(r, 50));
    ch.ws.close(1000);
    await waitFor(() => manager.size === 0);
  });
});

describe('channel.open refusals (nothing is dialed)', () => {
  it('security: agent rejects a grant for another server without dialing', async () => {
    const { manager, rejects } = makeManager(server);
    const before = server.connections;
    manager.open(channelOpen({ pty: true, grant: { serverId: 'srv_other' } }));
    expect(rejects.map((r) => r.code)).toEqual(['GRANT_WRONG_SERVER']);
    expect(manager.size).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.connections).toBe(before);
  });

  it('security: agent rejects a replayed channel.open', async () => {
    const { manager, rejects } = makeManager(server);
    const msg = channelOpen({ pty: false, command: ['true'] });
    manager.open(msg);
    await (
      await server.next()
    ).done;
    manager.open(msg);
    expect(rejects.map((r) => r.code)).toEqual(['GRANT_REPLAYED']);
  });

  it('rejects an unknown OS user', () => {
    const { manager, rejects } = makeManager(server);
    manager.open(channelOpen({ pty: true, osUser: 'no_such_user_corral' }));
    expect(rejects.map((r) => r.code)).toEqual(['OS_USER_UNKNOWN']);
  });
});

const asRoot = process.getuid?.() === 0;
const NOBODY = 'corraltest:x:65534:65534:test:/nonexistent:/bin/sh\n';

describe.skipIf(!asRoot)('running as another OS user (root agent)', () => {
  it("pipe mode runs as the grant user with only that user's groups (setpriv --init-groups)", async () => {
    const { manager } = makeManager(server, { readPasswd: () => NOBODY });
    manager.open(channelOpen({ pty: false, osUser: 'corraltest', command: ['id -u; id -G; pwd'] }));
    const t = await (await server.next()).done;
    const [uid, groups, cwd] = t.output.toString().trim().split('\n');
    expect(uid).toBe('65534');
    expect(groups!.split(' ')).not.toContain('0');
    expect(cwd).toBe('/');
  });

  it("pty mode runs as the grant user without root's supplementary groups", async () => {
    const { manager } = makeManager(server, { readPasswd: () => NOBODY });
    manager.open(
      channelOpen({ pty: true, osUser: 'corraltest', command: [`printf '${START}'; id -u; id -G; printf '${END}'`] }),
    );
    const t = await (await server.next()).done;
    const [uid, groups] = between(t.output).trim().split(/\r?\n/);
    expect(uid).toBe('65534');
    expect(groups!.split(' ')).not.toContain('0');
  });
});
