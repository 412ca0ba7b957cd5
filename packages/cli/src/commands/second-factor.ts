import {
  LoginMfaSendResponse,
  LoginSession,
  StepUpBeginResponse,
  StepUpResponse,
  type MfaChallengeResponse,
  type MfaMethod,
} from '@corral/protocol';
import type { ApiClient } from '../api-client.js';
import { ApiError, CliError } from '../errors.js';
import { println, type CliContext } from '../context.js';
import { promptHidden, promptLine, readAllTrimmed } from '../prompt.js';

/**
 * Asking for a second factor on the terminal (or taking it from --totp / --recovery-code): for the
 * second sign-in step and for step-ups. The answer decides the method: six digits are a TOTP code,
 * "email" or "sms" has a code sent and asks for it, anything longer is a recovery code.
 */

export interface FactorFlags {
  totp?: string | undefined;
  recoveryCode?: string | undefined;
}

interface Answer {
  method: MfaMethod;
  code: string;
  challenge?: string | undefined;
}

/** Attempts on the terminal before giving up (the gateway allows 5 per challenge). */
const TRIES = 3;

function fromFlags(flags: FactorFlags, methods: readonly MfaMethod[]): Answer | null {
  if (flags.totp !== undefined) {
    if (!methods.includes('totp'))
      throw new CliError(`--totp: this account has no authenticator app (it has: ${methods.join(', ')})`);
    return { method: 'totp', code: flags.totp };
  }
  if (flags.recoveryCode !== undefined) {
    if (!methods.includes('recovery')) throw new CliError('--recovery-code: this account has no recovery codes left');
    return { method: 'recovery', code: flags.recoveryCode };
  }
  return null;
}

/**
 * Ask which factor and its code. `send(m)` has the gateway send an email/SMS code and returns where it
 * went (and the challenge it belongs to, for step-ups).
 */
async function askFactor(
  ctx: CliContext,
  methods: readonly MfaMethod[],
  send: (m: 'email' | 'sms') => Promise<{ sentTo: string; challenge?: string | undefined }>,
  gatewayUrl: string,
): Promise<Answer> {
  const usable = methods.filter((m) => m !== 'webauthn');
  if (usable.length === 0) {
    throw new CliError(
      `this account's only second factor is a passkey or security key: use the browser at ${passkeyPageUrl(gatewayUrl)}`,
    );
  }
  if (!ctx.stdin.isTTY) {
    throw new CliError(
      `a second factor is needed and there is no terminal to ask on: pass --totp CODE or --recovery-code CODE (you have: ${usable.join(', ')})`,
    );
  }
  const offers: string[] = [];
  if (usable.includes('totp')) offers.push('the 6-digit code from your authenticator app');
  if (usable.includes('email')) offers.push('"email" to get a code by mail');
  if (usable.includes('sms')) offers.push('"sms" to get a code by text or call');
  if (usable.includes('recovery')) offers.push('a recovery code');
  println(ctx.stderr, `Second factor: enter ${offers.join(', or ')}.`);
  for (;;) {
    const a = (await promptLine(ctx, 'Second factor: ')).trim();
    const word = a.toLowerCase();
    if ((word === 'email' || word === 'sms') && usable.includes(word)) {
      const sent = await send(word);
      println(ctx.stderr, `A code was sent to ${sent.sentTo} (valid 10 minutes).`);
      const code = (await promptLine(ctx, 'Code: ')).trim();
      return { method: word, code, challenge: sent.challenge };
    }
    if (/^\d{6}$/.test(a.replace(/\s/g, '')) && usable.includes('totp')) return { method: 'totp', code: a };
    if (a.replace(/[^a-z0-9]/gi, '').length >= 12 && usable.includes('recovery'))
      return { method: 'recovery', code: a };
    println(ctx.stderr, `Not understood. Enter ${offers.join(', or ')}.`);
  }
}

/** Where passkeys are added: the gateway's /auth/webauthn page, by name (WebAuthn refuses IP addresses). */
export function passkeyPageUrl(gatewayUrl: string): string {
  const u = new URL(gatewayUrl);
  if (/^\d+\.\d+\.\d+\.\d+$|^\[/.test(u.hostname)) u.hostname = 'localhost';
  u.pathname = '/auth/webauthn';
  return u.toString();
}

const retryable = (err: unknown): boolean => err instanceof ApiError && err.code === 'MFA_INVALID';

/** Complete a sign-in that answered `mfaRequired`: ask for the factor (up to 3 tries) and finish it. */
export async function completeMfaLogin(
  ctx: CliContext,
  api: ApiClient,
  first: MfaChallengeResponse,
  flags: FactorFlags,
  gatewayUrl: string,
): Promise<LoginSession> {
  const given = fromFlags(flags, first.methods);
  const send = async (method: 'email' | 'sms') =>
    api.request('POST', '/api/v1/auth/login/mfa/send', {
      body: { challenge: first.challenge, method },
      parse: (v) => LoginMfaSendResponse.parse(v),
    });
  for (let attempt = 1; ; attempt++) {
    const a = given ?? (await askFactor(ctx, first.methods, send, gatewayUrl));
    try {
      return await api.request('POST', '/api/v1/auth/login/mfa', {
        body: { challenge: first.challenge, method: a.method, code: a.code },
        parse: (v) => LoginSession.parse(v),
      });
    } catch (err) {
      if (given || attempt >= TRIES || !retryable(err)) throw err;
      println(ctx.stderr, 'That did not work; try again.');
    }
  }
}

export interface StepUpOptions extends FactorFlags {
  passwordStdin?: boolean | undefined;
}

/**
 * Step up: with a second factor when the account has one (asked for, or from the flags), else with the
 * password. Returns when the gateway accepted it (the grace window's end).
 */
export async function stepUpWithFactor(
  ctx: CliContext,
  api: ApiClient,
  who: { email: string | null | undefined; url: string },
  opts: StepUpOptions,
): Promise<string> {
  const begin = await api.request('POST', '/api/v1/auth/step-up/begin', {
    body: {},
    parse: (v) => StepUpBeginResponse.parse(v),
  });
  if (!begin.mfa) {
    const password = opts.passwordStdin
      ? await readAllTrimmed(ctx.stdin)
      : await promptHidden(ctx, `Password for ${who.email ?? 'your account'} (step-up): `);
    const r = await api.request('POST', '/api/v1/auth/step-up', {
      body: { password },
      parse: (v) => StepUpResponse.parse(v),
    });
    return r.validUntil;
  }
  if (opts.passwordStdin) {
    throw new CliError(
      'your account has a second factor: step up with --totp CODE or --recovery-code CODE, not the password',
    );
  }
  const given = fromFlags(opts, begin.methods);
  const send = async (method: 'email' | 'sms') => {
    const r = await api.request('POST', '/api/v1/auth/step-up/begin', {
      body: { method },
      parse: (v) => StepUpBeginResponse.parse(v),
    });
    return { sentTo: r.sentTo ?? 'you', challenge: r.challenge };
  };
  for (let attempt = 1; ; attempt++) {
    const a = given ?? (await askFactor(ctx, begin.methods, send, who.url));
    try {
      const r = await api.request('POST', '/api/v1/auth/step-up', {
        body: { method: a.method, code: a.code, ...(a.challenge ? { challenge: a.challenge } : {}) },
        parse: (v) => StepUpResponse.parse(v),
      });
      return r.validUntil;
    } catch (err) {
      if (given || attempt >= TRIES || !retryable(err)) throw err;
      println(ctx.stderr, 'That did not work; try again.');
    }
  }
}

/** The ApiClient hook: on STEP_UP_REQUIRED, step up on the terminal and have the request retried. */
export function stepUpOnDemand(
  ctx: CliContext,
  api: () => ApiClient,
  who: { email: string | null | undefined; url: string },
): ((err: ApiError) => Promise<boolean>) | undefined {
  if (!ctx.stdin.isTTY) return undefined;
  return async (err) => {
    println(ctx.stderr, `Step-up needed: ${err.message.replace(/:? ?run `corral step-up`.*$/, '')}.`);
    await stepUpWithFactor(ctx, api(), who, {});
    return true;
  };
}
