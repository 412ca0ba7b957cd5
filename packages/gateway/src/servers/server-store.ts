import { createPublicKey } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ServerDetail, ServerView, SystemInfo } from '@corral/protocol';
import type { Database, ServersTable } from '../db/schema.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';
import type { JoinTokens } from './join-tokens.js';

function parseSystem(s: string | null): SystemInfo | null {
  return s ? (JSON.parse(s) as SystemInfo) : null;
}

function platformOf(sys: SystemInfo | null): string | null {
  if (!sys) return null;
  // osName is often a PRETTY_NAME that already carries the version ("Debian GNU/Linux 12 (bookworm)").
  const name = sys.osVersion && !sys.osName.includes(sys.osVersion) ? `${sys.osName} ${sys.osVersion}` : sys.osName;
  return `${name} (${sys.arch})`;
}

/** The account the server's agent runs as: the default OS user for its sessions. */
export function agentUserOf(server: Pick<ServersTable, 'system'>): string {
  return (server.system ? (JSON.parse(server.system) as { agentUser?: string }).agentUser : undefined) ?? 'root';
}

export function serverView(r: ServersTable): ServerView {
  const sys = parseSystem(r.system);
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    platform: platformOf(sys),
    address: sys?.addresses[0] ?? null,
    lastSeenAt: r.last_seen_at,
    tags: JSON.parse(r.tags) as Record<string, string>,
    registeredAt: r.created_at,
  };
}

export function serverDetail(r: ServersTable): ServerDetail {
  return { ...serverView(r), system: parseSystem(r.system), connectedAt: r.connected_at };
}

/** Servers: registration by join token, lookups scoped to a workspace, online/offline bookkeeping. */
export class ServerStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly joinTokens: JoinTokens,
    private readonly clock: Clock,
  ) {}

  async register(input: {
    token: string;
    name: string;
    tags: Record<string, string>;
    publicKey: string;
    system: SystemInfo | null;
  }): Promise<ServersTable> {
    let key;
    try {
      key = createPublicKey(input.publicKey);
    } catch {
      throw new CorralError('VALIDATION_FAILED', 'publicKey is not a PEM public key.');
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new CorralError('VALIDATION_FAILED', 'publicKey must be an Ed25519 key.');
    }
    const publicKeyPem = key.export({ type: 'spki', format: 'pem' }) as string;
    return this.db.transaction().execute(async (trx) => {
      const jt = await this.joinTokens.consume(trx, input.token);
      const taken = await trx
        .selectFrom('servers')
        .select('id')
        .where('workspace_id', '=', jt.workspace_id)
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (taken) throw new CorralError('SERVER_NAME_TAKEN', `A server named "${input.name}" is already registered.`);
      const row: ServersTable = {
        id: newId('srv'),
        workspace_id: jt.workspace_id,
        name: input.name,
        agent_id: newId('agt'),
        public_key: publicKeyPem,
        tags: JSON.stringify(input.tags),
        system: input.system ? JSON.stringify(input.system) : null,
        status: 'offline',
        connected_at: null,
        last_seen_at: null,
        connected_node: null,
        capabilities: null,
        created_at: iso(this.clock.now()),
        join_token_id: jt.id,
      };
      await trx.insertInto('servers').values(row).execute();
      return row;
    });
  }

  /** Rename and/or change tags (null removes a tag). Returns the updated row. */
  async update(
    workspaceId: string,
    server: ServersTable,
    change: { name?: string | undefined; tags?: Record<string, string | null> | undefined },
  ): Promise<ServersTable> {
    const tags = { ...(JSON.parse(server.tags) as Record<string, string>) };
    for (const [k, v] of Object.entries(change.tags ?? {})) {
      if (v === null) delete tags[k];
      else tags[k] = v;
    }
    const name = change.name ?? server.name;
    if (name !== server.name) {
      const taken = await this.db
        .selectFrom('servers')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (taken) throw new CorralError('SERVER_NAME_TAKEN', `A server named "${name}" is already registered.`);
    }
    await this.db
      .updateTable('servers')
      .set({ name, tags: JSON.stringify(tags) })
      .where('id', '=', server.id)
      .where('workspace_id', '=', workspaceId)
      .execute();
    return { ...server, name, tags: JSON.stringify(tags) };
  }

  async delete(workspaceId: string, serverId: string): Promise<void> {
    await this.db.deleteFrom('server_group_members').where('server_id', '=', serverId).execute();
    await this.db.deleteFrom('servers').where('id', '=', serverId).where('workspace_id', '=', workspaceId).execute();
  }

  async list(workspaceId: string): Promise<ServersTable[]> {
    return this.db
      .selectFrom('servers')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('name', 'asc')
      .execute();
  }

  async getByName(workspaceId: string, name: string): Promise<ServersTable> {
    const row = await this.db
      .selectFrom('servers')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw new CorralError('SERVER_NOT_FOUND', `No server named "${name}".`);
    return row;
  }

  /** A server by its name, or else by its id (`srv_...`), in one workspace. */
  async getByNameOrId(workspaceId: string, nameOrId: string): Promise<ServersTable> {
    const rows = await this.db
      .selectFrom('servers')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where((eb) => eb.or([eb('name', '=', nameOrId), eb('id', '=', nameOrId)]))
      .execute();
    // A name that happens to equal another server's id: the name wins, as in every other route.
    const found = rows.find((r) => r.name === nameOrId) ?? rows[0];
    if (!found) throw new CorralError('SERVER_NOT_FOUND', `No server named "${nameOrId}".`);
    return found;
  }

  /** Agent lookups come before we know the workspace: the agent id is globally unique. */
  async getByAgentId(agentId: string): Promise<ServersTable | undefined> {
    return this.db.selectFrom('servers').selectAll().where('agent_id', '=', agentId).executeTakeFirst();
  }

  async markOnline(serverId: string, node: string, system: SystemInfo, capabilities: string[] = []): Promise<void> {
    const now = iso(this.clock.now());
    await this.db
      .updateTable('servers')
      .set({
        status: 'online',
        connected_at: now,
        last_seen_at: now,
        connected_node: node,
        system: JSON.stringify(system),
        capabilities: JSON.stringify(capabilities),
      })
      .where('id', '=', serverId)
      .execute();
  }

  async touch(serverId: string, system?: SystemInfo): Promise<void> {
    const set: Partial<ServersTable> = { last_seen_at: iso(this.clock.now()) };
    if (system) set.system = JSON.stringify(system);
    await this.db.updateTable('servers').set(set).where('id', '=', serverId).execute();
  }

  /** last_seen_at = now for many connected servers, in statements of at most 500 ids. */
  async touchMany(serverIds: string[]): Promise<void> {
    const now = iso(this.clock.now());
    for (let i = 0; i < serverIds.length; i += 500) {
      await this.db
        .updateTable('servers')
        .set({ last_seen_at: now })
        .where('id', 'in', serverIds.slice(i, i + 500))
        .execute();
    }
  }

  /** Mark many servers offline, in statements of at most 500 ids (gateway shutdown). */
  async markManyOffline(serverIds: string[]): Promise<void> {
    const now = iso(this.clock.now());
    for (let i = 0; i < serverIds.length; i += 500) {
      await this.db
        .updateTable('servers')
        .set({ status: 'offline', last_seen_at: now, connected_node: null })
        .where('id', 'in', serverIds.slice(i, i + 500))
        .execute();
    }
  }

  async markOffline(serverId: string): Promise<void> {
    await this.db
      .updateTable('servers')
      .set({ status: 'offline', last_seen_at: iso(this.clock.now()), connected_node: null })
      .where('id', '=', serverId)
      .execute();
  }

  /** At start-up: servers this node held before it stopped are not connected any more. */
  async markNodeOffline(node: string): Promise<void> {
    await this.db
      .updateTable('servers')
      .set({ status: 'offline', connected_node: null })
      .where((eb) => eb.or([eb('connected_node', '=', node), eb('connected_node', 'is', null)]))
      .where('status', '=', 'online')
      .execute();
  }
}

/** Whether the server's agent announced `capability` when it last connected. */
export function serverCan(server: { capabilities?: string | null }, capability: string): boolean {
  if (!server.capabilities) return false;
  try {
    const list: unknown = JSON.parse(server.capabilities);
    return Array.isArray(list) && list.includes(capability);
  } catch {
    return false;
  }
}
