/**
 * Metrics storage on real SQLite and real PostgreSQL, driven by a fake clock: samples become raw rows,
 * raw rows roll up into minute and hour buckets (averages weighted by sample count, maxima), the job is
 * harmless when two nodes run it at once, and each resolution disappears after its retention.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Metrics } from '@corral/protocol';
import { openDatabase } from '../src/db/open.js';
import type { Database, ServersTable } from '../src/db/schema.js';
import { MetricsService } from '../src/metrics/metrics-service.js';
import { RETENTION_MS } from '../src/metrics/metrics-rollup.js';
import { silentLogger } from '../src/log.js';
import { createPgDatabase, DB_KINDS, tempDir, type DbKind } from './helpers.js';

const T0 = Date.parse('2025-01-01T10:00:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function server(id: string, workspaceId: string): ServersTable {
  return {
    id,
    workspace_id: workspaceId,
    name: id,
    agent_id: `agt_${id}`,
    public_key: '',
    tags: '{}',
    system: null,
    status: 'online',
    connected_at: null,
    last_seen_at: null,
    connected_node: null,
    created_at: new Date(T0).toISOString(),
    join_token_id: null,
  };
}

function sample(over: Partial<Metrics> = {}): Metrics {
  return {
    type: 'metrics',
    at: new Date(T0).toISOString(),
    cpuPct: 0,
    memUsed: 50,
    memTotal: 100,
    load: [1, 1, 1],
    disks: [
      { mount: '/', fsType: 'ext4', used: 40, total: 100, avail: 60 },
      { mount: '/boot', fsType: 'ext4', used: 10, total: 100, avail: 90 },
    ],
    net: { rxBytes: 0, txBytes: 0 },
    ...over,
  };
}

describe.each(DB_KINDS)('metrics rollup and retention on %s (fake clock)', (kind: DbKind) => {
  const dir = tempDir();
  let db: Kysely<Database>;
  let closeDb: () => Promise<void>;
  let dropDb: (() => Promise<void>) | undefined;
  let now = T0;
  const clock = { now: () => now };
  let svc: MetricsService;
  const A = server('srv_a', 'ws_1');
  const B = server('srv_b', 'ws_1');
  const OTHER = server('srv_c', 'ws_2');

  const count = async (table: 'server_metrics' | 'server_metrics_1m' | 'server_metrics_1h' | 'server_metrics_latest') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  beforeAll(async () => {
    let url = join(dir.path, 'corral.db');
    if (kind === 'postgres') {
      const pg = await createPgDatabase();
      url = pg.url;
      dropDb = pg.drop;
    }
    ({ db, close: closeDb } = await openDatabase(url));
    svc = new MetricsService(db, clock, silentLogger);

    // Two hours of server A, a sample every 15 s; the job runs at the end of every minute.
    // CPU goes 0, 10, 20, 30 within each minute (average 15, max 30); 1000 bytes/s in, 100 out.
    for (let i = 0; i < 480; i++) {
      now = T0 + i * 15_000;
      svc.ingest(
        A,
        sample({
          cpuPct: (i % 4) * 10,
          net: { rxBytes: 5_000_000 + i * 15_000, txBytes: i * 1_500 },
          ...(i === 479 ? { memUsed: 95 } : {}),
        }),
      );
      // Server B, uneven minutes: one sample at 90 % CPU in 10:00, three at 10 % in 10:01.
      if (i === 0) svc.ingest(B, sample({ cpuPct: 90 }));
      if (i >= 4 && i <= 6) svc.ingest(B, sample({ cpuPct: 10 }));
      if (i === 0) svc.ingest(OTHER, sample({ cpuPct: 99 }));
      if (i % 4 === 3) {
        now += 14_000; // 10:00:59, 10:01:59, ...
        await svc.runMaintenance();
      }
    }
  });

  afterAll(async () => {
    await svc?.close();
    await closeDb?.();
    await dropDb?.();
    dir.remove();
  });

  it('answers the last hour with raw samples, oldest first, and the newest sample in full', async () => {
    const r = await svc.query(A, '1h');
    expect(r.step).toBe('raw');
    expect(r.points).toHaveLength(240);
    expect(r.points[0]!.at < r.points[239]!.at).toBe(true);
    expect(r.points[239]).toMatchObject({ cpuPct: 30, memPct: 95, diskPct: 40, rxBps: 1000, txBps: 100, samples: 1 });
    expect(r.latest?.disks.map((d) => [d.mount, d.pct])).toEqual([
      ['/', 40],
      ['/boot', 10],
    ]);
    expect(r.health).toBe('warning'); // memory at 95 %
  });

  it('rolls samples up into one-minute buckets: average and maximum', async () => {
    const r = await svc.query(A, '24h');
    expect(r.step).toBe('1m');
    expect(r.points).toHaveLength(120);
    expect(r.points[0]).toMatchObject({ at: '2025-01-01T10:00:00.000Z', samples: 4, cpuPct: 15, cpuPctMax: 30 });
    // The very first sample has no rate (no earlier counter): the minute's average leaves it out.
    expect(r.points[0]!.rxBps).toBeCloseTo(1000, 6);
    expect(r.points[119]).toMatchObject({ at: '2025-01-01T11:59:00.000Z', memPctMax: 95, diskPct: 40 });
    expect(r.points[119]!.memPct).toBeCloseTo((50 * 3 + 95) / 4, 6);
  });

  it('rolls minutes up into hours, weighting each minute by its samples', async () => {
    const a = await svc.query(A, '7d');
    expect(a.step).toBe('1h');
    expect(a.points.map((p) => [p.at, p.samples, p.cpuPct, p.cpuPctMax])).toEqual([
      ['2025-01-01T10:00:00.000Z', 240, 15, 30],
      ['2025-01-01T11:00:00.000Z', 240, 15, 30],
    ]);
    const b = await svc.query(B, '7d');
    // (90 × 1 + 10 × 3) / 4 = 30, not the unweighted (90 + 10) / 2 = 50.
    expect(b.points).toHaveLength(1);
    expect(b.points[0]!.cpuPct).toBeCloseTo(30, 6);
    expect(b.points[0]).toMatchObject({ samples: 4, cpuPctMax: 90 });
  });

  it('never mixes workspaces: a server id is looked up with its workspace', async () => {
    const wrong = await svc.query({ ...OTHER, workspace_id: 'ws_1' }, '24h');
    expect(wrong.points).toEqual([]);
    expect(wrong.latest).toBeNull();
    expect((await svc.query(OTHER, '24h')).points).toHaveLength(1);
    const health = await svc.healthFor('ws_1', [A, B, OTHER]);
    expect(health.get('srv_c')).toBe('unknown');
  });

  it('gives the same rows when two nodes run the job at once, twice', async () => {
    const before = await db
      .selectFrom('server_metrics_1m')
      .selectAll()
      .orderBy('server_id')
      .orderBy('bucket')
      .execute();
    const hoursBefore = await db
      .selectFrom('server_metrics_1h')
      .selectAll()
      .orderBy('server_id')
      .orderBy('bucket')
      .execute();
    const otherNode = new MetricsService(db, clock, silentLogger);
    await Promise.all([svc.runMaintenance(), otherNode.runMaintenance(), otherNode.runMaintenance()]);
    await svc.runMaintenance();
    expect(
      await db.selectFrom('server_metrics_1m').selectAll().orderBy('server_id').orderBy('bucket').execute(),
    ).toEqual(before);
    expect(
      await db.selectFrom('server_metrics_1h').selectAll().orderBy('server_id').orderBy('bucket').execute(),
    ).toEqual(hoursBefore);
    // A node that never saw the agent answers from server_metrics_latest.
    const seen = await otherNode.query(A, '1h');
    expect(seen.health).toBe('warning');
    expect(seen.latest?.memPct).toBe(95);
    await otherNode.close();
  });

  it('purges raw samples after 24 h, minute buckets after 7 days, hourly ones after 90 days', async () => {
    const end = now;
    expect(await count('server_metrics')).toBeGreaterThan(0);

    now = end + RETENTION_MS.raw + MIN;
    await svc.runMaintenance();
    expect(await count('server_metrics')).toBe(0);
    expect(await count('server_metrics_latest')).toBe(0);
    expect(await count('server_metrics_1m')).toBe(123); // A: 120, B: 2, C: 1 (in ws_2)
    const stale = await svc.query(A, '1h');
    expect(stale.points).toEqual([]);
    expect(stale.health).toBe('unknown');
    expect((await svc.query(A, '7d')).points).toHaveLength(2);

    now = end + RETENTION_MS.minute + MIN;
    await svc.runMaintenance();
    expect(await count('server_metrics_1m')).toBe(0);
    expect(await count('server_metrics_1h')).toBe(4); // A: 2, B: 1, C: 1

    now = end + RETENTION_MS.hour + MIN;
    await svc.runMaintenance();
    expect(await count('server_metrics_1h')).toBe(0);
  });

  it('forgets a deleted server everywhere, buffered samples included', async () => {
    now += DAY; // after the retention test: start clean
    svc.ingest(B, sample({ cpuPct: 1 }));
    await svc.flush();
    now += 15_000;
    svc.ingest(B, sample({ cpuPct: 2 })); // still in the buffer
    await svc.forget('ws_1', 'srv_b');
    await svc.flush();
    expect((await svc.query(B, '1h')).points).toEqual([]);
    expect((await svc.query(B, '1h')).latest).toBeNull();
  });

  it('bounds its buffer: when the database lags, the oldest samples are dropped and counted', async () => {
    const small = new MetricsService(db, clock, silentLogger, { maxBuffer: 10 });
    const D = server('srv_d', 'ws_1');
    const start = now + HOUR;
    for (let i = 0; i < 25; i++) {
      now = start + i * 1_000;
      small.ingest(D, sample({ cpuPct: i }));
    }
    // Samples closer than 250 ms to the previous one are ignored (a runaway agent), not buffered.
    now += 100;
    small.ingest(D, sample({ cpuPct: 99 }));
    expect(small.dropped).toBe(15);
    expect(small.buffered).toBe(10);
    await small.flush();
    const r = await small.query(D, '1h');
    expect(r.points.map((p) => p.cpuPct)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    await small.close();
  });
});
