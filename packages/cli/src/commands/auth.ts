import { LoginResponse, WhoamiResponse, type LoginSession } from '@corral/protocol';
import { X509Certificate } from 'node:crypto';
import { ApiClient } from '../api-client.js';
import { ConfigStore } from '../config-store.js';
import { CliError } from '../errors.js';
import { println, type CliContext } from '../context.js';
import { confirm, promptHidden, promptLine, readAllTrimmed } from '../prompt.js';
import {
  decidePin,
  fetchCaUnverified,
  fingerprintOf,
  formatFingerprint,
  isValidFingerprint,
  normalizeGatewayUrl,
} from '../tls-pin.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { printJson, withApi, type OutputOptions } from './common.js';

export interface LoginOptions {
  email?: string;
  passwordStdin?: boolean;
  caFingerprint?: string;
  /** Second factor for scripts: a TOTP code or a recovery code. */
  totp?: string;
  recoveryCode?: string;
}

/**
 * `corral login URL`: pin the gateway's CA (flag, earlier pin, or a question on the terminal), ask for
 * the credentials (and the second factor when the account has one), log in over verified TLS 1.3 and
 * save the session.
 */
export async function login(ctx: CliContext, urlInput: string, opts: LoginOptions): Promise<void> {
  const url = normalizeGatewayUrl(urlInput);
  if (opts.caFingerprint !== undefined && !isValidFingerprint(opts.caFingerprint)) {
    throw new CliError(
      '--ca-fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons allowed (the gateway prints it at start)',
    );
  }
  if (opts.passwordStdin && !opts.email) {
    throw new CliError('--password-stdin needs --email too (stdin carries the password)');
  }
  const interactive = Boolean(ctx.stdin.isTTY) && !opts.passwordStdin;
  if (!opts.email && !interactive) throw new CliError('no terminal to ask for the email on: pass --email');
  if (!opts.passwordStdin && !ctx.stdin.isTTY) {
    throw new CliError('no terminal to ask for the password on: pass --password-stdin and pipe the password in');
  }

  const store = new ConfigStore(ctx.configDir);
  const existing = store.load();

  const { caPem, served } = await pinGatewayCa(ctx, url, {
    flag: opts.caFingerprint,
    pinned: existing?.url === url ? existing.caFingerprint : undefined,
    interactive,
  });

  const email = opts.email ?? (await promptLine(ctx, 'Email: '));
  if (!email) throw new CliError('no email given');
  const password = opts.passwordStdin ? await readAllTrimmed(ctx.stdin) : await promptHidden(ctx, 'Password: ');
  if (!password) throw new CliError('no password given');

  const api = new ApiClient({ baseUrl: url, caPem });
  let res: LoginSession;
  try {
    const first = await api.request('POST', '/api/v1/auth/login', {
      body: { email, password },
      parse: (v) => LoginResponse.parse(v),
    });
    if ('mfaRequired' in first) {
      const { completeMfaLogin } = await import('./second-factor.js');
      res = await completeMfaLogin(ctx, api, first, { totp: opts.totp, recoveryCode: opts.recoveryCode }, url);
    } else res = first;
  } finally {
    api.close();
  }

  saveSession(store, url, caPem, served, res);
  println(
    ctx.stdout,
    `Logged in to ${url} as ${sanitize(res.user.email)} (workspace ${sanitize(res.workspace.name)}); ` +
      `the session expires ${relativeTime(res.expiresAt, ctx.now())} (${formatTimestamp(res.expiresAt)}).`,
  );
  if (res.enrollmentRequired) warnEnrollment(ctx);
}

/** The workspace enforces MFA and the account has no factor yet: say what to do. */
export function warnEnrollment(ctx: CliContext): void {
  println(
    ctx.stderr,
    'This workspace requires a second factor: until you add one (`corral mfa add totp`, or email, sms, webauthn), ' +
      'this session can only enrol it.',
  );
}

/**
 * Fetch the gateway's CA without verification, then decide whether to trust it: the fingerprint given
 * on the command line, the one pinned before for this URL, or the person's answer on the terminal.
 * Everything after this verifies TLS against the returned CA.
 */
export async function pinGatewayCa(
  ctx: CliContext,
  url: string,
  o: { flag: string | undefined; pinned: string | undefined; interactive: boolean },
): Promise<{ caPem: string; served: string }> {
  const caPem = await fetchCaUnverified(url);
  const served = fingerprintOf(caPem);
  const decision = decidePin({ url, served, flag: o.flag, pinned: o.pinned, interactive: o.interactive });
  if (decision.action === 'refuse') throw new CliError(decision.message);
  if (decision.action === 'ask') {
    const subject = sanitize(new X509Certificate(caPem).subject.replace(/\n/g, ', '));
    println(ctx.stderr, `The gateway at ${url} presents this CA:`);
    println(ctx.stderr, `  subject: ${subject}`);
    println(ctx.stderr, `  SHA-256 fingerprint: ${formatFingerprint(served)}`);
    println(ctx.stderr, 'Compare it with the fingerprint the gateway printed when it started (or ask its operator).');
    if (!(await confirm(ctx, 'Trust this CA?'))) throw new CliError('CA not trusted: nothing was saved');
  }
  return { caPem, served };
}

/** Remember a signed-in session (mode 0600, written atomically). */
export function saveSession(
  store: ConfigStore,
  url: string,
  caPem: string,
  caFingerprint: string,
  res: LoginSession,
): void {
  store.save({
    url,
    caPem,
    caFingerprint,
    token: res.token,
    expiresAt: res.expiresAt,
    email: res.user.email,
    workspace: { id: res.workspace.id, name: res.workspace.name },
  });
}

/** `corral logout`: tell the gateway, then forget the token whatever it answered. */
export async function logout(ctx: CliContext): Promise<void> {
  const store = new ConfigStore(ctx.configDir);
  const config = store.load();
  if (!config?.token) {
    println(ctx.stdout, 'Not logged in.');
    return;
  }
  const api = new ApiClient({ baseUrl: config.url, caPem: config.caPem, token: config.token, timeoutMs: 10_000 });
  let warning: string | undefined;
  try {
    await api.request('POST', '/api/v1/auth/logout');
  } catch (err) {
    warning = err instanceof Error ? err.toString().replace(/^\w*Error: /, '') : String(err);
  } finally {
    api.close();
  }
  store.save({ ...config, token: null, expiresAt: null });
  if (warning)
    println(
      ctx.stderr,
      `corral: the gateway did not confirm the logout (${warning}); the token was forgotten here anyway`,
    );
  println(ctx.stdout, `Logged out of ${config.url}.`);
}

/** `corral whoami`: who the saved token belongs to, as the gateway sees it. */
export async function whoami(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api, config) => {
    const me = await api.request('GET', '/api/v1/auth/whoami', { parse: (v) => WhoamiResponse.parse(v) });
    if (opts.output === 'json') return printJson(ctx, { url: config.url, ...me });
    const expires =
      me.tokenExpiresAt === null
        ? 'does not expire'
        : `expires ${relativeTime(me.tokenExpiresAt, ctx.now())} (${formatTimestamp(me.tokenExpiresAt)})`;
    if (me.apiToken) {
      const t = me.apiToken;
      println(
        ctx.stdout,
        `${sanitize(me.user.email)} (${me.user.role}) in workspace ${sanitize(me.workspace.name)} at ${config.url}, with ${t.kind === 'service' ? 'service' : 'API'} token ${t.id} (${sanitize(t.name)}): scopes ${t.scopes.join(' ')}${t.servers ? `, servers ${t.servers.map(sanitize).join(' ')}` : ''}; it ${expires}`,
      );
      return;
    }
    println(
      ctx.stdout,
      `${sanitize(me.user.email)} (${me.user.role}) in workspace ${sanitize(me.workspace.name)} at ${config.url}; the session ${expires}`,
    );
    if (me.enrollmentRequired) warnEnrollment(ctx);
  });
}

/**
 * `corral step-up`: prove it is you again (a second factor when the account has one, else the password)
 * so that root and the actions the workspace lists are allowed for its grace window (5 minutes by default).
 */
export async function stepUp(
  ctx: CliContext,
  opts: { passwordStdin?: boolean; totp?: string; recoveryCode?: string },
): Promise<void> {
  const { stepUpWithFactor } = await import('./second-factor.js');
  await withApi(ctx, async (api, config) => {
    const validUntil = await stepUpWithFactor(ctx, api, { email: config.email, url: config.url }, opts);
    println(ctx.stdout, `Stepped up until ${validUntil.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}.`);
  });
}
