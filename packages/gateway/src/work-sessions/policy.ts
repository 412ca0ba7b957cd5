import type { ApprovalPolicy, Feature, PolicyRule, Role, WorkSessionStatus } from '@corral/protocol';
import { parseSelector, selectorMatches, type ServerFacts } from '../iam/selectors.js';

/**
 * Approval policy evaluation and the work-session state machine: pure functions, tested as tables.
 *
 * A request is evaluated for every (server, feature) pair it covers. Each pair takes the first rule, in
 * order, whose servers, features and requester all match. The request as a whole gets the strictest of
 * those answers (deny > require more approvals > require approval > auto-approve) and the shortest of
 * their maximum durations. A pair no rule matches is denied: deny by default.
 */

export interface Requester {
  userId: string;
  role: Role;
  /** Names of the user groups the requester belongs to. */
  groups: readonly string[];
}

export interface PolicyDecision {
  action: PolicyRule['action'];
  /** The deciding rule (the strictest one), or `(no rule)`. */
  rule: string;
  approvals: number;
  approvers: { roles: Role[]; groups: string[] };
  maxDurationSeconds: number;
  reason: string;
}

export const DEFAULT_MAX_DURATION_SECONDS = 8 * 3600;
const DEFAULT_APPROVERS: { roles: Role[]; groups: string[] } = { roles: ['staff', 'superuser'], groups: [] };

function whoMatches(who: { roles?: Role[] | undefined; groups?: string[] | undefined } | undefined, r: Requester) {
  if (!who || (!who.roles && !who.groups)) return true;
  return Boolean(who.roles?.includes(r.role) || who.groups?.some((g) => r.groups.includes(g)));
}

function ruleMatches(rule: PolicyRule, r: Requester, server: ServerFacts, feature: Feature): boolean {
  if (rule.features && !rule.features.includes(feature)) return false;
  if (!whoMatches(rule.requester, r)) return false;
  if (rule.servers && !rule.servers.some((s) => selectorMatches(parseSelector(s), server))) return false;
  return true;
}

function strictness(d: { action: PolicyRule['action']; approvals: number }): number {
  if (d.action === 'deny') return 1000;
  if (d.action === 'require_approval') return 10 + d.approvals;
  return 0;
}

function fromRule(rule: PolicyRule): PolicyDecision {
  return {
    action: rule.action,
    rule: rule.name,
    approvals: rule.action === 'require_approval' ? (rule.approvals ?? 1) : 0,
    approvers:
      rule.action === 'require_approval'
        ? { roles: rule.approvers?.roles ?? [], groups: rule.approvers?.groups ?? [] }
        : { roles: [], groups: [] },
    maxDurationSeconds: rule.maxDurationSeconds ?? DEFAULT_MAX_DURATION_SECONDS,
    reason: '',
  };
}

export function evaluatePolicy(
  policy: ApprovalPolicy,
  requester: Requester,
  servers: readonly ServerFacts[],
  features: readonly Feature[],
): PolicyDecision {
  let worst: PolicyDecision | null = null;
  let maxDuration = Infinity;
  for (const server of servers) {
    for (const feature of features) {
      const rule = policy.rules.find((r) => ruleMatches(r, requester, server, feature));
      const d: PolicyDecision = rule
        ? fromRule(rule)
        : {
            action: 'deny',
            rule: '(no rule)',
            approvals: 0,
            approvers: { roles: [], groups: [] },
            maxDurationSeconds: 0,
            reason: `no policy rule covers ${feature} on ${server.name}`,
          };
      if (!d.reason) {
        d.reason =
          d.action === 'deny'
            ? `rule ${d.rule} denies ${feature} on ${server.name}`
            : d.action === 'auto_approve'
              ? `rule ${d.rule} auto-approves`
              : `rule ${d.rule} needs ${d.approvals} approval${d.approvals === 1 ? '' : 's'}`;
      }
      maxDuration = Math.min(maxDuration, d.maxDurationSeconds);
      if (!worst || strictness(d) > strictness(worst)) worst = d;
    }
  }
  if (!worst) {
    return {
      action: 'deny',
      rule: '(no rule)',
      approvals: 0,
      approvers: { roles: [], groups: [] },
      maxDurationSeconds: 0,
      reason: 'the request covers no server',
    };
  }
  if (worst.action === 'require_approval' && worst.approvers.roles.length + worst.approvers.groups.length === 0) {
    worst.approvers = { ...DEFAULT_APPROVERS };
  }
  return { ...worst, maxDurationSeconds: maxDuration === Infinity ? 0 : maxDuration };
}

/** May this user approve a request that needs `approvers`? Never their own. */
export function canApprove(
  approver: Requester,
  requesterId: string,
  approvers: { roles: readonly Role[]; groups: readonly string[] },
): { ok: boolean; reason: string } {
  if (approver.userId === requesterId) return { ok: false, reason: 'nobody approves their own request' };
  if (approvers.roles.includes(approver.role)) return { ok: true, reason: `role ${approver.role}` };
  const g = approvers.groups.find((name) => approver.groups.includes(name));
  if (g) return { ok: true, reason: `member of ${g}` };
  const need = [...approvers.roles.map((r) => `role ${r}`), ...approvers.groups.map((n) => `group ${n}`)].join(' or ');
  return { ok: false, reason: `approving needs ${need || 'an approver'}` };
}

// --- the state machine ---------------------------------------------------------------------------------

export type WorkSessionEvent = 'approve' | 'deny' | 'cancel' | 'activate' | 'expire' | 'revoke' | 'complete';

const TRANSITIONS: Partial<Record<WorkSessionStatus, Partial<Record<WorkSessionEvent, WorkSessionStatus>>>> = {
  pending: { approve: 'approved', deny: 'denied', cancel: 'cancelled' },
  approved: { activate: 'active', expire: 'expired', revoke: 'revoked', complete: 'completed' },
  active: { expire: 'expired', revoke: 'revoked', complete: 'completed' },
};

/** pending -> approved | denied | cancelled; approved -> active -> expired | revoked | completed. */
export function transition(
  from: WorkSessionStatus,
  event: WorkSessionEvent,
): { ok: true; status: WorkSessionStatus } | { ok: false; error: string } {
  const to = TRANSITIONS[from]?.[event];
  if (to) return { ok: true, status: to };
  return { ok: false, error: `a work session that is ${from} cannot be ${PAST[event]}` };
}

const PAST: Record<WorkSessionEvent, string> = {
  approve: 'approved',
  deny: 'denied',
  cancel: 'cancelled',
  activate: 'activated',
  expire: 'expired',
  revoke: 'revoked',
  complete: 'completed',
};

export interface Coverable {
  status: WorkSessionStatus;
  expiresAt: number | null;
  serverIds: readonly string[];
  features: readonly Feature[];
}

/** The status as of `now`: an approved or active session whose time is up is expired at that instant. */
export function statusAt(ws: Pick<Coverable, 'status' | 'expiresAt'>, now: number): WorkSessionStatus {
  if ((ws.status === 'approved' || ws.status === 'active') && ws.expiresAt !== null && now >= ws.expiresAt) {
    return 'expired';
  }
  return ws.status;
}

/** Does the work session allow `feature` on `serverId` at `now`? */
export function covers(ws: Coverable, serverId: string, feature: Feature, now: number): boolean {
  const s = statusAt(ws, now);
  return (s === 'approved' || s === 'active') && ws.serverIds.includes(serverId) && ws.features.includes(feature);
}

/** Among several work sessions, the one to use: covering, and lasting longest. */
export function pickCovering<T extends Coverable>(
  sessions: readonly T[],
  serverId: string,
  feature: Feature,
  now: number,
): T | null {
  let best: T | null = null;
  for (const ws of sessions) {
    if (!covers(ws, serverId, feature, now)) continue;
    if (!best || (ws.expiresAt ?? 0) > (best.expiresAt ?? 0)) best = ws;
  }
  return best;
}
