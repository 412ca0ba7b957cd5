import { JoinTokenCreateResponse, JoinTokenList, parseDurationSeconds, type JoinTokenView } from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { colors } from '../format/color.js';
import { renderTable, type Column } from '../format/table.js';
import { formatDuration, formatTimestamp, relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { parsePositiveInt, printJson, withApi, type OutputOptions } from './common.js';

/** Join token lifetimes the gateway accepts, in seconds (JoinTokenCreateRequest). */
export const MIN_TOKEN_SECONDS = 60;
export const MAX_TOKEN_SECONDS = 365 * 24 * 3600;

export interface TokenCreateOptions extends OutputOptions {
  name?: string;
  expiresIn?: string;
  uses?: string;
}

/** Check `--expires-in` ("30m", "1h", "7d", "3600") and turn it into seconds. */
export function parseExpiresIn(text: string): number {
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined) {
    throw new CliError(`--expires-in "${text}" is not a duration: use e.g. 30m, 1h, 7d or a number of seconds`);
  }
  if (seconds < MIN_TOKEN_SECONDS || seconds > MAX_TOKEN_SECONDS) {
    throw new CliError(`--expires-in must be between 1m and 365d (got ${formatDuration(seconds)})`);
  }
  return seconds;
}

/** The request body for `corral server token create`. */
export function tokenCreateBody(opts: TokenCreateOptions): { name?: string; expiresInSeconds?: number; uses?: number } {
  const body: { name?: string; expiresInSeconds?: number; uses?: number } = {};
  if (opts.name !== undefined) body.name = opts.name;
  if (opts.expiresIn !== undefined) body.expiresInSeconds = parseExpiresIn(opts.expiresIn);
  if (opts.uses !== undefined) body.uses = parsePositiveInt(opts.uses, '--uses');
  return body;
}

/** `corral server token create` */
export async function tokenCreate(ctx: CliContext, opts: TokenCreateOptions): Promise<void> {
  const body = tokenCreateBody(opts);
  await withApi(ctx, async (api) => {
    const t = await api.request('POST', '/api/v1/join-tokens', {
      body,
      parse: (v) => JoinTokenCreateResponse.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, t);
    const c = colors(ctx.color);
    const uses = t.usesTotal === 1 ? '1 use' : `${t.usesTotal} uses`;
    println(
      ctx.stdout,
      `Join token ${t.id}${t.name ? ` (${sanitize(t.name)})` : ''} created: ${uses}, expires ${relativeTime(t.expiresAt, ctx.now())} (${formatTimestamp(t.expiresAt)}).`,
    );
    println(ctx.stdout);
    println(ctx.stdout, `  ${c.bold(t.token)}`);
    println(ctx.stdout);
    println(ctx.stderr, c.yellow('This token is shown only once: copy it now. Only its hash is stored.'));
    if (t.installCommand) {
      println(ctx.stdout, 'Install the agent on a Linux or macOS server with one line (it checks the CA fingerprint,');
      println(ctx.stdout, "then the agent's SHA-256 and signature, registers and starts the service):");
      println(ctx.stdout);
      println(ctx.stdout, `  ${sanitize(t.installCommand)}`);
      println(ctx.stdout);
      println(ctx.stdout, 'Or, with the agent already installed, register it (as root on that server):');
    } else {
      println(ctx.stdout, 'Register a server with it (run as root on that server):');
    }
    println(ctx.stdout);
    println(ctx.stdout, `  ${sanitize(t.registerCommand)}`);
  });
}

function tokenColumns(ctx: CliContext): Column<JoinTokenView>[] {
  const c = colors(ctx.color);
  return [
    { header: 'ID', value: (t) => t.id },
    { header: 'NAME', value: (t) => t.name ?? '-', shrink: true },
    {
      header: 'STATUS',
      value: (t) => t.status,
      color: (text, t) => (t.status === 'active' ? c.green(text) : c.dim(text)),
    },
    { header: 'USES', value: (t) => `${t.usesLeft}/${t.usesTotal} left` },
    { header: 'EXPIRES', value: (t) => relativeTime(t.expiresAt, ctx.now()) },
    { header: 'CREATED', value: (t) => relativeTime(t.createdAt, ctx.now()) },
  ];
}

/** `corral server token ls` */
export async function tokenLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/join-tokens', { parse: (v) => JoinTokenList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) {
      ctx.stderr.write('No join tokens: create one with `corral server token create`.\n');
      return;
    }
    ctx.stdout.write(
      renderTable(tokenColumns(ctx), list.items, {
        color: ctx.color,
        maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
      }),
    );
  });
}

/** `corral server token revoke ID` */
export async function tokenRevoke(ctx: CliContext, id: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/join-tokens/${encodeURIComponent(id)}`);
    println(ctx.stdout, `Revoked join token ${id}.`);
  });
}
