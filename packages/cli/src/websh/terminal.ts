import type { InputStream, OutputStream } from '../context.js';

/** Size used when stdout is not a terminal. */
export const DEFAULT_SIZE = { cols: 80, rows: 24 } as const;

/** The terminal's size, clamped to what the protocol allows (1-1000). */
export function terminalSize(out: OutputStream): { cols: number; rows: number } {
  const clamp = (n: number | undefined, d: number): number =>
    n === undefined || !Number.isFinite(n) || n < 1 ? d : Math.min(1000, Math.floor(n));
  if (!out.isTTY) return { ...DEFAULT_SIZE };
  return { cols: clamp(out.columns, DEFAULT_SIZE.cols), rows: clamp(out.rows, DEFAULT_SIZE.rows) };
}

/** Call `onResize` when the terminal behind `out` changes size (SIGWINCH); returns the unsubscribe. */
export function watchResize(out: OutputStream, onResize: () => void): () => void {
  out.on('resize', onResize);
  return () => {
    out.removeListener('resize', onResize);
  };
}

/**
 * Raw mode for a local terminal, restored exactly once whatever happens: on `restore()`, and as a last
 * resort when the process exits (an exception, process.exit from elsewhere).
 */
export class RawTerminal {
  private active = false;
  private readonly onExit = (): void => this.restore();

  constructor(
    private readonly stdin: InputStream,
    private readonly proc: Pick<NodeJS.Process, 'once' | 'removeListener'> = process,
  ) {}

  /** Whether raw mode is on now. */
  get isRaw(): boolean {
    return this.active;
  }

  /** Switch the terminal to raw mode (no echo, no line editing, no signals from keys). */
  enter(): void {
    if (this.active || !this.stdin.isTTY || !this.stdin.setRawMode) return;
    this.stdin.setRawMode(true);
    this.active = true;
    this.proc.once('exit', this.onExit);
  }

  /** Back to the mode it had. Safe to call many times. */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    this.proc.removeListener('exit', this.onExit);
    this.stdin.setRawMode?.(false);
  }
}
