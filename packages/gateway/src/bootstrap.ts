import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import type { AuditLog } from './audit/audit-log.js';
import { hashPassword } from './auth/passwords.js';
import { newId } from './ids.js';
import { type Clock, iso } from './clock.js';

export const DEFAULT_WORKSPACE = 'default';
export const DEFAULT_ADMIN_EMAIL = 'admin@localhost';

/** A readable random password: 24 characters of base64url (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

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
  const password = admin.password ?? generatePassword();
  const passwordHash = await hashPassword(password);
  const workspaceId = newId('ws');
  const userId = newId('usr');
  const email = admin.email.trim().toLowerCase();
  const now = iso(clock.now());
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('workspaces').values({ id: workspaceId, name: DEFAULT_WORKSPACE, created_at: now }).execute();
    await trx
      .insertInto('users')
      .values({
        id: userId,
        workspace_id: workspaceId,
        email,
        password_hash: passwordHash,
        role: 'superuser',
        created_at: now,
        deactivated_at: null,
      })
      .execute();
  });
  await audit.append({
    workspaceId,
    action: 'workspace.create',
    actor: { type: 'system', name: 'bootstrap' },
    target: { type: 'workspace', id: workspaceId, name: DEFAULT_WORKSPACE },
  });
  await audit.append({
    workspaceId,
    action: 'user.create',
    actor: { type: 'system', name: 'bootstrap' },
    target: { type: 'user', id: userId, name: email },
    details: { role: 'superuser' },
  });
  return { workspaceId, email, password };
}
