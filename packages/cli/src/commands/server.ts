import { ServerDetail, ServerGroupList, ServerList, ServerView } from '@corral/protocol';
import { CliError } from '../errors.js';
import type { CliContext } from '../context.js';
import { colors } from '../format/color.js';
import { renderKeyValues, renderTable, type Column } from '../format/table.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** Tags as `k=v,k=v`, sorted by key; `-` when there are none. */
export function formatTags(tags: Record<string, string>): string {
  const keys = Object.keys(tags).sort();
  return keys.length === 0 ? '-' : keys.map((k) => `${k}=${tags[k]}`).join(',');
}

/** Bytes as a short binary size: "512 B", "1.5 KiB", "7.8 GiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function serverColumns(ctx: CliContext): Column<ServerView>[] {
  const c = colors(ctx.color);
  return [
    { header: 'NAME', value: (s) => s.name },
    {
      header: 'STATUS',
      value: (s) => s.status,
      color: (text, s) => (s.status === 'online' ? c.green(text) : c.red(text)),
    },
    { header: 'PLATFORM', value: (s) => s.platform ?? '-', shrink: true },
    { header: 'ADDRESS', value: (s) => s.address ?? '-' },
    { header: 'LAST SEEN', value: (s) => (s.status === 'online' ? 'now' : relativeTime(s.lastSeenAt, ctx.now())) },
    { header: 'TAGS', value: (s) => formatTags(s.tags), shrink: true },
  ];
}

/** `corral server ls` */
export async function serverLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/servers', { parse: (v) => ServerList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) {
      ctx.stderr.write(
        'No servers yet: create a join token with `corral server token create` and register an agent.\n',
      );
      return;
    }
    const items = [...list.items].sort((a, b) => a.name.localeCompare(b.name));
    ctx.stdout.write(
      renderTable(serverColumns(ctx), items, {
        color: ctx.color,
        maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
      }),
    );
  });
}

/** The key/value lines of `corral server show`. */
export function serverDetailPairs(s: ServerDetail, now: number): [string, string][] {
  const when = (iso: string | null): string =>
    iso === null ? '-' : `${formatTimestamp(iso)} (${relativeTime(iso, now)})`;
  const pairs: [string, string][] = [
    ['Name', s.name],
    ['ID', s.id],
    ['Status', s.status],
    ['Platform', s.platform ?? '-'],
    ['Address', s.address ?? '-'],
    ['Tags', formatTags(s.tags)],
    ['Last seen', s.status === 'online' ? 'now' : when(s.lastSeenAt)],
    ['Connected', when(s.connectedAt)],
    ['Registered', when(s.registeredAt)],
  ];
  const sys = s.system;
  if (sys) {
    pairs.push(
      ['Hostname', sys.hostname],
      ['OS', `${sys.osName} ${sys.osVersion}`.trim()],
      ['Kernel', sys.kernel],
      ['Arch', sys.arch],
      ['CPUs', String(sys.cpuCount)],
      ['Memory', formatBytes(sys.memoryBytes)],
      ['Addresses', sys.addresses.length ? sys.addresses.join('\n') : '-'],
      ['Agent', sys.agentVersion],
    );
  } else {
    pairs.push(['System', 'not reported yet']);
  }
  return pairs;
}

/** `corral server show NAME` */
export async function serverShow(ctx: CliContext, name: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const s = await api.request('GET', `/api/v1/servers/${encodeURIComponent(name)}`, {
      parse: (v) => ServerDetail.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, s);
    ctx.stdout.write(renderKeyValues(serverDetailPairs(s, ctx.now())));
  });
}

export interface ServerUpdateOptions extends OutputOptions {
  tag?: string[];
  untag?: string[];
  group?: string[];
  ungroup?: string[];
  name?: string;
}

/** `corral server update NAME [--tag k=v]... [--untag k]... [--group G]... [--ungroup G]... [--name NEW]` */
export async function serverUpdate(ctx: CliContext, name: string, opts: ServerUpdateOptions): Promise<void> {
  const tags: Record<string, string | null> = {};
  for (const t of opts.tag ?? []) {
    const i = t.indexOf('=');
    if (i < 1) throw new CliError(`--tag takes KEY=VALUE (got "${t}")`);
    tags[t.slice(0, i)] = t.slice(i + 1);
  }
  for (const k of opts.untag ?? []) tags[k] = null;
  const body = {
    ...(opts.name ? { name: opts.name } : {}),
    ...(Object.keys(tags).length ? { tags } : {}),
    ...(opts.group?.length ? { addGroups: opts.group } : {}),
    ...(opts.ungroup?.length ? { removeGroups: opts.ungroup } : {}),
  };
  if (Object.keys(body).length === 0)
    throw new CliError('nothing to change: give --tag, --untag, --group, --ungroup or --name');
  await withApi(ctx, async (api) => {
    const s = await api.request('PATCH', `/api/v1/servers/${encodeURIComponent(name)}`, {
      body,
      parse: (v) => ServerView.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, s);
    ctx.stdout.write(`${s.name}: tags ${formatTags(s.tags)}; groups ${s.groups?.length ? s.groups.join(',') : '-'}\n`);
  });
}

/** `corral server delete NAME` */
export async function serverDelete(ctx: CliContext, name: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', `/api/v1/servers/${encodeURIComponent(name)}`, { parse: (v) => v });
    ctx.stdout.write(`Deleted server ${name}: its agent was disconnected and must register again.\n`);
  });
}

/** `corral server-group ls|create|delete` */
export async function serverGroupLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/server-groups', { parse: (v) => ServerGroupList.parse(v) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0)
      return void ctx.stderr.write('No server groups yet: `corral server-group create NAME`.\n');
    const cols: Column<(typeof list.items)[number]>[] = [
      { header: 'NAME', value: (g) => g.name },
      { header: 'SERVERS', value: (g) => (g.servers.length ? g.servers.join(',') : '-'), shrink: true },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

export async function serverGroupChange(ctx: CliContext, op: 'create' | 'delete', name: string): Promise<void> {
  await withApi(ctx, async (api) => {
    if (op === 'create') await api.request('POST', '/api/v1/server-groups', { body: { name }, parse: (v) => v });
    else await api.request('DELETE', `/api/v1/server-groups/${encodeURIComponent(name)}`, { parse: (v) => v });
    ctx.stdout.write(`${op === 'create' ? 'Created' : 'Deleted'} server group ${name}.\n`);
  });
}
