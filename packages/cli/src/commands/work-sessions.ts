import { readFileSync } from 'node:fs';
import {
  ApprovalPolicy,
  ApprovalPolicyView,
  FEATURES,
  WorkSessionList,
  WorkSessionTimeline,
  WorkSessionView,
  parseDurationSeconds,
  type Feature,
  type PolicyRule,
  type Role,
} from '@corral/protocol';
import type { ApiClient } from '../api-client.js';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderKeyValues, renderTable, type Column } from '../format/table.js';
import { formatDuration, formatTimestamp, relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** `corral work-session ...`, `corral approvals`, `corral policy ...`. */

const TERMINAL: ReadonlySet<string> = new Set(['denied', 'cancelled', 'expired', 'revoked', 'completed']);

export function parseDuration(text: string, option = '--duration'): number {
  const s = parseDurationSeconds(text);
  if (s === undefined || s < 60) {
    throw new CliError(`${option} must be a duration like 30m, 2h or 1d, at least 1m (got "${text}")`);
  }
  return s;
}

export function parseFeatures(text: string): Feature[] {
  const list = text
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const bad = list.filter((f) => !(FEATURES as readonly string[]).includes(f));
  if (list.length === 0 || bad.length) {
    throw new CliError(`--features takes a comma-separated list of ${FEATURES.join(', ')} (got "${text}")`);
  }
  return list as Feature[];
}

function parseSelectors(text: string): string[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0)
    throw new CliError('--servers needs a selector: a name, a glob (web-*), group:NAME or tag:K=V');
  return list;
}

/** Time left, or how it ended, for tables. */
function when(v: WorkSessionView, now: number): string {
  if (v.status === 'pending') return `waiting ${relativeTime(v.createdAt, now).replace(' ago', '')}`;
  if ((v.status === 'approved' || v.status === 'active') && v.expiresAt) {
    return `ends ${relativeTime(v.expiresAt, now)}`;
  }
  return v.endedAt ? `${v.status} ${relativeTime(v.endedAt, now)}` : v.status;
}

function listColumns(now: number, withUser: boolean): Column<WorkSessionView>[] {
  return [
    { header: 'ID', value: (v) => v.id },
    ...(withUser ? [{ header: 'USER', value: (v: WorkSessionView) => sanitize(v.user) }] : []),
    { header: 'STATUS', value: (v) => v.status + (v.extension ? ' (+ext)' : '') },
    { header: 'SERVERS', value: (v) => sanitize(v.selectors.join(',')), shrink: true },
    { header: 'FEATURES', value: (v) => v.features.join(','), shrink: true },
    { header: 'TIME', value: (v) => when(v, now) },
    { header: 'REASON', value: (v) => sanitize(v.reason), shrink: true },
  ];
}

function describe(v: WorkSessionView, now: number): string {
  const pairs: [string, string][] = [
    ['ID', v.id],
    ['User', v.user],
    ['Status', v.status],
    ['Servers', `${v.servers.join(', ')}  (${v.selectors.join(', ')})`],
    ['Features', v.features.join(', ')],
    ['Duration', formatDuration(v.durationSeconds)],
    ['Reason', v.reason],
    ['Policy rule', v.rule],
  ];
  if (v.approvalsRequired > 0) {
    const who = [...v.approvers.roles, ...v.approvers.groups.map((g) => `group ${g}`)].join(' or ');
    pairs.push([
      'Approvals',
      `${v.approvals.length}/${v.approvalsRequired} from ${who}` +
        (v.approvals.length ? `: ${v.approvals.map((a) => a.by).join(', ')}` : ''),
    ]);
  }
  pairs.push(['Requested', `${formatTimestamp(v.createdAt)} (${relativeTime(v.createdAt, now)})`]);
  if (v.approvedAt) pairs.push(['Approved', formatTimestamp(v.approvedAt)]);
  if (v.activatedAt) pairs.push(['First used', formatTimestamp(v.activatedAt)]);
  if (v.expiresAt) pairs.push(['Expires', `${formatTimestamp(v.expiresAt)} (${relativeTime(v.expiresAt, now)})`]);
  if (v.extension) {
    pairs.push([
      'Extension',
      `+${formatDuration(v.extension.durationSeconds)} waiting for approval` +
        (v.extension.reason ? ` (${v.extension.reason})` : ''),
    ]);
  }
  if (v.endedAt) pairs.push(['Ended', `${formatTimestamp(v.endedAt)}${v.endReason ? ` (${v.endReason})` : ''}`]);
  return renderKeyValues(pairs);
}

/** One line saying what happened to a request, with the next step. */
function outcome(v: WorkSessionView): string {
  switch (v.status) {
    case 'approved':
    case 'active':
      return `Work session ${v.id} is ${v.status} until ${formatTimestamp(v.expiresAt)} (rule ${v.rule}).`;
    case 'pending':
      return (
        `Work session ${v.id} waits for ${v.approvalsRequired - v.approvals.length} approval(s) ` +
        `(rule ${v.rule}). Follow it with: corral work-session show ${v.id}`
      );
    default:
      return `Work session ${v.id} is ${v.status}${v.endReason ? `: ${v.endReason}` : ''}.`;
  }
}

async function getView(api: ApiClient, id: string): Promise<WorkSessionView> {
  return api.request('GET', `/api/v1/work-sessions/${encodeURIComponent(id)}`, {
    parse: (x) => WorkSessionView.parse(x),
  });
}

/**
 * Poll until the request is decided. Resolves with the last view (approved, denied, ...). Ctrl-C stops the
 * wait; the request stays.
 */
export async function waitForDecision(
  ctx: CliContext,
  api: ApiClient,
  id: string,
  intervalMs = 1000,
): Promise<WorkSessionView> {
  let v = await getView(api, id);
  if (v.status === 'pending') {
    ctx.stderr.write(`Waiting for approval of ${id} (Ctrl-C stops waiting; the request stays)...\n`);
  }
  while (v.status === 'pending') {
    await new Promise((r) => setTimeout(r, intervalMs));
    v = await getView(api, id);
  }
  return v;
}

export interface RequestOptions extends OutputOptions {
  servers?: string;
  features?: string;
  duration?: string;
  reason?: string;
  wait?: boolean;
  allowCommand?: string[];
  denyCommand?: string[];
}

export function requestBody(opts: RequestOptions): {
  servers: string[];
  features: Feature[];
  durationSeconds: number;
  reason: string;
  commands?: { allow?: string[]; deny?: string[] };
} {
  if (!opts.servers)
    throw new CliError('--servers SELECTOR is required (web-01, web-*, group:NAME, tag:K=V; comma-separated)');
  if (!opts.features) throw new CliError(`--features is required: some of ${FEATURES.join(',')}`);
  if (!opts.reason?.trim()) throw new CliError('--reason TEXT is required: say what the work is');
  return {
    servers: parseSelectors(opts.servers),
    features: parseFeatures(opts.features),
    durationSeconds: parseDuration(opts.duration ?? '1h'),
    reason: opts.reason.trim(),
    ...(opts.allowCommand?.length || opts.denyCommand?.length
      ? {
          commands: {
            ...(opts.allowCommand?.length ? { allow: opts.allowCommand } : {}),
            ...(opts.denyCommand?.length ? { deny: opts.denyCommand } : {}),
          },
        }
      : {}),
  };
}

/** `corral work-session request`: exit 0 when approved (or pending without --wait), 1 when refused. */
export async function wsRequest(ctx: CliContext, opts: RequestOptions): Promise<number> {
  const body = requestBody(opts);
  return withApi(ctx, async (api) => {
    let v = await api.request('POST', '/api/v1/work-sessions', { body, parse: (x) => WorkSessionView.parse(x) });
    if (opts.wait && v.status === 'pending') {
      if (opts.output !== 'json') println(ctx.stderr, outcome(v));
      v = await waitForDecision(ctx, api, v.id);
    }
    if (opts.output === 'json') printJson(ctx, v);
    else println(ctx.stdout, outcome(v));
    return TERMINAL.has(v.status) ? 1 : 0;
  });
}

export async function wsLs(ctx: CliContext, opts: OutputOptions & { all?: boolean; status?: string }): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/work-sessions', {
      query: { scope: opts.all ? 'all' : 'mine', ...(opts.status ? { status: opts.status } : {}) },
      parse: (x) => WorkSessionList.parse(x),
    });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) {
      return void ctx.stderr.write(
        'No work sessions. Request one: corral work-session request --servers web-01 --features terminal --duration 1h --reason "..."\n',
      );
    }
    ctx.stdout.write(renderTable(listColumns(ctx.now(), Boolean(opts.all)), list.items, { color: ctx.color }));
  });
}

export async function approvals(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/approvals', { parse: (x) => WorkSessionList.parse(x) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) return void ctx.stderr.write('Nothing waits for your approval.\n');
    const now = ctx.now();
    const cols: Column<WorkSessionView>[] = [
      { header: 'ID', value: (v) => v.id },
      { header: 'USER', value: (v) => sanitize(v.user) },
      {
        header: 'ASKS',
        value: (v) =>
          v.extension ? `+${formatDuration(v.extension.durationSeconds)}` : formatDuration(v.durationSeconds),
      },
      { header: 'SERVERS', value: (v) => sanitize(v.servers.join(',')), shrink: true },
      { header: 'FEATURES', value: (v) => v.features.join(','), shrink: true },
      { header: 'APPROVALS', value: (v) => `${v.approvals.length}/${v.approvalsRequired}` },
      {
        header: 'WAITING',
        value: (v) => relativeTime(v.extension?.requestedAt ?? v.createdAt, now).replace(' ago', ''),
      },
      { header: 'REASON', value: (v) => sanitize(v.extension?.reason ?? v.reason), shrink: true },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
    println(
      ctx.stderr,
      'Approve with `corral work-session approve ID`, deny with `corral work-session deny ID --reason ...`.',
    );
  });
}

export async function wsShow(ctx: CliContext, id: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const v = await getView(api, id);
    if (opts.output === 'json') return printJson(ctx, v);
    ctx.stdout.write(describe(v, ctx.now()));
  });
}

type Action = 'approve' | 'deny' | 'revoke' | 'complete' | 'cancel' | 'extend';

export interface ActionOptions extends OutputOptions {
  reason?: string;
  duration?: string;
  servers?: string;
  features?: string;
  comment?: string;
}

export async function wsAction(ctx: CliContext, action: Action, id: string, opts: ActionOptions): Promise<void> {
  let body: Record<string, unknown> | undefined;
  if (action === 'approve') {
    body = {
      ...(opts.duration ? { durationSeconds: parseDuration(opts.duration) } : {}),
      ...(opts.servers ? { servers: parseSelectors(opts.servers) } : {}),
      ...(opts.features ? { features: parseFeatures(opts.features) } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
    };
  } else if (action === 'deny' || action === 'revoke') {
    body = opts.reason ? { reason: opts.reason } : {};
  } else if (action === 'extend') {
    if (!opts.duration) throw new CliError('--duration is required: how much longer, e.g. 1h');
    body = { durationSeconds: parseDuration(opts.duration), ...(opts.reason ? { reason: opts.reason } : {}) };
  }
  await withApi(ctx, async (api) => {
    const v = await api.request('POST', `/api/v1/work-sessions/${encodeURIComponent(id)}/${action}`, {
      ...(body ? { body } : {}),
      parse: (x) => WorkSessionView.parse(x),
    });
    if (opts.output === 'json') return printJson(ctx, v);
    const msg: Record<Action, string> = {
      approve:
        v.status === 'pending' || v.extension
          ? `Approved ${v.id}: ${v.approvals.length} of ${v.approvalsRequired} approvals so far.`
          : `Approved ${v.id}: ${v.user} may work until ${formatTimestamp(v.expiresAt)}.`,
      deny: `Denied ${v.id}.`,
      revoke: `Revoked ${v.id}; its live sessions were ended.`,
      complete: `Completed ${v.id}; its live sessions were ended.`,
      cancel: `Cancelled ${v.extension ? 'the extension of ' : ''}${v.id}.`,
      extend: v.extension
        ? `Asked to extend ${v.id} by ${formatDuration(v.extension.durationSeconds)}; it waits for approval.`
        : `Extended ${v.id} until ${formatTimestamp(v.expiresAt)}.`,
    };
    println(ctx.stdout, msg[action]);
  });
}

export async function wsTimeline(ctx: CliContext, id: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const t = await api.request('GET', `/api/v1/work-sessions/${encodeURIComponent(id)}/timeline`, {
      parse: (x) => WorkSessionTimeline.parse(x),
    });
    if (opts.output === 'json') return printJson(ctx, t);
    const v = t.workSession;
    println(ctx.stdout, `${v.id}  ${v.user}  ${v.status}  ${v.features.join(',')} on ${v.servers.join(',')}`);
    const rows = t.entries.map((e) => ({ ...e, text: detailText(e.kind, e.details) }));
    ctx.stdout.write(
      renderTable(
        [
          { header: 'TIME', value: (e) => formatTimestamp(e.at) },
          { header: 'EVENT', value: (e) => e.kind },
          { header: 'BY', value: (e) => sanitize(e.actor ?? 'policy') },
          { header: 'DETAILS', value: (e) => sanitize(e.text), shrink: true },
        ],
        rows,
        { color: ctx.color },
      ),
    );
  });
}

function detailText(kind: string, d: Record<string, unknown>): string {
  const parts: string[] = [];
  if (kind === 'channel') {
    parts.push(`${String(d.feature)} ${String(d.sessionId)} on ${String(d.server)} as ${String(d.osUser)}`);
    if (d.command) parts.push(`command: ${String(d.command)}`);
    parts.push(d.endedAt ? `ended (${String(d.endReason)})` : 'live');
    return parts.join('; ');
  }
  for (const [k, v] of Object.entries(d)) {
    if (v === null || v === undefined) continue;
    parts.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return parts.join(' ');
}

// --- policy -----------------------------------------------------------------------------------------------

async function getPolicy(api: ApiClient): Promise<ApprovalPolicyView> {
  return api.request('GET', '/api/v1/policies/work-sessions', { parse: (x) => ApprovalPolicyView.parse(x) });
}

async function putPolicy(api: ApiClient, p: ApprovalPolicy): Promise<ApprovalPolicyView> {
  return api.request('PUT', '/api/v1/policies/work-sessions', { body: p, parse: (x) => ApprovalPolicyView.parse(x) });
}

function whoText(w: { roles?: Role[] | undefined; groups?: string[] | undefined } | undefined): string {
  if (!w) return 'anyone';
  return [...(w.roles ?? []), ...(w.groups ?? []).map((g) => `group:${g}`)].join(',') || 'anyone';
}

function printPolicy(ctx: CliContext, p: ApprovalPolicyView): void {
  println(
    ctx.stdout,
    p.isDefault
      ? 'Approval policy: the default.'
      : `Approval policy: set by ${p.updatedBy ?? '?'} at ${formatTimestamp(p.updatedAt)}.`,
  );
  ctx.stdout.write(
    renderTable(
      [
        { header: '#', value: (r: PolicyRule & { i: number }) => String(r.i), align: 'right' },
        { header: 'RULE', value: (r) => r.name },
        { header: 'REQUESTER', value: (r) => whoText(r.requester) },
        { header: 'SERVERS', value: (r) => (r.servers ?? ['*']).join(','), shrink: true },
        { header: 'FEATURES', value: (r) => (r.features ?? ['any']).join(','), shrink: true },
        {
          header: 'DECISION',
          value: (r) =>
            r.action === 'require_approval'
              ? `${r.approvals ?? 1} approval(s) from ${whoText(r.approvers ?? { roles: ['staff', 'superuser'] })}`
              : r.action.replace('_', '-'),
        },
        { header: 'MAX', value: (r) => formatDuration(r.maxDurationSeconds ?? 8 * 3600) },
      ],
      p.rules.map((r, i) => ({ ...r, i: i + 1 })),
      { color: ctx.color },
    ),
  );
  if (p.webhookUrl) println(ctx.stdout, `Webhook: ${p.webhookUrl}`);
  println(ctx.stderr, 'The first rule that matches each server and feature decides; the strictest decision wins.');
}

export async function policyShow(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const p = await getPolicy(api);
    if (opts.output === 'json') return printJson(ctx, p);
    printPolicy(ctx, p);
  });
}

/** `corral policy set FILE` (JSON: {"rules": [...], "webhookUrl": ...}; `-` reads stdin). */
export async function policySet(ctx: CliContext, file: string, opts: OutputOptions): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const { isDefault: _a, updatedAt: _b, updatedBy: _c, ...rest } = (parsed ?? {}) as Record<string, unknown>;
  const r = ApprovalPolicy.safeParse(rest);
  if (!r.success) {
    throw new CliError(
      `${file} is not a valid policy: ${r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`,
    );
  }
  await withApi(ctx, async (api) => {
    const p = await putPolicy(api, r.data);
    if (opts.output === 'json') return printJson(ctx, p);
    printPolicy(ctx, p);
  });
}

export async function policyReset(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const p = await api.request('DELETE', '/api/v1/policies/work-sessions', {
      parse: (x) => ApprovalPolicyView.parse(x),
    });
    if (opts.output === 'json') return printJson(ctx, p);
    printPolicy(ctx, p);
  });
}

export interface AddRuleOptions extends OutputOptions {
  servers?: string;
  features?: string;
  roles?: string;
  groups?: string;
  action: string;
  approvals?: string;
  approverRoles?: string;
  approverGroups?: string;
  maxDuration?: string;
  position?: string;
}

function list(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function ruleFromOptions(name: string, o: AddRuleOptions): PolicyRule {
  const action = o.action.replace('-', '_');
  if (!['auto_approve', 'require_approval', 'deny'].includes(action)) {
    throw new CliError('--action must be auto-approve, require-approval or deny');
  }
  const requester = { ...(o.roles ? { roles: list(o.roles) } : {}), ...(o.groups ? { groups: list(o.groups) } : {}) };
  const approvers = {
    ...(o.approverRoles ? { roles: list(o.approverRoles) } : {}),
    ...(o.approverGroups ? { groups: list(o.approverGroups) } : {}),
  };
  const rule = {
    name,
    ...(o.servers ? { servers: list(o.servers) } : {}),
    ...(o.features ? { features: parseFeatures(o.features) } : {}),
    ...(Object.keys(requester).length ? { requester } : {}),
    action,
    ...(o.approvals ? { approvals: Number(o.approvals) } : {}),
    ...(Object.keys(approvers).length ? { approvers } : {}),
    ...(o.maxDuration ? { maxDurationSeconds: parseDuration(o.maxDuration, '--max-duration') } : {}),
  };
  const r = ApprovalPolicy.shape.rules.element.safeParse(rule);
  if (!r.success) {
    throw new CliError(
      `invalid rule: ${r.error.issues.map((i) => `${i.path.join('.') || name}: ${i.message}`).join('; ')}`,
    );
  }
  return r.data;
}

export async function policyAddRule(ctx: CliContext, name: string, opts: AddRuleOptions): Promise<void> {
  const rule = ruleFromOptions(name, opts);
  await withApi(ctx, async (api) => {
    const current = await getPolicy(api);
    if (current.rules.some((r) => r.name === name)) {
      throw new CliError(`a rule named ${name} exists; remove it first (corral policy remove-rule ${name})`);
    }
    const rules = [...current.rules];
    const at = opts.position ? Math.min(Math.max(1, Number(opts.position)), rules.length + 1) - 1 : 0;
    rules.splice(at, 0, rule);
    const p = await putPolicy(api, { rules, webhookUrl: current.webhookUrl ?? null });
    if (opts.output === 'json') return printJson(ctx, p);
    printPolicy(ctx, p);
  });
}

export async function policyRemoveRule(ctx: CliContext, name: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const current = await getPolicy(api);
    if (!current.rules.some((r) => r.name === name))
      throw new CliError(`no rule named ${name} (see corral policy show)`);
    const p = await putPolicy(api, {
      rules: current.rules.filter((r) => r.name !== name),
      webhookUrl: current.webhookUrl ?? null,
    });
    if (opts.output === 'json') return printJson(ctx, p);
    printPolicy(ctx, p);
  });
}

export async function policyWebhook(ctx: CliContext, url: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const current = await getPolicy(api);
    const p = await putPolicy(api, { rules: current.rules, webhookUrl: url === 'none' ? null : url });
    if (opts.output === 'json') return printJson(ctx, p);
    printPolicy(ctx, p);
  });
}
