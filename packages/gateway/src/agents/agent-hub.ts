import { randomBytes, verify as verifySig, createPublicKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import {
  AgentToGateway,
  CloseCode,
  MAX_CONTROL_FRAME_BYTES,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  agentAuthSigningString,
  decodeFrame,
  encodeFrame,
  typesOf,
  type GatewayToAgent,
  type Metrics,
  type SystemInfo,
} from '@corral/protocol';
import type { ServerStore } from '../servers/server-store.js';
import type { ServersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { BusNoResponders, Subjects, type Bus } from '../bus/bus.js';

const AGENT_TYPES = typesOf(AgentToGateway);
/** The agent must finish the handshake within this many ms. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A connection that has sent nothing for this long is dead. */
export const IDLE_TIMEOUT_MS = 30_000;
/** What the agent is told to use as ping interval. */
export const PING_INTERVAL_MS = 10_000;
/** last_seen_at of every connected agent is written in one batch this often (not per ping). */
const TOUCH_EVERY_MS = 60_000;
/** The gateway pings an agent only when the agent's own pings have not been heard for this long. */
const PING_WHEN_SILENT_MS = 12_000;

type ConnState = 'hello' | 'auth' | 'ready' | 'closed';

/** One agent's control connection. */
class AgentConnection {
  state: ConnState = 'hello';
  agentId = '';
  server: ServersTable | undefined;
  system: SystemInfo | undefined;
  /** Optional features the agent announced in hello (e.g. `upgrade`). */
  capabilities: ReadonlySet<string> = new Set();
  nonce = '';
  lastHeard: number;
  lastPingSent = 0;
  /** Unsubscribes this connection from its bus subject. */
  unsubscribe: (() => void) | null = null;

  constructor(
    readonly ws: WebSocket,
    readonly sourceIp: string,
    readonly openedAt: number,
  ) {
    this.lastHeard = openedAt;
  }

  send(msg: GatewayToAgent): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (msg.type === 'channel.open' && msg.shellMarks && !this.capabilities.has('shell-marks')) {
      // An agent without the shell integration would refuse the field; its shells send no marks and the
      // gateway reconstructs their commands from keystrokes.
      const { shellMarks: _unsupported, ...open } = msg;
      this.ws.send(encodeFrame(open));
      return;
    }
    this.ws.send(encodeFrame(msg));
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ws.close(code, reason.slice(0, 120));
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }
}

export interface AgentHubDeps {
  servers: ServerStore;
  audit: AuditLog;
  clock: Clock;
  nodeId: string;
  log: Logger;
  bus: Bus;
  /** Takes the agents' `metrics` samples (MetricsService); must not block or throw. */
  metrics: { ingest(server: ServersTable, sample: Metrics): void };
}

/** Control connections of all agents on this node: handshake, liveness, status, channel requests. */
export class AgentHub {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_CONTROL_FRAME_BYTES,
  });
  private readonly byServerId = new Map<string, AgentConnection>();
  private readonly all = new Set<AgentConnection>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribeKick: () => void;

  constructor(private readonly deps: AgentHubDeps) {
    this.sweeper = setInterval(() => this.sweep(), 5000);
    this.sweeper.unref();
    this.unsubscribeKick = deps.bus.subscribe(Subjects.agentsKick, (d) => {
      const { serverId, reason } = d as { serverId: string; reason: string };
      this.byServerId.get(serverId)?.close(CloseCode.FORBIDDEN, reason);
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req.socket.remoteAddress ?? ''));
  }

  isOnline(serverId: string): boolean {
    return this.byServerId.get(serverId)?.state === 'ready';
  }

  /** Send a frame to an agent connected to this node; false when it is not connected here. */
  sendLocal(serverId: string, msg: GatewayToAgent): boolean {
    const c = this.byServerId.get(serverId);
    if (!c || c.state !== 'ready') return false;
    if (!optionalFrameWelcome(c.capabilities, msg)) return false;
    c.send(msg);
    return true;
  }

  /**
   * Send a frame to an agent on whichever node holds its control connection. False when no node holds
   * it. An agent connected to this node gets the frame directly; any other goes through the bus (a
   * request, answered by the node that holds it). The shortcut matters for multi-server commands:
   * three frames per server (exec.start, exec.ack, exec.cancel) would otherwise each pay a bus round
   * trip, on the in-process bus a JSON copy, a timer and two microtask hops.
   */
  async send(serverId: string, msg: GatewayToAgent): Promise<boolean> {
    if (this.sendLocal(serverId, msg)) return true;
    try {
      const answer = (await this.deps.bus.request(Subjects.agentSend(serverId), msg, 3000)) as { ok?: boolean } | null;
      return answer?.ok === true;
    } catch (err) {
      if (!(err instanceof BusNoResponders)) this.deps.log.warn('agent send failed', { serverId, err: String(err) });
      return false;
    }
  }

  /**
   * Send an `upgrade` frame to the agent on whichever node holds it: `sent`, `offline` (no node holds
   * it), or `unsupported` (the agent did not announce the `upgrade` capability).
   */
  async sendUpgrade(
    serverId: string,
    msg: Extract<GatewayToAgent, { type: 'upgrade' }>,
  ): Promise<'sent' | 'offline' | 'unsupported'> {
    try {
      const answer = (await this.deps.bus.request(Subjects.agentSend(serverId), msg, 3000)) as {
        ok?: boolean;
        unsupported?: boolean;
      } | null;
      if (answer?.ok === true) return 'sent';
      return answer?.unsupported ? 'unsupported' : 'offline';
    } catch (err) {
      if (!(err instanceof BusNoResponders)) this.deps.log.warn('agent send failed', { serverId, err: String(err) });
      return 'offline';
    }
  }

  get connectedCount(): number {
    return this.byServerId.size;
  }

  /** Close every agent connection with 1001 (going away) and wait for status writes. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribeKick();
    // Take every connection out of the registry first, so their close events do no per-agent work;
    // then mark them offline in batches and audit them together (group commit): 10,000 agents stop in
    // seconds, not one UPDATE and one transaction each.
    const held = [...this.byServerId.values()];
    this.byServerId.clear();
    for (const c of held) {
      c.unsubscribe?.();
      c.unsubscribe = null;
    }
    for (const c of [...this.all]) c.close(CloseCode.GOING_AWAY, 'gateway shutting down');
    const servers = held.map((c) => c.server!).filter(Boolean);
    await this.deps.servers.markManyOffline(servers.map((s) => s.id)).catch(() => {});
    await Promise.all(
      held.map((c) =>
        this.deps.audit
          .append({
            workspaceId: c.server!.workspace_id,
            action: 'agent.disconnect',
            actor: { type: 'agent', id: c.agentId, name: c.server!.name },
            target: { type: 'server', id: c.server!.id, name: c.server!.name },
            sourceIp: c.sourceIp,
            details: { reason: 'gateway shutdown' },
          })
          .catch(() => {}),
      ),
    );
    if (held.length > 0) this.deps.log.info('agents disconnected for shutdown', { count: held.length });
    this.wss.close();
  }

  private accept(ws: WebSocket, sourceIp: string): void {
    const c = new AgentConnection(ws, sourceIp, this.deps.clock.now());
    this.all.add(c);
    ws.on('message', (data, isBinary) => {
      c.lastHeard = this.deps.clock.now();
      if (isBinary) return c.close(CloseCode.UNSUPPORTED_DATA, 'binary frames are not allowed on the control socket');
      this.onMessage(c, data).catch((err: unknown) => {
        this.deps.log.error('agent message failed', { err: String(err) });
        c.close(CloseCode.INTERNAL, 'internal error');
      });
    });
    ws.on('close', (code, reason) => {
      c.state = 'closed';
      this.all.delete(c);
      this.detach(c, `closed ${code} ${reason.toString()}`.trim()).catch((err: unknown) =>
        this.deps.log.error('agent detach failed', { err: String(err) }),
      );
    });
    ws.on('error', (err) => this.deps.log.warn('agent socket error', { err: err.message }));
  }

  private async onMessage(c: AgentConnection, data: RawData): Promise<void> {
    if (c.state === 'closed') return;
    const decoded = decodeFrame(AgentToGateway, data.toString(), AGENT_TYPES);
    if (!decoded.ok) {
      this.deps.log.warn('bad agent frame', { agentId: c.agentId, reason: decoded.reason });
      return c.close(decoded.closeCode, decoded.reason);
    }
    const msg = decoded.message;
    switch (c.state) {
      case 'hello': {
        if (msg.type !== 'hello') return c.close(CloseCode.PROTOCOL_ERROR, 'first frame must be hello');
        if (msg.protocolVersion < MIN_PROTOCOL_VERSION || msg.protocolVersion > PROTOCOL_VERSION) {
          return c.close(
            CloseCode.VERSION_MISMATCH,
            `protocol ${msg.protocolVersion} not supported (gateway speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION})`,
          );
        }
        c.agentId = msg.agentId;
        c.system = msg.system;
        c.capabilities = new Set(msg.capabilities ?? []);
        c.nonce = randomBytes(32).toString('base64url');
        c.state = 'auth';
        c.send({ type: 'challenge', nonce: c.nonce });
        return;
      }
      case 'auth': {
        if (msg.type !== 'auth') return c.close(CloseCode.PROTOCOL_ERROR, 'expected auth');
        const server = await this.deps.servers.getByAgentId(c.agentId);
        if (c.state !== 'auth') return;
        const ok =
          server !== undefined &&
          verifySafe(server.public_key, agentAuthSigningString(c.agentId, c.nonce), msg.signature);
        if (!server || !ok) {
          this.deps.log.warn('agent authentication failed', { agentId: c.agentId, ip: c.sourceIp });
          if (server) {
            await this.deps.audit.append({
              workspaceId: server.workspace_id,
              action: 'agent.connect',
              outcome: 'failure',
              actor: { type: 'agent', id: c.agentId, name: server.name },
              target: { type: 'server', id: server.id, name: server.name },
              sourceIp: c.sourceIp,
              details: { reason: 'bad_signature' },
            });
          }
          return c.close(CloseCode.UNAUTHORIZED, 'agent authentication failed');
        }
        c.server = server;
        c.state = 'ready';
        const previous = this.byServerId.get(server.id);
        this.byServerId.set(server.id, c);
        if (previous && previous !== c) {
          previous.unsubscribe?.();
          previous.unsubscribe = null;
          previous.close(CloseCode.REPLACED, 'replaced by a newer connection');
        }
        c.unsubscribe = this.deps.bus.subscribe(Subjects.agentSend(server.id), (frame, respond) => {
          const f = frame as GatewayToAgent;
          if (this.byServerId.get(server.id) !== c || c.state !== 'ready') return respond({ ok: false });
          // Optional frames go only to agents that announced them; an older agent would close on them.
          if (!optionalFrameWelcome(c.capabilities, f)) return respond({ ok: false, unsupported: true });
          c.send(f);
          respond({ ok: true });
        });
        c.send({
          type: 'welcome',
          serverId: server.id,
          serverName: server.name,
          pingIntervalMs: PING_INTERVAL_MS,
          protocolVersion: PROTOCOL_VERSION,
        });
        await this.deps.servers.markOnline(server.id, this.deps.nodeId, c.system!, [...c.capabilities]);
        this.deps.log.info('agent connected', { server: server.name, ip: c.sourceIp });
        await this.deps.audit.append({
          workspaceId: server.workspace_id,
          action: 'agent.connect',
          actor: { type: 'agent', id: c.agentId, name: server.name },
          target: { type: 'server', id: server.id, name: server.name },
          sourceIp: c.sourceIp,
          details: { agentVersion: c.system?.agentVersion ?? null, node: this.deps.nodeId },
        });
        return;
      }
      case 'ready': {
        const server = c.server!;
        switch (msg.type) {
          case 'ping':
            c.send({ type: 'pong', ts: msg.ts });
            break;
          case 'pong':
            break;
          case 'info':
            c.system = msg.system;
            await this.deps.servers.touch(server.id, msg.system);
            return;
          case 'metrics':
            // Validated by the protocol schema in decodeFrame; buffered and written in batches.
            this.deps.metrics.ingest(server, msg);
            return;
          case 'exec.output':
          case 'exec.exit':
            // The job runs on whichever node took the request: route by the job id in the exec id.
            this.deps.bus.publish(Subjects.execEvent(msg.execId.slice(0, msg.execId.lastIndexOf('.'))), {
              serverId: server.id,
              ...msg,
            });
            return;
          case 'upgrade.result':
            await this.deps.audit.append({
              workspaceId: server.workspace_id,
              action: `agent.upgrade.${msg.outcome}`,
              outcome: msg.outcome === 'completed' ? 'success' : 'failure',
              actor: { type: 'agent', id: c.agentId, name: server.name },
              target: { type: 'server', id: server.id, name: server.name },
              sourceIp: c.sourceIp,
              details: {
                upgradeId: msg.upgradeId,
                fromVersion: msg.fromVersion,
                toVersion: msg.toVersion,
                runningVersion: c.system?.agentVersion ?? null,
                ...(msg.reason ? { reason: msg.reason } : {}),
              },
            });
            this.deps.log.info('agent upgrade result', {
              server: server.name,
              outcome: msg.outcome,
              to: msg.toVersion,
            });
            return;
          case 'channel.reject':
            // The channel's home may be another node: route the refusal there.
            this.deps.bus.publish(Subjects.channelEvent(msg.channelId), { serverId: server.id, ...msg });
            break;
          default:
            return c.close(CloseCode.PROTOCOL_ERROR, `unexpected ${msg.type} after handshake`);
        }
        return;
      }
    }
  }

  private async detach(c: AgentConnection, reason: string): Promise<void> {
    c.unsubscribe?.();
    c.unsubscribe = null;
    const server = c.server;
    if (!server || this.byServerId.get(server.id) !== c) return;
    this.byServerId.delete(server.id);
    await this.deps.servers.markOffline(server.id);
    this.deps.log.info('agent disconnected', { server: server.name, reason });
    await this.deps.audit.append({
      workspaceId: server.workspace_id,
      action: 'agent.disconnect',
      actor: { type: 'agent', id: c.agentId, name: server.name },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp: c.sourceIp,
      details: { reason },
    });
  }

  private lastTouchAll = 0;

  /**
   * Every 5 s: close connections that never finished the handshake or went silent for 30 s; ping the
   * ones whose own pings stopped (12 s), so liveness is checked both ways at no cost in the normal case;
   * once a minute, write last_seen_at for all connected agents in batches. With 10,000 agents this is
   * the only periodic work besides answering their pings.
   */
  private sweep(): void {
    const now = this.deps.clock.now();
    if (now - this.lastTouchAll >= TOUCH_EVERY_MS) {
      this.lastTouchAll = now;
      const ids = [...this.byServerId.keys()];
      this.deps.servers
        .touchMany(ids)
        .catch((err: unknown) => this.deps.log.warn('last_seen update failed', { err: String(err) }));
    }
    for (const c of this.all) {
      if (c.state === 'closed') continue;
      if (c.state !== 'ready' && now - c.openedAt > HANDSHAKE_TIMEOUT_MS) {
        c.close(CloseCode.TIMEOUT, 'handshake not finished in time');
      } else if (now - c.lastHeard > IDLE_TIMEOUT_MS) {
        c.close(CloseCode.TIMEOUT, 'no frame for 30 s');
        c.ws.terminate();
      } else if (
        c.state === 'ready' &&
        now - c.lastHeard > PING_WHEN_SILENT_MS &&
        now - c.lastPingSent > PING_WHEN_SILENT_MS
      ) {
        c.lastPingSent = now;
        c.send({ type: 'ping', ts: now });
      }
    }
  }
}

function verifySafe(publicKeyPem: string, data: string, signatureB64: string): boolean {
  try {
    return verifySig(null, Buffer.from(data), createPublicKey(publicKeyPem), Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/** Optional frames go only to agents that announced them; an older agent would close on them. */
function optionalFrameWelcome(capabilities: ReadonlySet<string>, msg: GatewayToAgent): boolean {
  if (msg.type === 'upgrade') return capabilities.has('upgrade');
  if (msg.type === 'session.close') return capabilities.has('persist');
  return true;
}
