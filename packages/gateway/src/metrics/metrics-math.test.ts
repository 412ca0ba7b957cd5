import { describe, expect, it } from 'vitest';
import type { Metrics } from '@corral/protocol';
import {
  CRITICAL_PCT,
  STALE_AFTER_MS,
  WARNING_PCT,
  bucketStart,
  counterRates,
  diskPct,
  healthOf,
  memPct,
  pointFromRaw,
  summarize,
} from './metrics-math.js';

const NOW = Date.parse('2025-01-01T12:00:00.000Z');

describe('health', () => {
  const sample = (cpuPct: number, mem: number, disk: number | null, ageMs = 0) => ({
    atMs: NOW - ageMs,
    cpuPct,
    memPct: mem,
    diskPct: disk,
  });

  it('is ok below 90 %, warning from 90 %, critical from 97 % of CPU, memory or the fullest disk', () => {
    expect(healthOf(sample(89.99, 50, 50), true, NOW)).toBe('ok');
    expect(healthOf(sample(WARNING_PCT, 0, 0), true, NOW)).toBe('warning');
    expect(healthOf(sample(0, WARNING_PCT, null), true, NOW)).toBe('warning');
    expect(healthOf(sample(0, 0, 96.99), true, NOW)).toBe('warning');
    expect(healthOf(sample(0, 0, CRITICAL_PCT), true, NOW)).toBe('critical');
    expect(healthOf(sample(100, 10, 10), true, NOW)).toBe('critical');
    expect(healthOf(sample(10, 99, 95), true, NOW)).toBe('critical');
  });

  it('is unknown offline, without a sample, or when the sample is older than 45 s', () => {
    expect(healthOf(sample(10, 10, 10), false, NOW)).toBe('unknown');
    expect(healthOf(undefined, true, NOW)).toBe('unknown');
    expect(healthOf(sample(10, 10, 10, STALE_AFTER_MS), true, NOW)).toBe('ok');
    expect(healthOf(sample(10, 10, 10, STALE_AFTER_MS + 1), true, NOW)).toBe('unknown');
  });
});

describe('network rates from cumulative counters', () => {
  it('divides the difference by the seconds between the samples', () => {
    expect(
      counterRates({ atMs: 0, rxBytes: 1000, txBytes: 500 }, { atMs: 15_000, rxBytes: 16_000, txBytes: 2_000 }),
    ).toEqual({ rxBps: 1000, txBps: 100 });
  });
  it('gives no rate for the first sample, no elapsed time, or a counter that went down (reboot)', () => {
    const a = { atMs: 0, rxBytes: 1000, txBytes: 500 };
    expect(counterRates(undefined, a)).toEqual({ rxBps: null, txBps: null });
    expect(counterRates(a, undefined)).toEqual({ rxBps: null, txBps: null });
    expect(counterRates(a, { ...a })).toEqual({ rxBps: null, txBps: null });
    expect(counterRates(a, { atMs: 10_000, rxBytes: 10, txBytes: 10_500 })).toEqual({ rxBps: null, txBps: 1000 });
  });
});

describe('percentages and buckets', () => {
  it('computes disk use like df (root-reserved space counts as unavailable)', () => {
    expect(diskPct({ used: 50, total: 100, avail: 45 })).toBeCloseTo(52.63, 2);
    expect(diskPct({ used: 50, total: 100 })).toBe(50);
    expect(diskPct({ used: 0, total: 0, avail: 0 })).toBe(0);
    expect(memPct(3, 4)).toBe(75);
    expect(memPct(3, 0)).toBe(0);
  });
  it('keys buckets by the start of their minute or hour', () => {
    const t = Date.parse('2025-01-01T12:34:56.789Z');
    expect(bucketStart(t, 'minute')).toBe('2025-01-01T12:34:00.000Z');
    expect(bucketStart(t, 'hour')).toBe('2025-01-01T12:00:00.000Z');
  });
});

describe('summarize', () => {
  const m: Metrics = {
    type: 'metrics',
    at: '2020-01-01T00:00:00.000Z', // a wrong agent clock: the gateway's receive time is kept
    cpuPct: 12.5,
    memUsed: 3,
    memTotal: 4,
    load: [1.5, 1, 0.5],
    disks: [
      { mount: '/', fsType: 'ext4', used: 10, total: 100, avail: 90 },
      { mount: '/data', fsType: 'xfs', used: 95, total: 100, avail: 5 },
    ],
    net: { rxBytes: 1, txBytes: 2 },
  };
  it('keeps the fullest mount in the compact row and every mount in latest', () => {
    const { row, latest } = summarize({ id: 'srv_1', workspace_id: 'ws_1' }, m, NOW, { rxBps: 5, txBps: null });
    expect(row).toEqual({
      workspace_id: 'ws_1',
      server_id: 'srv_1',
      at: '2025-01-01T12:00:00.000Z',
      cpu_pct: 12.5,
      mem_pct: 75,
      mem_used: 3,
      mem_total: 4,
      disk_pct: 95,
      disk_used: 95,
      disk_total: 100,
      load1: 1.5,
      rx_bps: 5,
      tx_bps: null,
    });
    expect(latest.disks.map((d) => [d.mount, d.pct])).toEqual([
      ['/', 10],
      ['/data', 95],
    ]);
    expect(latest).toMatchObject({ at: row.at, memPct: 75, swapUsed: null, load: [1.5, 1, 0.5], rxBps: 5 });
    expect(pointFromRaw(row)).toMatchObject({ cpuPct: 12.5, cpuPctMax: 12.5, diskPct: 95, samples: 1 });
  });
  it('has no disk figures when the agent reported no mounts', () => {
    const { row } = summarize({ id: 's', workspace_id: 'w' }, { ...m, disks: [] }, NOW, { rxBps: null, txBps: null });
    expect([row.disk_pct, row.disk_used, row.disk_total]).toEqual([null, null, null]);
  });
});
