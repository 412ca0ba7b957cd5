import { ApiClient } from '../api-client.js';
import { ConfigStore, type CorralConfig } from '../config-store.js';
import { ApiError, CliError, notLoggedIn, sessionExpired } from '../errors.js';
import type { CliContext } from '../context.js';

/** `--output` values. */
export type OutputFormat = 'table' | 'json';

/** Options every listing command takes. */
export interface OutputOptions {
  output: OutputFormat;
}

/** A logged-in config: the token is present. */
export type LoggedInConfig = CorralConfig & { token: string };

/**
 * The saved login, checked: throws "not logged in" or "session expired" (when the saved expiry has
 * passed; the gateway is asked nothing then).
 */
export function requireLogin(ctx: CliContext): LoggedInConfig {
  const config = new ConfigStore(ctx.configDir).load();
  if (!config?.token) throw notLoggedIn();
  if (config.expiresAt !== null && Date.parse(config.expiresAt) <= ctx.now()) throw sessionExpired(config.url);
  return config as LoggedInConfig;
}

/**
 * Run `fn` with an API client for the saved login, then close its connections. A 401 UNAUTHENTICATED
 * answer becomes "session expired or revoked: run `corral login URL` again".
 */
export async function withApi<T>(
  ctx: CliContext,
  fn: (api: ApiClient, config: LoggedInConfig) => Promise<T>,
): Promise<T> {
  const config = requireLogin(ctx);
  const who = { email: config.email, url: config.url };
  // On a terminal, a 403 STEP_UP_REQUIRED asks for the second factor (or password) and retries once.
  const api: ApiClient = new ApiClient({
    baseUrl: config.url,
    caPem: config.caPem,
    token: config.token,
    ...(ctx.stdin.isTTY
      ? {
          onStepUpRequired: async (err: ApiError) => {
            const { stepUpOnDemand } = await import('./second-factor.js');
            return (stepUpOnDemand(ctx, () => api, who) ?? (() => Promise.resolve(false)))(err);
          },
        }
      : {}),
  });
  try {
    return await fn(api, config);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') throw sessionExpired(config.url);
    throw err;
  } finally {
    api.close();
  }
}

/** Print a value as indented JSON on stdout. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Parse a positive integer option, or throw a CliError naming the option. */
export function parsePositiveInt(value: string, option: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new CliError(`${option} must be a whole number of at least 1 (got "${value}")`);
  }
  return Number(value);
}
