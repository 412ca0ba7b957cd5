import { InviteResponse, LoginSession, UserList, UserListItem, type Role } from '@corral/protocol';
import { ApiClient } from '../api-client.js';
import { ConfigStore } from '../config-store.js';
import { CliError } from '../errors.js';
import { println, type CliContext } from '../context.js';
import { promptHidden, readAllTrimmed } from '../prompt.js';
import { isValidFingerprint, normalizeGatewayUrl } from '../tls-pin.js';
import { pinGatewayCa, saveSession, warnEnrollment } from './auth.js';
import { renderTable, type Column } from '../format/table.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { printJson, withApi, type OutputOptions } from './common.js';

const ROLES: readonly Role[] = ['member', 'staff', 'superuser'];

function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role))
    throw new CliError(`--role must be one of ${ROLES.join(', ')} (got "${role}")`);
  return role as Role;
}

/** `corral user ls` */
export async function userLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/users', { parse: (v) => UserList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    const cols: Column<(typeof list.items)[number]>[] = [
      { header: 'EMAIL', value: (u) => sanitize(u.email) },
      { header: 'ROLE', value: (u) => u.role },
      { header: 'STATUS', value: (u) => (u.deactivatedAt ? 'deactivated' : 'active') },
      { header: 'CREATED', value: (u) => relativeTime(u.createdAt, ctx.now()) },
      { header: 'ID', value: (u) => u.id },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

/** `corral user invite EMAIL [--role R]` */
export async function userInvite(
  ctx: CliContext,
  email: string,
  opts: OutputOptions & { role?: string },
): Promise<void> {
  const role = checkRole(opts.role ?? 'member');
  await withApi(ctx, async (api) => {
    const inv = await api.request('POST', '/api/v1/users/invitations', {
      body: { email, role },
      parse: (v) => InviteResponse.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, inv);
    const where =
      inv.delivery === 'smtp'
        ? 'by email'
        : 'to the gateway outbox (the operator reads it with `corral-gateway outbox`)';
    println(
      ctx.stdout,
      `Invited ${sanitize(inv.email)} as ${inv.role}; the invitation went ${where} and expires ${formatTimestamp(inv.expiresAt)}.`,
    );
  });
}

/** `corral user set-role USER --role R` */
export async function userSetRole(
  ctx: CliContext,
  user: string,
  opts: OutputOptions & { role: string },
): Promise<void> {
  const role = checkRole(opts.role);
  await withApi(ctx, async (api) => {
    const u = await api.request('POST', `/api/v1/users/${encodeURIComponent(user)}/role`, {
      body: { role },
      parse: (v) => UserListItem.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, u);
    println(ctx.stdout, `${sanitize(u.email)} is now ${u.role}.`);
  });
}

/** `corral user deactivate USER` */
export async function userDeactivate(ctx: CliContext, user: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const u = await api.request('POST', `/api/v1/users/${encodeURIComponent(user)}/deactivate`, {
      parse: (v) => UserListItem.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, u);
    println(
      ctx.stdout,
      `${sanitize(u.email)} is deactivated: their tokens no longer work and their live sessions were ended.`,
    );
  });
}

/** `corral accept-invite URL TOKEN`: pin the CA, choose a password, and sign in. */
export async function acceptInvite(
  ctx: CliContext,
  urlInput: string,
  token: string,
  opts: { passwordStdin?: boolean; caFingerprint?: string },
): Promise<void> {
  const url = normalizeGatewayUrl(urlInput);
  if (opts.caFingerprint !== undefined && !isValidFingerprint(opts.caFingerprint)) {
    throw new CliError('--ca-fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons allowed');
  }
  const interactive = Boolean(ctx.stdin.isTTY) && !opts.passwordStdin;
  if (!opts.passwordStdin && !ctx.stdin.isTTY)
    throw new CliError('no terminal to ask for a password on: pass --password-stdin');
  const { caPem, served } = await pinGatewayCa(ctx, url, { flag: opts.caFingerprint, pinned: undefined, interactive });
  let password: string;
  if (opts.passwordStdin) password = await readAllTrimmed(ctx.stdin);
  else {
    password = await promptHidden(ctx, 'Choose a password (12 characters or more): ');
    if ((await promptHidden(ctx, 'Again: ')) !== password) throw new CliError('the two passwords differ');
  }
  const api = new ApiClient({ baseUrl: url, caPem });
  try {
    const user = await api.request('POST', '/api/v1/invitations/accept', {
      body: { token, password },
      parse: (v) => UserListItem.parse(v),
    });
    const res = await api.request('POST', '/api/v1/auth/login', {
      body: { email: user.email, password },
      parse: (v) => LoginSession.parse(v),
    });
    saveSession(new ConfigStore(ctx.configDir), url, caPem, served, res);
    println(
      ctx.stdout,
      `Welcome, ${sanitize(user.email)} (${user.role}, workspace ${sanitize(res.workspace.name)}): you are signed in.`,
    );
    if (res.enrollmentRequired) warnEnrollment(ctx);
  } finally {
    api.close();
  }
}
