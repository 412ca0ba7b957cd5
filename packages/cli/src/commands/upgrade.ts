import { ServerUpgradeResponse, type ServerUpgradeItem } from '@corral/protocol';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { colors } from '../format/color.js';
import { renderTable, type Column } from '../format/table.js';
import { printJson, withApi, type OutputOptions } from './common.js';

export interface UpgradeOptions extends OutputOptions {
  all?: boolean;
  version?: string;
}

function columns(ctx: CliContext): Column<ServerUpgradeItem>[] {
  const c = colors(ctx.color);
  return [
    { header: 'SERVER', value: (i) => i.server },
    { header: 'FROM', value: (i) => i.fromVersion ?? '-' },
    { header: 'TO', value: (i) => i.toVersion ?? '-' },
    {
      header: 'OUTCOME',
      value: (i) => i.outcome,
      color: (text, i) =>
        i.outcome === 'requested' ? c.green(text) : i.outcome === 'up_to_date' ? c.dim(text) : c.yellow(text),
    },
    { header: 'MESSAGE', value: (i) => i.message, shrink: true },
  ];
}

/** `corral server upgrade NAME | --all` */
export async function serverUpgrade(ctx: CliContext, name: string | undefined, opts: UpgradeOptions): Promise<void> {
  if (Boolean(name) === Boolean(opts.all)) {
    throw new CliError('name one server, or pass --all for every outdated one: corral server upgrade web-01 | --all');
  }
  const path = opts.all ? '/api/v1/servers/upgrade' : `/api/v1/servers/${encodeURIComponent(name ?? '')}/upgrade`;
  await withApi(ctx, async (api) => {
    const res = await api.request('POST', path, {
      body: opts.version ? { version: opts.version } : {},
      parse: (v) => ServerUpgradeResponse.parse(v),
    });
    if (opts.output === 'json') return printJson(ctx, res);
    ctx.stdout.write(
      renderTable(columns(ctx), res.items, {
        color: ctx.color,
        maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
      }),
    );
    const asked = res.items.filter((i) => i.outcome === 'requested').length;
    ctx.stderr.write(
      asked > 0
        ? `${asked} agent(s) asked to upgrade. Each reports back within about a minute: corral audit ls --action agent.upgrade.completed (or .rolled_back, .failed)\n`
        : 'No agent was asked to upgrade.\n',
    );
  });
}
