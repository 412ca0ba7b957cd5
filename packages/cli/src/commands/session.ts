import { WebshSessionList, type WebshSessionView } from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, type Column } from '../format/table.js';
import { relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { formatBytes } from './server.js';
import { printJson, withApi, type OutputOptions } from './common.js';

function columns(ctx: CliContext): Column<WebshSessionView>[] {
  return [
    { header: 'ID', value: (s) => s.id },
    { header: 'USER', value: (s) => sanitize(s.userEmail ?? '-') },
    { header: 'SERVER', value: (s) => sanitize(s.serverName ?? '-') },
    { header: 'OS USER', value: (s) => s.osUser },
    { header: 'STARTED', value: (s) => relativeTime(s.startedAt, ctx.now()) },
    { header: 'STATE', value: (s) => (s.endedAt ? (s.endReason ?? 'ended') : 'live') },
    { header: 'EXIT', value: (s) => (s.exitCode === null ? '-' : String(s.exitCode)) },
    { header: 'IN/OUT', value: (s) => `${formatBytes(s.bytesIn)}/${formatBytes(s.bytesOut)}` },
    { header: 'COMMAND', value: (s) => sanitize(s.command ?? '(shell)'), shrink: true },
  ];
}

/** `corral session ls` */
export async function sessionLs(ctx: CliContext, opts: OutputOptions & { live?: boolean }): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/websh/sessions', { parse: (v) => WebshSessionList.parse(v) });
    const items = opts.live ? list.items.filter((s) => s.endedAt === null) : list.items;
    if (opts.output === 'json') return printJson(ctx, { items });
    if (items.length === 0) {
      ctx.stderr.write(opts.live ? 'No live sessions.\n' : 'No sessions yet.\n');
      return;
    }
    ctx.stdout.write(
      renderTable(columns(ctx), items, {
        color: ctx.color,
        maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
      }),
    );
  });
}

/** `corral session terminate ID` */
export async function sessionTerminate(ctx: CliContext, id: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new CliError(`"${id}" is not a session id (see \`corral session ls\`)`);
  await withApi(ctx, async (api) => {
    await api.request('POST', `/api/v1/websh/sessions/${encodeURIComponent(id)}/terminate`, {
      parse: (v) => v,
    });
    println(ctx.stdout, `Session ${id} terminated.`);
  });
}
