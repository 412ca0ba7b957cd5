/** Extra key=value facts on a log line. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** One line per event; the agent never logs secrets (tokens, keys, terminal bytes). */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

function formatValue(v: string | number | boolean | null): string {
  const s = String(v);
  return /^[^\s"=]*$/.test(s) && s !== '' ? s : JSON.stringify(s);
}

/** Render `message k=v k2="v 2"` (undefined fields are left out). */
export function formatLine(level: string, message: string, fields: LogFields = {}, now = new Date()): string {
  let line = `${now.toISOString()} ${level} ${message}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
  }
  return line;
}

/**
 * A logger writing one line per event to a sink (stderr by default), e.g.
 * `2025-01-01T00:00:00.000Z info connected server=web-01`.
 */
export function createLogger(write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  return {
    info: (m, f) => write(formatLine('info', m, f)),
    warn: (m, f) => write(formatLine('warn', m, f)),
    error: (m, f) => write(formatLine('error', m, f)),
  };
}

/** A logger that drops everything (tests, embedding). */
export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };
