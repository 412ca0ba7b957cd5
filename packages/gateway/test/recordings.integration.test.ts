/**
 * Terminal recordings: a real session through a real agent is recorded as asciicast v2, listed, exported
 * and played by Debian's asciinema; its SHA-256 is in session.end; old recordings are purged (fake clock).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BIN, Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { request, tempDir } from './helpers.js';
import { buildApp } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';

const IS_ROOT = process.getuid?.() === 0;
const AS = IS_ROOT ? ['-u', TEST_OS_USER] : [];
const HAVE_ASCIINEMA = spawnSync('asciinema', ['--version']).status === 0;

describe('terminal recordings', () => {
  const dir = tempDir('corral-rec-');
  let gateway: Proc;
  let agent: Proc;
  let url: string;
  let ca: string;
  const env = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
  const cli = (args: string[]) => run(BIN.cli, args, { env });

  beforeAll(async () => {
    if (IS_ROOT) await ensureTestUser();
    gateway = new Proc(BIN.gateway, ['start', '--data', join(dir.path, 'gw'), '--listen', '127.0.0.1:0']);
    url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    const fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    ca = readFileSync(join(dir.path, 'gw', 'tls', 'ca.crt'), 'utf8');
    const login = await run(
      BIN.cli,
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      {
        env,
        input: password + '\n',
      },
    );
    expect(login.code, login.stderr).toBe(0);
    const tok = JSON.parse((await cli(['server', 'token', 'create', '-o', 'json'])).stdout) as { token: string };
    const cfg = join(dir.path, 'agent.json');
    const reg = await run(BIN.agent, [
      'register',
      '--gateway',
      url,
      '--token',
      tok.token,
      '--ca-fingerprint',
      fp,
      '--config',
      cfg,
      '--name',
      'rec-01',
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    agent = new Proc(BIN.agent, ['run', '--config', cfg], { CORRAL_METRICS_INTERVAL_MS: '0' });
    await eventually(async () => (await cli(['server', 'ls'])).stdout.includes('online'));
  });

  afterAll(async () => {
    await agent?.stop();
    await gateway?.stop();
    dir.remove();
  });

  it('records a session as asciicast v2; exports it; its SHA-256 is in session.end; asciinema plays it', async () => {
    const r = await cli([
      'websh',
      'rec-01',
      ...AS,
      '--',
      'echo first line; sleep 0.3; printf "second \\342\\234\\223\\n"',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const list = await eventually(async () => {
      const l = JSON.parse((await cli(['recording', 'ls', '-o', 'json'])).stdout) as {
        items: Array<{ sessionId: string; available: boolean; sha256: string | null }>;
      };
      return l.items[0]?.available ? l : undefined;
    });
    const id = list.items[0]!.sessionId;
    const exp = await cli(['recording', 'export', id]);
    expect(exp.code, exp.stderr).toBe(0);
    const lines = exp.stdout.trim().split('\n');
    const header = JSON.parse(lines[0]!) as { version: number; width: number; title: string };
    expect(header).toMatchObject({ version: 2, width: 80 });
    expect(header.title).toMatch(/admin@localhost on rec-01/);
    const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(
      events
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
    ).toBe('first line\nsecond ✓\n');
    expect(events[events.length - 1]![0]).toBeGreaterThan(events[0]![0]);

    // The stored .cast.gz is what session.end's SHA-256 names.
    const gz = await request(url, ca, 'GET', `/api/v1/recordings/${id}?format=gz`, {
      token: (JSON.parse(readFileSync(join(dir.path, 'cli', 'config.json'), 'utf8')) as { token: string }).token,
    });
    expect(gz.status).toBe(200);
    const audit = JSON.parse((await cli(['audit', 'ls', '--action', 'session.end', '-o', 'json'])).stdout) as {
      items: Array<{ details: { sessionId: string; recording?: { sha256: string } } }>;
    };
    const end = audit.items.find((e) => e.details.sessionId === id)!;
    const file = execFileSync('find', [join(dir.path, 'gw', 'recordings'), '-name', `${id}.cast.gz`])
      .toString()
      .trim();
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(end.details.recording!.sha256).toBe(sha);
    expect(gunzipSync(readFileSync(file)).toString()).toBe(exp.stdout);

    if (HAVE_ASCIINEMA) {
      const cast = join(dir.path, 's.cast');
      writeFileSync(cast, exp.stdout);
      // asciinema cat wants a terminal: give it one with script(1).
      const out = execFileSync('script', ['-qec', `asciinema cat ${cast}`, '/dev/null']).toString();
      expect(out).toContain('first line');
      expect(out).toContain('second ✓');
    }
    const play = await cli(['recording', 'play', id, '--speed', '10']);
    expect(play.stdout).toBe('first line\nsecond ✓\n');
  });

  it('captures each command typed in an interactive terminal as session.command and a recording marker', async () => {
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN.cli, 'websh', 'rec-01', ...AS], {
      cols: 100,
      rows: 30,
      env: { ...process.env, ...env, TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    term.onData((d) => (screen += d));
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    await eventually(async () => screen.length > 0, 15_000);
    term.write('echo captured-$((6*7))\r');
    await eventually(async () => screen.includes('captured-42'), 15_000);
    term.write('exit\r');
    expect(await exited).toBe(0);
    const audit = await eventually(async () => {
      const a = JSON.parse((await cli(['audit', 'ls', '--action', 'session.command', '-o', 'json'])).stdout) as {
        items: Array<{ details: { command: string; sessionId: string } }>;
      };
      return a.items.length >= 2 ? a : undefined;
    });
    const cmds = audit.items.map((e) => e.details.command).reverse();
    expect(cmds).toEqual(['echo captured-$((6*7))', 'exit']);
    const id = audit.items[0]!.details.sessionId;
    const cast = await eventually(async () => {
      const e = await cli(['recording', 'export', id]);
      return e.code === 0 ? e.stdout : undefined;
    });
    const markers = cast
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'm')
      .map((e) => e[2]);
    expect(markers).toEqual(['echo captured-$((6*7))', 'exit']);
  });

  it('scores commands: a typed `rm -rf /` raises session.risk with a high score; with terminate, the session ends', async () => {
    expect((await cli(['workspace', 'update', '--risk-action', 'terminate'])).code).toBe(0);
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN.cli, 'websh', 'rec-01', ...AS], {
      cols: 100,
      rows: 30,
      env: { ...process.env, ...env, TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    term.onData((d) => (screen += d));
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    await eventually(async () => screen.length > 0, 15_000);
    // Typed into `cat`, not the shell: the gateway scores the line as typed, nothing is deleted.
    // The shell has run the echo, so it is busy with `cat` and the next line goes to cat's stdin.
    term.write('echo cat-is-$((40+2)); cat\r');
    await eventually(async () => screen.includes('cat-is-42'), 15_000);
    term.write('rm -rf /\r');
    expect(await exited).toBe(255);
    expect(screen).toMatch(/SESSION_RISK: session ended: "rm -rf \/" scored \d+/);
    const risk = JSON.parse((await cli(['audit', 'ls', '--action', 'session.risk', '-o', 'json'])).stdout) as {
      items: Array<{ details: { command: string; score: number; category: string; action: string } }>;
    };
    expect(risk.items[0]!.details).toMatchObject({ command: 'rm -rf /', action: 'terminated' });
    expect(risk.items[0]!.details.score).toBeGreaterThanOrEqual(90);
    expect((await cli(['workspace', 'update', '--risk-action', 'alert'])).code).toBe(0);
  });

  it('answers clearly for unknown recordings', async () => {
    const r = await cli(['recording', 'export', 'ses_nope']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/RECORDING_NOT_FOUND/);
  });
});

describe('recording retention (fake clock)', () => {
  it('purges recordings older than the plan allows and audits it', async () => {
    const d = tempDir('corral-retention-');
    let now = Date.UTC(2026, 0, 1);
    const gw = await buildApp(makeConfig({ data: d.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      clock: { now: () => now },
      admin: { email: 'admin@localhost', password: 'retention-test-pw' },
    });
    try {
      const db = gw.services.db;
      const ws = gw.services.defaultWorkspaceId;
      const admin = await db.selectFrom('users').select('id').executeTakeFirstOrThrow();
      await db
        .insertInto('servers')
        .values({
          id: 'srv_r',
          workspace_id: ws,
          name: 'r',
          agent_id: 'agt_r',
          public_key: 'x',
          tags: '{}',
          system: null,
          status: 'offline',
          connected_at: null,
          last_seen_at: null,
          connected_node: null,
          created_at: new Date(now).toISOString(),
          join_token_id: null,
        })
        .execute();
      mkdirSync(join(d.path, 'recs'), { recursive: true });
      const mk = async (id: string, endedAt: number) => {
        const path = join(d.path, 'recs', `${id}.cast.gz`);
        writeFileSync(path, gzipSync('{"version":2}\n'));
        await db
          .insertInto('websh_sessions')
          .values({
            id,
            workspace_id: ws,
            user_id: admin.id,
            server_id: 'srv_r',
            os_user: 'root',
            command: null,
            pty: 1,
            started_at: new Date(endedAt - 1000).toISOString(),
            ended_at: new Date(endedAt).toISOString(),
            bytes_in: 0,
            bytes_out: 0,
            exit_code: 0,
            end_reason: 'exit',
            work_session_id: null,
            recording_path: path,
            recording_bytes: 1,
            recording_sha256: 'x',
            recording_purged_at: null,
          })
          .execute();
        return path;
      };
      const old = await mk('ses_old', now - 366 * 86400_000);
      const fresh = await mk('ses_new', now - 300 * 86400_000);
      expect(await gw.services.recordings.purge()).toBe(1);
      expect(existsSync(old)).toBe(false);
      expect(existsSync(fresh)).toBe(true);
      now += 70 * 86400_000;
      expect(await gw.services.recordings.purge()).toBe(1);
      expect(existsSync(fresh)).toBe(false);
      await gw.services.audit.flush();
      const events = await gw.services.audit.list(ws, { action: 'recording.purge' });
      expect(events.items).toHaveLength(2);
      expect(events.items[0]!.details).toMatchObject({ count: 1, retentionDays: 365 });
    } finally {
      await gw.close();
      d.remove();
    }
  });
});
