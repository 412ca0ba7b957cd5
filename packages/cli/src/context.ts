/**
 * The outside world a command sees, passed in by main.ts (the only place that reads process.env and
 * argv) so that tests can hand in fake streams, a temporary config directory and a fixed clock.
 */

/** What we need from stdin: a readable byte stream that may be a terminal. */
export interface InputStream extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  isRaw?: boolean;
}

/** What we need from stdout / stderr: a writable stream that may be a terminal. */
export interface OutputStream extends NodeJS.WritableStream {
  isTTY?: boolean;
  /** Terminal width in columns, when a terminal. */
  columns?: number;
  /** Terminal height in rows, when a terminal. */
  rows?: number;
  /** tty.WriteStream's internal: re-read the size from the terminal, emit 'resize' if it changed. */
  _refreshSize?(): void;
}

export interface CliContext {
  stdin: InputStream;
  stdout: OutputStream;
  stderr: OutputStream;
  /** Directory holding config.json ($CORRAL_CONFIG_DIR, else ~/.config/corral). */
  configDir: string;
  /** Whether to colour stdout: it is a terminal and NO_COLOR is unset. */
  color: boolean;
  /** $TERM, passed to the remote pty. */
  term: string | undefined;
  /** Milliseconds since the epoch. */
  now(): number;
  /** Command that opens a URL in the person's browser (xdg-open with a display, open on macOS), if any. */
  browserOpener?: string | undefined;
  /** $VISUAL or $EDITOR, for `corral edit`. */
  editor?: string | undefined;
  /**
   * $CORRAL_TOKEN: an API or service token used as the bearer instead of the saved login (CI), with
   * $CORRAL_GATEWAY (the gateway URL, default the saved one) and $CORRAL_CA_FILE (its CA, PEM; default
   * the saved one when the URL is the saved URL).
   */
  envToken?: { token: string; gateway?: string | undefined; caFile?: string | undefined } | undefined;
}

/** Write one line to a stream. */
export function println(stream: OutputStream, line = ''): void {
  stream.write(line + '\n');
}
