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

/**
 * Ask the terminal for its size now (one TIOCGWINSZ ioctl, about a microsecond) instead of waiting for
 * Node to handle SIGWINCH: the signal and the keys typed after a resize can arrive in the same event-loop
 * turn, keys first, and the remote program would then run at the old size (seen with `stty size` typed
 * right after a resize). tty.WriteStream has no public call for this (getWindowSize() returns the cached
 * values), so this uses its long-standing `_refreshSize()`, which updates columns/rows and emits
 * 'resize' when they changed. A no-op on anything else.
 */
export function refreshTerminalSize(out: OutputStream): void {
  if (out.isTTY && typeof out._refreshSize === 'function') out._refreshSize();
}

/** Call `onResize` when the terminal behind `out` changes size (SIGWINCH); returns the unsubscribe. */
export function watchResize(out: OutputStream, onResize: () => void): () => void {
  out.on('resize', onResize);
  return () => {
    out.removeListener('resize', onResize);
  };
}

/** Signals that end the process by default; raw mode is undone before they take effect. */
const FATAL_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];

type Proc = Pick<NodeJS.Process, 'once' | 'removeListener' | 'kill' | 'pid'>;

/**
 * Raw mode for a local terminal, restored exactly once whatever happens: on `restore()`, when the
 * process exits (an exception, process.exit from elsewhere), and on SIGTERM or SIGHUP, which are then
 * raised again so the process still ends by that signal. (In raw mode the terminal sends Ctrl-C and
 * Ctrl-\ as bytes, so signals only come from outside.)
 */
export class RawTerminal {
  private active = false;
  private readonly onExit = (): void => this.restore();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.restore();
    this.proc.kill(this.proc.pid, signal);
  };

  constructor(
    private readonly stdin: InputStream,
    private readonly proc: Proc = process,
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
    for (const s of FATAL_SIGNALS) this.proc.once(s, this.onSignal);
  }

  /** Back to the mode it had. Safe to call many times. */
  restore(): void {
    if (!this.active) return;
    this.active = false;
    this.proc.removeListener('exit', this.onExit);
    for (const s of FATAL_SIGNALS) this.proc.removeListener(s, this.onSignal);
    this.stdin.setRawMode?.(false);
  }
}
