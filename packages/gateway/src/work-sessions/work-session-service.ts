import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import {
  ApprovalPolicy,
  DEFAULT_APPROVAL_POLICY,
  type ApprovalPolicyView,
  type CommandAcl,
  type Feature,
  type Role,
  type TimelineEntry,
  type WorkSessionRequest,
  type WorkSessionView,
} from '@corral/protocol';
import type { Database, ServersTable, WorkSessionsTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { IamService } from '../iam/iam-service.js';
import type { ChannelHub } from '../channels/channel-hub.js';
import type { Mailer } from '../users/mailer.js';
import type { Logger } from '../log.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';
import { parseSelector, selectorMatches } from '../iam/selectors.js';
import {
  canApprove,
  evaluatePolicy,
  pickCovering,
  statusAt,
  transition,
  type Requester,
  type WorkSessionEvent,
} from './policy.js';

/** How often each gateway node looks for work sessions whose time is up. */
export const EXPIRY_SWEEP_MS = 500;

/** What a channel reports to its user when its work session ends. */
const END_CODES: Record<string, string> = {
  expired: 'WORK_SESSION_EXPIRED',
  revoked: 'WORK_SESSION_REVOKED',
  completed: 'WORK_SESSION_COMPLETED',
};

type WorkSessionRow = Selectable<WorkSessionsTable>;
type WorkSessionUpdate = Updateable<WorkSessionsTable>;

interface Parsed {
  row: WorkSessionRow;
  serverIds: string[];
  features: Feature[];
  selectors: string[];
  approvers: { roles: Role[]; groups: string[] };
  expiresAt: number | null;
}

function parse(row: WorkSessionRow): Parsed {
  return {
    row,
    serverIds: JSON.parse(row.server_ids) as string[],
    features: JSON.parse(row.features) as Feature[],
    selectors: JSON.parse(row.selectors) as string[],
    approvers: JSON.parse(row.approvers) as { roles: Role[]; groups: string[] },
    expiresAt: row.expires_at ? Date.parse(row.expires_at) : null,
  };
}

function humanDuration(s: number): string {
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** Shell-quote one argument for a command we print for the user to run. */
function q(arg: string): string {
  return /^[A-Za-z0-9_./:=,@*-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export interface WorkSessionDeps {
  db: Kysely<Database>;
  audit: AuditLog;
  iam: IamService;
  channels: ChannelHub;
  mailer: Mailer;
  clock: Clock;
  log: Logger;
}

/**
 * Work sessions: requests, approvals by policy, the lifecycle, and the check every channel open makes.
 * State lives in the database (any node may act on any session); a change that ends a session ends its
 * live channels on every node through the bus.
 */
export class WorkSessionService {
  private readonly db: Kysely<Database>;
  private readonly audit: AuditLog;
  private readonly iam: IamService;
  private readonly channels: ChannelHub;
  private readonly mailer: Mailer;
  private readonly clock: Clock;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(d: WorkSessionDeps) {
    this.db = d.db;
    this.audit = d.audit;
    this.iam = d.iam;
    this.channels = d.channels;
    this.mailer = d.mailer;
    this.clock = d.clock;
    this.log = d.log;
  }

  /** Start the expiry sweep (every node runs one; a conditional update makes exactly one win). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.log.warn('work-session sweep failed', { err: String(err) }));
    }, EXPIRY_SWEEP_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  // --- policy -----------------------------------------------------------------------------------------

  async policy(workspaceId: string): Promise<ApprovalPolicyView> {
    const row = await this.db
      .selectFrom('approval_policies')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!row) return { ...DEFAULT_APPROVAL_POLICY, isDefault: true, updatedAt: null, updatedBy: null };
    const policy = ApprovalPolicy.parse(JSON.parse(row.policy));
    return { ...policy, isDefault: false, updatedAt: row.updated_at, updatedBy: row.updated_by };
  }

  /** Replace the policy (null: back to the default). Superusers only; the route checks the role. */
  async setPolicy(p: Principal, policy: ApprovalPolicy | null, sourceIp: string): Promise<ApprovalPolicyView> {
    for (const rule of policy?.rules ?? []) {
      for (const s of rule.servers ?? []) {
        try {
          parseSelector(s);
        } catch (err) {
          throw new CorralError('VALIDATION_FAILED', `rule ${rule.name}: ${(err as Error).message}`);
        }
      }
    }
    const before = await this.policy(p.workspaceId);
    const now = iso(this.clock.now());
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('approval_policies').where('workspace_id', '=', p.workspaceId).execute();
      if (policy) {
        await trx
          .insertInto('approval_policies')
          .values({ workspace_id: p.workspaceId, policy: JSON.stringify(policy), updated_at: now, updated_by: p.email })
          .execute();
      }
    });
    const after = await this.policy(p.workspaceId);
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'policy.work_sessions.update',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'policy', name: 'work-sessions' },
      sourceIp,
      details: {
        before: { rules: before.rules, webhookUrl: before.webhookUrl ?? null, isDefault: before.isDefault },
        after: { rules: after.rules, webhookUrl: after.webhookUrl ?? null, isDefault: after.isDefault },
      },
    });
    return after;
  }

  // --- requests and decisions ---------------------------------------------------------------------------

  private async requester(workspaceId: string, userId: string, role: Role): Promise<Requester> {
    const rows = await this.db
      .selectFrom('user_group_members')
      .innerJoin('user_groups', 'user_groups.id', 'user_group_members.group_id')
      .select('user_groups.name')
      .where('user_group_members.workspace_id', '=', workspaceId)
      .where('user_group_members.user_id', '=', userId)
      .execute();
    return { userId, role, groups: rows.map((r) => r.name) };
  }

  /** Servers the selectors match on which the principal holds write scope (what a work session can cover). */
  private async resolve(p: Principal, selectors: readonly string[]): Promise<ServersTable[]> {
    const parsed = selectors.map((s) => {
      try {
        return parseSelector(s);
      } catch (err) {
        throw new CorralError('VALIDATION_FAILED', (err as Error).message);
      }
    });
    const all = await this.db.selectFrom('servers').selectAll().where('workspace_id', '=', p.workspaceId).execute();
    const groups = await this.iam.serverGroupsByServer(p.workspaceId);
    const matching = all.filter((s) => {
      const f = { name: s.name, groups: groups.get(s.id) ?? [], tags: JSON.parse(s.tags) as Record<string, string> };
      return parsed.some((sel) => selectorMatches(sel, f));
    });
    return this.iam.allowed(p, 'websh.open', matching);
  }

  private async facts(workspaceId: string, servers: readonly ServersTable[]) {
    const groups = await this.iam.serverGroupsByServer(workspaceId);
    return servers.map((s) => ({
      name: s.name,
      groups: groups.get(s.id) ?? [],
      tags: JSON.parse(s.tags) as Record<string, string>,
    }));
  }

  async request(p: Principal, body: WorkSessionRequest, sourceIp: string): Promise<WorkSessionView> {
    const features = [...new Set(body.features)];
    const servers = await this.resolve(p, body.servers);
    if (servers.length === 0) {
      throw new CorralError(
        'VALIDATION_FAILED',
        `${body.servers.join(', ')} matches no server you hold write scope on; ask a staff user for a grant first.`,
      );
    }
    const policy = await this.policy(p.workspaceId);
    const who = await this.requester(p.workspaceId, p.userId, p.role);
    const d = evaluatePolicy(policy, who, await this.facts(p.workspaceId, servers), features);
    if (d.action !== 'deny' && body.durationSeconds > d.maxDurationSeconds) {
      throw new CorralError(
        'VALIDATION_FAILED',
        `The policy allows at most ${humanDuration(d.maxDurationSeconds)} for this request (rule ${d.rule}); ask for less.`,
      );
    }
    return this.create(
      p,
      who,
      body.servers,
      servers,
      features,
      body.durationSeconds,
      body.reason,
      d,
      sourceIp,
      body.commands,
    );
  }

  private async create(
    p: Principal,
    who: Requester,
    selectors: readonly string[],
    servers: readonly ServersTable[],
    features: Feature[],
    durationS: number,
    reason: string,
    d: ReturnType<typeof evaluatePolicy>,
    sourceIp: string,
    commands?: CommandAcl,
  ): Promise<WorkSessionView> {
    const id = newId('wks');
    const nowMs = this.clock.now();
    const now = iso(nowMs);
    const status = d.action === 'auto_approve' ? 'approved' : d.action === 'deny' ? 'denied' : 'pending';
    await this.db
      .insertInto('work_sessions')
      .values({
        id,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        status,
        selectors: JSON.stringify(selectors),
        server_ids: JSON.stringify(servers.map((s) => s.id)),
        features: JSON.stringify(features),
        reason,
        duration_s: durationS,
        rule: d.rule,
        approvals_required: d.approvals,
        approvers: JSON.stringify(d.approvers),
        created_at: now,
        approved_at: status === 'approved' ? now : null,
        activated_at: null,
        expires_at: status === 'approved' ? iso(nowMs + durationS * 1000) : null,
        ended_at: status === 'denied' ? now : null,
        end_reason: status === 'denied' ? d.reason : null,
        ext_duration_s: null,
        ext_reason: null,
        ext_requested_at: null,
        commands: commands ? JSON.stringify(commands) : null,
      })
      .execute();
    const actor = { id: p.userId, name: p.email };
    const names = servers.map((s) => s.name);
    await this.event(p.workspaceId, id, 'requested', actor, sourceIp, {
      selectors,
      servers: names,
      features,
      durationSeconds: durationS,
      reason,
      rule: d.rule,
      decision: d.action,
      ...(commands ? { commands } : {}),
    });
    if (status === 'approved') {
      await this.event(p.workspaceId, id, 'approved', null, sourceIp, { by: 'policy', rule: d.rule, reason: d.reason });
    } else if (status === 'denied') {
      await this.event(p.workspaceId, id, 'denied', null, sourceIp, { by: 'policy', rule: d.rule, reason: d.reason });
    } else {
      await this.notifyApprovers(p, id, names, features, durationS, reason, d.approvers, who, 'request');
    }
    return this.get(p, id);
  }

  /** Tell every possible approver (mail, and the policy's webhook when set). Failures are logged, never fatal. */
  private async notifyApprovers(
    p: Principal,
    id: string,
    servers: readonly string[],
    features: readonly Feature[],
    durationS: number,
    reason: string,
    approvers: { roles: Role[]; groups: string[] },
    who: Requester,
    kind: 'request' | 'extension',
  ): Promise<void> {
    const users = await this.db
      .selectFrom('users')
      .select(['id', 'email', 'role'])
      .where('workspace_id', '=', p.workspaceId)
      .where('deactivated_at', 'is', null)
      .execute();
    const recipients: string[] = [];
    for (const u of users) {
      const r = await this.requester(p.workspaceId, u.id, u.role);
      if (canApprove(r, who.userId, approvers).ok) recipients.push(u.email);
    }
    const what = kind === 'request' ? 'requests' : 'asks to extend';
    const subject = `Corral: ${p.email} ${what} ${features.join(', ')} on ${servers.length} server(s)`;
    const body = [
      `${p.email} ${what} a work session in workspace "${p.workspaceName}":`,
      '',
      `  id:        ${id}`,
      `  servers:   ${servers.join(', ')}`,
      `  features:  ${features.join(', ')}`,
      `  duration:  ${humanDuration(durationS)}`,
      `  reason:    ${reason}`,
      '',
      `Approve:  corral work-session approve ${id}`,
      `Deny:     corral work-session deny ${id} --reason "..."`,
      `See what waits for you: corral approvals`,
    ].join('\n');
    for (const to of recipients) {
      await this.mailer
        .send(p.workspaceId, to, subject, body)
        .catch((err: unknown) => this.log.warn('approval notice not sent', { to, err: String(err) }));
    }
    const { webhookUrl } = await this.policy(p.workspaceId);
    if (webhookUrl) {
      const payload = {
        event: kind === 'request' ? 'work_session.requested' : 'work_session.extension_requested',
        workspace: p.workspaceName,
        workSession: { id, user: p.email, servers, features, durationSeconds: durationS, reason },
        approvers: recipients,
        approveCommand: `corral work-session approve ${id}`,
      };
      // Fire and forget, bounded: a slow or broken webhook never delays the request.
      fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'corral-gateway' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(5000),
      }).then(
        (res) => {
          if (!res.ok) this.log.warn('approval webhook answered an error', { status: res.status });
          void res.body?.cancel();
        },
        (err: unknown) => this.log.warn('approval webhook failed', { err: String(err) }),
      );
    }
  }

  private async load(workspaceId: string, id: string): Promise<Parsed> {
    const row = await this.db
      .selectFrom('work_sessions')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new CorralError('WORK_SESSION_NOT_FOUND', `No work session ${id} in this workspace.`);
    return parse(row);
  }

  /** Load a session the principal may see (own, staff, or a possible approver); others answer 404. */
  private async loadVisible(p: Principal, id: string): Promise<Parsed> {
    const ws = await this.load(p.workspaceId, id);
    if (ws.row.user_id === p.userId || p.role !== 'member') return ws;
    const me = await this.requester(p.workspaceId, p.userId, p.role);
    if (canApprove(me, ws.row.user_id, ws.approvers).ok) return ws;
    throw new CorralError('WORK_SESSION_NOT_FOUND', `No work session ${id} in this workspace.`);
  }

  async get(p: Principal, id: string): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    const [view] = await this.views(p, [ws]);
    return view!;
  }

  async list(p: Principal, scope: 'mine' | 'all' | 'approvals', status?: string): Promise<WorkSessionView[]> {
    let q = this.db
      .selectFrom('work_sessions')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .orderBy('created_at', 'desc')
      .limit(500);
    if (scope === 'mine') q = q.where('user_id', '=', p.userId);
    if (scope === 'approvals') {
      q = q
        .where('user_id', '!=', p.userId)
        .where((eb) =>
          eb.or([
            eb('status', '=', 'pending'),
            eb.and([eb('status', 'in', ['approved', 'active']), eb('ext_requested_at', 'is not', null)]),
          ]),
        );
    }
    let rows = (await q.execute()).map(parse);
    if (scope !== 'mine' && p.role === 'member') {
      // Members see others' sessions only where they are approvers.
      const me = await this.requester(p.workspaceId, p.userId, p.role);
      rows = rows.filter((w) => w.row.user_id === p.userId || canApprove(me, w.row.user_id, w.approvers).ok);
    }
    let views = await this.views(p, rows);
    if (scope === 'approvals') views = views.filter((v) => v.canApprove);
    if (status) views = views.filter((v) => v.status === status);
    return views;
  }

  private async views(p: Principal, list: Parsed[]): Promise<WorkSessionView[]> {
    if (list.length === 0) return [];
    const now = this.clock.now();
    const users = new Map(
      (
        await this.db.selectFrom('users').select(['id', 'email']).where('workspace_id', '=', p.workspaceId).execute()
      ).map((u) => [u.id, u.email]),
    );
    const servers = new Map(
      (
        await this.db.selectFrom('servers').select(['id', 'name']).where('workspace_id', '=', p.workspaceId).execute()
      ).map((s) => [s.id, s.name]),
    );
    const approvals = await this.db
      .selectFrom('work_session_approvals')
      .selectAll()
      .where(
        'work_session_id',
        'in',
        list.map((w) => w.row.id),
      )
      .execute();
    const me = await this.requester(p.workspaceId, p.userId, p.role);
    return list.map((w) => {
      const r = w.row;
      const status = statusAt({ status: r.status, expiresAt: w.expiresAt }, now);
      const mine = approvals.filter((a) => a.work_session_id === r.id && a.round === r.round);
      const waiting = status === 'pending' || ((status === 'approved' || status === 'active') && r.ext_requested_at);
      return {
        id: r.id,
        user: users.get(r.user_id) ?? r.user_id,
        status,
        selectors: w.selectors,
        servers: w.serverIds.map((id) => servers.get(id) ?? `(deleted ${id})`),
        features: w.features,
        reason: r.reason,
        durationSeconds: Number(r.duration_s),
        rule: r.rule,
        approvalsRequired: Number(r.approvals_required),
        approvals: mine.map((a) => ({ by: users.get(a.user_id) ?? a.user_id, at: a.at })),
        approvers: w.approvers,
        createdAt: r.created_at,
        approvedAt: r.approved_at,
        activatedAt: r.activated_at,
        expiresAt: r.expires_at,
        endedAt: r.ended_at ?? (status === 'expired' ? r.expires_at : null),
        endReason: r.end_reason ?? (status === 'expired' ? 'expired' : null),
        extension: r.ext_requested_at
          ? { durationSeconds: Number(r.ext_duration_s), reason: r.ext_reason, requestedAt: r.ext_requested_at }
          : null,
        canApprove:
          Boolean(waiting) && canApprove(me, r.user_id, w.approvers).ok && !mine.some((a) => a.user_id === p.userId),
        commands: r.commands ? (JSON.parse(r.commands) as CommandAcl) : null,
      };
    });
  }

  /** Move a session along the state machine with a conditional update; false when someone else moved it. */
  private async move(ws: Parsed, event: WorkSessionEvent, set: WorkSessionUpdate = {}): Promise<void> {
    const now = this.clock.now();
    // Expiry moves the stored status; every other event sees a session whose time is up as expired.
    const current =
      event === 'expire' ? ws.row.status : statusAt({ status: ws.row.status, expiresAt: ws.expiresAt }, now);
    const t = transition(current, event);
    if (!t.ok) throw new CorralError('WORK_SESSION_STATE', `${ws.row.id}: ${t.error}.`);
    const r = await this.db
      .updateTable('work_sessions')
      .set({ ...set, status: t.status })
      .where('id', '=', ws.row.id)
      .where('status', '=', ws.row.status)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      throw new CorralError('WORK_SESSION_STATE', `${ws.row.id} changed meanwhile; look again and retry.`);
    }
  }

  async approve(
    p: Principal,
    id: string,
    adj: { durationSeconds?: number; servers?: string[]; features?: Feature[]; comment?: string },
    sourceIp: string,
  ): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    await this.mayDecide(p, ws, 'approve', sourceIp);
    const now = this.clock.now();
    const status = statusAt({ status: ws.row.status, expiresAt: ws.expiresAt }, now);
    const extension = status !== 'pending' && ws.row.ext_requested_at !== null;
    if (status !== 'pending' && !extension) {
      throw new CorralError('WORK_SESSION_STATE', `${id} is ${status}: there is nothing to approve.`);
    }
    const already = await this.db
      .selectFrom('work_session_approvals')
      .select('user_id')
      .where('work_session_id', '=', id)
      .where('round', '=', ws.row.round)
      .execute();
    if (already.some((a) => a.user_id === p.userId)) {
      throw new CorralError('WORK_SESSION_STATE', `You already approved ${id}; it needs another approver.`);
    }
    // Adjustments only ever narrow.
    const set: WorkSessionUpdate = {};
    const changes: Record<string, unknown> = {};
    if (!extension && adj.durationSeconds !== undefined) {
      if (adj.durationSeconds > Number(ws.row.duration_s)) {
        throw new CorralError('VALIDATION_FAILED', 'An approver may shorten the duration, not lengthen it.');
      }
      set.duration_s = adj.durationSeconds;
      changes.durationSeconds = adj.durationSeconds;
    }
    if (extension && adj.durationSeconds !== undefined) {
      if (adj.durationSeconds > Number(ws.row.ext_duration_s)) {
        throw new CorralError('VALIDATION_FAILED', 'An approver may shorten the extension, not lengthen it.');
      }
      set.ext_duration_s = adj.durationSeconds;
      changes.extensionSeconds = adj.durationSeconds;
    }
    if (adj.features) {
      const keep = ws.features.filter((f) => adj.features!.includes(f));
      if (keep.length === 0) throw new CorralError('VALIDATION_FAILED', 'Narrowing left no feature.');
      set.features = JSON.stringify(keep);
      changes.features = keep;
    }
    if (adj.servers) {
      const allowed = await this.resolveFor(ws, adj.servers);
      const keep = ws.serverIds.filter((sid) => allowed.has(sid));
      if (keep.length === 0) throw new CorralError('VALIDATION_FAILED', 'Narrowing left no server.');
      set.server_ids = JSON.stringify(keep);
      set.selectors = JSON.stringify(adj.servers);
      changes.servers = adj.servers;
    }
    await this.db
      .insertInto('work_session_approvals')
      .values({ work_session_id: id, round: ws.row.round, user_id: p.userId, at: iso(now) })
      .execute();
    const count = already.length + 1;
    const actor = { id: p.userId, name: p.email };
    await this.event(p.workspaceId, id, 'approval', actor, sourceIp, {
      round: ws.row.round,
      count,
      required: Number(ws.row.approvals_required),
      comment: adj.comment ?? null,
      ...(Object.keys(changes).length ? { narrowed: changes } : {}),
    });
    if (count < Number(ws.row.approvals_required)) {
      if (Object.keys(set).length) {
        await this.db.updateTable('work_sessions').set(set).where('id', '=', id).execute();
      }
      return this.get(p, id);
    }
    if (extension) {
      const ext = Number(set.ext_duration_s ?? ws.row.ext_duration_s);
      const expiresAt = iso(Math.max(ws.expiresAt ?? now, now) + ext * 1000);
      const { ext_duration_s: _ignored, ...rest } = set;
      await this.db
        .updateTable('work_sessions')
        .set({ ...rest, expires_at: expiresAt, ext_duration_s: null, ext_reason: null, ext_requested_at: null })
        .where('id', '=', id)
        .execute();
      await this.event(p.workspaceId, id, 'extended', actor, sourceIp, { bySeconds: ext, expiresAt });
    } else {
      const dur = Number(set.duration_s ?? ws.row.duration_s);
      const expiresAt = iso(now + dur * 1000);
      await this.move(ws, 'approve', { ...set, approved_at: iso(now), expires_at: expiresAt });
      await this.event(p.workspaceId, id, 'approved', actor, sourceIp, { expiresAt, durationSeconds: dur });
    }
    // Narrowing can take away servers or features that live channels use.
    if (set.server_ids || set.features) this.iam.accessChanged(p.workspaceId, [ws.row.user_id]);
    return this.get(p, id);
  }

  /** Server ids the given selectors match (for narrowing); throws on bad selectors. */
  private async resolveFor(ws: Parsed, selectors: readonly string[]): Promise<Set<string>> {
    const parsed = selectors.map((s) => {
      try {
        return parseSelector(s);
      } catch (err) {
        throw new CorralError('VALIDATION_FAILED', (err as Error).message);
      }
    });
    const rows = await this.db
      .selectFrom('servers')
      .selectAll()
      .where('workspace_id', '=', ws.row.workspace_id)
      .execute();
    const facts = await this.facts(ws.row.workspace_id, rows);
    return new Set(rows.filter((_s, i) => parsed.some((sel) => selectorMatches(sel, facts[i]!))).map((s) => s.id));
  }

  /** Refuse (audited) unless the principal may approve or deny this session. */
  private async mayDecide(p: Principal, ws: Parsed, what: string, sourceIp: string): Promise<void> {
    const me = await this.requester(p.workspaceId, p.userId, p.role);
    const c = canApprove(me, ws.row.user_id, ws.approvers);
    if (c.ok) return;
    // Revoking is also open to staff and superusers, whoever the approvers are.
    if (what === 'revoke' && p.role !== 'member' && ws.row.user_id !== p.userId) return;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'work_session', id: ws.row.id },
      sourceIp,
      details: { attempted: `worksession.${what}`, reason: c.reason },
    });
    throw new CorralError('FORBIDDEN', `You may not ${what} ${ws.row.id}: ${c.reason}.`);
  }

  async deny(p: Principal, id: string, reason: string | undefined, sourceIp: string): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    await this.mayDecide(p, ws, 'deny', sourceIp);
    const now = this.clock.now();
    const status = statusAt({ status: ws.row.status, expiresAt: ws.expiresAt }, now);
    const actor = { id: p.userId, name: p.email };
    if (status !== 'pending' && ws.row.ext_requested_at) {
      await this.db
        .updateTable('work_sessions')
        .set({ ext_duration_s: null, ext_reason: null, ext_requested_at: null })
        .where('id', '=', id)
        .execute();
      await this.event(p.workspaceId, id, 'extension.denied', actor, sourceIp, { reason: reason ?? null });
      return this.get(p, id);
    }
    await this.move(ws, 'deny', { ended_at: iso(now), end_reason: reason ? `denied: ${reason}` : 'denied' });
    await this.event(p.workspaceId, id, 'denied', actor, sourceIp, { reason: reason ?? null });
    return this.get(p, id);
  }

  async cancel(p: Principal, id: string, sourceIp: string): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    if (ws.row.user_id !== p.userId) throw new CorralError('FORBIDDEN', 'Only the requester cancels a request.');
    const now = this.clock.now();
    const status = statusAt({ status: ws.row.status, expiresAt: ws.expiresAt }, now);
    const actor = { id: p.userId, name: p.email };
    if (status !== 'pending' && ws.row.ext_requested_at) {
      await this.db
        .updateTable('work_sessions')
        .set({ ext_duration_s: null, ext_reason: null, ext_requested_at: null })
        .where('id', '=', id)
        .execute();
      await this.event(p.workspaceId, id, 'extension.cancelled', actor, sourceIp, {});
      return this.get(p, id);
    }
    await this.move(ws, 'cancel', { ended_at: iso(now), end_reason: 'cancelled' });
    await this.event(p.workspaceId, id, 'cancelled', actor, sourceIp, {});
    return this.get(p, id);
  }

  async revoke(p: Principal, id: string, reason: string | undefined, sourceIp: string): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    if (ws.row.user_id === p.userId) {
      throw new CorralError('FORBIDDEN', `To end your own work session early, run: corral work-session complete ${id}`);
    }
    await this.mayDecide(p, ws, 'revoke', sourceIp);
    const why = `work session ${id} was revoked by ${p.email}${reason ? `: ${reason}` : ''}`;
    await this.end(ws, 'revoke', why, { id: p.userId, name: p.email }, sourceIp, { reason: reason ?? null });
    return this.get(p, id);
  }

  async complete(p: Principal, id: string, sourceIp: string): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    if (ws.row.user_id !== p.userId) {
      throw new CorralError('FORBIDDEN', `Only the requester completes a work session; approvers revoke it.`);
    }
    await this.end(ws, 'complete', `work session ${id} was completed`, { id: p.userId, name: p.email }, sourceIp, {});
    return this.get(p, id);
  }

  /** End an approved or active session and every live channel under it, on every node. */
  private async end(
    ws: Parsed,
    event: 'revoke' | 'complete' | 'expire',
    why: string,
    actor: { id: string; name: string } | null,
    sourceIp: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    const now = iso(this.clock.now());
    const status = transition(ws.row.status, event);
    await this.move(ws, event, {
      ended_at: event === 'expire' ? (ws.row.expires_at ?? now) : now,
      end_reason: why,
      ext_duration_s: null,
      ext_reason: null,
      ext_requested_at: null,
    });
    const kind = status.ok ? status.status : event;
    this.channels.terminate({
      workspaceId: ws.row.workspace_id,
      workSessionId: ws.row.id,
      code: END_CODES[kind] ?? 'WORK_SESSION_ENDED',
      reason: why,
    });
    await this.event(ws.row.workspace_id, ws.row.id, kind, actor, sourceIp, details);
  }

  async extend(
    p: Principal,
    id: string,
    body: { durationSeconds: number; reason?: string | undefined },
    sourceIp: string,
  ): Promise<WorkSessionView> {
    const ws = await this.loadVisible(p, id);
    if (ws.row.user_id !== p.userId) throw new CorralError('FORBIDDEN', 'Only the requester extends a work session.');
    const now = this.clock.now();
    const status = statusAt({ status: ws.row.status, expiresAt: ws.expiresAt }, now);
    if (status !== 'approved' && status !== 'active') {
      throw new CorralError(
        'WORK_SESSION_STATE',
        `${id} is ${status}; only a running work session is extended (request a new one).`,
      );
    }
    if (ws.row.ext_requested_at) {
      throw new CorralError('WORK_SESSION_STATE', `${id} already has an extension waiting for approval.`);
    }
    const servers = await this.db
      .selectFrom('servers')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('id', 'in', ws.serverIds.length ? ws.serverIds : ['-'])
      .execute();
    const who = await this.requester(p.workspaceId, p.userId, p.role);
    const d = evaluatePolicy(
      await this.policy(p.workspaceId),
      who,
      await this.facts(p.workspaceId, servers),
      ws.features,
    );
    if (d.action === 'deny') {
      throw new CorralError('FORBIDDEN', `The approval policy does not allow extending ${id}: ${d.reason}.`);
    }
    const remaining = Math.max(0, ((ws.expiresAt ?? now) - now) / 1000);
    if (remaining + body.durationSeconds > d.maxDurationSeconds) {
      const most = Math.max(0, Math.floor(d.maxDurationSeconds - remaining));
      throw new CorralError(
        'VALIDATION_FAILED',
        `Rule ${d.rule} allows ${humanDuration(d.maxDurationSeconds)} at a time; extend by at most ${humanDuration(most)}.`,
      );
    }
    const actor = { id: p.userId, name: p.email };
    if (d.action === 'auto_approve') {
      const expiresAt = iso((ws.expiresAt ?? now) + body.durationSeconds * 1000);
      await this.db.updateTable('work_sessions').set({ expires_at: expiresAt }).where('id', '=', id).execute();
      await this.event(p.workspaceId, id, 'extended', actor, sourceIp, {
        bySeconds: body.durationSeconds,
        expiresAt,
        by: 'policy',
        rule: d.rule,
        reason: body.reason ?? null,
      });
      return this.get(p, id);
    }
    await this.db
      .updateTable('work_sessions')
      .set({
        round: Number(ws.row.round) + 1,
        ext_duration_s: body.durationSeconds,
        ext_reason: body.reason ?? null,
        ext_requested_at: iso(now),
        approvals_required: d.approvals,
        approvers: JSON.stringify(d.approvers),
        rule: d.rule,
      })
      .where('id', '=', id)
      .execute();
    await this.event(p.workspaceId, id, 'extension.requested', actor, sourceIp, {
      bySeconds: body.durationSeconds,
      reason: body.reason ?? null,
      rule: d.rule,
    });
    const names = servers.map((s) => s.name);
    await this.notifyApprovers(
      p,
      id,
      names,
      ws.features,
      body.durationSeconds,
      body.reason ?? ws.row.reason,
      d.approvers,
      who,
      'extension',
    );
    return this.get(p, id);
  }

  async timeline(p: Principal, id: string): Promise<{ workSession: WorkSessionView; entries: TimelineEntry[] }> {
    const workSession = await this.get(p, id);
    const events = await this.db
      .selectFrom('work_session_events')
      .selectAll()
      .where('work_session_id', '=', id)
      .where('workspace_id', '=', p.workspaceId)
      .orderBy('n', 'asc')
      .execute();
    const channels = await this.db
      .selectFrom('websh_sessions')
      .leftJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .select([
        'websh_sessions.id',
        'websh_sessions.started_at',
        'websh_sessions.ended_at',
        'websh_sessions.os_user',
        'websh_sessions.command',
        'websh_sessions.end_reason',
        'websh_sessions.exit_code',
        'servers.name as server_name',
      ])
      .where('websh_sessions.workspace_id', '=', p.workspaceId)
      .where('websh_sessions.work_session_id', '=', id)
      .execute();
    const entries: TimelineEntry[] = [
      ...events.map((e) => ({
        at: e.at,
        kind: e.kind,
        actor: e.actor_name,
        details: JSON.parse(e.details) as Record<string, unknown>,
      })),
      ...channels.map((c) => ({
        at: c.started_at,
        kind: 'channel',
        actor: workSession.user,
        details: {
          feature: 'terminal',
          sessionId: c.id,
          server: c.server_name,
          osUser: c.os_user,
          command: c.command,
          endedAt: c.ended_at,
          endReason: c.end_reason,
          exitCode: c.exit_code,
        },
      })),
    ];
    // An expiry nobody has swept yet still belongs on the timeline.
    if (workSession.status === 'expired' && !events.some((e) => e.kind === 'expired') && workSession.expiresAt) {
      entries.push({ at: workSession.expiresAt, kind: 'expired', actor: null, details: {} });
    }
    entries.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return { workSession, entries };
  }

  // --- enforcement --------------------------------------------------------------------------------------

  /**
   * The work session under which `p` may use `feature` on `server` now: the one named, or the covering one
   * that lasts longest. When none covers and the policy auto-approves this use (staff by default), one is
   * opened on the spot, so that people the policy trusts never have to file a request by hand. Otherwise
   * WORK_SESSION_REQUIRED names the exact request command. Activates an approved session on first use.
   */
  async cover(
    p: Principal,
    server: ServersTable,
    feature: Feature,
    wantedId: string | undefined,
    sourceIp: string,
  ): Promise<{ id: string; expiresAt: string | null; commands: CommandAcl | null }> {
    const now = this.clock.now();
    const rows = (
      await this.db
        .selectFrom('work_sessions')
        .selectAll()
        .where('workspace_id', '=', p.workspaceId)
        .where('user_id', '=', p.userId)
        .where(
          'status',
          'in',
          wantedId
            ? ['pending', 'approved', 'active', 'denied', 'cancelled', 'expired', 'revoked', 'completed']
            : ['pending', 'approved', 'active'],
        )
        .$if(wantedId !== undefined, (q) => q.where('id', '=', wantedId!))
        .execute()
    ).map(parse);
    const candidates = rows.map((w) => ({ ...w, status: w.row.status }));
    let chosen = pickCovering(candidates, server.id, feature, now);
    if (!chosen && wantedId) {
      const w = candidates[0];
      const why = !w
        ? `no work session ${wantedId} of yours`
        : `${wantedId} is ${statusAt(w, now)} and covers ${w.features.join(', ')} on ${w.serverIds.length} server(s)`;
      throw await this.required(p, server, feature, sourceIp, `${why}; it does not allow ${feature} on ${server.name}`);
    }
    if (!chosen) {
      const who = await this.requester(p.workspaceId, p.userId, p.role);
      const [facts] = await this.facts(p.workspaceId, [server]);
      const d = evaluatePolicy(await this.policy(p.workspaceId), who, [facts!], [feature]);
      if (d.action === 'auto_approve') {
        const view = await this.create(
          p,
          who,
          [server.name],
          [server],
          [feature],
          d.maxDurationSeconds,
          `opened ${feature} on ${server.name} (auto-approved by rule ${d.rule})`,
          d,
          sourceIp,
        );
        const fresh = await this.load(p.workspaceId, view.id);
        chosen = { ...fresh, status: fresh.row.status };
      } else {
        const pending = candidates.find(
          (w) => w.row.status === 'pending' && w.serverIds.includes(server.id) && w.features.includes(feature),
        );
        throw await this.required(
          p,
          server,
          feature,
          sourceIp,
          pending
            ? `your request ${pending.row.id} is waiting for approval (corral work-session show ${pending.row.id})`
            : d.action === 'deny'
              ? `the approval policy denies it: ${d.reason}`
              : undefined,
        );
      }
    }
    if (chosen.row.status === 'approved') {
      try {
        await this.move(chosen, 'activate', { activated_at: iso(now) });
        await this.event(p.workspaceId, chosen.row.id, 'activated', { id: p.userId, name: p.email }, sourceIp, {
          server: server.name,
          feature,
        });
      } catch (err) {
        // Another channel activated it at the same moment: fine.
        if (!(err instanceof CorralError && err.code === 'WORK_SESSION_STATE')) throw err;
      }
    }
    return {
      id: chosen.row.id,
      expiresAt: chosen.row.expires_at,
      commands: chosen.row.commands ? (JSON.parse(chosen.row.commands) as CommandAcl) : null,
    };
  }

  /**
   * cover() for many servers at once (multi-server commands): one query for the user's sessions, and at
   * most ONE work session opened on the spot for all the servers the policy auto-approves. Answers, per
   * server id, the covering session or the refusal.
   */
  async coverMany(
    p: Principal,
    servers: readonly ServersTable[],
    feature: Feature,
    wantedId: string | undefined,
    sourceIp: string,
  ): Promise<Map<string, { id: string; commands: CommandAcl | null } | CorralError>> {
    const out = new Map<string, { id: string; commands: CommandAcl | null } | CorralError>();
    if (wantedId) {
      for (const s of servers) {
        try {
          const c = await this.cover(p, s, feature, wantedId, sourceIp);
          out.set(s.id, { id: c.id, commands: c.commands });
        } catch (err) {
          if (!(err instanceof CorralError)) throw err;
          out.set(s.id, err);
        }
      }
      return out;
    }
    const now = this.clock.now();
    const rows = (
      await this.db
        .selectFrom('work_sessions')
        .selectAll()
        .where('workspace_id', '=', p.workspaceId)
        .where('user_id', '=', p.userId)
        .where('status', 'in', ['approved', 'active'])
        .execute()
    ).map(parse);
    const candidates = rows.map((w) => ({ ...w, status: w.row.status }));
    const activate = new Map<string, (typeof candidates)[number]>();
    const uncovered: ServersTable[] = [];
    for (const s of servers) {
      const c = pickCovering(candidates, s.id, feature, now);
      if (!c) {
        uncovered.push(s);
        continue;
      }
      out.set(s.id, { id: c.row.id, commands: c.row.commands ? (JSON.parse(c.row.commands) as CommandAcl) : null });
      if (c.row.status === 'approved') activate.set(c.row.id, c);
    }
    if (uncovered.length > 0) {
      const who = await this.requester(p.workspaceId, p.userId, p.role);
      const policy = await this.policy(p.workspaceId);
      const facts = await this.facts(p.workspaceId, uncovered);
      const auto: ServersTable[] = [];
      const decisions: Array<ReturnType<typeof evaluatePolicy>> = [];
      for (const [i, s] of uncovered.entries()) {
        const d = evaluatePolicy(policy, who, [facts[i]!], [feature]);
        if (d.action === 'auto_approve') {
          auto.push(s);
          decisions.push(d);
        } else {
          out.set(
            s.id,
            await this.required(
              p,
              s,
              feature,
              sourceIp,
              d.action === 'deny' ? `the approval policy denies it: ${d.reason}` : undefined,
            ),
          );
        }
      }
      if (auto.length > 0) {
        const d = decisions.reduce((a, b) => (b.maxDurationSeconds < a.maxDurationSeconds ? b : a));
        const view = await this.create(
          p,
          who,
          auto.length === 1 ? [auto[0]!.name] : auto.map((s) => s.name).slice(0, 32),
          auto,
          [feature],
          d.maxDurationSeconds,
          `${feature} on ${auto.length} server(s) (auto-approved by rule ${d.rule})`,
          d,
          sourceIp,
        );
        const fresh = await this.load(p.workspaceId, view.id);
        for (const s of auto) out.set(s.id, { id: view.id, commands: null });
        activate.set(view.id, { ...fresh, status: fresh.row.status });
      }
    }
    for (const c of activate.values()) {
      try {
        await this.move(c, 'activate', { activated_at: iso(now) });
        await this.event(p.workspaceId, c.row.id, 'activated', { id: p.userId, name: p.email }, sourceIp, { feature });
      } catch (err) {
        if (!(err instanceof CorralError && err.code === 'WORK_SESSION_STATE')) throw err;
      }
    }
    return out;
  }

  private async required(
    p: Principal,
    server: ServersTable,
    feature: Feature,
    sourceIp: string,
    why?: string,
  ): Promise<CorralError> {
    const command =
      `corral work-session request --servers ${q(server.name)} --features ${feature} --duration 1h ` +
      `--reason ${q('describe the work')} --wait`;
    const reason = why ?? `no approved work session covers ${feature} on ${server.name}`;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp,
      details: { attempted: feature, reason: `work session required: ${reason}` },
    });
    return new CorralError(
      'WORK_SESSION_REQUIRED',
      `${feature} on ${server.name} needs an approved work session: ${reason}. Request one:\n  ${command}`,
      { details: { command, server: server.name, feature } },
    );
  }

  /** Is this work session still good for `feature` on `serverId` (for re-checks of live channels)? */
  async stillCovers(workSessionId: string, serverId: string, feature: Feature): Promise<boolean> {
    const row = await this.db
      .selectFrom('work_sessions')
      .selectAll()
      .where('id', '=', workSessionId)
      .executeTakeFirst();
    if (!row) return false;
    const w = parse(row);
    const now = this.clock.now();
    const s = statusAt({ status: row.status, expiresAt: w.expiresAt }, now);
    return (s === 'approved' || s === 'active') && w.serverIds.includes(serverId) && w.features.includes(feature);
  }

  /** Expire every session whose time is up, ending its channels. Returns how many this node expired. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      const now = iso(this.clock.now());
      const due = await this.db
        .selectFrom('work_sessions')
        .selectAll()
        .where('status', 'in', ['approved', 'active'])
        .where('expires_at', '<=', now)
        .limit(1000)
        .execute();
      let n = 0;
      for (const row of due) {
        try {
          await this.end(parse(row), 'expire', `work session ${row.id} expired`, null, null, {
            expiresAt: row.expires_at,
          });
          n++;
        } catch (err) {
          // Another node expired it first.
          if (!(err instanceof CorralError && err.code === 'WORK_SESSION_STATE')) throw err;
        }
      }
      return n;
    } finally {
      this.sweeping = false;
    }
  }

  private async event(
    workspaceId: string,
    id: string,
    kind: string,
    actor: { id: string; name: string } | null,
    sourceIp: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    const at = iso(this.clock.now());
    await this.db
      .insertInto('work_session_events')
      .values({
        work_session_id: id,
        n: sql<number>`(select coalesce(max(n), 0) + 1 from work_session_events where work_session_id = ${id})`,
        workspace_id: workspaceId,
        at,
        kind,
        actor_id: actor?.id ?? null,
        actor_name: actor?.name ?? null,
        details: JSON.stringify(details),
      })
      .execute();
    await this.audit.append({
      workspaceId,
      action: `worksession.${kind}`,
      actor: actor ? { type: 'user', id: actor.id, name: actor.name } : { type: 'system', name: 'policy' },
      target: { type: 'work_session', id },
      ...(sourceIp ? { sourceIp } : {}),
      details,
    });
  }
}
