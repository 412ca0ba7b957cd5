import type { OutputStream } from '../context.js';

/** Sizes for people: 1023 B, 1.5 KiB, 12.3 MiB, 1.02 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`
    : `${m}:${String(r).padStart(2, '0')}`;
}

/**
 * One progress line: `name  42% [=======>          ] 1.20 GiB  215 MiB/s  ETA 0:03`. Without a known
 * total (archives) it shows bytes and rate only. `width` is the terminal width.
 */
export function progressLine(
  name: string,
  done: number,
  total: number | null,
  elapsedMs: number,
  width: number,
): string {
  const rate = elapsedMs > 0 ? (done / elapsedMs) * 1000 : 0;
  const tail = `${formatBytes(done).padStart(10)}  ${(formatBytes(Math.round(rate)) + '/s').padStart(11)}`;
  if (total === null || total <= 0) {
    const line = `${name}  ${tail}`;
    return line.length > width ? line.slice(line.length - width) : line;
  }
  const pct = Math.min(100, Math.floor((done / total) * 100));
  const eta = rate > 0 ? (total - done) / rate : NaN;
  const right = ` ${String(pct).padStart(3)}% ${tail}  ETA ${formatEta(eta)}`;
  const barWidth = Math.max(10, Math.min(30, width - right.length - 14));
  const filled = Math.round((barWidth * pct) / 100);
  const bar =
    '[' +
    '='.repeat(Math.max(0, filled - 1)) +
    (filled > 0 ? (pct === 100 ? '=' : '>') : '') +
    ' '.repeat(barWidth - filled) +
    ']';
  const room = Math.max(8, width - right.length - bar.length - 2);
  const label = name.length > room ? '…' + name.slice(name.length - room + 1) : name.padEnd(room);
  return `${label} ${bar}${right}`;
}

/** Redraws a progress line on a terminal at most 10 times a second; silent elsewhere. */
export class Progress {
  readonly #start: number;
  #last = 0;
  #done = 0;

  constructor(
    private readonly out: OutputStream & { isTTY?: boolean; columns?: number },
    private readonly name: string,
    private readonly total: number | null,
    private readonly now: () => number = Date.now,
  ) {
    this.#start = now();
  }

  update(done: number): void {
    this.#done = done;
    if (!this.out.isTTY) return;
    const t = this.now();
    if (t - this.#last < 100) return;
    this.#last = t;
    this.out.write(`\r${progressLine(this.name, done, this.total, t - this.#start, (this.out.columns ?? 80) - 1)}`);
  }

  finish(): void {
    if (!this.out.isTTY) return;
    this.out.write(
      `\r${progressLine(this.name, this.#done, this.total ?? this.#done, this.now() - this.#start, (this.out.columns ?? 80) - 1)}\n`,
    );
  }
}
