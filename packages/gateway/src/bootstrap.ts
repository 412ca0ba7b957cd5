import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import type { AuditLog } from './audit/audit-log.js';
import type { Clock } from './clock.js';
import { WorkspaceService } from './workspaces/workspace-service.js';

export const DEFAULT_WORKSPACE = 'default';
export const DEFAULT_ADMIN_EMAIL = 'admin@localhost';
export { generatePassword } from './workspaces/workspace-service.js';

export async function findWorkspace(
  db: Kysely<Database>,
  name: string,
): Promise<{ id: string; name: string } | undefined> {
  return db.selectFrom('workspaces').select(['id', 'name']).where('name', '=', name).executeTakeFirst();
}

/**
 * First start: create the default workspace and its superuser, unless the workspace exists.
 * Returns the created admin (with the clear password, to be shown once) or null when nothing was done.
 */
export async function bootstrapDefaultWorkspace(
  db: Kysely<Database>,
  audit: AuditLog,
  clock: Clock,
  admin: { email: string; password?: string },
): Promise<{ workspaceId: string; email: string; password: string } | null> {
  if (await findWorkspace(db, DEFAULT_WORKSPACE)) return null;
  return new WorkspaceService(db, audit, clock).create(DEFAULT_WORKSPACE, admin, null, 'bootstrap');
}
