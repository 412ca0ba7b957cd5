import type { TokenLevel, TokenResource } from '@corral/protocol';
import { TOKEN_LEVELS, TOKEN_RESOURCES } from '@corral/protocol';

/**
 * Which scope every authenticated route needs when the caller uses an API or service token.
 *
 * One table, keyed `METHOD URL` exactly as the route is registered, checked centrally in
 * registerRoutes (http/routes.ts) before the handler runs. Deny by default: a route missing here is
 * refused to every token (and a unit test fails when a registered route is missing, so a new route
 * cannot ship without a decision). `null` means the route is never available to a token (signing
 * out, stepping up: things only a person at a keyboard does); `'any'` means every valid token may call
 * it (whoami).
 *
 * The scope is a ceiling, never a grant: the handler still checks the owner's role, grants and work
 * sessions, so the effective right is the intersection of the two.
 */
export type RouteScope = { resource: TokenResource; level: TokenLevel } | 'any' | null;

const s = (resource: TokenResource, level: TokenLevel): RouteScope => ({ resource, level });

export const ROUTE_SCOPES: Readonly<Record<string, RouteScope>> = {
  // auth
  'POST /api/v1/auth/logout': null,
  'POST /api/v1/auth/step-up': null,
  'GET /api/v1/auth/whoami': 'any',
  // second factors, sign-in sessions, the password: a person's own, never a token's
  'POST /api/v1/auth/step-up/begin': null,
  'GET /api/v1/auth/mfa': null,
  'POST /api/v1/auth/mfa/factors': null,
  'POST /api/v1/auth/mfa/factors/:id/confirm': null,
  'DELETE /api/v1/auth/mfa/factors/:id': null,
  'POST /api/v1/auth/mfa/recovery-codes': null,
  'GET /api/v1/auth/sessions': null,
  'DELETE /api/v1/auth/sessions/:id': null,
  'POST /api/v1/auth/password': null,
  // servers
  'GET /api/v1/servers': s('servers', 'read'),
  'GET /api/v1/servers/:name': s('servers', 'read'),
  'GET /api/v1/servers/:name/metrics': s('servers', 'read'),
  'GET /api/v1/server-groups': s('servers', 'read'),
  'PATCH /api/v1/servers/:name': s('servers', 'write'),
  'POST /api/v1/servers/upgrade': s('servers', 'write'),
  'POST /api/v1/servers/:name/upgrade': s('servers', 'write'),
  'POST /api/v1/server-groups': s('servers', 'write'),
  'DELETE /api/v1/server-groups/:group': s('servers', 'write'),
  'DELETE /api/v1/servers/:name': s('servers', 'owner'),
  'GET /api/v1/join-tokens': s('servers', 'owner'),
  'POST /api/v1/join-tokens': s('servers', 'owner'),
  'DELETE /api/v1/join-tokens/:id': s('servers', 'owner'),
  // terminals
  'GET /api/v1/websh/sessions': s('websh', 'read'),
  'POST /api/v1/servers/:name/websh': s('websh', 'write'),
  'POST /api/v1/websh/sessions/:id/attach': s('websh', 'write'),
  'POST /api/v1/websh/sessions/:id/join': s('websh', 'write'),
  'GET /api/v1/websh/sessions/:id/shares': s('websh', 'read'),
  'POST /api/v1/websh/sessions/:id/shares': s('websh', 'write'),
  'DELETE /api/v1/websh/sessions/:id/shares/:share': s('websh', 'write'),
  'POST /api/v1/websh/sessions/:id/watch': s('websh', 'owner'),
  'POST /api/v1/websh/sessions/:id/terminate': s('websh', 'owner'),
  // files
  'GET /api/v1/servers/:name/files/list': s('files', 'read'),
  'GET /api/v1/servers/:name/files/download': s('files', 'read'),
  'GET /api/v1/servers/:name/files/text': s('files', 'read'),
  'POST /api/v1/servers/:name/files': s('files', 'write'),
  'POST /api/v1/servers/:name/files/upload': s('files', 'write'),
  'POST /api/v1/servers/:name/files/mkdir': s('files', 'write'),
  'POST /api/v1/servers/:name/files/rename': s('files', 'write'),
  'POST /api/v1/servers/:name/files/delete': s('files', 'write'),
  'POST /api/v1/servers/:name/files/chmod': s('files', 'write'),
  'PUT /api/v1/servers/:name/files/text': s('files', 'write'),
  // exec
  'GET /api/v1/exec': s('exec', 'read'),
  'GET /api/v1/exec/:id': s('exec', 'read'),
  'POST /api/v1/exec': s('exec', 'write'),
  // tunnels
  'POST /api/v1/servers/:name/tunnels': s('tunnels', 'write'),
  // work sessions
  'GET /api/v1/work-sessions': s('work_sessions', 'read'),
  'GET /api/v1/work-sessions/:id': s('work_sessions', 'read'),
  'GET /api/v1/work-sessions/:id/timeline': s('work_sessions', 'read'),
  'GET /api/v1/approvals': s('work_sessions', 'read'),
  'GET /api/v1/policies/work-sessions': s('work_sessions', 'read'),
  'POST /api/v1/work-sessions': s('work_sessions', 'write'),
  'POST /api/v1/work-sessions/:id/extend': s('work_sessions', 'write'),
  'POST /api/v1/work-sessions/:id/complete': s('work_sessions', 'write'),
  'POST /api/v1/work-sessions/:id/cancel': s('work_sessions', 'write'),
  'POST /api/v1/work-sessions/:id/approve': s('work_sessions', 'owner'),
  'POST /api/v1/work-sessions/:id/deny': s('work_sessions', 'owner'),
  'POST /api/v1/work-sessions/:id/revoke': s('work_sessions', 'owner'),
  'PUT /api/v1/policies/work-sessions': s('work_sessions', 'owner'),
  'DELETE /api/v1/policies/work-sessions': s('work_sessions', 'owner'),
  // recordings
  'GET /api/v1/recordings': s('recordings', 'read'),
  'GET /api/v1/recordings/:id': s('recordings', 'read'),
  // audit
  'GET /api/v1/audit': s('audit', 'read'),
  'GET /api/v1/audit/verify': s('audit', 'read'),
  // users
  'GET /api/v1/users': s('users', 'read'),
  'POST /api/v1/users/invitations': s('users', 'write'),
  'POST /api/v1/users/:user/deactivate': s('users', 'write'),
  'POST /api/v1/users/:user/role': s('users', 'owner'),
  // iam: groups and grants
  'GET /api/v1/groups': s('iam', 'read'),
  'GET /api/v1/grants': s('iam', 'read'),
  'GET /api/v1/access/check': s('iam', 'read'),
  'POST /api/v1/groups': s('iam', 'write'),
  'DELETE /api/v1/groups/:group': s('iam', 'write'),
  'POST /api/v1/groups/:group/members': s('iam', 'write'),
  'DELETE /api/v1/groups/:group/members/:user': s('iam', 'write'),
  'POST /api/v1/grants': s('iam', 'write'),
  'DELETE /api/v1/grants/:id': s('iam', 'write'),
  // the workspace
  'GET /api/v1/workspace': s('workspace', 'read'),
  'PATCH /api/v1/workspace': s('workspace', 'write'),
  'DELETE /api/v1/workspace': s('workspace', 'owner'),
  // single sign-on configuration (superusers): reading is workspace:read, any change workspace:owner
  'GET /api/v1/sso/providers': s('workspace', 'read'),
  'GET /api/v1/sso/policy': s('workspace', 'read'),
  'POST /api/v1/sso/providers': s('workspace', 'owner'),
  'PATCH /api/v1/sso/providers/:name': s('workspace', 'owner'),
  'DELETE /api/v1/sso/providers/:name': s('workspace', 'owner'),
  'PUT /api/v1/sso/policy': s('workspace', 'owner'),
  // API tokens (the caller's own)
  'GET /api/v1/tokens': s('tokens', 'read'),
  'GET /api/v1/tokens/:id/activity': s('tokens', 'read'),
  'POST /api/v1/tokens': s('tokens', 'write'),
  'DELETE /api/v1/tokens/:id': s('tokens', 'write'),
  // applications and their service tokens
  'GET /api/v1/applications': s('applications', 'read'),
  'GET /api/v1/applications/:app/tokens': s('applications', 'read'),
  'POST /api/v1/applications': s('applications', 'write'),
  'DELETE /api/v1/applications/:app': s('applications', 'write'),
  'POST /api/v1/applications/:app/tokens': s('applications', 'write'),
  'DELETE /api/v1/applications/:app/tokens/:id': s('applications', 'write'),
};

/**
 * Routes that put the caller at a terminal someone may type into (re-attaching, joining a shared
 * session). A token with a command ACL is refused them: what is typed there cannot be checked. Opening
 * a terminal (`POST /servers/:name/websh`) is checked in the websh service, which sees the command.
 */
export const INTERACTIVE_ROUTES: ReadonlySet<string> = new Set([
  'POST /api/v1/websh/sessions/:id/attach',
  'POST /api/v1/websh/sessions/:id/join',
]);

const RANK: Record<TokenLevel, number> = { read: 1, write: 2, owner: 3 };

/** True when `have` is at least `need`. */
export function levelAtLeast(have: TokenLevel | undefined, need: TokenLevel): boolean {
  return have !== undefined && RANK[have] >= RANK[need];
}

/** The lower of two levels (undefined: none). */
export function minLevel(a: TokenLevel | undefined, b: TokenLevel | undefined): TokenLevel | undefined {
  if (!a || !b) return undefined;
  return RANK[a] <= RANK[b] ? a : b;
}

/**
 * Parse scope texts (`servers:read`, `*:read`) into the highest level per resource. Throws on an
 * unknown resource or level (the API validates the shape first, so this is a second line).
 */
export function parseScopes(texts: readonly string[]): Partial<Record<TokenResource, TokenLevel>> {
  const out: Partial<Record<TokenResource, TokenLevel>> = {};
  for (const t of texts) {
    const [res = '', lvl = ''] = t.split(':');
    if (!(TOKEN_LEVELS as readonly string[]).includes(lvl)) throw new Error(`unknown scope level in "${t}"`);
    const level = lvl as TokenLevel;
    const resources: readonly TokenResource[] =
      res === '*'
        ? TOKEN_RESOURCES
        : (TOKEN_RESOURCES as readonly string[]).includes(res)
          ? [res as TokenResource]
          : [];
    if (resources.length === 0) throw new Error(`unknown scope resource in "${t}"`);
    for (const r of resources) if (!levelAtLeast(out[r], level)) out[r] = level;
  }
  return out;
}

/** Canonical texts for a scope map, sorted by resource order. */
export function formatScopes(scopes: Partial<Record<TokenResource, TokenLevel>>): string[] {
  return TOKEN_RESOURCES.filter((r) => scopes[r]).map((r) => `${r}:${scopes[r]!}`);
}

/** The per-resource intersection of two scope maps. */
export function intersectScopes(
  a: Partial<Record<TokenResource, TokenLevel>>,
  b: Partial<Record<TokenResource, TokenLevel>>,
): Partial<Record<TokenResource, TokenLevel>> {
  const out: Partial<Record<TokenResource, TokenLevel>> = {};
  for (const r of TOKEN_RESOURCES) {
    const l = minLevel(a[r], b[r]);
    if (l) out[r] = l;
  }
  return out;
}

/** The scopes in `want` that `have` does not cover (for "a token cannot create more than itself"). */
export function scopesBeyond(
  want: Partial<Record<TokenResource, TokenLevel>>,
  have: Partial<Record<TokenResource, TokenLevel>>,
): string[] {
  return TOKEN_RESOURCES.filter((r) => want[r] && !levelAtLeast(have[r], want[r]!)).map((r) => `${r}:${want[r]!}`);
}

/**
 * May a token with `scopes` call `METHOD URL`? Returns null when allowed, else the missing scope (or a
 * reason) for the 403 TOKEN_SCOPE answer and the audit event.
 */
export function checkRouteScope(
  method: string,
  url: string,
  scopes: Partial<Record<TokenResource, TokenLevel>>,
): { missing: string; reason: string } | null {
  const key = `${method} ${url}`;
  if (!Object.prototype.hasOwnProperty.call(ROUTE_SCOPES, key)) {
    return { missing: 'unmapped', reason: `${key} is not available to API tokens` };
  }
  const need = ROUTE_SCOPES[key];
  if (need === 'any') return null;
  if (need === null || need === undefined) {
    return { missing: 'session', reason: `${key} needs a signed-in session, not an API token` };
  }
  if (levelAtLeast(scopes[need.resource], need.level)) return null;
  const has = scopes[need.resource];
  return {
    missing: `${need.resource}:${need.level}`,
    reason: `this token lacks the ${need.resource}:${need.level} scope${has ? ` (it has ${need.resource}:${has})` : ''}`,
  };
}
