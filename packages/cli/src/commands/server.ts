import {
  MetricsResponse,
  ServerDetail,
  ServerGroupList,
  ServerList,
  ServerView,
  type MetricsRange,
} from '@corral/protocol';
import { ApiError, CliError } from '../errors.js';
import type { CliContext } from '../context.js';
import { colors } from '../format/color.js';
import { renderKeyValues, renderTable, type Column } from '../format/table.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { printJson, withApi, type OutputOptions } from './common.js';
import { formatBytes } from '../format/units.js';
import { colorHealth, renderMetrics } from './server-health.js';

export { formatBytes };

/** Tags as `k=v,k=v`, sorted by key; `-` when there are none. */
export function formatTags(tags: Record<string, string>): string {
  const keys = Object.keys(tags).sort();
  return keys.length === 0 ? '-' : keys.map((k) => `${k}=${tags[k]}`).join(',');
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
    { header: 'HEALTH', value: (s) => s.health ?? '-', color: (text, s) => colorHealth(c, s.health, text) },
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
    ['Health', s.health ?? '-'],
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

export interface ServerShowOptions extends OutputOptions {
  /** Metrics window; default 1h. */
  range?: MetricsRange;
}

/**
 * `corral server show NAME [--range 1h|24h|7d]`: the server's facts, its health, and per metric the
 * current value with a sparkline. `--output json` prints the server JSON with the metrics answer under
 * `metrics` (null from a gateway without metrics).
 */
export async function serverShow(ctx: CliContext, name: string, opts: ServerShowOptions): Promise<void> {
  const range = opts.range ?? '1h';
  if (!['1h', '24h', '7d'].includes(range)) throw new CliError(`--range takes 1h, 24h or 7d (got "${range}")`);
  await withApi(ctx, async (api) => {
    const path = `/api/v1/servers/${encodeURIComponent(name)}`;
    const s = await api.request('GET', path, { parse: (v) => ServerDetail.parse(v) });
    let metrics: MetricsResponse | null = null;
    try {
      metrics = await api.request('GET', `${path}/metrics`, {
        query: { range },
        parse: (v) => MetricsResponse.parse(v),
      });
    } catch (err) {
      // A gateway from before metrics has no such route: show the rest.
      if (!(err instanceof ApiError && err.code === 'NOT_FOUND')) throw err;
    }
    if (opts.output === 'json') return printJson(ctx, { ...s, metrics });
    const c = colors(ctx.color);
    const pairs = serverDetailPairs(s, ctx.now());
    const text = renderKeyValues(pairs).replace(
      /^(Health: +)(\S+)$/m,
      (_, k: string, h: string) => k + colorHealth(c, s.health, h),
    );
    ctx.stdout.write(text);
    ctx.stdout.write(
      metrics
        ? '\n' + renderMetrics(metrics, ctx.now(), c, { cpuCount: s.system?.cpuCount })
        : '\nMetrics: this gateway does not report metrics\n',
    );
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
