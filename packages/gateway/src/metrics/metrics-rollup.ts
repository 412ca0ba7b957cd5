import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { iso } from '../clock.js';
import { bucketStart } from './metrics-math.js';

/** How long each resolution is kept, in ms. */
export const RETENTION_MS = {
  raw: 24 * 3_600_000,
  minute: 7 * 24 * 3_600_000,
  hour: 90 * 24 * 3_600_000,
} as const;

/**
 * One-minute buckets are recomputed from this far before the current minute on every run (ms): samples
 * reach the table up to a flush (1 s) later, and a timer tick may come late. Kept short because every
 * recomputed bucket is a row rewritten: 3 minute rows and 1 hour row per server per run.
 */
export const MINUTE_LOOKBACK_MS = 2 * 60_000;

const ROLLUP_COLUMNS = sql.raw(
  'workspace_id, server_id, bucket, samples, cpu_pct, cpu_pct_max, mem_pct, mem_pct_max, ' +
    'disk_pct, disk_pct_max, load1, load1_max, rx_bps, tx_bps',
);
const ON_CONFLICT_UPDATE = sql.raw(
  'ON CONFLICT (server_id, bucket) DO UPDATE SET samples = excluded.samples, ' +
    'cpu_pct = excluded.cpu_pct, cpu_pct_max = excluded.cpu_pct_max, ' +
    'mem_pct = excluded.mem_pct, mem_pct_max = excluded.mem_pct_max, ' +
    'disk_pct = excluded.disk_pct, disk_pct_max = excluded.disk_pct_max, ' +
    'load1 = excluded.load1, load1_max = excluded.load1_max, rx_bps = excluded.rx_bps, tx_bps = excluded.tx_bps',
);

/** Average of a nullable column over minute buckets, each weighted by its sample count (nulls left out). */
function weighted(column: string): string {
  return `sum(${column} * samples) / nullif(sum(CASE WHEN ${column} IS NULL THEN 0 ELSE samples END), 0)`;
}

/**
 * Recompute the one-minute buckets from `MINUTE_LOOKBACK_MS` before the current minute onwards (the
 * current, partial minute included: it is recomputed on the next run), then the hourly buckets those
 * minutes fall in (the current hour; the previous one too just after the hour turned) from the minute
 * buckets, weighted by their sample counts.
 *
 * Every statement recomputes whole buckets from their source rows and upserts them
 * (INSERT ... ON CONFLICT DO UPDATE), so running it twice, or on several cluster nodes at once, gives the
 * same rows. Rows are inserted in key order, so that concurrent runs on PostgreSQL take row locks in the
 * same order and do not deadlock.
 *
 * Bucket keys are cut from the ISO text (`2025-01-01T12:34` + `:00.000Z`), which both SQLite and
 * PostgreSQL do the same way.
 */
export async function rollUp(db: Kysely<Database>, nowMs: number): Promise<void> {
  const minuteFrom = iso(Date.parse(bucketStart(nowMs, 'minute')) - MINUTE_LOOKBACK_MS);
  await sql`
    INSERT INTO server_metrics_1m (${ROLLUP_COLUMNS})
    SELECT workspace_id, server_id, substr(at, 1, 16) || ':00.000Z' AS bucket, count(*),
      avg(cpu_pct), max(cpu_pct), avg(mem_pct), max(mem_pct), avg(disk_pct), max(disk_pct),
      avg(load1), max(load1), avg(rx_bps), avg(tx_bps)
    FROM server_metrics
    WHERE at >= ${minuteFrom}
    GROUP BY workspace_id, server_id, substr(at, 1, 16)
    ORDER BY server_id, bucket
    ${ON_CONFLICT_UPDATE}`.execute(db);

  const hourFrom = bucketStart(Date.parse(minuteFrom), 'hour');
  await sql`
    INSERT INTO server_metrics_1h (${ROLLUP_COLUMNS})
    SELECT workspace_id, server_id, substr(bucket, 1, 13) || ':00:00.000Z' AS hour, sum(samples),
      ${sql.raw(weighted('cpu_pct'))}, max(cpu_pct_max), ${sql.raw(weighted('mem_pct'))}, max(mem_pct_max),
      ${sql.raw(weighted('disk_pct'))}, max(disk_pct_max), ${sql.raw(weighted('load1'))}, max(load1_max),
      ${sql.raw(weighted('rx_bps'))}, ${sql.raw(weighted('tx_bps'))}
    FROM server_metrics_1m
    WHERE bucket >= ${hourFrom}
    GROUP BY workspace_id, server_id, substr(bucket, 1, 13)
    ORDER BY server_id, hour
    ${ON_CONFLICT_UPDATE}`.execute(db);
}

/**
 * Delete what is past its retention: raw samples (and latest samples) after 24 h, one-minute buckets
 * after 7 days, hourly ones after 90 days. Each DELETE uses the table's time index.
 * @returns rows deleted per table
 */
export async function purge(
  db: Kysely<Database>,
  nowMs: number,
): Promise<{ raw: number; minute: number; hour: number; latest: number }> {
  const count = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);
  const raw = await db
    .deleteFrom('server_metrics')
    .where('at', '<', iso(nowMs - RETENTION_MS.raw))
    .executeTakeFirst();
  const minute = await db
    .deleteFrom('server_metrics_1m')
    .where('bucket', '<', iso(nowMs - RETENTION_MS.minute))
    .executeTakeFirst();
  const hour = await db
    .deleteFrom('server_metrics_1h')
    .where('bucket', '<', iso(nowMs - RETENTION_MS.hour))
    .executeTakeFirst();
  const latest = await db
    .deleteFrom('server_metrics_latest')
    .where('at', '<', iso(nowMs - RETENTION_MS.raw))
    .executeTakeFirst();
  return { raw: count(raw), minute: count(minute), hour: count(hour), latest: count(latest) };
}
