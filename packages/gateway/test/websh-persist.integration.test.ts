/**
 * Websh in depth, as people use it: a real gateway, a real agent process, and the real CLI in real
 * pseudo-terminals. Persistence (a cut connection and the CLI re-attaching by itself; attach from another
 * terminal), sharing (read-only participants never reach the terminal; read-write ones do; removal),
 * watching and killing with a reason, and a recording that equals what the user saw.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import net from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { IPty } from 'node-pty';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { BIN, type Proc, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { cliPeople, onboard, startAgent } from './stack.js';
import { tempDir } from './helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const AS = IS_ROOT ? ['-u', TEST_OS_USER] : [];
const SRV = 'persist-01';

/** A TCP relay in front of the gateway whose connections the test can cut, as a network drop would. */
class CuttableProxy {
  private readonly sockets = new Set<net.Socket>();
  private server!: net.Server;
  port = 0;

  async start(target: { host: string; port: number }): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Drop every connection at once (RST), like a network that goes away. */
  cut(): void {
    for (const s of this.sockets) s.resetAndDestroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Term {
  pty: IPty;
  screen: () => string;
  /** Output since `mark()`. */
  since: () => string;
  mark: () => void;
  exited: Promise<number>;
}

describe('websh persistence, sharing and watching (gateway, agent, CLI)', () => {
  const dir = tempDir('corral-persist-');
  let gw: Gateway;
  let agent: Proc;
  let url: string;
  let fp: string;
  const proxy = new CuttableProxy();
  const PW = 'admin password for persist e2e';
  const people = cliPeople(dir.path, () => fp);
  const { envOf, as } = people;
  const terms: Term[] = [];

  async function term(who: string, args: string[]): Promise<Term> {
    const pty = await import('node-pty');
    const p = pty.spawn(process.execPath, [BIN.cli, ...args], {
      cols: 100,
      rows: 30,
      env: { ...process.env, ...envOf(who), TERM: 'xterm' } as Record<string, string>,
    });
    let out = '';
    let markAt = 0;
    p.onData((d) => (out += d));
    const t: Term = {
      pty: p,
      screen: () => out,
      since: () => out.slice(markAt),
      mark: () => (markAt = out.length),
      exited: new Promise<number>((r) => p.onExit((e) => r(e.exitCode))),
    };
    terms.push(t);
    return t;
  }

  const liveSessions = async (who = 'admin') =>
    (
      JSON.parse((await as(who, ['websh', 'ls', '-o', 'json'])).stdout) as {
        items: Array<{ id: string; state: string; keptUntil: string | null }>;
      }
    ).items;

  const auditActions = async (sessionId: string): Promise<string[]> => {
    const rows = await gw.services.db.selectFrom('audit_events').select(['action', 'details']).orderBy('seq').execute();
    return rows
      .filter((r) => (JSON.parse(r.details) as { sessionId?: string }).sessionId === sessionId)
      .map((r) => r.action);
  };

  beforeAll(async () => {
    if (IS_ROOT) await ensureTestUser();
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    fp = gw.tls.caFingerprint;
    const u = new URL(url);
    await proxy.start({ host: u.hostname, port: Number(u.port) });
    await people.login('admin', url, 'admin@localhost', PW);
    await people.login('admin-net', `https://127.0.0.1:${proxy.port}`, 'admin@localhost', PW);
    agent = await startAgent(people, 'admin', {
      url,
      fp,
      dir: dir.path,
      name: SRV,
      env: { CORRAL_METRICS_INTERVAL_MS: '0' },
    });
    for (const [name, role] of [
      ['sam', 'staff'],
      ['mia', 'member'],
    ] as const) {
      await onboard(people, gw.services.db, { inviter: 'admin', url, fp, name, role });
    }
  }, 120_000);

  afterAll(async () => {
    for (const t of terms) {
      try {
        t.pty.kill();
      } catch {
        // already gone
      }
    }
    await agent?.stop();
    await gw?.close();
    await proxy.stop();
    dir.remove();
  });

  it('re-attaches by itself after the connection is cut, and the screen comes back with what ran meanwhile', async () => {
    const t = await term('admin-net', ['websh', SRV, ...AS]);
    await eventually(async () => t.screen().length > 0, 15_000);
    t.pty.write('echo before-$((1+1))\r');
    await eventually(async () => t.screen().includes('before-2'), 15_000);
    const [session] = await liveSessions();
    expect(session).toMatchObject({ state: 'attached' });

    // Output produced while nobody is connected is kept by the agent and replayed.
    t.pty.write('sleep 1; echo during-$((2+2))\r');
    await new Promise((r) => setTimeout(r, 200));
    t.mark();
    proxy.cut();
    await eventually(async () => t.since().includes('re-attaching session'), 15_000);
    // The replay starts with a screen reset, then the terminal's recent output: before and during.
    // eslint-disable-next-line no-control-regex
    await eventually(async () => /\x1b\[2J[\s\S]*before-2[\s\S]*during-4/.test(t.since()), 30_000).catch(
      (e: unknown) => {
        throw new Error(
          `${String(e)}\n${JSON.stringify(t.since())}\n${agent.out.slice(-3000)}\n${agent.err.slice(-3000)}`,
        );
      },
    );
    t.mark();
    t.pty.write('echo after-$((3+3))\r');
    await eventually(async () => t.since().includes('after-6'), 15_000);
    t.pty.write('exit\r');
    expect(await t.exited).toBe(0);

    const actions = await eventually(async () => {
      const a = await auditActions(session!.id);
      return a.includes('session.end') ? a : undefined;
    });
    expect(actions.filter((a) => a === 'session.start')).toHaveLength(1);
    expect(actions).toContain('session.detach');
    expect(actions).toContain('session.attach');
    expect(actions.filter((a) => a === 'session.end')).toHaveLength(1);
    const row = await gw.services.db
      .selectFrom('websh_sessions')
      .selectAll()
      .where('id', '=', session!.id)
      .executeTakeFirstOrThrow();
    expect(row.end_reason).toBe('exit');
    expect(row.exit_code).toBe(0);
  });

  it('`websh attach ID` from another terminal takes the session over and shows its screen', async () => {
    const a = await term('admin', ['websh', SRV, ...AS]);
    await eventually(async () => a.screen().length > 0, 15_000);
    a.pty.write('echo mark-$((7*6))-A\r');
    await eventually(async () => a.screen().includes('mark-42-A'), 15_000);
    const [session] = await liveSessions();
    const b = await term('admin', ['websh', 'attach', session!.id]);
    await eventually(async () => b.screen().includes('mark-42-A'), 15_000);
    // The first terminal is told and ends (it does not fight back by re-attaching).
    expect(await a.exited).toBe(255);
    expect(a.screen()).toContain('attached from another terminal');
    b.pty.write('echo in-b-$((2*5))\r');
    await eventually(async () => b.screen().includes('in-b-10'), 15_000);
    b.pty.write('exit\r');
    expect(await b.exited).toBe(0);
    expect(await liveSessions()).toHaveLength(0);
  });

  it('shares read-only (keystrokes never reach the terminal), then read-write; removal disconnects', async () => {
    const owner = await term('admin', ['websh', SRV, ...AS]);
    await eventually(async () => owner.screen().length > 0, 15_000);
    owner.pty.write('echo owner-$((3*3))\r');
    await eventually(async () => owner.screen().includes('owner-9'), 15_000);
    const [session] = await liveSessions();
    const id = session!.id;

    // Not shared yet: refused (and audited).
    const early = await as('sam', ['websh', 'join', id]);
    expect(early.code).toBe(255);
    expect(early.stderr).toMatch(/not shared with you/);

    const share = await as('admin', ['websh', 'share', id, '--user', 'sam@localhost']);
    expect(share.code, share.stderr).toBe(0);
    expect(share.stdout).toContain('read-only');
    const ro = await term('sam', ['websh', 'join', id]);
    // The joiner sees the screen so far (the gateway's tail of the session).
    await eventually(async () => ro.screen().includes('owner-9'), 15_000);
    await eventually(async () => owner.screen().includes('sam@localhost joined (read-only)'), 15_000);
    const marker = join('/tmp', `corral-ro-${process.pid}-${Date.now()}`);
    ro.pty.write(`touch ${marker}\r`);
    await eventually(async () => ro.screen().includes('read-only'), 15_000);
    owner.pty.write('echo after-ro-$((4*4))\r');
    await eventually(async () => ro.screen().includes('after-ro-16'), 15_000);
    expect(existsSync(marker)).toBe(false);
    expect(owner.screen()).not.toContain(`touch ${marker}`);

    // Removing the share disconnects the participant at once.
    const un = await as('admin', ['websh', 'unshare', id, 'sam@localhost']);
    expect(un.code, un.stderr).toBe(0);
    expect(await ro.exited).toBe(255);
    await eventually(async () => owner.screen().includes('sam@localhost left'), 15_000);

    // Read-write: what the participant types reaches the terminal.
    expect((await as('admin', ['websh', 'share', id, '--user', 'sam@localhost', '--read-write'])).code).toBe(0);
    const rw = await term('sam', ['websh', 'join', id]);
    await eventually(async () => rw.screen().includes('read-write'), 15_000);
    rw.pty.write('echo from-sam-$((5*5))\r');
    await eventually(async () => owner.screen().includes('from-sam-25'), 15_000);
    // What a participant types is audited like the owner's commands (and scored for risk).
    await eventually(async () => {
      const rows = await gw.services.db
        .selectFrom('audit_events')
        .select('details')
        .where('action', '=', 'session.command')
        .execute();
      return rows.some((r) => (JSON.parse(r.details) as { command: string }).command === 'echo from-sam-$((5*5))');
    });
    // Ctrl-] leaves; the session goes on.
    rw.pty.write('\x1d');
    expect(await rw.exited).toBe(0);

    // A member without a share cannot join, nor watch (staff only).
    const mia = await as('mia', ['websh', 'watch', id]);
    expect(mia.code).toBe(255);
    expect(mia.stderr).toMatch(/FORBIDDEN|staff/);

    // Staff watch read-only; the owner is told; kill with a reason ends it for everyone.
    const watcher = await term('sam', ['websh', 'watch', id]);
    await eventually(async () => owner.screen().includes('sam@localhost is watching'), 15_000);
    const kill = await as('sam', ['websh', 'kill', id, '--reason', 'INC-7 cleanup']);
    expect(kill.code, kill.stderr).toBe(0);
    expect(await owner.exited).toBe(255);
    expect(owner.screen()).toMatch(/terminated by sam@localhost: INC-7 cleanup/);
    expect(await watcher.exited).toBe(255);

    const actions = await eventually(async () => {
      const a = await auditActions(id);
      return a.includes('session.end') ? a : undefined;
    });
    for (const a of [
      'session.share',
      'session.join',
      'session.leave',
      'session.unshare',
      'session.watch',
      'session.terminate',
    ])
      expect(actions).toContain(a);
    // Joins and leaves are marked in the recording.
    const cast = await eventually(async () => {
      const e = await as('admin', ['recording', 'export', id]);
      return e.code === 0 ? e.stdout : undefined;
    });
    const markers = cast
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'm')
      .map((e) => e[2]);
    expect(markers).toContain('sam@localhost joined (read-only)');
    expect(markers).toContain('sam@localhost joined (read-write)');
    expect(markers).toContain('sam@localhost started watching');
  });

  it('a share link lets a signed-in, allowed user join until it is removed', async () => {
    const owner = await term('admin', ['websh', SRV, ...AS]);
    await eventually(async () => owner.screen().length > 0, 15_000);
    const [session] = await liveSessions();
    const made = await as('admin', ['websh', 'share', session!.id, '--link', '--expires', '10m', '-o', 'json']);
    expect(made.code, made.stderr).toBe(0);
    const link = (JSON.parse(made.stdout) as { linkToken: string }).linkToken;
    expect(link).toMatch(/^cws_/);
    const bad = await as('sam', ['websh', 'join', session!.id, '--link', 'cws_' + 'x'.repeat(40)]);
    expect(bad.code).toBe(255);
    const viewer = await term('sam', ['websh', 'join', session!.id, '--link', link]);
    await eventually(async () => owner.screen().includes('sam@localhost joined (read-only)'), 15_000);
    viewer.pty.write('\x1d');
    expect(await viewer.exited).toBe(0);
    owner.pty.write('exit\r');
    expect(await owner.exited).toBe(0);
  });

  it('a gateway restart keeps the terminal: the CLI re-attaches to the new process, which adopts the session', async () => {
    const t = await term('admin', ['websh', SRV, ...AS]);
    await eventually(async () => t.screen().length > 0, 15_000);
    t.pty.write('echo pre-restart-$((8*8))\r');
    await eventually(async () => t.screen().includes('pre-restart-64'), 15_000);
    const port = new URL(url).port;
    await gw.close();
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: `127.0.0.1:${port}` }), {
      log: silentLogger,
    });
    await gw.listen();
    await eventually(async () => t.screen().includes('re-attaching session'), 15_000);
    t.mark();
    // The agent reconnects (backoff), then the CLI's next attempt lands; the replay brings the screen back.
    await eventually(async () => t.since().includes('pre-restart-64'), 60_000);
    t.pty.write('echo post-restart-$((9*9))\r');
    await eventually(async () => t.since().includes('post-restart-81'), 15_000);
    const id = (await liveSessions())[0]!.id;
    t.pty.write('exit\r');
    expect(await t.exited).toBe(0);
    // One recording for the whole session: the part written before the restart, then the rest.
    const cast = await eventually(async () => {
      const e = await as('admin', ['recording', 'export', id]);
      return e.code === 0 ? e.stdout : undefined;
    });
    const events = cast
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string]);
    const output = events
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    expect(output.indexOf('pre-restart-64')).toBeGreaterThan(-1);
    expect(output.indexOf('post-restart-81')).toBeGreaterThan(output.indexOf('pre-restart-64'));
    expect(events.map((e) => e[0])).toEqual([...events.map((e) => e[0])].sort((a, b) => a - b));
    expect(events.filter((e) => e[1] === 'm').map((e) => e[2])).toContain('adopted by this gateway node');
  });

  it('a recorded interactive session plays back byte-identical to what the user saw', async () => {
    const t = await term('admin', ['websh', SRV, ...AS]);
    await eventually(async () => t.screen().length > 0, 15_000);
    t.pty.write('printf "\\033[1mbold\\033[0m \\342\\234\\223 %s\\n" $((6*7))\r');
    await eventually(async () => t.screen().includes('42'), 15_000);
    t.pty.write('exit\r');
    expect(await t.exited).toBe(0);
    const id = (
      JSON.parse((await as('admin', ['websh', 'ls', '--ended', '-o', 'json'])).stdout) as {
        items: Array<{ id: string }>;
      }
    ).items[0]!.id;
    const cast = await eventually(async () => {
      const e = await as('admin', ['recording', 'export', id]);
      return e.code === 0 ? e.stdout : undefined;
    });
    const played = cast
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    // Every byte the CLI received reached its terminal as is, but for the one translation the local
    // tty does even in raw mode (libuv keeps ONLCR: each \n is written as \r\n).
    expect(played.replace(/\n/g, '\r\n')).toBe(t.screen());
  });
});
