import {
  AuthSessionList,
  MfaConfirmResponse,
  MfaEnrollResponse,
  MfaFactorKind,
  MfaStatus,
  PasswordChangeResponse,
  PHONE_RE,
  RecoveryCodesResponse,
  StepUpAction,
  WorkspaceDetail,
  parseDurationSeconds,
  type AuthSessionView,
  type MfaFactorView,
} from '@corral/protocol';
import type { ApiClient } from '../api-client.js';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderKeyValues, renderTable, type Column } from '../format/table.js';
import { relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { promptHidden, promptLine, readAllTrimmed } from '../prompt.js';
import { printJson, requireLogin, withApi, type OutputOptions } from './common.js';
import { passkeyPageUrl } from './second-factor.js';

/**
 * `corral mfa ...` (second factors, recovery codes, the workspace MFA policy), `corral signins ...`
 * (sign-in sessions) and `corral passwd`.
 */

function factorColumns(ctx: CliContext): Column<MfaFactorView>[] {
  return [
    { header: 'ID', value: (f) => f.id },
    { header: 'KIND', value: (f) => (f.kind === 'sms' && f.channel === 'voice' ? 'sms (voice)' : f.kind) },
    { header: 'LABEL', value: (f) => sanitize(f.label), shrink: true },
    { header: 'STATUS', value: (f) => (f.confirmed ? 'active' : 'pending') },
    { header: 'ADDED', value: (f) => relativeTime(f.createdAt, ctx.now()) },
    { header: 'LAST USED', value: (f) => relativeTime(f.lastUsedAt, ctx.now()) },
  ];
}

/** `corral mfa ls` */
export async function mfaLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const st = await api.request('GET', '/api/v1/auth/mfa', { parse: (v) => MfaStatus.parse(v) });
    if (opts.output === 'json') return printJson(ctx, st);
    if (st.factors.length === 0) ctx.stderr.write('No second factors yet: add one with `corral mfa add totp`.\n');
    else
      ctx.stdout.write(
        renderTable(factorColumns(ctx), st.factors, {
          color: ctx.color,
          maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
        }),
      );
    println(
      ctx.stderr,
      `Recovery codes left: ${st.recoveryCodesLeft}. Workspace: MFA ${st.policy.enforced ? 'enforced' : 'optional'}; allowed: ${st.policy.methods.join(', ')}.`,
    );
  });
}

export interface MfaAddOptions extends OutputOptions {
  label?: string;
  phone?: string;
  voice?: boolean;
  /** The first code, to confirm without a prompt. */
  code?: string;
}

/** `corral mfa add totp|email|sms|webauthn` */
export async function mfaAdd(ctx: CliContext, kindIn: string, opts: MfaAddOptions): Promise<void> {
  const kind = MfaFactorKind.safeParse(kindIn);
  if (!kind.success) throw new CliError(`unknown factor "${kindIn}": use totp, email, sms or webauthn`);
  if (kind.data === 'webauthn') {
    const config = requireLogin(ctx);
    println(
      ctx.stdout,
      `Passkeys and security keys are added in a browser: open ${passkeyPageUrl(config.url)}, sign in and choose Add.`,
    );
    return;
  }
  const body: Record<string, unknown> = { kind: kind.data };
  if (kind.data === 'totp' && opts.label) body.label = opts.label;
  if (kind.data === 'sms') {
    const phone = (opts.phone ?? '').replace(/[\s().-]/g, '');
    if (!PHONE_RE.test(phone)) throw new CliError('--phone must be an international number like +15551234567');
    body.phone = phone;
    if (opts.voice) body.channel = 'voice';
  }
  await withApi(ctx, async (api) => {
    const r = await api.request('POST', '/api/v1/auth/mfa/factors', {
      body,
      parse: (v) => MfaEnrollResponse.parse(v),
    });
    if (opts.output === 'json' && opts.code === undefined) return printJson(ctx, r);
    if (r.secret && opts.output !== 'json') {
      println(
        ctx.stdout,
        'Add this account to your authenticator app (scan the URI as a QR code, or type the secret):',
      );
      println(ctx.stdout, `  secret: ${r.secret}`);
      println(ctx.stdout, `  URI:    ${r.otpauthUri ?? ''}`);
    }
    if (r.sentTo && opts.output !== 'json') println(ctx.stdout, `A code was sent to ${r.sentTo}.`);
    let code = opts.code;
    if (code === undefined) {
      if (!ctx.stdin.isTTY) {
        println(ctx.stdout, `Confirm it with: corral mfa confirm ${r.factor.id} CODE`);
        return;
      }
      code = await promptLine(ctx, kind.data === 'totp' ? 'Code from the app: ' : 'Code: ');
    }
    await confirmAndReport(ctx, api, r.factor.id, code, opts);
  });
}

/** `corral mfa confirm ID CODE` */
export async function mfaConfirm(ctx: CliContext, id: string, code: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, (api) => confirmAndReport(ctx, api, id, code, opts));
}

async function confirmAndReport(
  ctx: CliContext,
  api: ApiClient,
  id: string,
  code: string,
  opts: OutputOptions,
): Promise<void> {
  const c = await api.request('POST', `/api/v1/auth/mfa/factors/${encodeURIComponent(id)}/confirm`, {
    body: { code },
    parse: (v) => MfaConfirmResponse.parse(v),
  });
  if (opts.output === 'json') return printJson(ctx, c);
  println(ctx.stdout, `Second factor ${c.factor.id} (${c.factor.kind}, ${sanitize(c.factor.label)}) is active.`);
  if (c.recoveryCodes) printRecoveryCodes(ctx, c.recoveryCodes);
}

function printRecoveryCodes(ctx: CliContext, codes: string[]): void {
  println(ctx.stdout, 'Recovery codes: each works once when your factors are out of reach. Store them now;');
  println(ctx.stdout, 'they are not shown again (`corral mfa recovery-codes` makes new ones):');
  for (const c of codes) println(ctx.stdout, `  ${c}`);
}

/** `corral mfa remove ID` */
export async function mfaRemove(ctx: CliContext, id: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/auth/mfa/factors/${encodeURIComponent(id)}`);
    println(ctx.stdout, `Removed second factor ${id}.`);
  });
}

/** `corral mfa recovery-codes` */
export async function mfaRecoveryCodes(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const r = await api.request('POST', '/api/v1/auth/mfa/recovery-codes', {
      parse: (v) => RecoveryCodesResponse.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, r);
    printRecoveryCodes(ctx, r.recoveryCodes);
  });
}

function describePolicy(w: WorkspaceDetail): string {
  const s = w.settings;
  const actions = new Set(s.stepUpActions ?? []);
  actions.add('privilege_elevation');
  return renderKeyValues([
    ['MFA at sign-in', s.mfaEnforced ? 'enforced' : 'optional'],
    ['Allowed methods', (s.mfaMethods ?? MfaFactorKind.options).join(', ') + ' (recovery codes always)'],
    ['Step-up for', [...actions].join(', ')],
    ['Step-up grace', `${Math.round((s.stepUpGraceSeconds ?? 300) / 60)} min`],
  ]);
}

/** `corral mfa policy show` */
export async function mfaPolicyShow(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const w = await api.request('GET', '/api/v1/workspace', { parse: (x) => WorkspaceDetail.parse(x) });
    if (opts.output === 'json') {
      const { mfaEnforced, mfaMethods, stepUpActions, stepUpGraceSeconds } = w.settings;
      return printJson(ctx, { mfaEnforced, mfaMethods, stepUpActions, stepUpGraceSeconds });
    }
    ctx.stdout.write(describePolicy(w));
  });
}

export interface MfaPolicySetOptions extends OutputOptions {
  enforce?: string;
  methods?: string;
  stepUpFor?: string;
  stepUpGrace?: string;
}

function parseList<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T)) throw new CliError(`${flag}: "${i}" is not one of ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** `corral mfa policy set` (superusers): PATCH /api/v1/workspace with the MFA settings. */
export async function mfaPolicySet(ctx: CliContext, opts: MfaPolicySetOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  if (opts.enforce !== undefined) {
    if (!['on', 'off'].includes(opts.enforce)) throw new CliError('--enforce must be on or off');
    body.mfaEnforced = opts.enforce === 'on';
  }
  if (opts.methods !== undefined) {
    const m = parseList('--methods', opts.methods, MfaFactorKind.options);
    if (m.length === 0) throw new CliError('--methods needs at least one of totp, webauthn, email, sms');
    body.mfaMethods = m;
  }
  if (opts.stepUpFor !== undefined) {
    body.stepUpActions =
      opts.stepUpFor === 'none' ? [] : parseList('--step-up-for', opts.stepUpFor, StepUpAction.options);
  }
  if (opts.stepUpGrace !== undefined) {
    const sec = parseDurationSeconds(opts.stepUpGrace);
    if (sec === undefined || sec < 60 || sec > 3600) throw new CliError('--step-up-grace must be 1m..1h, e.g. 5m');
    body.stepUpGraceSeconds = sec;
  }
  if (Object.keys(body).length === 0)
    throw new CliError('nothing to change: give --enforce, --methods, --step-up-for or --step-up-grace');
  await withApi(ctx, async (api) => {
    const w = await api.request('PATCH', '/api/v1/workspace', { body, parse: (x) => WorkspaceDetail.parse(x) });
    if (opts.output === 'json') return printJson(ctx, w.settings);
    ctx.stdout.write(describePolicy(w));
  });
}

// --- sign-in sessions and the password ------------------------------------------------------------------

function sessionColumns(ctx: CliContext): Column<AuthSessionView>[] {
  return [
    { header: 'ID', value: (s) => s.id + (s.current ? ' *' : '') },
    { header: 'SIGNED IN', value: (s) => relativeTime(s.createdAt, ctx.now()) },
    { header: 'LAST USED', value: (s) => relativeTime(s.lastUsedAt, ctx.now()) },
    { header: 'FROM', value: (s) => s.sourceIp ?? '-' },
    { header: 'METHOD', value: (s) => s.method ?? '-' },
    { header: 'CLIENT', value: (s) => sanitize(s.userAgent ?? '-'), shrink: true },
  ];
}

/** `corral signins ls` */
export async function signinsLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/auth/sessions', { parse: (v) => AuthSessionList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    ctx.stdout.write(
      renderTable(sessionColumns(ctx), list.items, {
        color: ctx.color,
        maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
      }),
    );
    println(ctx.stderr, '* this session');
  });
}

/** `corral signins revoke ID` */
export async function signinsRevoke(ctx: CliContext, id: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/auth/sessions/${encodeURIComponent(id)}`);
    println(ctx.stdout, `Revoked sign-in session ${id}.`);
  });
}

/** `corral passwd`: asks for the current password and the new one twice (or reads both lines from stdin). */
export async function passwd(ctx: CliContext, opts: { stdin?: boolean }): Promise<void> {
  let current: string;
  let next: string;
  if (opts.stdin) {
    const lines = (await readAllTrimmed(ctx.stdin)).split(/\r?\n/);
    if (lines.length !== 2) throw new CliError('--stdin expects two lines: the current password, then the new one');
    [current, next] = lines as [string, string];
  } else {
    if (!ctx.stdin.isTTY) throw new CliError('no terminal to ask for passwords on: pass --stdin (two lines)');
    current = await promptHidden(ctx, 'Current password: ');
    next = await promptHidden(ctx, 'New password (12 characters or more): ');
    if ((await promptHidden(ctx, 'Again: ')) !== next) throw new CliError('the two new passwords differ');
  }
  if (next.length < 12) throw new CliError('the new password must have 12 characters or more');
  await withApi(ctx, async (api) => {
    const r = await api.request('POST', '/api/v1/auth/password', {
      body: { current, new: next },
      parse: (v) => PasswordChangeResponse.parse(v),
    });
    println(
      ctx.stdout,
      `Password changed. ${r.revokedSessions} other sign-in session${r.revokedSessions === 1 ? ' was' : 's were'} revoked; this one stays.`,
    );
  });
}
