import type { Role } from '@corral/protocol';
import { formatSelector, selectorMatches, type Selector, type ServerFacts } from './selectors.js';

/**
 * The one authorization decision (ARCHITECTURE.md "Gateway inside"), a pure function:
 *
 *   authorize(principal, action, resource, ctx) -> { allow, reason }
 *
 * layered as
 *   1. role: member / staff / superuser (workspace-level actions);
 *   2. object scopes read < write < owner on servers, granted to the user or to one of their groups,
 *      matched by name, glob, server group or tag; staff and superusers hold owner on every server;
 *   3. (work sessions: checked by the caller once that issue lands; `ctx.workSession` is reserved);
 *   4. a token's own scope ceiling, when the caller uses an API or service token.
 * Deny by default: anything not allowed by a rule is refused, with the reason naming what was missing.
 */
export type ScopeLevel = 'read' | 'write' | 'owner';

export type WorkspaceAction =
  | 'audit.read'
  | 'join_token.manage'
  | 'iam.user.list'
  | 'iam.user.invite'
  | 'iam.user.role'
  | 'iam.user.deactivate'
  | 'iam.group.manage'
  | 'iam.grant.manage'
  | 'server_group.manage'
  | 'session.terminate'
  | 'workspace.settings'
  | 'workspace.billing'
  | 'workspace.delete';

export type ServerAction =
  'server.read' | 'server.update' | 'server.delete' | 'websh.open' | 'files.use' | 'exec.run' | 'tunnel.open';

export interface Principal {
  userId: string;
  role: Role;
  /** User groups the user belongs to (ids). */
  groupIds: readonly string[];
  /** Ceiling from an API or service token; absent for a signed-in session. */
  tokenMaxLevel?: ScopeLevel;
  /** Server ACL of an API or service token: only servers matching one of these; absent for no limit. */
  tokenServers?: readonly Selector[];
}

export interface ScopeGrant {
  id: string;
  subject: { kind: 'user'; id: string } | { kind: 'group'; id: string };
  selector: Selector;
  level: ScopeLevel;
}

export type Resource = { kind: 'workspace' } | ({ kind: 'server'; id: string } & ServerFacts);

export interface AuthorizeContext {
  grants: readonly ScopeGrant[];
}

export interface Decision {
  allow: boolean;
  reason: string;
}

const LEVEL_RANK: Record<ScopeLevel, number> = { read: 1, write: 2, owner: 3 };
const ROLE_RANK: Record<Role, number> = { member: 0, staff: 1, superuser: 2 };

/** The role each workspace action needs (the seed's role descriptions; docs/PERMISSIONS.md). */
export const WORKSPACE_ACTION_ROLE: Record<WorkspaceAction, Role> = {
  'audit.read': 'staff',
  'join_token.manage': 'staff',
  'iam.user.list': 'staff',
  'iam.user.invite': 'staff',
  'iam.user.role': 'superuser',
  'iam.user.deactivate': 'staff',
  'iam.group.manage': 'staff',
  'iam.grant.manage': 'staff',
  'server_group.manage': 'staff',
  'session.terminate': 'staff',
  'workspace.settings': 'superuser',
  'workspace.billing': 'superuser',
  'workspace.delete': 'superuser',
};

/** The scope level each server action needs. */
export const SERVER_ACTION_LEVEL: Record<ServerAction, ScopeLevel> = {
  'server.read': 'read',
  'server.update': 'write',
  'websh.open': 'write',
  'files.use': 'write',
  'exec.run': 'write',
  'tunnel.open': 'write',
  'server.delete': 'owner',
};

/** The highest scope the principal holds on a server, with the grant that gives it. */
export function effectiveLevel(
  p: Principal,
  server: ServerFacts,
  grants: readonly ScopeGrant[],
): { level: ScopeLevel | null; via: string } {
  if (ROLE_RANK[p.role] >= ROLE_RANK.staff) return { level: 'owner', via: `role ${p.role}` };
  let best: ScopeGrant | null = null;
  for (const g of grants) {
    const mine = g.subject.kind === 'user' ? g.subject.id === p.userId : p.groupIds.includes(g.subject.id);
    if (!mine || !selectorMatches(g.selector, server)) continue;
    if (!best || LEVEL_RANK[g.level] > LEVEL_RANK[best.level]) best = g;
  }
  return best ? { level: best.level, via: `grant ${best.id}` } : { level: null, via: 'no grant' };
}

export function authorize(
  p: Principal,
  action: WorkspaceAction | ServerAction,
  resource: Resource,
  ctx: AuthorizeContext,
): Decision {
  if (resource.kind === 'workspace') {
    const need = WORKSPACE_ACTION_ROLE[action as WorkspaceAction];
    if (!need) return { allow: false, reason: `${action} is not a workspace action` };
    if (p.tokenMaxLevel && p.tokenMaxLevel !== 'owner') {
      return { allow: false, reason: `${action} needs a token with owner scope (this one allows ${p.tokenMaxLevel})` };
    }
    return ROLE_RANK[p.role] >= ROLE_RANK[need]
      ? { allow: true, reason: `role ${p.role} may ${action}` }
      : { allow: false, reason: `${action} needs the ${need} role (you are ${p.role})` };
  }
  const need = SERVER_ACTION_LEVEL[action as ServerAction];
  if (!need) return { allow: false, reason: `${action} is not a server action` };
  if (p.tokenServers && !p.tokenServers.some((sel) => selectorMatches(sel, resource))) {
    const acl = p.tokenServers.map(formatSelector).join(', ');
    return { allow: false, reason: `the token's server ACL (${acl}) does not include ${resource.name}` };
  }
  const { level, via } = effectiveLevel(p, resource, ctx.grants);
  if (!level) return { allow: false, reason: `no scope on server ${resource.name} (${action} needs ${need})` };
  if (LEVEL_RANK[level] < LEVEL_RANK[need]) {
    return { allow: false, reason: `${action} needs ${need} scope on ${resource.name}; you hold ${level} (${via})` };
  }
  if (p.tokenMaxLevel && LEVEL_RANK[p.tokenMaxLevel] < LEVEL_RANK[need]) {
    return { allow: false, reason: `the token allows ${p.tokenMaxLevel} at most; ${action} needs ${need}` };
  }
  return { allow: true, reason: `${level} scope on ${resource.name} (${via})` };
}
