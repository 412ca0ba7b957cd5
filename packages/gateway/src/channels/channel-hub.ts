import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import {
  ChannelControl,
  CloseCode,
  MAX_CONTROL_FRAME_BYTES,
  MAX_DATA_FRAME_BYTES,
  channelTransition,
  decodeFrame,
  encodeFrame,
  typesOf,
  type ChannelState,
  type ChannelControl as ChannelControlMsg,
  type Grant,
  FsFromUser,
  FsFromAgent,
  type FsFromUser as FsFromUserMsg,
  type FsFromAgent as FsFromAgentMsg,
  OutputRing,
  replayFor,
} from '@corral/protocol';
import type { AgentHub } from '../agents/agent-hub.js';
import type { GrantSigner } from '../agents/grant-signer.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { digestsEqual, hashSecret, newId, newSecret } from '../ids.js';
import { forward } from './bridge.js';
import { Subjects, type Bus, type TerminateFilter } from '../bus/bus.js';
import type { ChannelForwarder } from './channel-forwarder.js';
import type { SessionRecorder } from '../recordings/recorder.js';
import type { CommandTracker } from './command-capture.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { currentPrincipal } from '../auth/request-context.js';

const CONTROL_TYPES = typesOf(ChannelControl);
const FS_USER_TYPES = typesOf(FsFromUser);
const FS_AGENT_TYPES = typesOf(FsFromAgent);

/**
 * Watches a file channel's traffic (audit, limits, allowed operations). Returning a reply from
 * `fromUser` answers the user directly and does not forward the request; an `abort` ends the channel.
 */
export interface FileChannelInspector {
  fromUser(msg: FsFromUserMsg): { forward: true } | { forward: false; reply: FsFromAgentMsg };
  userBytes(data: Buffer): { ok: true } | { ok: false; reply: FsFromAgentMsg };
  /** false: drop the frame (the answer to an abort the gateway itself sent). */
  fromAgent(msg: FsFromAgentMsg): boolean;
  agentBytes(data: Buffer): void;
  /** The channel ended (an operation still open is audited as interrupted). */
  end(): void;
}
/** Each side must connect within this many ms of being invited. */
export const CHANNEL_JOIN_TIMEOUT_MS = 30_000;
/** Lifetime of a grant the agent receives: enough to dial back, nothing more. */
const GRANT_TTL_MS = 60_000;

const FROM_USER = new Set(['resize', 'eof', 'ping', 'pong']);
const FROM_AGENT = new Set(['exit', 'stderr', 'ping', 'pong', 'notice', 'error']);

/** What a finished channel reports for the session row and the audit log. */
export interface ChannelResult {
  bytesIn: number;
  bytesOut: number;
  exitCode: number | null;
  exitSignal: string | null;
  endReason: string;
  /** Whether both sides ever met (bytes could flow). */
  opened: boolean;
}

export interface ChannelSpec {
  sessionId: string;
  workspaceId: string;
  userId: string;
  serverId: string;
  kind: 'pty' | 'files' | 'tunnel';
  osUser: string;
  /** Terminal channels: the session recording (output, input, resizes). */
  recorder?: SessionRecorder;
  /**
   * Interactive terminals: the session's commands (shell integration marks, stripped from the output
   * here, or keystrokes); its nonce goes to the agent in `channel.open`. It belongs to the session, not
   * the channel: the websh service ends it when the session ends.
   */
  commands?: CommandTracker;
  /** File channels: the inspector that audits and limits each operation. */
  files?: FileChannelInspector;
  /** File channels: the work-session feature they run under. */
  filesPurpose?: 'file_transfer' | 'code_editor';
  command: string[] | undefined;
  pty: boolean;
  cols: number;
  rows: number;
  term: string | undefined;
  /** The work session the channel runs under (it never outlives it). */
  workSessionId: string | null;
  /** The API or service token that opened the channel (taken from the request when not given). */
  apiTokenId?: string;
  /**
   * Persistent terminals: the websh session the pty belongs to and how long the agent keeps it when
   * the user's connection drops; `attach` re-attaches to the pty the agent holds instead of starting one.
   * The user's socket dropping then ends the channel with `detached` instead of hanging up.
   */
  session?: { id: string; persistSeconds: number; attach: boolean };
  /** Participants joined or left (shared sessions, watchers). */
  onViewer?: (event: 'join' | 'leave', v: ViewerSpec, why?: string) => void;
  /** Called once when the channel is over, whatever the reason. */
  onEnd: (r: ChannelResult) => void;
}

/** Someone other than the owner on a live terminal: a participant of a share, or a watcher. */
export interface ViewerSpec {
  userId: string;
  email: string;
  /** `read`: output only, keystrokes dropped; `write`: keystrokes reach the terminal. */
  mode: 'read' | 'write';
  role: 'participant' | 'watcher';
  /** The share that let them in (removing it disconnects them). */
  shareId: string | null;
}

/** Which viewers to disconnect; every field given must match. */
export interface ViewerFilter {
  workspaceId: string;
  sessionId: string;
  userId?: string;
  shareId?: string;
  reason: string;
}

/** Output a participant who joins late is shown (the gateway's tail of the session; the agent keeps more). */
export const JOIN_REPLAY_BYTES = 64 * 1024;
/** A participant this far behind (bytes queued on their socket) is disconnected, not waited for. */
export const VIEWER_MAX_BUFFERED = 4 * 1024 * 1024;
/** How long a viewer token may wait for its socket, ms. */
const VIEWER_TOKEN_TTL_MS = 30_000;

interface Viewer {
  spec: ViewerSpec;
  ws: WebSocket;
  warnedReadOnly: boolean;
}

interface Channel {
  id: string;
  spec: ChannelSpec;
  state: ChannelState;
  userTokenHash: string;
  agentTokenHash: string | null;
  user: WebSocket | null;
  agent: WebSocket | null;
  timer: NodeJS.Timeout | null;
  result: ChannelResult;
  ended: boolean;
  unsubscribe: Array<() => void>;
  /** Tail of the output for participants who join later (persistent terminals only). */
  ring: OutputRing | null;
  /** One-time tokens for participants about to connect: hash -> who, until when. */
  viewerTokens: Map<string, { spec: ViewerSpec; expiresAt: number }>;
  viewers: Set<Viewer>;
}

/**
 * Rendezvous and bridge for channel sockets (/api/v1/channels/<id>?token=...). The user's socket and
 * the agent's socket meet here and are joined frame by frame with backpressure both ways.
 */
export class ChannelHub {
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // stderr arrives base64 in text frames: allow 4/3 of the largest data frame.
    maxPayload: Math.ceil((MAX_DATA_FRAME_BYTES * 4) / 3) + 1024,
  });
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly agents: AgentHub,
    private readonly signer: GrantSigner,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly bus: Bus,
    /** This node's URL for other nodes (where channel sockets landing elsewhere are forwarded). */
    private readonly nodeUrl: () => string | null,
    private readonly forwarder: ChannelForwarder,
  ) {
    this.unsubscribeTerminate = bus.subscribe(Subjects.channelsTerminate, (data) =>
      this.terminateLocal(data as TerminateFilter),
    );
    this.unsubscribeAccess = bus.subscribe(Subjects.accessChanged, (data) => {
      const d = data as { workspaceId: string; userIds: string[] };
      void this.recheckLocal(d.workspaceId, d.userIds);
    });
    this.unsubscribeViewers = bus.subscribe(Subjects.channelsDropViewers, (data) =>
      this.dropViewersLocal(data as ViewerFilter),
    );
  }

  private readonly unsubscribeTerminate: () => void;
  private readonly unsubscribeAccess: () => void;
  private readonly unsubscribeViewers: () => void;

  /**
   * Set by the gateway: may this live channel go on? Asked for the local channels of users whose access
   * changed (group membership, grants, roles); a `false` ends the channel with 4411.
   */
  recheck: (spec: ChannelSpec) => Promise<true | { code: string; reason: string }> = async () => true;

  private async recheckLocal(workspaceId: string, userIds: readonly string[]): Promise<void> {
    for (const ch of [...this.channels.values()]) {
      const s = ch.spec;
      if (s.workspaceId !== workspaceId || !userIds.includes(s.userId) || ch.ended) continue;
      let verdict: true | { code: string; reason: string };
      try {
        verdict = await this.recheck(s);
      } catch (err) {
        this.log.warn('access re-check failed; ending the channel', { err: String(err) });
        verdict = { code: 'ACCESS_REVOKED', reason: 'your access could not be confirmed' };
      }
      if (verdict !== true && !ch.ended) {
        this.sendUser(ch, { type: 'error', code: verdict.code, message: verdict.reason });
        this.end(ch, 'access_revoked', CloseCode.REVOKED, verdict.reason);
      }
    }
  }

  /**
   * End, on every node, the live channels matching `filter` (close 4411 REVOKED with the reason).
   * Delivery is one bus hop, so it takes effect well within the 2 s the product promises.
   */
  terminate(filter: TerminateFilter): void {
    this.bus.publish(Subjects.channelsTerminate, filter);
  }

  private terminateLocal(f: TerminateFilter): void {
    for (const ch of [...this.channels.values()]) {
      const s = ch.spec;
      if (s.workspaceId !== f.workspaceId) continue;
      if (f.sessionId && s.sessionId !== f.sessionId) continue;
      if (f.userId && s.userId !== f.userId) continue;
      if (f.serverId && s.serverId !== f.serverId) continue;
      if (f.workSessionId && s.workSessionId !== f.workSessionId) continue;
      if (f.apiTokenId && s.apiTokenId !== f.apiTokenId) continue;
      const error: ChannelControlMsg = { type: 'error', code: f.code ?? 'SESSION_TERMINATED', message: f.reason };
      this.sendUser(ch, error);
      this.sendViewers(ch, error);
      this.end(ch, 'terminated', CloseCode.REVOKED, f.reason);
    }
  }

  /** An agent refused the channel (possibly reported by another node). */
  private onAgentEvent(ch: Channel, data: unknown): void {
    const msg = data as { type?: string; serverId?: string; code?: string; message?: string };
    if (msg.type !== 'channel.reject' || msg.serverId !== ch.spec.serverId) return;
    const code = String(msg.code ?? 'REJECTED');
    const message = String(msg.message ?? 'the agent refused the channel');
    this.sendUser(ch, { type: 'error', code, message });
    this.end(ch, `rejected:${code}`, CloseCode.FORBIDDEN, message);
  }

  /** Create a channel; returns its id and the user's one-time token. */
  create(spec: ChannelSpec): { channelId: string; token: string } {
    // Opened by a request made with an API token: revoking the token ends the channel.
    const viaToken = spec.apiTokenId ?? currentPrincipal()?.apiToken?.id;
    if (viaToken) {
      // Its later events (session.end; session.command: see WebshService) run in the opening
      // request's context, so the audit log names the token on them too.
      spec = { ...spec, apiTokenId: viaToken, onEnd: AsyncLocalStorage.bind(spec.onEnd) };
    }
    const id = newId('ch');
    const token = newSecret('cct');
    const ch: Channel = {
      id,
      spec,
      state: 'pending',
      userTokenHash: hashSecret(token),
      agentTokenHash: null,
      user: null,
      agent: null,
      timer: null,
      result: { bytesIn: 0, bytesOut: 0, exitCode: null, exitSignal: null, endReason: 'unknown', opened: false },
      ended: false,
      unsubscribe: [],
      ring: spec.session ? new OutputRing(JOIN_REPLAY_BYTES) : null,
      viewerTokens: new Map(),
      viewers: new Set(),
    };
    ch.unsubscribe.push(
      this.bus.subscribe(Subjects.channelEvent(id), (data) => this.onAgentEvent(ch, data)),
      this.bus.subscribe(Subjects.channelWhere(id), (_d, respond) => respond({ url: this.nodeUrl() })),
      this.bus.subscribe(Subjects.channelViewer(id), (data, respond) =>
        respond(this.addViewerLocal(ch, data as ViewerSpec)),
      ),
    );
    ch.timer = setTimeout(
      () => this.end(ch, 'timeout:user', CloseCode.TIMEOUT, 'user did not connect in time'),
      CHANNEL_JOIN_TIMEOUT_MS,
    );
    ch.timer.unref();
    this.channels.set(id, ch);
    return { channelId: id, token };
  }

  get liveCount(): number {
    return this.channels.size;
  }

  /**
   * Let someone else onto a live terminal channel, on whichever node it lives: returns the one-time
   * token for their socket (/api/v1/channels/<id>?token=...), or null when the channel is gone or
   * carries no terminal.
   */
  async addViewer(channelId: string, v: ViewerSpec): Promise<string | null> {
    const ch = this.channels.get(channelId);
    if (ch) return this.addViewerLocal(ch, v).token;
    try {
      const answer = (await this.bus.request(Subjects.channelViewer(channelId), v, 2000)) as { token: string | null };
      return answer?.token ?? null;
    } catch {
      return null;
    }
  }

  private addViewerLocal(ch: Channel, v: ViewerSpec): { token: string | null } {
    if (ch.ended || !ch.spec.session || ch.state === 'closed') return { token: null };
    const now = this.clock.now();
    for (const [h, t] of ch.viewerTokens) if (t.expiresAt <= now) ch.viewerTokens.delete(h);
    const token = newSecret('cvt');
    ch.viewerTokens.set(hashSecret(token), { spec: v, expiresAt: now + VIEWER_TOKEN_TTL_MS });
    return { token };
  }

  /** Disconnect participants or watchers, on every node (a share removed, a participant kicked). */
  dropViewers(filter: ViewerFilter): void {
    this.bus.publish(Subjects.channelsDropViewers, filter);
  }

  private dropViewersLocal(f: ViewerFilter): void {
    for (const ch of this.channels.values()) {
      if (ch.spec.workspaceId !== f.workspaceId || ch.spec.sessionId !== f.sessionId) continue;
      for (const v of [...ch.viewers]) {
        if (f.userId && v.spec.userId !== f.userId) continue;
        if (f.shareId && v.spec.shareId !== f.shareId) continue;
        this.closeViewer(ch, v, CloseCode.REVOKED, f.reason, 'removed');
      }
    }
  }

  /**
   * End a local channel as superseded (its terminal re-attached elsewhere): the user's socket closes
   * with 4412 and the agent keeps the terminal. False when the channel is not on this node.
   */
  supersede(channelId: string, message: string): boolean {
    const ch = this.channels.get(channelId);
    if (!ch || ch.ended) return false;
    this.sendUser(ch, { type: 'notice', message });
    this.end(ch, 'superseded', CloseCode.DETACHED, 'attached elsewhere');
    return true;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, channelId: string, token: string): void {
    if (this.channels.has(channelId) || req.headers['x-corral-forwarded']) {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.join(ws, channelId, token));
      return;
    }
    // Not ours: the channel may live on another node of the cluster. Ask the bus, then forward.
    this.bus.request(Subjects.channelWhere(channelId), null, 2000).then(
      (answer) => {
        const url = (answer as { url?: string } | null)?.url;
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          if (url && url !== this.nodeUrl()) this.forwarder.forward(ws, url, channelId, token);
          else this.join(ws, channelId, token);
        });
      },
      () => this.wss.handleUpgrade(req, socket, head, (ws) => this.join(ws, channelId, token)),
    );
  }

  /** End every channel (gateway shutdown). */
  close(): void {
    this.unsubscribeTerminate();
    this.unsubscribeAccess();
    this.unsubscribeViewers();
    for (const ch of [...this.channels.values()])
      this.end(ch, 'gateway_shutdown', CloseCode.GOING_AWAY, 'gateway shutting down');
    this.wss.close();
  }

  private join(ws: WebSocket, channelId: string, token: string): void {
    ws.on('error', (err) => this.log.warn('channel socket error', { err: err.message }));
    const ch = this.channels.get(channelId);
    const tokenHash = hashSecret(token);
    if (!ch || ch.ended) return ws.close(CloseCode.NOT_FOUND, 'no such channel (expired or ended)');
    if (ch.state === 'pending' && digestsEqual(tokenHash, ch.userTokenHash)) return this.joinUser(ch, ws);
    if (ch.state === 'waiting_agent' && ch.agentTokenHash && digestsEqual(tokenHash, ch.agentTokenHash)) {
      return this.joinAgent(ch, ws);
    }
    const viewer = ch.viewerTokens.get(tokenHash);
    if (viewer) {
      ch.viewerTokens.delete(tokenHash);
      if (viewer.expiresAt > this.clock.now()) return this.joinViewer(ch, ws, viewer.spec);
    }
    // Wrong token, or a token presented a second time.
    this.log.warn('channel token refused', { channel: channelId });
    ws.close(CloseCode.UNAUTHORIZED, 'channel token invalid or already used');
  }

  private move(ch: Channel, event: Parameters<typeof channelTransition>[1]): boolean {
    const t = channelTransition(ch.state, event);
    if (!t.ok) {
      this.log.warn(t.error, { channel: ch.id });
      return false;
    }
    ch.state = t.state;
    return true;
  }

  private joinUser(ch: Channel, ws: WebSocket): void {
    this.joinUserAsync(ch, ws).catch((err: unknown) => {
      this.log.error('channel open failed', { err: String(err) });
      this.end(ch, 'internal', CloseCode.INTERNAL, 'internal error');
    });
  }

  private async joinUserAsync(ch: Channel, ws: WebSocket): Promise<void> {
    if (!this.move(ch, 'user_joined')) return ws.close(CloseCode.UNAUTHORIZED, 'channel token already used');
    ch.user = ws;
    // Hold the user's input until the agent side is there.
    ws.pause();
    ws.on('message', (data, isBinary) => this.fromUser(ch, data, isBinary));
    ws.on('close', (code) => {
      if (ch.result.exitCode !== null || ch.result.exitSignal !== null)
        return this.end(ch, 'exit', CloseCode.PEER_GONE, 'user left');
      // A persistent terminal outlives a dropped connection (anything but a deliberate 1000 close):
      // the agent keeps it and the user can re-attach.
      if (ch.spec.session && ch.spec.session.persistSeconds > 0 && code !== CloseCode.NORMAL && ch.state === 'open') {
        return this.end(ch, 'detached', CloseCode.DETACHED, 'user disconnected; terminal kept');
      }
      this.end(ch, 'user_closed', CloseCode.PEER_GONE, 'user left');
    });

    const agentToken = newSecret('cat');
    ch.agentTokenHash = hashSecret(agentToken);
    const grant: Grant = {
      v: 1,
      channelId: ch.id,
      serverId: ch.spec.serverId,
      kind: ch.spec.kind,
      osUser: ch.spec.osUser,
      expiresAt: this.clock.now() + GRANT_TTL_MS,
      ...(ch.spec.command ? { command: ch.spec.command } : {}),
      ...(ch.spec.session ? { session: ch.spec.session } : {}),
    };
    const sent = await this.agents.send(ch.spec.serverId, {
      type: 'channel.open',
      channelId: ch.id,
      token: agentToken,
      grant,
      signature: this.signer.sign(grant),
      pty: ch.spec.pty,
      ...(ch.spec.pty
        ? { ptyParams: { cols: ch.spec.cols, rows: ch.spec.rows, ...(ch.spec.term ? { term: ch.spec.term } : {}) } }
        : {}),
      ...(ch.spec.commands?.nonce ? { shellMarks: { nonce: ch.spec.commands.nonce } } : {}),
    });
    if (ch.ended) return;
    if (!sent) {
      this.sendUser(ch, { type: 'error', code: 'SERVER_OFFLINE', message: 'The server went offline.' });
      return this.end(ch, 'server_offline', CloseCode.PEER_GONE, 'server offline');
    }
    if (ch.timer) clearTimeout(ch.timer);
    ch.timer = setTimeout(() => {
      this.sendUser(ch, {
        type: 'error',
        code: 'AGENT_TIMEOUT',
        message: 'The agent did not open the channel in time.',
      });
      this.end(ch, 'timeout:agent', CloseCode.TIMEOUT, 'agent did not connect in time');
    }, CHANNEL_JOIN_TIMEOUT_MS);
    ch.timer.unref();
  }

  private joinAgent(ch: Channel, ws: WebSocket): void {
    if (!this.move(ch, 'agent_joined')) return ws.close(CloseCode.UNAUTHORIZED, 'channel token already used');
    if (ch.timer) clearTimeout(ch.timer);
    ch.timer = null;
    ch.agent = ws;
    ws.on('message', (data, isBinary) => this.fromAgent(ch, data, isBinary));
    ws.on('close', (code, reason) => {
      // The agent closes with 1000 right after `exit`; anything else means the channel broke.
      const why = code === CloseCode.NORMAL ? 'exit' : `agent_closed:${code}`;
      this.end(
        ch,
        ch.result.endReason !== 'unknown' ? ch.result.endReason : why,
        code === CloseCode.NORMAL ? CloseCode.NORMAL : CloseCode.PEER_GONE,
        reason.toString() ||
          (code === 1006
            ? 'connection to the server lost (its agent or the gateway node carrying it went away)'
            : 'agent left'),
      );
    });
    ch.result.opened = true;
    this.sendUser(ch, { type: 'ready', sessionId: ch.spec.sessionId });
    ch.user?.resume();
  }

  /** A participant or watcher: the tail of the output first, then the live stream. */
  private joinViewer(ch: Channel, ws: WebSocket, spec: ViewerSpec): void {
    const v: Viewer = { spec, ws, warnedReadOnly: false };
    ch.viewers.add(v);
    ws.on('message', (data, isBinary) => this.fromViewer(ch, v, data, isBinary));
    ws.on('close', () => {
      if (ch.viewers.delete(v)) this.viewerLeft(ch, v, 'left');
    });
    ws.send(encodeFrame({ type: 'ready', sessionId: ch.spec.sessionId }));
    if (ch.ring) ws.send(replayFor(ch.ring), { binary: true });
    const what =
      spec.role === 'watcher' ? 'is watching' : spec.mode === 'write' ? 'joined (read-write)' : 'joined (read-only)';
    this.notifyAll(ch, `${spec.email} ${what}`, v);
    try {
      ch.spec.onViewer?.('join', spec);
    } catch (err) {
      this.log.error('viewer hook failed', { err: String(err) });
    }
  }

  private fromViewer(ch: Channel, v: Viewer, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      if (v.spec.mode !== 'write') {
        // Read-only: keystrokes never reach the terminal.
        if (!v.warnedReadOnly) {
          v.warnedReadOnly = true;
          v.ws.send(encodeFrame({ type: 'notice', message: 'You joined read-only: your keystrokes are not sent.' }));
        }
        return;
      }
      const agent = ch.agent;
      if (!agent || agent.readyState !== agent.OPEN) return;
      const buf = data as Buffer;
      ch.result.bytesIn += buf.length;
      ch.spec.recorder?.input(buf);
      // What a read-write participant types is captured like the owner's (commands are audited and
      // scored whoever typed them; the shell's own marks, where present, attribute nothing either way).
      ch.spec.commands?.input(buf);
      // No backpressure from one participant's typing onto everyone: keystrokes are small; a flood
      // beyond the agent socket's high-water mark is dropped with the participant.
      if (agent.bufferedAmount > VIEWER_MAX_BUFFERED)
        return this.closeViewer(ch, v, CloseCode.TOO_SLOW, 'input flood', 'too_slow');
      agent.send(buf, { binary: true });
      return;
    }
    const msg = this.decode(v.ws, data.toString(), FROM_USER, MAX_CONTROL_FRAME_BYTES, 'participant');
    if (!msg) return;
    // The owner's window size rules; a participant's resize is ignored.
    if (msg.type === 'ping') v.ws.send(encodeFrame({ type: 'pong', ts: msg.ts }));
  }

  private sendViewers(ch: Channel, msg: ChannelControlMsg | Buffer): void {
    for (const v of [...ch.viewers]) {
      if (v.ws.readyState !== v.ws.OPEN) continue;
      if (v.ws.bufferedAmount > VIEWER_MAX_BUFFERED) {
        this.closeViewer(ch, v, CloseCode.TOO_SLOW, 'fell too far behind the session', 'too_slow');
        continue;
      }
      if (Buffer.isBuffer(msg)) v.ws.send(msg, { binary: true });
      else v.ws.send(encodeFrame(msg));
    }
  }

  private closeViewer(ch: Channel, v: Viewer, code: number, text: string, why: string): void {
    if (!ch.viewers.delete(v)) return;
    if (v.ws.readyState === v.ws.OPEN) {
      if (code !== CloseCode.NORMAL)
        v.ws.send(encodeFrame({ type: 'error', code: why === 'too_slow' ? 'TOO_SLOW' : 'REMOVED', message: text }));
      v.ws.close(code, text.slice(0, 120));
      setTimeout(() => v.ws.terminate(), 5000).unref();
    }
    this.viewerLeft(ch, v, why);
  }

  private viewerLeft(ch: Channel, v: Viewer, why: string): void {
    this.notifyAll(ch, `${v.spec.email} left`);
    try {
      ch.spec.onViewer?.('leave', v.spec, why);
    } catch (err) {
      this.log.error('viewer hook failed', { err: String(err) });
    }
  }

  /** A line for everyone on the session (owner and participants), except `except`. */
  private notifyAll(ch: Channel, message: string, except?: Viewer): void {
    this.sendUser(ch, { type: 'notice', message });
    for (const v of ch.viewers) {
      if (v !== except && v.ws.readyState === v.ws.OPEN) v.ws.send(encodeFrame({ type: 'notice', message }));
    }
  }

  private fromUserFiles(ch: Channel, data: RawData, isBinary: boolean): void {
    const user = ch.user!;
    const agent = ch.agent;
    const inspector = ch.spec.files!;
    if (!agent) return;
    if (isBinary) {
      const buf = data as Buffer;
      ch.result.bytesIn += buf.length;
      const ok = inspector.userBytes(buf);
      if (!ok.ok) {
        // Over the limit: tell the agent to drop the upload, tell the user why.
        const abort = (ok.reply as { id: number }).id;
        forward(user, agent, JSON.stringify({ type: 'fs.abort', id: abort }), false);
        if (user.readyState === user.OPEN) user.send(JSON.stringify(ok.reply));
        return;
      }
      forward(user, agent, buf, true);
      return;
    }
    const text = data.toString();
    const r = decodeFrame(FsFromUser, text, FS_USER_TYPES, MAX_CONTROL_FRAME_BYTES);
    if (!r.ok) {
      this.log.warn('bad file frame from user', { reason: r.reason });
      user.close(r.closeCode, r.reason);
      return;
    }
    if (r.message.type === 'ping') return this.sendUser(ch, { type: 'pong', ts: r.message.ts });
    if (r.message.type === 'pong') return;
    const verdict = inspector.fromUser(r.message);
    if (!verdict.forward) {
      if (user.readyState === user.OPEN) user.send(JSON.stringify(verdict.reply));
      return;
    }
    forward(user, agent, text, false);
  }

  private fromAgentFiles(ch: Channel, data: RawData, isBinary: boolean): void {
    const agent = ch.agent!;
    const user = ch.user;
    const inspector = ch.spec.files!;
    if (!user) return;
    if (isBinary) {
      const buf = data as Buffer;
      ch.result.bytesOut += buf.length;
      inspector.agentBytes(buf);
      forward(agent, user, buf, true);
      return;
    }
    const text = data.toString();
    const r = decodeFrame(FsFromAgent, text, FS_AGENT_TYPES, Infinity);
    if (!r.ok) {
      this.log.warn('bad file frame from agent', { reason: r.reason });
      agent.close(r.closeCode, r.reason);
      return;
    }
    if (r.message.type === 'ping') {
      if (agent.readyState === agent.OPEN) agent.send(encodeFrame({ type: 'pong', ts: r.message.ts }));
      return;
    }
    if (r.message.type === 'pong') return;
    if (inspector.fromAgent(r.message)) forward(agent, user, text, false);
  }

  private fromUser(ch: Channel, data: RawData, isBinary: boolean): void {
    if (ch.spec.files) return this.fromUserFiles(ch, data, isBinary);
    const user = ch.user!;
    const agent = ch.agent;
    if (!agent) return;
    if (isBinary) {
      const buf = data as Buffer;
      ch.result.bytesIn += buf.length;
      ch.spec.recorder?.input(buf);
      ch.spec.commands?.input(buf);
      forward(user, agent, buf, true);
      return;
    }
    const text = data.toString();
    const msg = this.decode(user, text, FROM_USER, MAX_CONTROL_FRAME_BYTES, 'user');
    if (!msg) return;
    if (msg.type === 'ping') return this.sendUser(ch, { type: 'pong', ts: msg.ts });
    if (msg.type === 'pong') return;
    if (msg.type === 'resize') ch.spec.recorder?.resize(msg.cols, msg.rows);
    forward(user, agent, text, false);
  }

  private fromAgent(ch: Channel, data: RawData, isBinary: boolean): void {
    if (ch.spec.files) return this.fromAgentFiles(ch, data, isBinary);
    const agent = ch.agent!;
    const user = ch.user;
    if (!user) return;
    if (isBinary) {
      ch.result.bytesOut += (data as Buffer).length;
      // The shell integration's marks never reach the user or the recording.
      const buf = ch.spec.commands ? ch.spec.commands.output(data as Buffer) : (data as Buffer);
      if (buf.length === 0) return;
      ch.spec.recorder?.output(buf);
      ch.ring?.push(buf);
      if (ch.viewers.size > 0) this.sendViewers(ch, buf);
      forward(agent, user, buf, true);
      return;
    }
    const text = data.toString();
    const msg = this.decode(agent, text, FROM_AGENT, Infinity, 'agent');
    if (!msg) return;
    switch (msg.type) {
      case 'ping':
        if (agent.readyState === agent.OPEN) agent.send(encodeFrame({ type: 'pong', ts: msg.ts }));
        return;
      case 'pong':
        return;
      case 'exit':
        ch.result.exitCode = msg.code;
        ch.result.exitSignal = msg.signal;
        ch.result.endReason = 'exit';
        this.sendViewers(ch, msg);
        break;
      case 'stderr':
        ch.result.bytesOut += Math.floor((msg.data.length * 3) / 4);
        ch.spec.recorder?.output(Buffer.from(msg.data, 'base64'));
        break;
      default:
        break;
    }
    forward(agent, user, text, false);
  }

  /** Decode a control frame; on failure close that socket with the documented code. */
  private decode(
    ws: WebSocket,
    text: string,
    allowed: Set<string>,
    max: number,
    who: string,
  ): ChannelControlMsg | null {
    const r = decodeFrame(ChannelControl, text, CONTROL_TYPES, max);
    if (!r.ok) {
      this.log.warn(`bad channel frame from ${who}`, { reason: r.reason });
      ws.close(r.closeCode, r.reason);
      return null;
    }
    if (!allowed.has(r.message.type)) {
      ws.close(CloseCode.PROTOCOL_ERROR, `"${r.message.type}" is not allowed from the ${who}`);
      return null;
    }
    return r.message;
  }

  private sendUser(ch: Channel, msg: ChannelControlMsg): void {
    if (ch.user && ch.user.readyState === ch.user.OPEN) ch.user.send(encodeFrame(msg));
  }

  /** End the channel once: close both sockets (after queued data), report the result. */
  private end(ch: Channel, reason: string, code: number, text: string): void {
    if (ch.ended) return;
    ch.ended = true;
    ch.state = 'closed';
    if (ch.timer) clearTimeout(ch.timer);
    this.channels.delete(ch.id);
    for (const off of ch.unsubscribe) off();
    if (ch.result.endReason === 'unknown' || reason !== 'exit') {
      ch.result.endReason = ch.result.endReason === 'exit' ? 'exit' : reason;
    }
    const closeCode = ch.result.endReason === 'exit' ? CloseCode.NORMAL : code;
    for (const v of [...ch.viewers])
      this.closeViewer(
        ch,
        v,
        closeCode === CloseCode.DETACHED ? CloseCode.PEER_GONE : closeCode,
        ch.result.endReason === 'detached' ? 'the owner disconnected' : text,
        'session_ended',
      );
    ch.viewerTokens.clear();
    for (const ws of [ch.user, ch.agent]) {
      if (ws && ws.readyState === ws.OPEN) {
        // A paused socket could not read the peer's close reply.
        if (ws.isPaused) ws.resume();
        ws.close(closeCode, text.slice(0, 120));
        setTimeout(() => ws.terminate(), 5000).unref();
      } else if (ws && ws.readyState === ws.CONNECTING) {
        ws.terminate();
      }
    }
    try {
      ch.spec.files?.end();
    } catch (err) {
      this.log.error('file inspector end failed', { err: String(err) });
    }
    try {
      ch.spec.onEnd(ch.result);
    } catch (err) {
      this.log.error('channel onEnd failed', { err: String(err) });
    }
  }
}
