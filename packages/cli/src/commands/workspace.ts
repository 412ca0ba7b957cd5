import { WorkspaceDetail, parseDurationSeconds } from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderKeyValues } from '../format/table.js';
import { formatTimestamp } from '../format/time.js';
import { ConfigStore } from '../config-store.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** `corral workspace show|update|delete`: the signed-in workspace itself. */

function describe(w: WorkspaceDetail): string {
  return renderKeyValues([
    ['Name', w.name + (w.isDefault ? ' (default)' : '')],
    ['ID', w.id],
    ['Region', w.region ?? '(this deployment)'],
    ['Plan', w.plan],
    ['Display name', w.settings.displayName ?? '-'],
    ['Billing email', w.settings.billingEmail ?? '-'],
    ['Tunnel targets', w.settings.tunnelTargets ?? 'server'],
    ['Root elevation', w.settings.rootElevation ?? 'explicit'],
    [
      'Recording',
      `${w.settings.recordSessions === false ? 'off' : 'on'}, input ${w.settings.recordInput ? 'on' : 'off'}, kept ${w.settings.recordingRetentionDays ?? (w.plan === 'enterprise' ? 1825 : 365)} days`,
    ],
    [
      'Command risk',
      `alert at ${w.settings.riskThreshold ?? 70}, ${w.settings.riskAction ?? 'alert'}${w.settings.riskRules?.length ? `, ${w.settings.riskRules.length} own rule(s)` : ''}`,
    ],
    ['Step-up grace', `${Math.round((w.settings.stepUpGraceSeconds ?? 300) / 60)} min`],
    [
      'Detached terminals',
      w.settings.sessionPersistSeconds === 0
        ? 'not kept (hang up when the connection drops)'
        : `kept ${Math.round((w.settings.sessionPersistSeconds ?? 600) / 60)} min for re-attach`,
    ],
    ['Created', formatTimestamp(w.createdAt)],
  ]);
}

export async function workspaceShow(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const w = await api.request('GET', '/api/v1/workspace', { parse: (x) => WorkspaceDetail.parse(x) });
    if (opts.output === 'json') return printJson(ctx, w);
    ctx.stdout.write(describe(w));
  });
}

export interface WorkspaceUpdateOptions extends OutputOptions {
  plan?: string;
  displayName?: string;
  billingEmail?: string;
  tunnelTargets?: string;
  rootElevation?: string;
  stepUpGrace?: string;
  recordInput?: string;
  recordingRetention?: string;
  riskThreshold?: string;
  riskAction?: string;
  riskWebhook?: string;
  sessionPersist?: string;
}

export async function workspaceUpdate(ctx: CliContext, opts: WorkspaceUpdateOptions): Promise<void> {
  const body: Record<string, unknown> = {};
  if (opts.plan !== undefined) {
    if (!['essentials', 'enterprise'].includes(opts.plan))
      throw new CliError('--plan must be essentials or enterprise');
    body.plan = opts.plan;
  }
  if (opts.tunnelTargets !== undefined) {
    if (!['server', 'any'].includes(opts.tunnelTargets)) throw new CliError('--tunnel-targets must be server or any');
    body.tunnelTargets = opts.tunnelTargets;
  }
  if (opts.rootElevation !== undefined) {
    if (!['explicit', 'always'].includes(opts.rootElevation))
      throw new CliError('--root-elevation must be explicit or always');
    body.rootElevation = opts.rootElevation;
  }
  if (opts.stepUpGrace !== undefined) {
    const sec = parseDurationSeconds(opts.stepUpGrace);
    if (sec === undefined || sec < 60 || sec > 3600) throw new CliError('--step-up-grace must be 1m..1h, e.g. 5m');
    body.stepUpGraceSeconds = sec;
  }
  if (opts.recordInput !== undefined) {
    if (!['on', 'off'].includes(opts.recordInput)) throw new CliError('--record-input must be on or off');
    body.recordInput = opts.recordInput === 'on';
  }
  if (opts.recordingRetention !== undefined) {
    const days = Number(opts.recordingRetention.replace(/d$/, ''));
    if (!Number.isInteger(days) || days < 1 || days > 3650)
      throw new CliError('--recording-retention must be 1..3650 days');
    body.recordingRetentionDays = days;
  }
  if (opts.riskThreshold !== undefined) {
    const n = Number(opts.riskThreshold);
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new CliError('--risk-threshold must be 1..100');
    body.riskThreshold = n;
  }
  if (opts.riskAction !== undefined) {
    if (!['alert', 'terminate'].includes(opts.riskAction))
      throw new CliError('--risk-action must be alert or terminate');
    body.riskAction = opts.riskAction;
  }
  if (opts.riskWebhook !== undefined) body.riskWebhookUrl = opts.riskWebhook;
  if (opts.sessionPersist !== undefined) {
    const sec = opts.sessionPersist === '0' ? 0 : parseDurationSeconds(opts.sessionPersist);
    if (sec === undefined || sec < 0 || sec > 86400)
      throw new CliError('--session-persist must be 0 (off) .. 24h, e.g. 10m');
    body.sessionPersistSeconds = sec;
  }
  // An empty value clears the setting.
  if (opts.displayName !== undefined) body.displayName = opts.displayName === '' ? null : opts.displayName;
  if (opts.billingEmail !== undefined) body.billingEmail = opts.billingEmail === '' ? null : opts.billingEmail;
  if (Object.keys(body).length === 0)
    throw new CliError(
      'nothing to change: give --plan, --display-name, --billing-email, --tunnel-targets, --root-elevation, --step-up-grace, --record-input, --recording-retention, --session-persist or --risk-*',
    );
  await withApi(ctx, async (api) => {
    const w = await api.request('PATCH', '/api/v1/workspace', { body, parse: (x) => WorkspaceDetail.parse(x) });
    if (opts.output === 'json') return printJson(ctx, w);
    ctx.stdout.write(describe(w));
  });
}

export async function workspaceDelete(ctx: CliContext, opts: { confirm?: string }): Promise<void> {
  await withApi(ctx, async (api, config) => {
    const w = await api.request('GET', '/api/v1/workspace', { parse: (x) => WorkspaceDetail.parse(x) });
    if (opts.confirm !== w.name) {
      throw new CliError(
        `deleting workspace "${w.name}" ends every session and removes its servers; ` +
          `confirm with: corral workspace delete --confirm ${w.name}`,
      );
    }
    await api.request('DELETE', '/api/v1/workspace', { body: { confirm: opts.confirm }, parse: (x) => x });
    new ConfigStore(ctx.configDir).save({ ...config, token: null, expiresAt: null });
    println(
      ctx.stdout,
      `Deleted workspace ${w.name}. Its sign-ins, join tokens and servers are gone; its audit log is kept.`,
    );
  });
}
