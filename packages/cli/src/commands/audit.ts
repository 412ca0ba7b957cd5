import { AuditList, AuditVerifyResponse, parseDurationSeconds, type AuditEventView } from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { colors } from '../format/color.js';
import { renderTable, type Column } from '../format/table.js';
import { formatTimestamp } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { parsePositiveInt, printJson, withApi, type OutputOptions } from './common.js';

/** Events shown by `corral audit ls` without --limit. */
export const DEFAULT_AUDIT_LIMIT = 50;

export interface AuditLsOptions extends OutputOptions {
  limit?: string;
  /** Only events with this action, e.g. file.upload. */
  action?: string;
  /** Only events by this actor (email or id). */
  actor?: string;
  /** Only events whose target is this server (name or id). */
  server?: string;
  /** An ISO 8601 time, or a duration back from now (30m, 2h, 7d). */
  since?: string;
  until?: string;
}

/** `--since 2h` or `--since 2026-11-27T10:00:00Z` as the ISO instant the gateway takes. */
export function auditTime(value: string, option: string, now = Date.now()): string {
  const seconds = /^\d+[smhd]$/.test(value.trim()) ? parseDurationSeconds(value) : undefined;
  if (seconds !== undefined) return new Date(now - seconds * 1000).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new CliError(`${option} takes an ISO 8601 time (2026-11-27T10:00:00Z) or a duration back from now (2h, 7d)`);
  return new Date(t).toISOString();
}

function actorOf(e: AuditEventView): string {
  return e.actorName ?? e.actorId ?? e.actorType;
}

function targetOf(e: AuditEventView): string {
  const name = e.targetName ?? e.targetId;
  if (!e.targetType && !name) return '-';
  return e.targetType ? `${e.targetType}:${name ?? '?'}` : (name ?? '-');
}

function auditColumns(ctx: CliContext): Column<AuditEventView>[] {
  const c = colors(ctx.color);
  return [
    { header: 'SEQ', value: (e) => String(e.seq), align: 'right' },
    { header: 'TIME', value: (e) => formatTimestamp(e.ts) },
    { header: 'ACTION', value: (e) => e.action },
    {
      header: 'OUTCOME',
      value: (e) => e.outcome,
      color: (text, e) =>
        e.outcome === 'success' ? c.green(text) : e.outcome === 'denied' ? c.yellow(text) : c.red(text),
    },
    { header: 'ACTOR', value: actorOf, shrink: true },
    { header: 'TARGET', value: targetOf, shrink: true },
    { header: 'SOURCE', value: (e) => e.sourceIp ?? '-' },
  ];
}

/**
 * `corral audit ls`: the newest events first. Pages through `nextBefore` until `--limit` events are in
 * hand or the log ends (the gateway may cap one page below the limit).
 */
export async function auditLs(ctx: CliContext, opts: AuditLsOptions): Promise<void> {
  const limit = opts.limit === undefined ? DEFAULT_AUDIT_LIMIT : parsePositiveInt(opts.limit, '--limit');
  const filters = {
    ...(opts.action ? { action: opts.action } : {}),
    ...(opts.actor ? { actor: opts.actor } : {}),
    ...(opts.server ? { server: opts.server } : {}),
    ...(opts.since ? { since: auditTime(opts.since, '--since') } : {}),
    ...(opts.until ? { until: auditTime(opts.until, '--until') } : {}),
  };
  await withApi(ctx, async (api) => {
    const items: AuditEventView[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await api.request('GET', '/api/v1/audit', {
        query: { limit: limit - items.length, before, ...filters },
        parse: (v) => AuditList.parse(v),
      });
      items.push(...page.items.slice(0, limit - items.length));
      if (items.length >= limit || page.nextBefore === null || page.items.length === 0) break;
      if (before !== undefined && page.nextBefore >= before) break; // a gateway that does not move on
      before = page.nextBefore;
    }
    if (opts.output === 'json') return printJson(ctx, { items });
    if (items.length === 0) {
      ctx.stderr.write('The audit log is empty.\n');
      return;
    }
    ctx.stdout.write(
      renderTable(auditColumns(ctx), items, {
        color: ctx.color,
        maxWidth: ctx.stdout.isTTY ? ctx.stdout.columns : undefined,
      }),
    );
  });
}

/** The one-line verdict of `corral audit verify`. */
export function verifyVerdict(v: AuditVerifyResponse): string {
  if (v.ok) return `audit chain OK: ${v.count} events, head #${v.headSeq} ${v.headHash ?? '(empty)'}`;
  const at = v.brokenAt === null ? '' : ` at #${v.brokenAt}`;
  return `audit chain BROKEN${at}: ${sanitize(v.reason ?? 'no reason given')} (${v.count} events checked)`;
}

/** `corral audit verify`: exit 1 when the chain is broken. */
export async function auditVerify(ctx: CliContext, opts: OutputOptions): Promise<void> {
  const v = await withApi(ctx, (api) =>
    api.request('GET', '/api/v1/audit/verify', { parse: (x) => AuditVerifyResponse.parse(x) }),
  );
  if (opts.output === 'json') printJson(ctx, v);
  else if (v.ok) println(ctx.stdout, verifyVerdict(v));
  if (!v.ok) throw new CliError(verifyVerdict(v));
}
