import type { Kysely } from 'kysely';
import type { GrantView, GroupView, Role } from '@corral/protocol';
import type { Database, GrantsTable, ServersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal as SessionPrincipal } from '../auth/principal.js';
import { Subjects, type Bus } from '../bus/bus.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import { authorize, type Decision, type Principal, type ScopeGrant, type ServerAction } from './authorize.js';
import { formatSelector, parseSelector, type ServerFacts } from './selectors.js';

/** Bus subject: access of these users changed; every node re-checks their live channels. */
export const ACCESS_CHANGED = Subjects.accessChanged;
export interface AccessChanged {
  workspaceId: string;
  userIds: string[];
}

/**
 * User groups, object-scope grants and the decisions built on them. Every change that can take access
 * away announces the users concerned on the bus, and every node ends their live channels that the new
 * rules no longer allow (within one bus hop).
 */
export class IamService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly bus: Bus,
    private readonly clock: Clock,
  ) {}

  // --- decisions ----------------------------------------------------------------------------------

  /** @param tokenServers the caller's API token server ACL (selector texts), if any. */
  async principal(
    workspaceId: string,
    userId: string,
    role: Role,
    tokenServers?: readonly string[] | null,
  ): Promise<Principal> {
    const rows = await this.db
      .selectFrom('user_group_members')
      .select('group_id')
      .where('workspace_id', '=', workspaceId)
      .where('user_id', '=', userId)
      .execute();
    return {
      userId,
      role,
      groupIds: rows.map((r) => r.group_id),
      ...(tokenServers ? { tokenServers: tokenServers.map((t) => parseSelector(t)) } : {}),
    };
  }

  async grants(workspaceId: string): Promise<ScopeGrant[]> {
    const rows = await this.db.selectFrom('grants').selectAll().where('workspace_id', '=', workspaceId).execute();
    return rows.map((g) => ({
      id: g.id,
      subject: { kind: g.subject_kind, id: g.subject_id },
      selector: parseSelector(g.selector),
      level: g.level,
    }));
  }

  static facts(s: ServersTable, groups: readonly string[] = []): ServerFacts & { id: string; kind: 'server' } {
    return { kind: 'server', id: s.id, name: s.name, groups, tags: JSON.parse(s.tags) as Record<string, string> };
  }

  /** Server group names per server id, for a workspace. */
  async serverGroupsByServer(workspaceId: string): Promise<Map<string, string[]>> {
    const rows = await this.db
      .selectFrom('server_group_members')
      .innerJoin('server_groups', 'server_groups.id', 'server_group_members.server_group_id')
      .select(['server_group_members.server_id', 'server_groups.name'])
      .where('server_group_members.workspace_id', '=', workspaceId)
      .execute();
    const m = new Map<string, string[]>();
    for (const r of rows) m.set(r.server_id, [...(m.get(r.server_id) ?? []), r.name]);
    return m;
  }

  async decide(p: SessionPrincipal, action: ServerAction, server: ServersTable): Promise<Decision> {
    const [principal, grants, groups] = await Promise.all([
      this.principal(p.workspaceId, p.userId, p.role, p.apiToken?.servers),
      this.grants(p.workspaceId),
      this.serverGroupsByServer(p.workspaceId),
    ]);
    return authorize(principal, action, IamService.facts(server, groups.get(server.id) ?? []), { grants });
  }

  /** The servers a principal may see (read scope or more). */
  async visible(p: SessionPrincipal, servers: ServersTable[]): Promise<ServersTable[]> {
    return this.allowed(p, 'server.read', servers);
  }

  /** The servers on which the principal may take `action`. */
  async allowed(p: SessionPrincipal, action: ServerAction, servers: ServersTable[]): Promise<ServersTable[]> {
    // Staff hold owner everywhere, unless an API token's server ACL narrows it.
    if (p.role !== 'member' && !p.apiToken?.servers) return servers;
    const [principal, grants, groups] = await Promise.all([
      this.principal(p.workspaceId, p.userId, p.role, p.apiToken?.servers),
      this.grants(p.workspaceId),
      this.serverGroupsByServer(p.workspaceId),
    ]);
    return servers.filter(
      (s) => authorize(principal, action, IamService.facts(s, groups.get(s.id) ?? []), { grants }).allow,
    );
  }

  /**
   * Enforce `action` on `server`: a server the principal may not even read answers SERVER_NOT_FOUND
   * (its existence does not leak); one it may read but not act on answers FORBIDDEN. Both are audited.
   */
  async require(p: SessionPrincipal, action: ServerAction, server: ServersTable, sourceIp: string): Promise<void> {
    const d = await this.decide(p, action, server);
    if (d.allow) return;
    const canRead = action === 'server.read' ? false : (await this.decide(p, 'server.read', server)).allow;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp,
      details: { attempted: action, reason: d.reason },
    });
    if (!canRead) throw new CorralError('SERVER_NOT_FOUND', `No server named "${server.name}".`);
    throw new CorralError('FORBIDDEN', d.reason);
  }

  // --- server groups ------------------------------------------------------------------------------

  async listServerGroups(
    workspaceId: string,
  ): Promise<Array<{ id: string; name: string; servers: string[]; createdAt: string }>> {
    const groups = await this.db
      .selectFrom('server_groups')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('name')
      .execute();
    const members = await this.db
      .selectFrom('server_group_members')
      .innerJoin('servers', 'servers.id', 'server_group_members.server_id')
      .select(['server_group_members.server_group_id', 'servers.name'])
      .where('server_group_members.workspace_id', '=', workspaceId)
      .execute();
    return groups.map((g) => ({
      id: g.id,
      name: g.name,
      createdAt: g.created_at,
      servers: members
        .filter((m) => m.server_group_id === g.id)
        .map((m) => m.name)
        .sort(),
    }));
  }

  async createServerGroup(p: SessionPrincipal, name: string, sourceIp: string): Promise<void> {
    const exists = await this.db
      .selectFrom('server_groups')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (exists) throw new CorralError('GROUP_EXISTS', `A server group "${name}" already exists.`);
    const id = newId('sg');
    await this.db
      .insertInto('server_groups')
      .values({ id, workspace_id: p.workspaceId, name, created_at: iso(this.clock.now()) })
      .execute();
    await this.event(p, 'server.group.create', { type: 'server_group', id, name }, sourceIp, { after: { name } });
  }

  async deleteServerGroup(p: SessionPrincipal, name: string, sourceIp: string): Promise<void> {
    const g = await this.db
      .selectFrom('server_groups')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!g) throw new CorralError('GROUP_NOT_FOUND', `No server group "${name}".`);
    await this.db.deleteFrom('server_group_members').where('server_group_id', '=', g.id).execute();
    await this.db.deleteFrom('server_groups').where('id', '=', g.id).execute();
    await this.event(p, 'server.group.delete', { type: 'server_group', id: g.id, name }, sourceIp, {
      before: { name },
    });
    await this.everyoneChanged(p.workspaceId);
  }

  /** Put a server in, or take it out of, server groups (created on first use). */
  async setServerGroups(p: SessionPrincipal, server: ServersTable, add: string[], remove: string[]): Promise<void> {
    for (const name of add) {
      let g = await this.db
        .selectFrom('server_groups')
        .selectAll()
        .where('workspace_id', '=', p.workspaceId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (!g) {
        g = { id: newId('sg'), workspace_id: p.workspaceId, name, created_at: iso(this.clock.now()) };
        await this.db.insertInto('server_groups').values(g).execute();
      }
      const has = await this.db
        .selectFrom('server_group_members')
        .select('server_id')
        .where('server_group_id', '=', g.id)
        .where('server_id', '=', server.id)
        .executeTakeFirst();
      if (!has)
        await this.db
          .insertInto('server_group_members')
          .values({ server_group_id: g.id, server_id: server.id, workspace_id: p.workspaceId })
          .execute();
    }
    for (const name of remove) {
      const g = await this.db
        .selectFrom('server_groups')
        .select('id')
        .where('workspace_id', '=', p.workspaceId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (g)
        await this.db
          .deleteFrom('server_group_members')
          .where('server_group_id', '=', g.id)
          .where('server_id', '=', server.id)
          .execute();
    }
    if (remove.length > 0) await this.everyoneChanged(p.workspaceId);
  }

  /** A change to servers themselves can affect anyone: re-check every user with live channels. */
  async everyoneChanged(workspaceId: string): Promise<void> {
    const users = await this.db.selectFrom('users').select('id').where('workspace_id', '=', workspaceId).execute();
    this.accessChanged(
      workspaceId,
      users.map((u) => u.id),
    );
  }

  // --- groups -------------------------------------------------------------------------------------

  async listGroups(workspaceId: string): Promise<GroupView[]> {
    const groups = await this.db
      .selectFrom('user_groups')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('name')
      .execute();
    const members = await this.db
      .selectFrom('user_group_members')
      .innerJoin('users', 'users.id', 'user_group_members.user_id')
      .select(['user_group_members.group_id', 'users.email'])
      .where('user_group_members.workspace_id', '=', workspaceId)
      .execute();
    return groups.map((g) => ({
      id: g.id,
      name: g.name,
      createdAt: g.created_at,
      members: members
        .filter((m) => m.group_id === g.id)
        .map((m) => m.email)
        .sort(),
    }));
  }

  private async group(workspaceId: string, name: string) {
    const g = await this.db
      .selectFrom('user_groups')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where((eb) => eb.or([eb('name', '=', name), eb('id', '=', name)]))
      .executeTakeFirst();
    if (!g) throw new CorralError('GROUP_NOT_FOUND', `No user group "${name}".`);
    return g;
  }

  private async user(workspaceId: string, idOrEmail: string) {
    const u = await this.db
      .selectFrom('users')
      .select(['id', 'email'])
      .where('workspace_id', '=', workspaceId)
      .where((eb) => eb.or([eb('id', '=', idOrEmail), eb('email', '=', idOrEmail.trim().toLowerCase())]))
      .executeTakeFirst();
    if (!u) throw new CorralError('USER_NOT_FOUND', `No user "${idOrEmail}" in this workspace.`);
    return u;
  }

  async createGroup(p: SessionPrincipal, name: string, sourceIp: string): Promise<GroupView> {
    const exists = await this.db
      .selectFrom('user_groups')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (exists) throw new CorralError('GROUP_EXISTS', `A user group "${name}" already exists.`);
    const row = { id: newId('grp'), workspace_id: p.workspaceId, name, created_at: iso(this.clock.now()) };
    await this.db.insertInto('user_groups').values(row).execute();
    await this.event(p, 'iam.group.create', { type: 'group', id: row.id, name }, sourceIp, { after: { name } });
    return { id: row.id, name, createdAt: row.created_at, members: [] };
  }

  async deleteGroup(p: SessionPrincipal, name: string, sourceIp: string): Promise<void> {
    const g = await this.group(p.workspaceId, name);
    const members = await this.db
      .selectFrom('user_group_members')
      .select('user_id')
      .where('group_id', '=', g.id)
      .execute();
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('user_group_members').where('group_id', '=', g.id).execute();
      await trx
        .deleteFrom('grants')
        .where('workspace_id', '=', p.workspaceId)
        .where('subject_kind', '=', 'group')
        .where('subject_id', '=', g.id)
        .execute();
      await trx.deleteFrom('user_groups').where('id', '=', g.id).execute();
    });
    await this.event(p, 'iam.group.delete', { type: 'group', id: g.id, name: g.name }, sourceIp, {
      before: { name: g.name, members: members.length },
    });
    this.accessChanged(
      p.workspaceId,
      members.map((m) => m.user_id),
    );
  }

  async addMember(p: SessionPrincipal, groupName: string, userRef: string, sourceIp: string): Promise<void> {
    const g = await this.group(p.workspaceId, groupName);
    const u = await this.user(p.workspaceId, userRef);
    const already = await this.db
      .selectFrom('user_group_members')
      .select('user_id')
      .where('group_id', '=', g.id)
      .where('user_id', '=', u.id)
      .executeTakeFirst();
    if (!already)
      await this.db
        .insertInto('user_group_members')
        .values({ group_id: g.id, user_id: u.id, workspace_id: p.workspaceId })
        .execute();
    await this.event(p, 'iam.group.add_member', { type: 'group', id: g.id, name: g.name }, sourceIp, {
      user: u.email,
      changed: !already,
    });
  }

  async removeMember(p: SessionPrincipal, groupName: string, userRef: string, sourceIp: string): Promise<void> {
    const g = await this.group(p.workspaceId, groupName);
    const u = await this.user(p.workspaceId, userRef);
    const r = await this.db
      .deleteFrom('user_group_members')
      .where('group_id', '=', g.id)
      .where('user_id', '=', u.id)
      .executeTakeFirst();
    await this.event(p, 'iam.group.remove_member', { type: 'group', id: g.id, name: g.name }, sourceIp, {
      user: u.email,
      changed: Number(r.numDeletedRows) > 0,
    });
    this.accessChanged(p.workspaceId, [u.id]);
  }

  // --- grants -------------------------------------------------------------------------------------

  async listGrants(workspaceId: string): Promise<GrantView[]> {
    const rows = await this.db
      .selectFrom('grants')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('created_at')
      .execute();
    const users = await this.db
      .selectFrom('users')
      .select(['id', 'email'])
      .where('workspace_id', '=', workspaceId)
      .execute();
    const groups = await this.db
      .selectFrom('user_groups')
      .select(['id', 'name'])
      .where('workspace_id', '=', workspaceId)
      .execute();
    return rows.map((g) => this.grantView(g, users, groups));
  }

  private grantView(
    g: GrantsTable,
    users: { id: string; email: string }[],
    groups: { id: string; name: string }[],
  ): GrantView {
    const name =
      g.subject_kind === 'user'
        ? (users.find((u) => u.id === g.subject_id)?.email ?? g.subject_id)
        : (groups.find((x) => x.id === g.subject_id)?.name ?? g.subject_id);
    return {
      id: g.id,
      subject: { kind: g.subject_kind, id: g.subject_id, name },
      servers: g.selector,
      level: g.level,
      createdBy: g.created_by,
      createdAt: g.created_at,
    };
  }

  async createGrant(
    p: SessionPrincipal,
    body: { user?: string | undefined; group?: string | undefined; servers: string; level: 'read' | 'write' | 'owner' },
    sourceIp: string,
  ): Promise<GrantView> {
    if (Boolean(body.user) === Boolean(body.group))
      throw new CorralError('VALIDATION_FAILED', 'Give exactly one of user and group.');
    let selector: string;
    try {
      selector = formatSelector(parseSelector(body.servers));
    } catch (err) {
      throw new CorralError('VALIDATION_FAILED', (err as Error).message);
    }
    const subject = body.user
      ? { kind: 'user' as const, ...(await this.user(p.workspaceId, body.user)) }
      : { kind: 'group' as const, ...(await this.group(p.workspaceId, body.group!)) };
    const row: GrantsTable = {
      id: newId('gr'),
      workspace_id: p.workspaceId,
      subject_kind: subject.kind,
      subject_id: subject.id,
      selector,
      level: body.level,
      created_by: p.email,
      created_at: iso(this.clock.now()),
    };
    await this.db.insertInto('grants').values(row).execute();
    const name = 'email' in subject ? subject.email : subject.name;
    await this.event(p, 'iam.grant.create', { type: 'grant', id: row.id, name: `${subject.kind}:${name}` }, sourceIp, {
      after: { subject: `${subject.kind}:${name}`, servers: selector, level: body.level },
    });
    return this.grantView(
      row,
      'email' in subject ? [{ id: subject.id, email: subject.email }] : [],
      'name' in subject ? [{ id: subject.id, name: subject.name }] : [],
    );
  }

  async revokeGrant(p: SessionPrincipal, id: string, sourceIp: string): Promise<void> {
    const g = await this.db
      .selectFrom('grants')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!g) throw new CorralError('GRANT_NOT_FOUND', `No grant "${id}".`);
    await this.db.deleteFrom('grants').where('id', '=', g.id).execute();
    await this.event(p, 'iam.grant.revoke', { type: 'grant', id: g.id }, sourceIp, {
      before: { subject: `${g.subject_kind}:${g.subject_id}`, servers: g.selector, level: g.level },
    });
    const users =
      g.subject_kind === 'user'
        ? [g.subject_id]
        : (
            await this.db
              .selectFrom('user_group_members')
              .select('user_id')
              .where('group_id', '=', g.subject_id)
              .execute()
          ).map((m) => m.user_id);
    this.accessChanged(p.workspaceId, users);
  }

  /** Tell every node to re-check these users' live channels. */
  accessChanged(workspaceId: string, userIds: string[]): void {
    if (userIds.length > 0) this.bus.publish(ACCESS_CHANGED, { workspaceId, userIds } satisfies AccessChanged);
  }

  private async event(
    p: SessionPrincipal,
    action: string,
    target: { type: string; id?: string; name?: string },
    sourceIp: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.append({
      workspaceId: p.workspaceId,
      action,
      actor: { type: 'user', id: p.userId, name: p.email },
      target,
      sourceIp,
      details,
    });
  }
}
