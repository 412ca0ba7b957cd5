/**
 * The audit list's filters (what the web UI's audit page asks for): action, actor, server and a time
 * window, each exact and applied by the database, on SQLite and PostgreSQL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { join } from 'node:path';
import { createPgDatabase, DB_KINDS, request, tempDir, type DbKind } from './helpers.js';
import { BIN, run } from './processes.js';

const PASSWORD = 'audit filter test password';

interface Ev {
  seq: number;
  ts: string;
  action: string;
  actorName: string | null;
  targetType: string | null;
  targetName: string | null;
}

describe.each(DB_KINDS)('audit list filters on %s', (kind: DbKind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let token: string;
  const dir = tempDir();
  let dropDb: (() => Promise<void>) | undefined;
  const list = async (q: string): Promise<Ev[]> => {
    const r = await request(url, ca, 'GET', `/api/v1/audit?limit=1000&${q}`, { token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.items as Ev[];
  };

  beforeAll(async () => {
    let db: string | undefined;
    if (kind === 'postgres') {
      const pg = await createPgDatabase();
      db = pg.url;
      dropDb = pg.drop;
    }
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0', db }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PASSWORD },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    token = (
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PASSWORD } })
    ).body.token;
    await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: 'wrong' } });
    // Two servers registered: server-targeted events for each.
    for (const name of ['audit-a', 'audit-b']) {
      const jt = await request(url, ca, 'POST', '/api/v1/join-tokens', { token, body: {} });
      const publicKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const reg = await request(url, ca, 'POST', '/api/v1/agent/register', {
        body: { token: jt.body.token, name, publicKey },
      });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    }
    await gw.services.audit.flush();
  });
  afterAll(async () => {
    await gw?.close();
    await dropDb?.();
    dir.remove();
  });

  it('filters by actor (name or id), server (target name or id), action, and combines them', async () => {
    const mine = await list('actor=admin%40localhost');
    expect(mine.length).toBeGreaterThan(2);
    expect(mine.every((e) => e.actorName === 'admin@localhost')).toBe(true);
    const failed = await list('actor=admin%40localhost&action=auth.login');
    expect(failed.map((e) => e.action)).toEqual(['auth.login', 'auth.login']);

    const a = await list('server=audit-a');
    expect(a.length).toBeGreaterThan(0);
    expect(a.every((e) => e.targetType === 'server' && e.targetName === 'audit-a')).toBe(true);
    expect(a.map((e) => e.action)).toContain('server.register');
    const servers = await request(url, ca, 'GET', '/api/v1/servers', { token });
    const idA = servers.body.items.find((s: { name: string }) => s.name === 'audit-a').id;
    expect((await list(`server=${idA}`)).map((e) => e.seq)).toEqual(a.map((e) => e.seq));
    expect(await list('server=no-such-server')).toEqual([]);
  });

  it('keeps a time window (inclusive), and refuses a time that is not ISO 8601', async () => {
    const all = await list('');
    const oldest = all[all.length - 1]!;
    const newest = all[0]!;
    expect(await list(`since=${encodeURIComponent(newest.ts)}`)).toContainEqual(newest);
    const upToOldest = await list(`until=${encodeURIComponent(oldest.ts)}`);
    expect(upToOldest.every((e) => e.ts <= oldest.ts)).toBe(true);
    expect(upToOldest).toContainEqual(oldest);
    const future = new Date(Date.parse(newest.ts) + 60_000).toISOString();
    expect(await list(`since=${encodeURIComponent(future)}`)).toEqual([]);
    const bad = await request(url, ca, 'GET', '/api/v1/audit?since=yesterday', { token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('corral audit ls passes the filters (--actor, --server, --since as a duration)', async () => {
    const env = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
    const login = await run(
      BIN.cli,
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', gw.tls.caFingerprint],
      { env, input: `${PASSWORD}\n` },
    );
    expect(login.code, login.stderr).toBe(0);
    const r = await run(BIN.cli, ['audit', 'ls', '--server', 'audit-b', '--since', '1h', '-o', 'json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const items = (JSON.parse(r.stdout) as { items: Ev[] }).items;
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((e) => e.targetName === 'audit-b')).toBe(true);
    const bad = await run(BIN.cli, ['audit', 'ls', '--since', 'last week'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--since takes an ISO 8601 time');
  });
});
