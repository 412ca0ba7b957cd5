import { readFileSync } from 'node:fs';
import { ApiClient } from '../api-client.js';
import { normalizeGatewayUrl } from '../tls-pin.js';
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
  if (ctx.envToken) return envTokenConfig(ctx, ctx.envToken);
  const config = new ConfigStore(ctx.configDir).load();
  if (!config?.token) throw notLoggedIn();
  if (config.expiresAt !== null && Date.parse(config.expiresAt) <= ctx.now()) throw sessionExpired(config.url);
  return config as LoggedInConfig;
}

/**
 * $CORRAL_TOKEN (CI): the token is the bearer; the gateway and its CA come from $CORRAL_GATEWAY and
 * $CORRAL_CA_FILE, or from the saved config when those are unset.
 */
function envTokenConfig(ctx: CliContext, env: NonNullable<CliContext['envToken']>): LoggedInConfig {
  const saved = new ConfigStore(ctx.configDir).load();
  const url = env.gateway ? normalizeGatewayUrl(env.gateway) : saved?.url;
  if (!url) {
    throw new CliError(
      'CORRAL_TOKEN is set but no gateway is known: set CORRAL_GATEWAY and CORRAL_CA_FILE, or run `corral login URL` once',
    );
  }
  let caPem: string;
  if (env.caFile) {
    try {
      caPem = readFileSync(env.caFile, 'utf8');
    } catch (err) {
      throw new CliError(`CORRAL_CA_FILE ${env.caFile}: ${(err as Error).message}`);
    }
  } else if (saved && saved.url === url) {
    caPem = saved.caPem;
  } else {
    throw new CliError(
      `no pinned CA for ${url}: set CORRAL_CA_FILE to the gateway's CA certificate (GET ${url}/api/v1/ca, checked against its fingerprint)`,
    );
  }
  return { url, caPem, caFingerprint: '', token: env.token, expiresAt: null, email: null, workspace: null };
}

/** What a 401 means to the user: the saved session ended, or CORRAL_TOKEN was refused. */
export function unauthenticated(ctx: CliContext, url: string | undefined): CliError {
  return ctx.envToken
    ? new CliError('CORRAL_TOKEN was refused: the token is unknown, expired or revoked (unset it to use your login)')
    : sessionExpired(url);
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
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') throw unauthenticated(ctx, config.url);
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
