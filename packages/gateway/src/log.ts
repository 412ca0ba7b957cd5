/** Minimal structured logger: one line per event to stderr. Secrets are never passed to it. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function line(level: string, msg: string, fields?: Record<string, unknown>): string {
  const extra = fields
    ? ' ' +
      Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
        .join(' ')
    : '';
  return `${new Date().toISOString()} ${level} ${msg}${extra}\n`;
}

export function stderrLogger(quiet = false): Logger {
  return {
    info: (m, f) => {
      if (!quiet) process.stderr.write(line('info', m, f));
    },
    warn: (m, f) => process.stderr.write(line('warn', m, f)),
    error: (m, f) => process.stderr.write(line('error', m, f)),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
