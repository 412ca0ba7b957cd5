/**
 * The CLI's error catalogue. Every failure a user sees is a CliError: one line saying what went wrong
 * and, where we know it, what to do next. main.ts prints `corral: <message>` and exits with `exitCode`.
 */

export class CliError extends Error {
  /** Process exit status; 1 unless a command says otherwise (websh uses 255 like ssh). */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** An error answer from the gateway: `{"error":{"code","message"}}` with its HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds from a Retry-After header (429), when present. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** `CODE: message`, as printed to the user. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** The gateway could not be reached, or TLS verification failed. */
export class NetworkError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'NetworkError';
  }
}

export const notLoggedIn = (): CliError => new CliError('not logged in: run `corral login URL`');

export const sessionExpired = (url: string | undefined): CliError =>
  new CliError(`session expired or revoked: run \`corral login ${url ?? 'URL'}\` again`);

/** What to do next after a gateway error code, when we can say something useful. */
const HINTS: Record<string, string> = {
  SERVER_NOT_FOUND: 'run `corral server ls` to see the server names',
  SERVER_OFFLINE: 'its agent is not connected; check `corral server ls` and the agent on that machine',
  JOIN_TOKEN_NOT_FOUND: 'run `corral server token ls` to see the token ids',
  FORBIDDEN: 'ask a workspace administrator for access',
  INVALID_CREDENTIALS: 'check the email and password and try again',
};

/**
 * Turn any error into the message printed to the user.
 * @param gatewayUrl the logged-in gateway, for "log in again" hints
 */
export function describeError(err: unknown, gatewayUrl?: string): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof ApiError) {
    if (err.code === 'UNAUTHENTICATED') return { message: sessionExpired(gatewayUrl).message, exitCode: 1 };
    let message = err.toString();
    if (err.code === 'RATE_LIMITED' && err.retryAfterSeconds !== undefined) {
      message += `; try again in ${err.retryAfterSeconds}s`;
    }
    const hint = HINTS[err.code];
    if (hint) message += ` (${hint})`;
    return { message, exitCode: 1 };
  }
  if (err instanceof NetworkError) return { message: err.message, exitCode: 1 };
  if (err instanceof Error) return { message: `unexpected error: ${err.stack ?? err.message}`, exitCode: 1 };
  return { message: `unexpected error: ${String(err)}`, exitCode: 1 };
}
