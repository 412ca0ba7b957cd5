import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../log.js';
import { type Clock, iso } from '../clock.js';

/** How often a node refreshes its heartbeat, ms. */
export const HEARTBEAT_MS = 5_000;
/** A node silent this long is dead: its agents are marked offline (they reconnect elsewhere). */
export const NODE_STALE_MS = 15_000;

/**
 * Liveness of gateway nodes. A node killed with SIGKILL cannot mark its agents offline, so every node
 * reaps the servers of nodes whose heartbeat went stale. With one node this only refreshes a row.
 */
export class NodeRegistry {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  async start(url: string): Promise<void> {
    const now = iso(this.clock.now());
    await this.db.deleteFrom('gateway_nodes').where('node_id', '=', this.nodeId).execute();
    await this.db
      .insertInto('gateway_nodes')
      .values({ node_id: this.nodeId, url, started_at: now, heartbeat_at: now })
      .execute();
    this.timer = setInterval(() => {
      this.tick().catch((err: unknown) => this.log.warn('node heartbeat failed', { err: String(err) }));
    }, HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Refresh our heartbeat, then reap stale nodes. Public for tests. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    await this.db
      .updateTable('gateway_nodes')
      .set({ heartbeat_at: iso(now) })
      .where('node_id', '=', this.nodeId)
      .execute();
    const stale = await this.db
      .selectFrom('gateway_nodes')
      .select('node_id')
      .where('heartbeat_at', '<', iso(now - NODE_STALE_MS))
      .execute();
    for (const { node_id } of stale) await this.reap(node_id);
  }

  private async reap(node: string): Promise<void> {
    const servers = await this.db
      .selectFrom('servers')
      .select(['id', 'name', 'workspace_id', 'agent_id'])
      .where('connected_node', '=', node)
      .where('status', '=', 'online')
      .execute();
    for (const s of servers) {
      // Conditional: the agent may have reconnected to another node meanwhile.
      const r = await this.db
        .updateTable('servers')
        .set({ status: 'offline', connected_node: null })
        .where('id', '=', s.id)
        .where('connected_node', '=', node)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) {
        await this.audit.append({
          workspaceId: s.workspace_id,
          action: 'agent.disconnect',
          actor: { type: 'agent', id: s.agent_id, name: s.name },
          target: { type: 'server', id: s.id, name: s.name },
          details: { reason: `gateway node ${node} lost`, reapedBy: this.nodeId },
        });
      }
    }
    await this.db.deleteFrom('gateway_nodes').where('node_id', '=', node).execute();
    this.log.warn('gateway node lost; its agents marked offline', { node, servers: servers.length });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.db.deleteFrom('gateway_nodes').where('node_id', '=', this.nodeId).execute();
  }
}
