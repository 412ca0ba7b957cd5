import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import { hashPassword } from '../auth/passwords.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import { WORKSPACE_NAME_RE } from './workspace-router.js';
import type { Selectable } from 'kysely';
import { WORKSPACE_SETTING_KEYS, type WorkspaceDetail, type WorkspaceUpdateRequest } from '@corral/protocol';
import type { z } from 'zod';
import type { WorkspacesTable } from '../db/schema.js';
import type { Principal } from '../auth/principal.js';

type WorkspacesTableRow = Selectable<WorkspacesTable>;

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
  /** Set once a superuser deleted it: nothing is served for it any more. */
  deletedAt: string | null;
}

function toRow(r: WorkspacesTableRow): WorkspaceRow {
  return { id: r.id, name: r.name, region: r.region, createdAt: r.created_at, deletedAt: r.deleted_at };
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
    return r ? toRow(r) : undefined;
  }

  async list(): Promise<WorkspaceRow[]> {
    const rows = await this.db.selectFrom('workspaces').selectAll().orderBy('name').execute();
    return rows.map(toRow);
  }

  async detail(id: string, defaultId: string): Promise<WorkspaceDetail> {
    const r = await this.db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return {
      id: r.id,
      name: r.name,
      region: r.region,
      plan: r.plan === 'enterprise' ? 'enterprise' : 'essentials',
      settings: JSON.parse(r.settings) as WorkspaceDetail['settings'],
      createdAt: r.created_at,
      isDefault: r.id === defaultId,
    };
  }

  /** Change plan and settings (the route checks the roles); audited with before and after. */
  async update(
    p: Principal,
    patch: z.infer<typeof WorkspaceUpdateRequest>,
    defaultId: string,
    sourceIp: string,
  ): Promise<WorkspaceDetail> {
    const before = await this.detail(p.workspaceId, defaultId);
    const settings: Record<string, unknown> = { ...before.settings };
    // null clears a setting (displayName, billingEmail); absent leaves it.
    for (const k of WORKSPACE_SETTING_KEYS) {
      const v = (patch as Record<string, unknown>)[k];
      if (v === null) delete settings[k];
      else if (v !== undefined) settings[k] = v;
    }
    await this.db
      .updateTable('workspaces')
      .set({ settings: JSON.stringify(settings), ...(patch.plan ? { plan: patch.plan } : {}) })
      .where('id', '=', p.workspaceId)
      .execute();
    const after = await this.detail(p.workspaceId, defaultId);
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'workspace.update',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'workspace', id: p.workspaceId, name: p.workspaceName },
      sourceIp,
      details: {
        before: { plan: before.plan, settings: before.settings },
        after: { plan: after.plan, settings: after.settings },
      },
    });
    return after;
  }

  /**
   * Delete a workspace: it stops being served (its host answers WORKSPACE_NOT_FOUND), every sign-in and
   * join token is revoked, its servers are removed (their agents are disconnected). Its audit log stays,
   * immutable, for the operator; the name stays reserved.
   */
  async delete(p: Principal, sourceIp: string): Promise<{ serverIds: string[] }> {
    const now = iso(this.clock.now());
    const servers = await this.db
      .selectFrom('servers')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'workspace.delete',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'workspace', id: p.workspaceId, name: p.workspaceName },
      sourceIp,
      details: { servers: servers.length },
    });
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('workspaces').set({ deleted_at: now }).where('id', '=', p.workspaceId).execute();
      await trx
        .updateTable('auth_tokens')
        .set({ revoked_at: now })
        .where('workspace_id', '=', p.workspaceId)
        .where('revoked_at', 'is', null)
        .execute();
      await trx
        .updateTable('join_tokens')
        .set({ revoked_at: now })
        .where('workspace_id', '=', p.workspaceId)
        .where('revoked_at', 'is', null)
        .execute();
      await trx.deleteFrom('server_group_members').where('workspace_id', '=', p.workspaceId).execute();
      await trx.deleteFrom('servers').where('workspace_id', '=', p.workspaceId).execute();
    });
    return { serverIds: servers.map((s) => s.id) };
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

/** A workspace's settings JSON (what superusers set with `corral workspace update`); {} when unknown. */
export async function workspaceSettings<T extends object>(
  db: Kysely<Database>,
  workspaceId: string,
): Promise<Partial<T>> {
  const w = await db.selectFrom('workspaces').select('settings').where('id', '=', workspaceId).executeTakeFirst();
  return w ? (JSON.parse(w.settings) as Partial<T>) : {};
}
