import type { CommandAcl, Role, TokenLevel, TokenResource } from '@corral/protocol';

/**
 * What an API or service token adds to its principal: the token's own ceiling. Effective rights are the
 * intersection of these with the owner's current role and grants (checked by the usual role and scope
 * checks, since the principal carries the owner's current role).
 */
export interface ApiTokenGrant {
  /** The api_tokens row id (`pat_...` / `svc_...`). */
  id: string;
  kind: 'personal' | 'service';
  name: string;
  /** Effective level per resource (token scopes, intersected with the application's for service tokens). */
  scopes: Partial<Record<TokenResource, TokenLevel>>;
  /** Server selectors the token may reach, or null: every server its owner may reach. */
  servers: readonly string[] | null;
  /** Checked before every command run with the token, or null. */
  commands: CommandAcl | null;
  expiresAt: string | null;
}

/**
 * Who is calling. `kind` says what the identity is (a human user or an application); `apiToken` is set
 * when the request was authenticated with an API token (`crl_pat_`) or a service token (`crl_svc_`) and
 * absent for a signed-in session (`crl_` session tokens, browser cookies).
 */
export interface Principal {
  kind: 'user' | 'application';
  userId: string;
  /** A human's email, or `app:NAME` for an application. */
  email: string;
  role: Role;
  workspaceId: string;
  workspaceName: string;
  /** The session token's id, or the API token's id. */
  tokenId: string;
  tokenExpiresAt: string | null;
  apiToken?: ApiTokenGrant;
  /** The second factor the session signed in (or enrolled) with; null or absent: password only. */
  mfaMethod?: string | null;
  /**
   * The workspace enforces MFA and this session has not proved a factor: it may only enrol one (and
   * call whoami, step-up, logout) until then.
   */
  enrollmentOnly?: boolean;
}

/** How the principal authenticated: a sign-in session, a personal token or a service token. */
export function principalVia(p: Principal): 'session' | 'personal_token' | 'service_token' {
  if (!p.apiToken) return 'session';
  return p.apiToken.kind === 'service' ? 'service_token' : 'personal_token';
}

const RANK: Record<Role, number> = { member: 0, staff: 1, superuser: 2 };

/** True when `role` is at least `min`. */
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
