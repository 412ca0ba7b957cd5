import type { DiskUsage, Metrics, MetricsLatest, MetricsPoint, ServerHealth } from '@corral/protocol';
import type { ServerMetricsRollupTable, ServerMetricsTable } from '../db/schema.js';

/** CPU, memory or a disk at or above this percentage makes a server's health `warning`. */
export const WARNING_PCT = 90;
/** ... and at or above this one, `critical`. */
export const CRITICAL_PCT = 97;
/** A server whose latest sample is older than this (ms) has `unknown` health: three missed samples. */
export const STALE_AFTER_MS = 45_000;

/** How full a mount is, 0..100, as `df` computes Use% (root-reserved blocks count as unavailable). */
export function diskPct(d: Pick<DiskUsage, 'used' | 'total' | 'avail'>): number {
  const base = d.avail !== undefined ? d.used + d.avail : d.total;
  return base > 0 ? Math.min(100, (d.used / base) * 100) : 0;
}

/** Memory in use, 0..100. */
export function memPct(used: number, total: number): number {
  return total > 0 ? Math.min(100, (used / total) * 100) : 0;
}

/** The figures health is judged on. */
export interface HealthInput {
  /** Gateway receive time of the latest sample, ms. */
  atMs: number;
  cpuPct: number;
  memPct: number;
  /** The fullest mount; null when the agent reported no disks. */
  diskPct: number | null;
}

/**
 * A server's health from its latest sample: `unknown` when it is offline, has never sent one, or sent the
 * last more than {@link STALE_AFTER_MS} ago; otherwise by the highest of CPU, memory and the fullest disk:
 * `critical` from {@link CRITICAL_PCT}, `warning` from {@link WARNING_PCT}, else `ok`.
 */
export function healthOf(latest: HealthInput | undefined, online: boolean, nowMs: number): ServerHealth {
  if (!online || !latest || nowMs - latest.atMs > STALE_AFTER_MS) return 'unknown';
  const worst = Math.max(latest.cpuPct, latest.memPct, latest.diskPct ?? 0);
  if (worst >= CRITICAL_PCT) return 'critical';
  if (worst >= WARNING_PCT) return 'warning';
  return 'ok';
}

/** Cumulative network counters at a moment. */
export interface CounterReading {
  atMs: number;
  rxBytes: number;
  txBytes: number;
}

/**
 * Bytes per second between two readings of cumulative counters. Null for a counter when there is no
 * earlier reading, no time passed, or the counter went down (reboot, interface removed): a reset is not a
 * negative rate.
 */
export function counterRates(
  prev: CounterReading | undefined,
  cur: CounterReading | undefined,
): { rxBps: number | null; txBps: number | null } {
  if (!prev || !cur || cur.atMs <= prev.atMs) return { rxBps: null, txBps: null };
  const seconds = (cur.atMs - prev.atMs) / 1000;
  const rate = (a: number, b: number) => (b >= a ? (b - a) / seconds : null);
  return { rxBps: rate(prev.rxBytes, cur.rxBytes), txBps: rate(prev.txBytes, cur.txBytes) };
}

/** ISO start of the minute or hour containing `ms` (the keys of the rollup tables). */
export function bucketStart(ms: number, unit: 'minute' | 'hour'): string {
  const size = unit === 'minute' ? 60_000 : 3_600_000;
  return new Date(Math.floor(ms / size) * size).toISOString();
}

/**
 * What the gateway keeps of one sample: the compact raw row (the fullest mount stands for the disks) and
 * the full view for `latest` (every mount with its percentage, rates instead of counters).
 */
export function summarize(
  server: { id: string; workspace_id: string },
  m: Metrics,
  receivedAtMs: number,
  rates: { rxBps: number | null; txBps: number | null },
): { row: ServerMetricsTable; latest: MetricsLatest } {
  const disks = m.disks.map((d) => ({ ...d, pct: round2(diskPct(d)) }));
  let fullest: (typeof disks)[number] | undefined;
  for (const d of disks) if (!fullest || d.pct > fullest.pct) fullest = d;
  const at = new Date(receivedAtMs).toISOString();
  const mem = round2(memPct(m.memUsed, m.memTotal));
  return {
    row: {
      workspace_id: server.workspace_id,
      server_id: server.id,
      at,
      cpu_pct: m.cpuPct,
      mem_pct: mem,
      mem_used: m.memUsed,
      mem_total: m.memTotal,
      disk_pct: fullest?.pct ?? null,
      disk_used: fullest?.used ?? null,
      disk_total: fullest?.total ?? null,
      load1: m.load[0],
      rx_bps: rates.rxBps,
      tx_bps: rates.txBps,
    },
    latest: {
      at,
      cpuPct: m.cpuPct,
      memUsed: m.memUsed,
      memTotal: m.memTotal,
      memPct: mem,
      swapUsed: m.swapUsed ?? null,
      swapTotal: m.swapTotal ?? null,
      load: m.load,
      disks,
      rxBps: rates.rxBps,
      txBps: rates.txBps,
    },
  };
}

/** A raw row as a point (its maxima are its values). */
export function pointFromRaw(r: ServerMetricsTable): MetricsPoint {
  return {
    at: r.at,
    cpuPct: r.cpu_pct,
    cpuPctMax: r.cpu_pct,
    memPct: r.mem_pct,
    memPctMax: r.mem_pct,
    diskPct: r.disk_pct,
    diskPctMax: r.disk_pct,
    load1: r.load1,
    rxBps: r.rx_bps,
    txBps: r.tx_bps,
    samples: 1,
  };
}

/** A rollup row as a point. */
export function pointFromRollup(r: ServerMetricsRollupTable): MetricsPoint {
  return {
    at: r.bucket,
    cpuPct: r.cpu_pct,
    cpuPctMax: r.cpu_pct_max,
    memPct: r.mem_pct,
    memPctMax: r.mem_pct_max,
    diskPct: r.disk_pct,
    diskPctMax: r.disk_pct_max,
    load1: r.load1,
    rxBps: r.rx_bps,
    txBps: r.tx_bps,
    samples: r.samples,
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
