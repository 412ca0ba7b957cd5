/** Time formatting for tables: relative ("12s ago", "in 59m") and absolute (UTC, to the second). */

/**
 * How long ago (or until) `then`, in the largest whole unit: "12s ago", "5m ago", "3h ago", "2d ago",
 * "in 59m". Less than a second counts as "just now"; larger units are rounded to the nearest whole
 * one. Hours run up to 47 before days take over.
 * @param then ISO 8601 string, epoch milliseconds, or null (rendered as `never`)
 * @param now epoch milliseconds
 */
export function relativeTime(then: string | number | null, now: number, never = 'never'): string {
  if (then === null) return never;
  const t = typeof then === 'number' ? then : Date.parse(then);
  if (Number.isNaN(t)) return String(then);
  const diffMs = now - t;
  const s = Math.floor(Math.abs(diffMs) / 1000);
  if (s < 1) return 'just now';
  // Rounded, so that a token made to last 2h reads "in 2h" a moment later, not "in 1h".
  let amount: string;
  const m = Math.round(s / 60);
  const h = Math.round(s / 3600);
  if (s < 60) amount = `${s}s`;
  else if (m < 60) amount = `${m}m`;
  else if (h < 48) amount = `${h}h`;
  else amount = `${Math.round(s / 86400)}d`;
  return diffMs >= 0 ? `${amount} ago` : `in ${amount}`;
}

/** "2025-01-02 15:04:05Z" (UTC), or the input unchanged when it is not a date. */
export function formatTimestamp(iso: string | null, empty = '-'): string {
  if (iso === null) return empty;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** A duration in seconds as "1h", "30m", "7d", "90s" (largest exact unit). */
export function formatDuration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
