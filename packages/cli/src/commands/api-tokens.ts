import {
  ApiTokenActivityList,
  ApiTokenCreateResponse,
  ApiTokenList,
  ApplicationList,
  ApplicationView,
  parseDurationSeconds,
  type ApiTokenView,
} from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { colors } from '../format/color.js';
import { renderTable, type Column } from '../format/table.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** Token lifetimes the gateway accepts (ApiTokenCreateRequest), in seconds. */
const MIN_SECONDS = 60;
const MAX_SECONDS = 5 * 365 * 86400;

export interface TokenCreateOptions extends OutputOptions {
  expires?: string;
  scope?: string[];
  servers?: string[];
  allowCommand?: string[];
  denyCommand?: string[];
}

/** `--expires 30d|12h|never` -> seconds, or null for never. */
export function parseExpires(text: string): number | null {
  if (text.trim().toLowerCase() === 'never') return null;
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined) {
    throw new CliError(`--expires "${text}" is not a duration: use e.g. 12h, 30d, 365d or never`);
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) throw new CliError('--expires must be between 1m and 1825d');
  return seconds;
}

/** Scopes from repeated and/or comma-separated `--scope` options. */
export function parseScopeOptions(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

/** The request body shared by `corral token create` and `corral app token create`. */
export function tokenCreateBody(
  name: string,
  opts: TokenCreateOptions,
  scopesRequired: boolean,
): Record<string, unknown> {
  const scopes = parseScopeOptions(opts.scope);
  if (scopesRequired && scopes.length === 0) {
    throw new CliError(
      'give at least one --scope RESOURCE:LEVEL (e.g. --scope servers:read); see `corral token --help`',
    );
  }
  const body: Record<string, unknown> = { name };
  if (scopes.length > 0) body.scopes = scopes;
  if (opts.expires !== undefined) body.expiresInSeconds = parseExpires(opts.expires);
  if (opts.servers?.length) body.servers = opts.servers;
  if (opts.allowCommand?.length || opts.denyCommand?.length) {
    body.commands = {
      ...(opts.allowCommand?.length ? { allow: opts.allowCommand } : {}),
      ...(opts.denyCommand?.length ? { deny: opts.denyCommand } : {}),
    };
  }
  return body;
}

function printCreated(ctx: CliContext, t: ApiTokenCreateResponse): void {
  const c = colors(ctx.color);
  const expires = t.expiresAt ? `expires ${formatTimestamp(t.expiresAt)}` : 'never expires';
  println(ctx.stdout, `Token ${t.id} (${sanitize(t.name)}) for ${sanitize(t.owner)} created; it ${expires}.`);
  println(ctx.stdout, `  scopes:   ${t.scopes.join(' ')}`);
  if (t.servers) println(ctx.stdout, `  servers:  ${t.servers.map(sanitize).join(' ')}`);
  if (t.commands?.allow)
    println(ctx.stdout, `  allow:    ${t.commands.allow.map((x) => `"${sanitize(x)}"`).join(' ')}`);
  if (t.commands?.deny) println(ctx.stdout, `  deny:     ${t.commands.deny.map((x) => `"${sanitize(x)}"`).join(' ')}`);
  println(ctx.stdout);
  println(ctx.stdout, `  ${c.bold(t.token)}`);
  println(ctx.stdout);
  println(ctx.stderr, c.yellow('This token is shown only once: copy it now. Only its hash is stored.'));
  println(ctx.stderr, 'Use it with CORRAL_TOKEN=<token> corral ..., or as "Authorization: Bearer <token>".');
}

function tokenTable(ctx: CliContext, items: ApiTokenView[]): void {
  const cols: Column<ApiTokenView>[] = [
    { header: 'ID', value: (t) => t.id },
    { header: 'NAME', value: (t) => sanitize(t.name) },
    { header: 'PREFIX', value: (t) => t.prefix },
    { header: 'SCOPES', value: (t) => t.scopes.join(',') },
    { header: 'SERVERS', value: (t) => (t.servers ? t.servers.map(sanitize).join(',') : '*') },
    { header: 'COMMANDS', value: (t) => (t.commands ? 'acl' : '-') },
    { header: 'STATUS', value: (t) => t.status },
    { header: 'EXPIRES', value: (t) => (t.expiresAt ? relativeTime(t.expiresAt, ctx.now()) : 'never') },
    { header: 'LAST USED', value: (t) => (t.lastUsedAt ? relativeTime(t.lastUsedAt, ctx.now()) : 'never') },
  ];
  ctx.stdout.write(renderTable(cols, items, { color: ctx.color }));
}

// --- personal tokens ------------------------------------------------------------------------------

/** `corral token create NAME` */
export async function patCreate(ctx: CliContext, name: string, opts: TokenCreateOptions): Promise<void> {
  const body = tokenCreateBody(name, opts, true);
  await withApi(ctx, async (api) => {
    const t = await api.request('POST', '/api/v1/tokens', { body, parse: (v) => ApiTokenCreateResponse.parse(v) });
    if (opts.output === 'json') return printJson(ctx, t);
    printCreated(ctx, t);
  });
}

/** `corral token ls` */
export async function patLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/tokens', { parse: (v) => ApiTokenList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    tokenTable(ctx, list.items);
  });
}

/** `corral token revoke ID` */
export async function patRevoke(ctx: CliContext, id: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
    println(ctx.stdout, `Token ${id} revoked: its next request is refused and its live sessions were ended.`);
  });
}

/** `corral token activity ID` */
export async function patActivity(
  ctx: CliContext,
  id: string,
  opts: OutputOptions & { limit?: string },
): Promise<void> {
  const limit = opts.limit !== undefined ? Number(opts.limit) : 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be 1 to 1000');
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', `/api/v1/tokens/${encodeURIComponent(id)}/activity?limit=${limit}`, {
      parse: (v) => ApiTokenActivityList.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, list);
    const cols: Column<(typeof list.items)[number]>[] = [
      { header: 'TIME', value: (a) => formatTimestamp(a.ts) },
      { header: 'METHOD', value: (a) => a.method },
      { header: 'ROUTE', value: (a) => sanitize(a.route) },
      { header: 'STATUS', value: (a) => String(a.status) },
      { header: 'SOURCE', value: (a) => a.sourceIp ?? '-' },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

// --- applications ---------------------------------------------------------------------------------

/** `corral app create NAME --scope ... [--role member|staff] [--description TEXT]` */
export async function appCreate(
  ctx: CliContext,
  name: string,
  opts: OutputOptions & { scope?: string[]; role?: string; description?: string },
): Promise<void> {
  const scopes = parseScopeOptions(opts.scope);
  if (scopes.length === 0) throw new CliError('give at least one --scope RESOURCE:LEVEL (e.g. --scope servers:read)');
  if (opts.role !== undefined && opts.role !== 'member' && opts.role !== 'staff') {
    throw new CliError(`--role must be member or staff (got "${opts.role}")`);
  }
  await withApi(ctx, async (api) => {
    const a = await api.request('POST', '/api/v1/applications', {
      body: {
        name,
        scopes,
        ...(opts.role ? { role: opts.role } : {}),
        ...(opts.description ? { description: opts.description } : {}),
      },
      parse: (v) => ApplicationView.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, a);
    println(
      ctx.stdout,
      `Application ${sanitize(a.name)} (${a.id}) created with role ${a.role}, scopes ${a.scopes.join(' ')}.`,
    );
    println(
      ctx.stdout,
      `Grant it servers like a user: corral grant --user ${a.principal} --servers SELECTOR --level write; then: corral app token create ${a.name} NAME`,
    );
  });
}

/** `corral app ls` */
export async function appLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/applications', { parse: (v) => ApplicationList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    const cols: Column<(typeof list.items)[number]>[] = [
      { header: 'NAME', value: (a) => sanitize(a.name) },
      { header: 'ROLE', value: (a) => a.role },
      { header: 'SCOPES', value: (a) => a.scopes.join(',') },
      { header: 'TOKENS', value: (a) => String(a.tokens) },
      { header: 'CREATED', value: (a) => relativeTime(a.createdAt, ctx.now()) },
      { header: 'ID', value: (a) => a.id },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

/** `corral app delete NAME` */
export async function appDelete(ctx: CliContext, name: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/applications/${encodeURIComponent(name)}`);
    println(ctx.stdout, `Application ${sanitize(name)} deleted: its service tokens no longer work.`);
  });
}

/** `corral app token create APP NAME` */
export async function appTokenCreate(
  ctx: CliContext,
  app: string,
  name: string,
  opts: TokenCreateOptions,
): Promise<void> {
  const body = tokenCreateBody(name, opts, false);
  await withApi(ctx, async (api) => {
    const t = await api.request('POST', `/api/v1/applications/${encodeURIComponent(app)}/tokens`, {
      body,
      parse: (v) => ApiTokenCreateResponse.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, t);
    printCreated(ctx, t);
  });
}

/** `corral app token ls APP` */
export async function appTokenLs(ctx: CliContext, app: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', `/api/v1/applications/${encodeURIComponent(app)}/tokens`, {
      parse: (v) => ApiTokenList.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, list);
    tokenTable(ctx, list.items);
  });
}

/** `corral app token revoke APP ID` */
export async function appTokenRevoke(ctx: CliContext, app: string, id: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/applications/${encodeURIComponent(app)}/tokens/${encodeURIComponent(id)}`);
    println(ctx.stdout, `Service token ${id} of ${sanitize(app)} revoked.`);
  });
}
