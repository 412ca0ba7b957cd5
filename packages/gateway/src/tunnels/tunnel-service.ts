import type { Kysely } from 'kysely';
import { workspaceSettings } from '../workspaces/workspace-service.js';
import type { Database, ServersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChannelHub } from '../channels/channel-hub.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';

/** Loopback names every server has. */
const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '::1', 'ip6-localhost']);

/**
 * May a tunnel on `server` reach `host`? By default only the server's own addresses (loopback, its
 * reported interface addresses and host name): port forwarding is for services on the server, not a
 * way into the rest of its network. A workspace setting (`tunnelTargets: any`, superusers) lifts that.
 */
export function tunnelTargetAllowed(server: ServersTable, host: string, policy: 'server' | 'any'): boolean {
  if (policy === 'any') return true;
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (LOCAL_NAMES.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h)) return true;
  const sys = server.system ? (JSON.parse(server.system) as { addresses?: string[]; hostname?: string }) : {};
  if (sys.hostname && sys.hostname.toLowerCase() === h) return true;
  return (sys.addresses ?? []).some((a) => a.toLowerCase() === h);
}

/** Port forwarding: each TCP connection is a channel of its own, audited with its byte counts. */
export class TunnelService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly channels: ChannelHub,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async open(
    p: Principal,
    server: ServersTable,
    target: { host: string; port: number },
    workSessionId: string,
    sourceIp: string,
  ): Promise<{ channelId: string; token: string; path: string }> {
    if (server.status !== 'online') {
      throw new CorralError('SERVER_OFFLINE', `Server "${server.name}" is offline: its agent is not connected.`);
    }
    const ws = await workspaceSettings<{ tunnelTargets: 'server' | 'any' }>(this.db, p.workspaceId);
    const policy = ws.tunnelTargets ?? 'server';
    const where = `${target.host}:${target.port}`;
    if (!tunnelTargetAllowed(server, target.host, policy)) {
      const reason = `${target.host} is not one of ${server.name}'s own addresses (the workspace allows tunnels to the server itself only)`;
      await this.audit.append({
        workspaceId: p.workspaceId,
        action: 'access.denied',
        outcome: 'denied',
        actor: { type: 'user', id: p.userId, name: p.email },
        target: { type: 'server', id: server.id, name: server.name },
        sourceIp,
        details: { attempted: 'tunnel.open', target: where, reason },
      });
      throw new CorralError('FORBIDDEN', reason);
    }
    const sessionId = newId('ses');
    const startedAt = this.clock.now();
    await this.db
      .insertInto('websh_sessions')
      .values({
        id: sessionId,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        server_id: server.id,
        os_user: '-',
        command: `(tunnel to ${where})`,
        pty: 0,
        started_at: iso(startedAt),
        ended_at: null,
        bytes_in: 0,
        bytes_out: 0,
        exit_code: null,
        end_reason: null,
        work_session_id: workSessionId,
        kind: 'tunnel',
      })
      .execute();
    const { channelId, token } = this.channels.create({
      sessionId,
      workspaceId: p.workspaceId,
      userId: p.userId,
      serverId: server.id,
      kind: 'tunnel',
      osUser: '-',
      command: [target.host, String(target.port)],
      pty: false,
      cols: 80,
      rows: 24,
      term: undefined,
      workSessionId,
      onEnd: (r) => {
        void (async () => {
          await this.db
            .updateTable('websh_sessions')
            .set({
              ended_at: iso(this.clock.now()),
              bytes_in: r.bytesIn,
              bytes_out: r.bytesOut,
              end_reason: r.endReason,
            })
            .where('id', '=', sessionId)
            .execute();
          await this.audit.append({
            workspaceId: p.workspaceId,
            action: 'tunnel.connection',
            outcome: r.endReason === 'exit' || r.endReason === 'user_closed' ? 'success' : 'failure',
            actor: { type: 'user', id: p.userId, name: p.email },
            target: { type: 'server', id: server.id, name: server.name },
            sourceIp,
            details: {
              sessionId,
              workSessionId,
              target: where,
              bytesIn: r.bytesIn,
              bytesOut: r.bytesOut,
              durationMs: this.clock.now() - startedAt,
              reason: r.endReason,
            },
          });
        })().catch((err: unknown) => this.log.error('tunnel bookkeeping failed', { err: String(err) }));
      },
    });
    return { channelId, token, path: `/api/v1/channels/${channelId}?token=${token}` };
  }
}
