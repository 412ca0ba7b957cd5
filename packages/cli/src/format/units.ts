/** Sizes and rates for people: binary units, one decimal. */

/** Bytes as a short binary size: "512 B", "1.5 KiB", "7.8 GiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Bytes per second: "310 B/s", "1.2 KiB/s"; whole bytes below 1 KiB. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond < 1024 ? Math.round(bytesPerSecond) : bytesPerSecond)}/s`;
}

/** A percentage with one decimal: "12.5 %". */
export function formatPct(pct: number): string {
  return `${pct.toFixed(1)} %`;
}
