/**
 * End to end, as a person would: real gateway, agent and CLI processes on loopback, over TLS 1.3,
 * against SQLite and PostgreSQL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { statSync, readFileSync } from 'node:fs';
import { BIN, Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { createPgDatabase, tempDir } from './helpers.js';

// The same suite on each storage and bus: SQLite with the in-process bus (the default), PostgreSQL with
// the in-process bus, and PostgreSQL with NATS (a one-node cluster: every agent frame and channel event
// goes through NATS).
type Variant = 'sqlite' | 'postgres' | 'postgres+nats';
const VARIANTS: Variant[] = ['sqlite', 'postgres', 'postgres+nats'];
const NATS = process.env.CORRAL_TEST_NATS ?? 'nats://127.0.0.1:4222';

const IS_ROOT = process.getuid?.() === 0;
const OTHER_USER = TEST_OS_USER;
// As root, run the sessions as a plain /bin/sh user: root's own dotfiles on a developer machine (pyenv,
// conda, ...) make every shell slow and are not what these tests are about.
const AS = IS_ROOT ? ['-u', OTHER_USER] : [];

describe.each(VARIANTS)('websh end to end on %s', (kind: Variant) => {
  let dir: ReturnType<typeof tempDir>;
  let gateway: Proc;
  let agent: Proc;
  let url: string;
  let fp: string;
  let dropDb: (() => Promise<void>) | undefined;
  let dbArgs: string[] = [];
  let dbUrlArgs: string[] = [];
  const env = () => ({ CORRAL_CONFIG_DIR: join(dir.path, 'cli') });
  const cli = (args: string[], input?: string) =>
    run(BIN.cli, args, { env: env(), ...(input !== undefined ? { input } : {}) });
  const agentConfig = () => join(dir.path, 'agent.json');
  const NAME = `e2e-${kind.replace('+', '-')}`;

  /** A member's terminal needs an approved work session (default policy): request it as them, approve as admin. */
  async function workSessionFor(memberEnv: Record<string, string>, server: string): Promise<string> {
    const req = await run(
      BIN.cli,
      ['work-session', 'request', '--servers', server, '--features', 'terminal', '--reason', 'e2e', '-o', 'json'],
      { env: memberEnv },
    );
    expect(req.code, req.stderr).toBe(0);
    const id = (JSON.parse(req.stdout) as { id: string; status: string }).id;
    const ok = await cli(['work-session', 'approve', id]);
    expect(ok.code, ok.stderr).toBe(0);
    return id;
  }

  async function serverStatus(): Promise<string | undefined> {
    const r = await cli(['server', 'ls', '--output', 'json']);
    const list = JSON.parse(r.stdout) as
      Array<{ name: string; status: string }> | { items: Array<{ name: string; status: string }> };
    const items = Array.isArray(list) ? list : list.items;
    return items.find((s) => s.name === NAME)?.status;
  }

  beforeAll(async () => {
    dir = tempDir();
    if (kind !== 'sqlite') {
      const pg = await createPgDatabase();
      dbUrlArgs = ['--db', pg.url];
      dbArgs = [
        '--db',
        pg.url,
        ...(kind === 'postgres+nats' ? ['--bus', NATS, '--node-id', `e2e-${process.pid}`] : []),
      ];
      dropDb = pg.drop;
    }
    gateway = new Proc(BIN.gateway, ['start', '--data', join(dir.path, 'gw'), '--listen', '127.0.0.1:0', ...dbArgs]);
    url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;

    const login = await cli(
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      password + '\n',
    );
    expect(login.code, login.stderr).toBe(0);

    const tok = await cli(['server', 'token', 'create', '--name', NAME, '--output', 'json']);
    expect(tok.code, tok.stderr).toBe(0);
    const token = (JSON.parse(tok.stdout) as { token: string }).token;
    const reg = await run(BIN.agent, [
      'register',
      '--gateway',
      url,
      '--token',
      token,
      '--ca-fingerprint',
      fp,
      '--config',
      agentConfig(),
      '--name',
      NAME,
      '--tag',
      'env=test',
    ]);
    expect(reg.code, reg.stderr + reg.stdout).toBe(0);
    agent = new Proc(BIN.agent, ['run', '--config', agentConfig()]);
    await eventually(async () => (await serverStatus()) === 'online');
    if (IS_ROOT) await ensureTestUser();
  });

  afterAll(async () => {
    await agent?.stop();
    await gateway?.stop();
    await dropDb?.();
    dir?.remove();
  });

  it('wrote the CLI and agent configs with mode 0600', () => {
    expect(statSync(agentConfig()).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir.path, 'cli', 'config.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(agentConfig(), 'utf8')).toContain('PRIVATE KEY');
  });

  it('lists the server with its platform and tags', async () => {
    const r = await cli(['server', 'ls']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${NAME}\\s+online`));
    expect(r.stdout).toContain('env=test');
    const show = await cli(['server', 'show', NAME]);
    expect(show.stdout).toContain(NAME);
  });

  it('runs a command like ssh: stdout, stderr apart, exit code passed through', async () => {
    const r = await cli(['websh', NAME, ...AS, '--', 'echo', 'hello;', 'echo', 'oops', '>&2;', 'exit', '7']);
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toContain('oops');
    expect(r.code).toBe(7);
  });

  it('delivers exactly N bytes through websh, in pipe and in pty mode (no lost tail)', async () => {
    const n = 3_000_000;
    const pipe = await cli(['websh', NAME, ...AS, '--', `head -c ${n} /dev/zero | tr '\\0' a`]);
    expect(pipe.code).toBe(0);
    expect(pipe.stdout.length).toBe(n);
    const pty = await cli(['websh', NAME, ...AS, '-t', '--', `head -c ${n} /dev/zero | tr '\\0' a`]);
    expect(pty.code).toBe(0);
    expect(pty.stdout.replace(/[\r\n]/g, '').length).toBe(n);
  });

  it('keeps gateway and agent memory bounded when the reader is slow (backpressure end to end)', async () => {
    const { spawn } = await import('node:child_process');
    const rss = (pid: number) =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    let peak = { gateway: 0, agent: 0 };
    const sample = setInterval(() => {
      peak = {
        gateway: Math.max(peak.gateway, rss(gateway.child.pid!)),
        agent: Math.max(peak.agent, rss(agent.child.pid!)),
      };
    }, 50);
    const total = 512 * 1024 * 1024;
    const child = spawn(process.execPath, [BIN.cli, 'websh', NAME, ...AS, '--', `head -c ${total} /dev/zero`], {
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Read nothing for a while: every buffer on the way fills up to its high-water mark and stops there.
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 3000));
    let received = 0;
    child.stdout.on('data', (d: Buffer) => (received += d.length));
    child.stdout.resume();
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearInterval(sample);
    expect(code).toBe(0);
    expect(received).toBe(total);
    expect(peak.gateway).toBeLessThan(200 * 1024 * 1024);
    expect(peak.agent).toBeLessThan(200 * 1024 * 1024);
  });

  it('forwards stdin to the command and closes it at EOF', async () => {
    const r = await cli(['websh', NAME, ...AS, '--', 'wc', '-c'], 'x'.repeat(100_000));
    expect(r.stdout.trim()).toBe('100000');
  });

  it('runs many sessions at once', async () => {
    const rs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cli(['websh', NAME, ...AS, '--', 'echo', `n${i}`])),
    );
    rs.forEach((r, i) => expect(r.stdout).toBe(`n${i}\n`));
  });

  it.skipIf(!IS_ROOT)('runs as the OS user asked for with -u', async () => {
    const r = await cli(['websh', NAME, '-u', OTHER_USER, '--', 'id', '-un']);
    expect(r.stdout.trim()).toBe(OTHER_USER);
    const bad = await cli(['websh', NAME, '-u', 'no-such-user-x', '--', 'true']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/OS_USER_UNKNOWN|no-such-user-x/);
  });

  it('opens an interactive login shell in a pty; the CLI exits with the shell status', async () => {
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN.cli, 'websh', NAME, ...AS], {
      cols: 100,
      rows: 30,
      env: { ...process.env, ...env(), TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    term.onData((d) => (screen += d));
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    await eventually(async () => screen.length > 0, 15_000);
    term.write('stty size; echo $((6*7))-marker\r');
    await eventually(async () => /42-marker/.test(screen), 15_000);
    expect(screen).toContain('30 100');
    term.resize(120, 40);
    term.write('stty size\r');
    await eventually(async () => screen.includes('40 120'), 15_000);
    term.write('exit 3\r');
    expect(await exited).toBe(3);
  });

  it('records a session row per terminal and audits start and end', async () => {
    const r = await cli(['audit', 'ls', '--output', 'json', '--limit', '200']);
    const events = JSON.parse(r.stdout) as
      | Array<{ action: string; details: Record<string, unknown> }>
      | { items: Array<{ action: string; details: Record<string, unknown> }> };
    const items = Array.isArray(events) ? events : events.items;
    const actions = new Set(items.map((e) => e.action));
    for (const a of [
      'auth.login',
      'join_token.create',
      'server.register',
      'agent.connect',
      'session.start',
      'session.end',
    ]) {
      expect(actions, a).toContain(a);
    }
    const end = items.find((e) => e.action === 'session.end' && e.details.exitCode === 7);
    expect(end).toBeDefined();
    const v = await cli(['audit', 'verify']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/OK/i);
  });

  it('lists sessions and lets staff terminate a live one; the user is told why', async () => {
    const live = cli(['websh', NAME, ...AS, '--', 'echo up; sleep 60']);
    const id = await eventually(async () => {
      const r = await cli(['session', 'ls', '--live', '--output', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ id: string; command: string | null }> }).items.find((x) =>
        x.command?.includes('sleep 60'),
      )?.id;
    });
    const t = await cli(['session', 'terminate', id]);
    expect(t.code, t.stderr).toBe(0);
    const ended = await live;
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(/terminated by admin@localhost/);
    const table = await cli(['session', 'ls']);
    expect(table.stdout).toMatch(new RegExp(`${id}.*terminated`));
    const again = await cli(['session', 'terminate', id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/SESSION_NOT_FOUND/);
  });

  it('invites a user through the outbox; deactivating them ends their live session and their token', async () => {
    const inv = await cli(['user', 'invite', 'dev@localhost', '--role', 'member']);
    expect(inv.code, inv.stderr).toBe(0);
    const out = await run(BIN.gateway, ['outbox', '--data', join(dir.path, 'gw'), ...dbUrlArgs, '--output', 'json']);
    const token = /cinv_[A-Za-z0-9_-]+/.exec(out.stdout)?.[0];
    expect(token, out.stderr).toBeDefined();
    const devEnv = { CORRAL_CONFIG_DIR: join(dir.path, 'cli-dev') };
    const acc = await run(BIN.cli, ['accept-invite', url, token!, '--password-stdin', '--ca-fingerprint', fp], {
      env: devEnv,
      input: 'dev password 123456\n',
    });
    expect(acc.code, acc.stderr).toBe(0);
    const g = await cli(['grant', '--user', 'dev@localhost', '--servers', NAME, '--level', 'write']);
    expect(g.code, g.stderr).toBe(0);
    await workSessionFor(devEnv, NAME);
    const live = run(BIN.cli, ['websh', NAME, ...AS, '--', 'echo up; sleep 60'], { env: devEnv, timeoutMs: 30_000 });
    await eventually(async () => {
      const r = await cli(['session', 'ls', '--live', '--output', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ userEmail: string | null }> }).items.some(
        (x) => x.userEmail === 'dev@localhost',
      );
    });
    const d = await cli(['user', 'deactivate', 'dev@localhost']);
    expect(d.code, d.stderr).toBe(0);
    const ended = await live;
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(/deactivated/);
    const who = await run(BIN.cli, ['whoami'], { env: devEnv });
    expect(who.code).not.toBe(0);
  });

  it('IAM: a member sees only servers granted by a glob on their group, later matches at once; removing them from the group ends their terminal', async () => {
    const inv = await cli(['user', 'invite', 'ops2@localhost']);
    expect(inv.code, inv.stderr).toBe(0);
    const out = await run(BIN.gateway, ['outbox', '--data', join(dir.path, 'gw'), ...dbUrlArgs, '--output', 'json']);
    const token = [...out.stdout.matchAll(/cinv_[A-Za-z0-9_-]+/g)]
      .map((m) => m[0])
      .find((t) => out.stdout.includes(`ops2@localhost`) && t)!;
    const memberEnv = { CORRAL_CONFIG_DIR: join(dir.path, 'cli-ops2') };
    const member = (args: string[]) => run(BIN.cli, args, { env: memberEnv });
    // The newest outbox message is ops2's invitation.
    const acc = await run(BIN.cli, ['accept-invite', url, token, '--password-stdin', '--ca-fingerprint', fp], {
      env: memberEnv,
      input: 'ops2 password 123456\n',
    });
    expect(acc.code, acc.stderr).toBe(0);
    const names = async () =>
      (
        JSON.parse((await member(['server', 'ls', '--output', 'json'])).stdout) as { items: Array<{ name: string }> }
      ).items.map((x) => x.name);
    expect(await names()).toEqual([]);
    const denied = await member(['websh', NAME, ...AS, '--', 'true']);
    expect(denied.code).toBe(255);
    expect(denied.stderr).toMatch(/SERVER_NOT_FOUND/);

    for (const args of [
      ['group', 'create', 'ops'],
      ['group', 'add-member', 'ops', 'ops2@localhost'],
      ['grant', '--group', 'ops', '--servers', 'e2e-*', '--level', 'write'],
    ]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expect(await names()).toEqual([NAME]);
    // A server registered afterwards that matches the glob is visible without any other change; others are not.
    for (const name of [`e2e-late-${kind.replace('+', '-')}`, `other-${kind.replace('+', '-')}`]) {
      const jt = JSON.parse((await cli(['server', 'token', 'create', '--output', 'json'])).stdout) as { token: string };
      const reg = await run(BIN.agent, [
        'register',
        '--gateway',
        url,
        '--token',
        jt.token,
        '--ca-fingerprint',
        fp,
        '--config',
        join(dir.path, `${name}.json`),
        '--name',
        name,
      ]);
      expect(reg.code, reg.stderr).toBe(0);
    }
    expect((await names()).sort()).toEqual([NAME, `e2e-late-${kind.replace('+', '-')}`].sort());
    const check = await cli(['access', 'check', 'ops2@localhost', NAME, 'websh']);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/ALLOW.*grant gr_/);
    // Scope alone is not enough: a terminal needs a work session, and the refusal says how to get one.
    const noWs = await member(['websh', NAME, ...AS, '--', 'true']);
    expect(noWs.code).toBe(255);
    expect(noWs.stderr).toMatch(/WORK_SESSION_REQUIRED/);
    expect(noWs.stderr).toContain(`corral work-session request --servers ${NAME} --features terminal`);
    await workSessionFor(memberEnv, NAME);

    const live = run(BIN.cli, ['websh', NAME, ...AS, '--', 'echo up; sleep 60'], { env: memberEnv, timeoutMs: 30_000 });
    await eventually(async () => {
      const r = await cli(['session', 'ls', '--live', '--output', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ userEmail: string | null }> }).items.some(
        (x) => x.userEmail === 'ops2@localhost',
      );
    });
    const t0 = Date.now();
    const rm = await cli(['group', 'remove-member', 'ops', 'ops2@localhost']);
    expect(rm.code, rm.stderr).toBe(0);
    const ended = await live;
    console.log(`[${kind}] terminal ended ${Date.now() - t0} ms after the group change`);
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(/access to this server was removed/);
    const after = await cli(['access', 'check', 'ops2@localhost', NAME, 'websh']);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/DENY/);

    // Server groups and tags as selectors; updating and deleting servers.
    const other = `other-${kind.replace('+', '-')}`;
    const up = await cli(['server', 'update', other, '--group', 'web-tier', '--tag', 'env=prod']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/env=prod.*web-tier/);
    expect(
      (await cli(['grant', '--user', 'ops2@localhost', '--servers', 'group:web-tier', '--level', 'read'])).code,
    ).toBe(0);
    expect(await names()).toEqual([other]);
    expect((await cli(['server-group', 'ls'])).stdout).toMatch(new RegExp(`web-tier\\s+${other}`));
    const del = await cli(['server', 'delete', other]);
    expect(del.code, del.stderr).toBe(0);
    expect(await names()).toEqual([]);
  });

  it('marks the server offline soon after the agent is SIGKILLed, and online again when it returns', async () => {
    await agent.stop('SIGKILL');
    await eventually(async () => (await serverStatus()) === 'offline', 35_000);
    const r = await cli(['websh', NAME, ...AS, '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/offline/i);
    agent = new Proc(BIN.agent, ['run', '--config', agentConfig()]);
    await eventually(async () => (await serverStatus()) === 'online');
  });

  it('after a gateway restart the agent comes back by itself', async () => {
    await gateway.stop();
    gateway = new Proc(BIN.gateway, [
      'start',
      '--data',
      join(dir.path, 'gw'),
      '--listen',
      new URL(url).host,
      ...dbArgs,
    ]);
    await gateway.waitFor(/listening on/);
    expect(gateway.out).not.toMatch(/password:/);
    await eventually(async () => (await serverStatus()) === 'online', 30_000);
    const r = await cli(['websh', NAME, ...AS, '--', 'echo', 'back']);
    expect(r.stdout).toBe('back\n');
  });

  it('logs out: the old token is refused with a clear message', async () => {
    const out = await cli(['logout']);
    expect(out.code).toBe(0);
    const who = await cli(['whoami']);
    expect(who.code).not.toBe(0);
    expect(who.stderr).toMatch(/login/i);
  });
});
