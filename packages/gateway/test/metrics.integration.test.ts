/**
 * Health metrics end to end: a real gateway (over TLS 1.3, SQLite and PostgreSQL), a real corral-agent
 * process reading this machine's /proc every 500 ms, and the real CLI. Points arrive through the API and
 * in `corral server show`; read scope decides who sees them.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { MetricsResponse, ServerList } from '@corral/protocol';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { BIN, Proc, eventually, run } from './processes.js';
import { createPgDatabase, DB_KINDS, request, tempDir, type DbKind } from './helpers.js';

const PW = 'metrics-admin-password';
const SPARK_CHARS = '▁▂▃▄▅▆▇█';

describe.each(DB_KINDS)('server health metrics end to end on %s', (kind: DbKind) => {
  const dir = tempDir();
  let dropDb: (() => Promise<void>) | undefined;
  let gw: Gateway;
  let url: string;
  let ca: string;
  let admin: string;
  let agent: Proc;
  let serverId: string;
  const NAME = `metrics-${kind}`;
  const cliEnv = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
  const cli = (args: string[], input?: string) =>
    run(BIN.cli, args, { env: cliEnv, ...(input !== undefined ? { input } : {}) });
  const api = (path: string, token = admin) => request(url, ca, 'GET', path, { token });

  beforeAll(async () => {
    let db: string | undefined;
    if (kind === 'postgres') {
      const pg = await createPgDatabase();
      db = pg.url;
      dropDb = pg.drop;
    }
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: '127.0.0.1:0', db }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    admin = (await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } }))
      .body.token;

    const login = await cli(
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', gw.tls.caFingerprint],
      PW + '\n',
    );
    expect(login.code, login.stderr).toBe(0);
    const jt = await request(url, ca, 'POST', '/api/v1/join-tokens', { token: admin, body: { uses: 1 } });
    const config = join(dir.path, 'agent.json');
    const reg = await run(BIN.agent, [
      'register',
      '--gateway',
      url,
      '--token',
      jt.body.token,
      '--ca-fingerprint',
      gw.tls.caFingerprint,
      '--config',
      config,
      '--name',
      NAME,
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    agent = new Proc(BIN.agent, ['run', '--config', config], { CORRAL_METRICS_INTERVAL_MS: '500' });
    serverId = (await gw.services.servers.getByName(gw.services.defaultWorkspaceId, NAME)).id;
    // Every test below needs the agent connected and a few samples stored.
    await eventually(async () => {
      await gw.services.metrics.flush();
      const r = MetricsResponse.parse((await api(`/api/v1/servers/${NAME}/metrics`)).body);
      return r.points.length >= 2;
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await gw?.close();
    await dropDb?.();
    dir.remove();
  });

  it('receives samples from the agent and answers them through the API: raw points, latest, health', async () => {
    // Wait for a few samples, the later ones with network rates (two counter readings are needed).
    const m = await eventually(async () => {
      await gw.services.metrics.flush();
      const r = MetricsResponse.parse((await api(`/api/v1/servers/${NAME}/metrics?range=1h`)).body);
      return r.points.length >= 4 && r.points.some((p) => p.rxBps !== null) ? r : undefined;
    });
    expect(m.step).toBe('raw');
    expect(['ok', 'warning', 'critical']).toContain(m.health);
    expect(m.latest).not.toBeNull();
    // The agent read the same memory size as this process (both from the kernel).
    expect(m.latest!.memTotal).toBe(totalmem());
    expect(m.latest!.disks.length).toBeGreaterThan(0);
    for (const p of m.points) {
      expect(p.cpuPct).toBeGreaterThanOrEqual(0);
      expect(p.cpuPct).toBeLessThanOrEqual(100);
      expect(p.memPct).toBeGreaterThan(0);
    }
    const at = m.points.map((p) => p.at);
    expect([...at].sort()).toEqual(at);

    // The same server by id; the list and the detail carry the same health.
    const byId = await api(`/api/v1/servers/${serverId}/metrics`);
    expect(byId.status).toBe(200);
    const list = ServerList.parse((await api('/api/v1/servers')).body);
    expect(list.items.find((s) => s.name === NAME)?.health).toMatch(/^(ok|warning|critical)$/);
    expect((await api(`/api/v1/servers/${NAME}`)).body.health).toMatch(/^(ok|warning|critical)$/);
  });

  it('answers 24h from one-minute and 7d from hourly rollups once the job ran', async () => {
    await gw.services.metrics.runMaintenance();
    const day = MetricsResponse.parse((await api(`/api/v1/servers/${NAME}/metrics?range=24h`)).body);
    expect(day.step).toBe('1m');
    expect(day.points.length).toBeGreaterThan(0);
    expect(day.points.at(-1)!.samples).toBeGreaterThan(0);
    const week = MetricsResponse.parse((await api(`/api/v1/servers/${NAME}/metrics?range=7d`)).body);
    expect(week.step).toBe('1h');
    expect(week.points.length).toBeGreaterThan(0);
  });

  it('refuses an unknown range with VALIDATION_FAILED', async () => {
    for (const q of ['?range=2h', '?range=', '?range=1h&extra=1']) {
      const r = await api(`/api/v1/servers/${NAME}/metrics${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('shows health and sparklines in `corral server show`, and HEALTH in `corral server ls`', async () => {
    const show = await cli(['server', 'show', NAME]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^Health: +(ok|warning|critical)$/m);
    expect(show.stdout).toMatch(/^Metrics \(last hour, \d+ samples;/m);
    for (const label of ['CPU', 'Memory', 'Disk', 'Load', 'Net rx', 'Net tx']) {
      const line = show.stdout.split('\n').find((l) => l.startsWith(`  ${label} `));
      expect(line, label).toBeDefined();
      // Every metric has a sparkline frame, and some of the hour has data in it.
      const spark = /│(.*)│$/.exec(line!)?.[1] ?? '';
      expect(spark.length, label).toBe(40);
      expect(
        [...spark].some((ch) => SPARK_CHARS.includes(ch)),
        label,
      ).toBe(true);
    }
    expect(show.stdout).toMatch(/^Mounts:$/m);

    const day = await cli(['server', 'show', NAME, '--range', '24h']);
    expect(day.stdout).toMatch(/^Metrics \(last 24 hours, \d+ 1m buckets;/m);
    const json = await cli(['server', 'show', NAME, '-o', 'json']);
    const parsed = JSON.parse(json.stdout) as { name: string; metrics: unknown };
    expect(parsed.name).toBe(NAME);
    expect(MetricsResponse.parse(parsed.metrics).points.length).toBeGreaterThan(0);

    const ls = await cli(['server', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME +STATUS +HEALTH +PLATFORM/);
    expect(ls.stdout).toMatch(new RegExp(`^${NAME} +online +(ok|warning|critical) `, 'm'));
  });

  it('security: a member without read scope gets 404 for the metrics, as for the server; a read grant opens both', async () => {
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: admin,
      body: { email: `viewer-${kind}@localhost`, role: 'member' },
    });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', `viewer-${kind}@localhost`)
      .executeTakeFirstOrThrow();
    const accept = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token: /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1], password: 'viewer password 123' },
    });
    expect(accept.status).toBe(201);
    const member = (
      await request(url, ca, 'POST', '/api/v1/auth/login', {
        body: { email: `viewer-${kind}@localhost`, password: 'viewer password 123' },
      })
    ).body.token as string;

    for (const path of [`/api/v1/servers/${NAME}/metrics`, `/api/v1/servers/${serverId}/metrics?range=7d`]) {
      const denied = await api(path, member);
      expect(denied.status, path).toBe(404);
      expect(denied.body.error.code).toBe('SERVER_NOT_FOUND');
    }
    const grant = await request(url, ca, 'POST', '/api/v1/grants', {
      token: admin,
      body: { user: `viewer-${kind}@localhost`, servers: NAME, level: 'read' },
    });
    expect(grant.status).toBe(201);
    const allowed = await api(`/api/v1/servers/${NAME}/metrics`, member);
    expect(allowed.status).toBe(200);
    expect(MetricsResponse.parse(allowed.body).points.length).toBeGreaterThan(0);
  });

  it('reports unknown health once the agent is gone', async () => {
    await agent.stop();
    const gone = await eventually(async () => {
      const list = ServerList.parse((await api('/api/v1/servers')).body);
      const s = list.items.find((x) => x.name === NAME);
      return s?.status === 'offline' ? s : undefined;
    });
    expect(gone.health).toBe('unknown');
    // The samples stay readable.
    expect(MetricsResponse.parse((await api(`/api/v1/servers/${NAME}/metrics`)).body).points.length).toBeGreaterThan(0);
  });

  it('deleting the server deletes its metrics in every table', async () => {
    await gw.services.metrics.runMaintenance();
    const del = await request(url, ca, 'DELETE', `/api/v1/servers/${NAME}`, { token: admin });
    expect(del.status).toBe(204);
    for (const table of [
      'server_metrics',
      'server_metrics_1m',
      'server_metrics_1h',
      'server_metrics_latest',
    ] as const) {
      const left = await gw.services.db
        .selectFrom(table)
        .select('server_id')
        .where('server_id', '=', serverId)
        .execute();
      expect(left, table).toEqual([]);
    }
    expect((await api(`/api/v1/servers/${serverId}/metrics`)).status).toBe(404);
  });
});
