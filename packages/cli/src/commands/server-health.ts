import type { MetricsPoint, MetricsRange, MetricsResponse, ServerHealth } from '@corral/protocol';
import type { Colors } from '../format/color.js';
import { sparkline, timeSlots, type SparklineOptions } from '../format/sparkline.js';
import { displayWidth, pad, sanitize } from '../format/text.js';
import { formatBytes, formatPct, formatRate } from '../format/units.js';

/** Characters per sparkline. */
export const SPARK_WIDTH = 40;

const SPAN_MS: Record<MetricsRange, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };
const RANGE_LABEL: Record<MetricsRange, string> = { '1h': 'last hour', '24h': 'last 24 hours', '7d': 'last 7 days' };

/** A health word in its colour: ok green, warning yellow, critical red, unknown dim. */
export function colorHealth(c: Colors, health: ServerHealth | undefined, text: string = health ?? '-'): string {
  switch (health) {
    case 'ok':
      return c.green(text);
    case 'warning':
      return c.yellow(text);
    case 'critical':
      return c.red(text);
    default:
      return c.dim(text);
  }
}

/** "9m 30s" style length of one sparkline character. */
function slotLabel(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  return `${Math.round(m / 6) / 10} h`;
}

/**
 * The metrics block of `corral server show`: for CPU, memory, the fullest disk, load and network, the
 * current value (from the newest sample) and a sparkline over the range (time-true: a gap where the
 * server sent nothing), then every mount. Percentages are drawn on 0..100, load on 0..max(CPUs, peak),
 * network rates on 0..peak. Agent-supplied text (mount points) is cleaned of control
 * characters.
 */
export function renderMetrics(
  m: MetricsResponse,
  nowMs: number,
  c: Colors,
  opts: { width?: number; cpuCount?: number | undefined } = {},
): string {
  const width = opts.width ?? SPARK_WIDTH;
  const l = m.latest;
  if (!l && m.points.length === 0) {
    return (
      `Metrics (${RANGE_LABEL[m.range]}): none yet — the agent reports every 15 s once connected ` +
      '(agents older than protocol 2 report none)\n'
    );
  }
  const from = nowMs - SPAN_MS[m.range];
  const line = (pick: (p: MetricsPoint) => number | null, opts: SparklineOptions): string =>
    sparkline(
      timeSlots(
        m.points.map((p) => ({ atMs: Date.parse(p.at), value: pick(p) })),
        from,
        nowMs,
        width,
      ),
      opts,
    );
  const pct: SparklineOptions = { min: 0, max: 100 };
  const fullest = l?.disks.reduce<(typeof l.disks)[number] | undefined>(
    (a, d) => (!a || d.pct > a.pct ? d : a),
    undefined,
  );
  const rows: Array<[string, string, string]> = [
    ['CPU', l ? formatPct(l.cpuPct) : '-', line((p) => p.cpuPct, pct)],
    [
      'Memory',
      l ? `${formatPct(l.memPct)}  ${formatBytes(l.memUsed)} of ${formatBytes(l.memTotal)}` : '-',
      line((p) => p.memPct, pct),
    ],
    [
      'Disk',
      fullest ? `${formatPct(fullest.pct)}  ${sanitize(fullest.mount)} (fullest)` : '-',
      line((p) => p.diskPct, pct),
    ],
    // Load is drawn against the number of CPUs (a load of 2 on 8 cores is low), or its own peak if higher.
    [
      'Load',
      l ? l.load.map((v) => v.toFixed(2)).join(' ') : '-',
      line((p) => p.load1, { min: 0, max: Math.max(opts.cpuCount ?? 0, ...m.points.map((p) => p.load1)) }),
    ],
    ['Net rx', l?.rxBps != null ? formatRate(l.rxBps) : '-', line((p) => p.rxBps, { min: 0 })],
    ['Net tx', l?.txBps != null ? formatRate(l.txBps) : '-', line((p) => p.txBps, { min: 0 })],
  ];
  const wLabel = Math.max(...rows.map((r) => displayWidth(r[0])));
  const wValue = Math.max(...rows.map((r) => displayWidth(r[1])));
  const out = [
    `Metrics (${RANGE_LABEL[m.range]}, ${m.points.length} ${m.step === 'raw' ? 'samples' : `${m.step} buckets`}; ` +
      `one character per ${slotLabel(SPAN_MS[m.range] / width)}, newest right):`,
    ...rows.map(([k, v, s]) => `  ${pad(k, wLabel)}  ${pad(v, wValue)}  ${c.dim('│')}${s}${c.dim('│')}`),
  ];
  if (l && l.disks.length > 0) {
    out.push('Mounts:');
    const mounts = l.disks.map((d) => [
      sanitize(d.mount),
      formatPct(d.pct),
      `${formatBytes(d.used)} of ${formatBytes(d.total)}`,
      sanitize(d.fsType ?? ''),
    ]);
    const w = [0, 1, 2].map((i) => Math.max(...mounts.map((r) => displayWidth(r[i]!))));
    for (const r of mounts) {
      out.push(`  ${pad(r[0]!, w[0]!)}  ${pad(r[1]!, w[1]!, 'right')}  ${pad(r[2]!, w[2]!)}  ${r[3]}`.trimEnd());
    }
  }
  if (l?.swapTotal) out.push(`Swap: ${formatBytes(l.swapUsed ?? 0)} of ${formatBytes(l.swapTotal)}`);
  return out.join('\n') + '\n';
}
