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
}

const RANK: Record<Role, number> = { member: 0, staff: 1, superuser: 2 };

/** True when `role` is at least `min`. */
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}
