import { AccessCheckResponse, GrantList, GrantView, GroupList, GroupView } from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, type Column } from '../format/table.js';
import { relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** `corral group ls` */
export async function groupLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/groups', { parse: (v) => GroupList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) return void ctx.stderr.write('No user groups yet: `corral group create NAME`.\n');
    const cols: Column<GroupView>[] = [
      { header: 'NAME', value: (g) => sanitize(g.name) },
      { header: 'MEMBERS', value: (g) => (g.members.length ? g.members.map(sanitize).join(',') : '-'), shrink: true },
      { header: 'CREATED', value: (g) => relativeTime(g.createdAt, ctx.now()) },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

export async function groupCreate(ctx: CliContext, name: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('POST', '/api/v1/groups', { body: { name }, parse: (v) => GroupView.parse(v) });
    println(ctx.stdout, `Created user group ${sanitize(name)}.`);
  });
}

export async function groupDelete(ctx: CliContext, name: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/groups/${encodeURIComponent(name)}`, { parse: (v) => v });
    println(ctx.stdout, `Deleted user group ${sanitize(name)} and its grants.`);
  });
}

export async function groupMember(ctx: CliContext, op: 'add' | 'remove', group: string, user: string): Promise<void> {
  await withApi(ctx, async (api) => {
    if (op === 'add') {
      await api.request('POST', `/api/v1/groups/${encodeURIComponent(group)}/members`, {
        body: { user },
        parse: (v) => v,
      });
      println(ctx.stdout, `Added ${sanitize(user)} to ${sanitize(group)}.`);
    } else {
      await api.request('DELETE', `/api/v1/groups/${encodeURIComponent(group)}/members/${encodeURIComponent(user)}`, {
        parse: (v) => v,
      });
      println(ctx.stdout, `Removed ${sanitize(user)} from ${sanitize(group)}; sessions that relied on it were ended.`);
    }
  });
}

export interface GrantOptions extends OutputOptions {
  user?: string;
  group?: string;
  servers?: string;
  level?: string;
}

/** `corral grant --user U|--group G --servers SELECTOR --level read|write|owner` */
export async function grantCreate(ctx: CliContext, opts: GrantOptions): Promise<void> {
  if (Boolean(opts.user) === Boolean(opts.group)) throw new CliError('give exactly one of --user and --group');
  if (!opts.servers)
    throw new CliError('--servers SELECTOR is required (a name, a glob like web-*, group:NAME or tag:KEY=VALUE)');
  if (!opts.level || !['read', 'write', 'owner'].includes(opts.level))
    throw new CliError('--level must be read, write or owner');
  await withApi(ctx, async (api) => {
    const g = await api.request('POST', '/api/v1/grants', {
      body: { ...(opts.user ? { user: opts.user } : { group: opts.group }), servers: opts.servers, level: opts.level },
      parse: (v) => GrantView.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, g);
    println(
      ctx.stdout,
      `Granted ${g.level} on ${sanitize(g.servers)} to ${g.subject.kind} ${sanitize(g.subject.name)} (${g.id}).`,
    );
  });
}

/** `corral grant ls` */
export async function grantLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/grants', { parse: (v) => GrantList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0)
      return void ctx.stderr.write('No grants yet: `corral grant --group G --servers web-* --level write`.\n');
    const cols: Column<GrantView>[] = [
      { header: 'ID', value: (g) => g.id },
      { header: 'SUBJECT', value: (g) => `${g.subject.kind}:${sanitize(g.subject.name)}` },
      { header: 'SERVERS', value: (g) => sanitize(g.servers) },
      { header: 'LEVEL', value: (g) => g.level },
      { header: 'BY', value: (g) => sanitize(g.createdBy ?? '-') },
      { header: 'CREATED', value: (g) => relativeTime(g.createdAt, ctx.now()) },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

export async function grantRevoke(ctx: CliContext, id: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/grants/${encodeURIComponent(id)}`, { parse: (v) => v });
    println(ctx.stdout, `Revoked grant ${id}; sessions that relied on it were ended.`);
  });
}

/** `corral access check USER SERVER ACTION`: exit 0 when allowed, 1 when denied. */
export async function accessCheck(
  ctx: CliContext,
  user: string,
  server: string,
  action: string,
  opts: OutputOptions,
): Promise<number> {
  const a = action.includes('.')
    ? action
    : (
        {
          websh: 'websh.open',
          read: 'server.read',
          update: 'server.update',
          delete: 'server.delete',
          exec: 'exec.run',
          files: 'files.use',
          tunnel: 'tunnel.open',
        } as Record<string, string>
      )[action];
  if (!a)
    throw new CliError(
      `unknown action "${action}": websh, read, update, delete, exec, files, tunnel (or websh.open, ...)`,
    );
  return withApi(ctx, async (api) => {
    const d = await api.request('GET', '/api/v1/access/check', {
      query: { user, server, action: a },
      parse: (v) => AccessCheckResponse.parse(v),
    });
    if (opts.output === 'json') printJson(ctx, d);
    else
      println(
        ctx.stdout,
        `${d.allow ? 'ALLOW' : 'DENY'}: ${sanitize(d.user)} ${d.action} on ${sanitize(d.server)}: ${sanitize(d.reason)}`,
      );
    return d.allow ? 0 : 1;
  });
}
