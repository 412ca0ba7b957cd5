import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import { hashPassword } from '../auth/passwords.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import { WORKSPACE_NAME_RE } from './workspace-router.js';

/** A random readable password: 24 characters of base64url (144 bits). */
export async function generatePassword(): Promise<string> {
  const { randomBytes } = await import('node:crypto');
  return randomBytes(18).toString('base64url');
}

export interface WorkspaceRow {
  id: string;
  name: string;
  region: string | null;
  createdAt: string;
}

/** Workspaces: each with its own users, servers, tokens, sessions and audit chain. */
export class WorkspaceService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  async findByName(name: string): Promise<WorkspaceRow | undefined> {
    const r = await this.db.selectFrom('workspaces').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? { id: r.id, name: r.name, region: r.region, createdAt: r.created_at } : undefined;
  }

  async list(): Promise<WorkspaceRow[]> {
    const rows = await this.db.selectFrom('workspaces').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, region: r.region, createdAt: r.created_at }));
  }

  /**
   * Create a workspace and its first superuser. Returns the clear password (generated when not given)
   * to be shown once. Throws when the name is taken or not a DNS label.
   */
  async create(
    name: string,
    admin: { email: string; password?: string | undefined },
    region: string | null = null,
    actor = 'operator',
  ): Promise<{ workspaceId: string; email: string; password: string }> {
    if (!WORKSPACE_NAME_RE.test(name)) {
      throw new Error(`workspace names are DNS labels: a-z, 0-9 and "-", up to 31 (got "${name}")`);
    }
    if (await this.findByName(name)) throw new Error(`workspace "${name}" already exists`);
    const password = admin.password ?? (await generatePassword());
    const passwordHash = await hashPassword(password);
    const workspaceId = newId('ws');
    const userId = newId('usr');
    const email = admin.email.trim().toLowerCase();
    const now = iso(this.clock.now());
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('workspaces').values({ id: workspaceId, name, created_at: now, region }).execute();
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
    await this.audit.append({
      workspaceId,
      action: 'workspace.create',
      actor: { type: 'system', name: actor },
      target: { type: 'workspace', id: workspaceId, name },
      details: { region },
    });
    await this.audit.append({
      workspaceId,
      action: 'user.create',
      actor: { type: 'system', name: actor },
      target: { type: 'user', id: userId, name: email },
      details: { role: 'superuser' },
    });
    return { workspaceId, email, password };
  }
}
