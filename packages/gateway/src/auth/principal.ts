import type { Role } from '@corral/protocol';

/** Who is calling: a signed-in user with a bearer token. */
export interface Principal {
  kind: 'user';
  userId: string;
  email: string;
  role: Role;
  workspaceId: string;
  workspaceName: string;
  tokenId: string;
  tokenExpiresAt: string;
  /** The second factor the session signed in (or enrolled) with; null or absent: password only. */
  mfaMethod?: string | null;
  /**
   * The workspace enforces MFA and this session has not proved a factor: it may only enrol one (and
   * call whoami, step-up, logout) until then.
   */
  enrollmentOnly?: boolean;
}

const RANK: Record<Role, number> = { member: 0, staff: 1, superuser: 2 };

/** True when `role` is at least `min`. */
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
