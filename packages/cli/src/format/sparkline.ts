/** Sparklines for terminal output: one block character per value, ▁ lowest to █ highest. */

export const SPARK_BLOCKS = '▁▂▃▄▅▆▇█';

export interface SparklineOptions {
  /** Bottom of the scale; default the smallest value. */
  min?: number;
  /** Top of the scale; default the largest value. */
  max?: number;
}

/**
 * Draw `values`, one character each. A missing value (null, undefined, NaN, ±Infinity) is a space, so
 * gaps stay visible. Without a fixed scale, a constant series is a flat line of ▁; with `min` given
 * (e.g. 0 for rates), a constant non-zero series is a flat line of █. Empty input gives "".
 */
export function sparkline(values: ReadonlyArray<number | null | undefined>, opts: SparklineOptions = {}): string {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return ' '.repeat(values.length);
  const lo = opts.min ?? Math.min(...finite);
  const hi = opts.max ?? Math.max(...finite);
  const span = hi - lo;
  const top = SPARK_BLOCKS.length - 1;
  let out = '';
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      out += ' ';
      continue;
    }
    const level = span > 0 ? Math.round(((v - lo) / span) * top) : 0;
    out += SPARK_BLOCKS[Math.min(top, Math.max(0, level))];
  }
  return out;
}

/**
 * Spread timed values over `width` equal slots of the window [fromMs, toMs): each slot gets the average
 * of the values whose time falls in it, or null when none does (the server sent nothing then). Values
 * outside the window are ignored. This keeps the time axis true: an hour with a 20-minute outage shows a
 * gap, instead of squeezing the rest together.
 */
export function timeSlots(
  points: ReadonlyArray<{ atMs: number; value: number | null }>,
  fromMs: number,
  toMs: number,
  width: number,
): (number | null)[] {
  const sums = new Array<number>(width).fill(0);
  const counts = new Array<number>(width).fill(0);
  const span = toMs - fromMs;
  if (width <= 0 || span <= 0) return [];
  for (const p of points) {
    if (p.value === null || !Number.isFinite(p.value) || p.atMs < fromMs || p.atMs >= toMs) continue;
    const i = Math.min(width - 1, Math.floor(((p.atMs - fromMs) / span) * width));
    sums[i]! += p.value;
    counts[i]!++;
  }
  return sums.map((s, i) => (counts[i]! > 0 ? s / counts[i]! : null));
}
