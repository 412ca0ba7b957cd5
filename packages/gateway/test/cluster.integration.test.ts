/**
 * Cluster mode: two gateway nodes on the machine's PostgreSQL and NATS, real agent and CLI processes.
 * The agent holds its control connection on node A; the user talks to node B.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BIN, Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { createPgDatabase, request, tempDir } from './helpers.js';

/** The CLI's bearer token, wherever config.json keeps it. */
function findToken(dir: string): string {
  const text = readFileSync(join(dir, 'cli', 'config.json'), 'utf8');
  const m = /"token"\s*:\s*"(crl_[^"]+)"/.exec(text);
  if (!m) throw new Error('no token in the CLI config');
  return m[1]!;
}
let terminateMs = 0;

const NATS = process.env.CORRAL_TEST_NATS ?? 'nats://127.0.0.1:4222';
const IS_ROOT = process.getuid?.() === 0;

describe('cluster: two nodes on PostgreSQL and NATS', () => {
  let dir: ReturnType<typeof tempDir>;
  let dropDb: () => Promise<void>;
  let dbUrl: string;
  let nodeA: Proc;
  let nodeB: Proc;
  let agent: Proc;
  let urlA: string;
  let urlB: string;
  const NAME = 'cluster-1';
  const env = () => ({ CORRAL_CONFIG_DIR: join(dir.path, 'cli') });
  const cli = (args: string[], input?: string) =>
    run(BIN.cli, args, { env: env(), ...(input !== undefined ? { input } : {}) });
  const AS = IS_ROOT ? ['-u', TEST_OS_USER] : [];

  const startNode = (id: string, data: string) =>
    new Proc(BIN.gateway, [
      'start',
      '--data',
      data,
      '--listen',
      '127.0.0.1:0',
      '--db',
      dbUrl,
      '--bus',
      NATS,
      '--node-id',
      id,
    ]);

  async function status(): Promise<string | undefined> {
    const r = await cli(['server', 'ls', '--output', 'json']);
    const items = JSON.parse(r.stdout) as Array<{ name: string; status: string }>;
    return (Array.isArray(items) ? items : (items as { items: typeof items }).items).find((s) => s.name === NAME)
      ?.status;
  }

  beforeAll(async () => {
    dir = tempDir();
    if (IS_ROOT) await ensureTestUser();
    const pg = await createPgDatabase();
    dbUrl = pg.url;
    dropDb = pg.drop;
    nodeA = startNode(`a-${process.pid}`, join(dir.path, 'a'));
    urlA = (await nodeA.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    const fp = (await nodeA.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await nodeA.waitFor(/password:\s+(\S+)/))[1]!;
    // Nodes of one cluster share the CA and the grant-signing key (docs/operations.md).
    mkdirSync(join(dir.path, 'b', 'tls'), { recursive: true, mode: 0o700 });
    for (const f of ['tls/ca.key', 'tls/ca.crt', 'grant-signing.key'])
      cpSync(join(dir.path, 'a', f), join(dir.path, 'b', f));
    nodeB = startNode(`b-${process.pid}`, join(dir.path, 'b'));
    urlB = (await nodeB.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    expect((await nodeB.waitFor(/CA fingerprint: (\S+)/))[1]).toBe(fp);

    const login = await cli(
      ['login', urlB, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      password + '\n',
    );
    expect(login.code, login.stderr).toBe(0);
    const loginA = await run(
      BIN.cli,
      ['login', urlA, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      { env: { CORRAL_CONFIG_DIR: join(dir.path, 'cli-a') }, input: password + '\n' },
    );
    expect(loginA.code, loginA.stderr).toBe(0);
    const tok = JSON.parse((await cli(['server', 'token', 'create', '--output', 'json'])).stdout) as { token: string };
    const cfg = join(dir.path, 'agent.json');
    const reg = await run(BIN.agent, [
      'register',
      '--gateway',
      urlA,
      '--gateway',
      urlB,
      '--token',
      tok.token,
      '--ca-fingerprint',
      fp,
      '--config',
      cfg,
      '--name',
      NAME,
    ]);
    expect(reg.code, reg.stderr + reg.stdout).toBe(0);
    agent = new Proc(BIN.agent, ['run', '--config', cfg]);
    await eventually(async () => (await status()) === 'online');
  });

  /** The CLI in a real pseudo-terminal (`who`: the config dir, signed in to node B or, cli-a, node A). */
  const terms: Array<{ kill: () => void }> = [];
  async function term(args: string[], who = 'cli') {
    const pty = await import('node-pty');
    const p = pty.spawn(process.execPath, [BIN.cli, ...args], {
      cols: 100,
      rows: 30,
      env: { ...process.env, CORRAL_CONFIG_DIR: join(dir.path, who), TERM: 'xterm' } as Record<string, string>,
    });
    let out = '';
    p.onData((d) => (out += d));
    terms.push({ kill: () => p.kill() });
    return { pty: p, out: () => out, exited: new Promise<number>((r) => p.onExit((e) => r(e.exitCode))) };
  }
  async function liveTerminal(): Promise<string> {
    return eventually(async () => {
      const r = await cli(['websh', 'ls', '-o', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ id: string; command: string | null }> }).items.find(
        (x) => x.command === null,
      )?.id;
    });
  }

  afterAll(async () => {
    for (const t of terms) {
      try {
        t.kill();
      } catch {
        // gone
      }
    }
    if (terminateMs) console.log(`cross-node terminate took ${terminateMs} ms`);
    await agent?.stop();
    await nodeA?.stop('SIGKILL');
    await nodeB?.stop();
    await dropDb?.();
    dir?.remove();
  });

  it('opens websh on node B to an agent held by node A, bytes intact', async () => {
    expect(nodeA.err).toMatch(/agent connected/);
    const r = await cli(['websh', NAME, ...AS, '--', 'echo', 'across']);
    expect(r.stdout).toBe('across\n');
    const n = 2_000_000;
    const big = await cli(['websh', NAME, ...AS, '--', `head -c ${n} /dev/zero | tr '\\0' z`]);
    expect(big.stdout.length).toBe(n);
    expect(big.code).toBe(0);
  });

  it('runs exec, file transfers and a tunnel through node B on the agent held by node A', async () => {
    const ex = await cli(['exec', '--servers', NAME, ...AS, '-o', 'json', '--', 'echo', 'exec across']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(/"data":"exec across\\n"/);
    // Files: up and back down, 3 MiB, through the forwarded channel.
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    const local = join(dir.path, 'cross.bin');
    writeFileSync(local, payload);
    chmodSync(dir.path, 0o755);
    const remote = join(dir.path, 'remote-cross');
    mkdirSync(remote, { recursive: true, mode: 0o777 });
    chmodSync(remote, 0o777);
    const up = await cli(['cp', local, `${NAME}:${remote}/`, ...AS]);
    expect(up.code, up.stderr).toBe(0);
    const down = await cli(['cp', `${NAME}:${remote}/cross.bin`, join(dir.path, 'cross-back.bin'), ...AS]);
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(join(dir.path, 'cross-back.bin')).equals(payload)).toBe(true);
    // A tunnel to an HTTP server on the agent's side.
    const http = createServer((_req, res) => res.end('tunnel across'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as AddressInfo).port;
    const tun = new Proc(BIN.cli, ['tunnel', NAME, '-L', `0:127.0.0.1:${port}`], env());
    try {
      const m = await tun.waitFor(/Forwarding 127\.0\.0\.1:(\d+) ->/);
      const body = await new Promise<string>((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port: Number(m[1]), path: '/' }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      expect(body).toBe('tunnel across');
    } finally {
      await tun.stop('SIGINT');
      http.close();
    }
  });

  it('runs a multi-server command from node B on the agent held by node A (exec frames over NATS both ways)', async () => {
    // Node B has no connection to the agent: exec.start and exec.ack go out as bus requests answered by
    // node A, the output and the exit come back on the job's bus subject.
    const r = await cli(['exec', '--servers', NAME, ...AS, '--', 'echo', 'exec across']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${NAME} | exec across\n`);
    const job = /Job (exj_\S+):/.exec(r.stderr)![1]!;
    const show = JSON.parse((await cli(['exec', 'show', job, '-o', 'json'])).stdout) as {
      results: Array<{ server: string; status: string; exitCode: number; stdout: string }>;
    };
    expect(show.results).toEqual([
      expect.objectContaining({ server: NAME, status: 'ok', exitCode: 0, stdout: 'exec across\n' }),
    ]);
  });

  it('terminates a live session from the other node (cluster-wide control over NATS)', async () => {
    const live = cli(['websh', NAME, ...AS, '--', 'echo started; sleep 60']);
    const id = await eventually(async () => {
      const r = await cli(['session', 'ls', '--live', '--output', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ id: string; command: string | null }> }).items.find((x) =>
        x.command?.includes('sleep 60'),
      )?.id;
    });
    // The session's channel lives on node B (where the user is); ask node A to end it.
    const ca = readFileSync(join(dir.path, 'a', 'tls', 'ca.crt'), 'utf8');
    const t0 = Date.now();
    const r = await request(urlA, ca, 'POST', `/api/v1/websh/sessions/${id}/terminate`, { token: findToken(dir.path) });
    expect(r.status).toBe(202);
    const ended = await live;
    terminateMs = Date.now() - t0;
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(/terminated by admin@localhost/);
  });

  it('ending the work session on node A closes the terminal on node B, with the reason', async () => {
    const live = cli(['websh', NAME, ...AS, '--', 'echo started; sleep 60']);
    const ws = await eventually(async () => {
      const r = await cli(['audit', 'ls', '--action', 'session.start', '--output', 'json', '--limit', '5']);
      const items = (
        JSON.parse(r.stdout) as { items: Array<{ details: { command?: string; workSessionId?: string } }> }
      ).items;
      return items.find((e) => e.details.command?.includes('sleep 60'))?.details.workSessionId;
    });
    const ca = readFileSync(join(dir.path, 'a', 'tls', 'ca.crt'), 'utf8');
    // The admin's own (auto-approved) work session: its owner completes it; revoking someone else's
    // goes the same way (one terminate filter over NATS, tested on one node in work-sessions.e2e).
    const r = await request(urlA, ca, 'POST', `/api/v1/work-sessions/${ws}/complete`, { token: findToken(dir.path) });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const ended = await live;
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(/WORK_SESSION_ENDED|work session/i);
  });

  it('revoking an API token on node A ends the terminal it opened on node B (revocation fan-out over NATS)', async () => {
    const ca = readFileSync(join(dir.path, 'a', 'tls', 'ca.crt'), 'utf8');
    const made = await request(urlA, ca, 'POST', '/api/v1/tokens', {
      token: findToken(dir.path),
      body: { name: 'cluster', scopes: ['servers:read', 'websh:write'] },
    });
    expect(made.status).toBe(201);
    // The CLI's saved login points at node B; CORRAL_TOKEN replaces only the bearer.
    const live = run(BIN.cli, ['websh', NAME, ...AS, '--', 'echo started; sleep 60'], {
      env: { ...env(), CORRAL_TOKEN: made.body.token as string },
    });
    await eventually(async () => {
      const r = await cli(['session', 'ls', '--live', '--output', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ command: string | null }> }).items.some((x) =>
        x.command?.includes('sleep 60'),
      );
    });
    const r = await request(urlA, ca, 'DELETE', `/api/v1/tokens/${made.body.id}`, { token: findToken(dir.path) });
    expect(r.status).toBe(204);
    const ended = await live;
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toMatch(/revoked/);
    expect((await request(urlB, ca, 'GET', '/api/v1/servers', { token: made.body.token })).status).toBe(401);
  });

  it('shares and watches a terminal across nodes: the watcher on node A, the session on node B', async () => {
    const owner = await term(['websh', NAME, ...AS]);
    await eventually(async () => owner.out().length > 0, 15_000);
    owner.pty.write('echo shared-$((6*7))\r');
    await eventually(async () => owner.out().includes('shared-42'), 15_000);
    const id = await liveTerminal();
    // The same admin, signed in to node A: the viewer token comes from node B over NATS and the
    // watcher's socket, landing on node A, is forwarded to node B.
    const watcher = await term(['websh', 'watch', id], 'cli-a');
    await eventually(async () => watcher.out().includes('shared-42'), 15_000);
    await eventually(async () => owner.out().includes('is watching'), 15_000);
    owner.pty.write('echo live-$((5*5))\r');
    await eventually(async () => watcher.out().includes('live-25'), 15_000);
    watcher.pty.write('\x1d');
    expect(await watcher.exited).toBe(0);
    owner.pty.write('exit\r');
    expect(await owner.exited).toBe(0);
  });

  it('when node A is killed, the agent moves to node B and the server is online again within 35 s', async () => {
    // An interactive terminal: its agent leg runs through node A. It must survive node A's death.
    const kept = await term(['websh', NAME, ...AS]);
    await eventually(async () => kept.out().length > 0, 15_000);
    kept.pty.write('echo before-kill-$((2*3))\r');
    await eventually(async () => kept.out().includes('before-kill-6'), 15_000);
    // A session running through node A (the agent's leg of the channel is forwarded by A to B).
    const live = cli(['websh', NAME, ...AS, '--', 'echo started; sleep 60']);
    await eventually(async () =>
      (await cli(['audit', 'ls', '--output', 'json', '--limit', '5'])).stdout.includes('session.start'),
    );
    await new Promise((r) => setTimeout(r, 500));
    await nodeA.stop('SIGKILL');
    const ended = await live;
    expect(ended.stdout).toContain('started');
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(/lost|went away/i);
    await eventually(async () => nodeB.err.includes('agent connected'), 35_000);
    await eventually(async () => (await status()) === 'online', 35_000);
    const r = await cli(['websh', NAME, ...AS, '--', 'echo', 'moved']);
    expect(r.stdout).toBe('moved\n');
    // The interactive terminal was kept by the agent; the CLI re-attached through node B by itself.
    await eventually(async () => kept.out().includes('re-attaching session'), 15_000);
    kept.pty.write('echo after-kill-$((3*3))\r');
    await eventually(async () => kept.out().includes('after-kill-9'), 40_000);
    kept.pty.write('exit\r');
    expect(await kept.exited).toBe(0);
  });

  it('keeps one verifiable audit chain across nodes', async () => {
    const v = await cli(['audit', 'verify', '--output', 'json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout).ok).toBe(true);
  });
});
