import type { Kysely } from 'kysely';
import { join } from 'node:path';
import type { z } from 'zod';
import type {
  WebshAttachRequest,
  WebshJoinResponse,
  WebshOpenRequest,
  WebshOpenResponse,
  WebshSessionView,
  WebshShareRequest,
  WebshShareView,
} from '@corral/protocol';
import { workspaceSettings } from '../workspaces/workspace-service.js';
import { agentUserOf, serverCan } from '../servers/server-store.js';
import type { Selectable } from 'kysely';
import type { Database, ServersTable, WebshSessionsTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ServerStore } from '../servers/server-store.js';
import type { AgentHub } from '../agents/agent-hub.js';
import type { ChannelHub, ChannelResult, ViewerSpec } from '../channels/channel-hub.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import { CorralError } from '../errors.js';
import { AsciicastRecorder, readRecordingEvents } from '../recordings/recorder.js';
import { renameSync } from 'node:fs';
import { digestsEqual, hashSecret, newId, newSecret } from '../ids.js';
import { randomBytes } from 'node:crypto';
import { CommandTracker, type CapturedCommand } from '../channels/command-capture.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Clock, iso } from '../clock.js';
import { enforceTokenTerminal } from '../auth/api-tokens.js';
import { BusNoResponders, Subjects, type Bus, type TerminateFilter } from '../bus/bus.js';
import { NODE_STALE_MS } from '../cluster/node-registry.js';

/** Default time a terminal outlives a dropped connection (workspace setting `sessionPersistSeconds`). */
export const DEFAULT_PERSIST_SECONDS = 600;
/** Default lifetime of a share link. */
const LINK_TTL_SECONDS = 3600;
/** The gateway gives the agent this much longer than the agent's own timer before calling it over. */
const DETACH_GRACE_MS = 5_000;
/** How often each node looks for sessions nobody holds any more (node died, restart), ms. */
export const SESSION_SWEEP_MS = 10_000;

type SessionRow = Selectable<WebshSessionsTable> & { server_name: string };

/** The owner of a session, as audit events and hooks need them. */
type Owner = Pick<Principal, 'userId' | 'email' | 'workspaceId'> & Partial<Principal>;

/**
 * A terminal session's state on the node that holds it: the recording, the channel carrying it now,
 * the detach timer. It outlives channels: a dropped connection ends the channel, not the session.
 */
interface LiveSession {
  sessionId: string;
  owner: Owner;
  server: { id: string; name: string };
  osUser: string;
  command: string[] | undefined;
  pty: boolean;
  workSessionId: string | null;
  sourceIp: string;
  recorder: AsciicastRecorder | undefined;
  /** Interactive terminals: its commands (outlives channels, like the shell it follows). */
  commands: CommandTracker | null;
  persistSeconds: number;
  /** The channel carrying it now; null while detached. */
  channelId: string | null;
  detachTimer: NodeJS.Timeout | null;
  bytesIn: number;
  bytesOut: number;
  ended: boolean;
  /** Stops answering other nodes' requests for this session. */
  release: () => void;
}

/**
 * Websh sessions: open, persist across dropped connections (the agent keeps the terminal; the owner
 * re-attaches from any node), share with participants, watch, terminate; each with its session row,
 * recording and audit events.
 */
export class WebshService {
  private readonly live = new Map<string, LiveSession>();
  /** Session bookkeeping still being written (shutdown waits for it). */
  private readonly pending = new Set<Promise<void>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly unsubscribeTerminate: () => void;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly servers: ServerStore,
    private readonly channels: ChannelHub,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Where recordings go (DATA/recordings); null: no recording. */
    private readonly recordingsDir: string | null = null,
    private readonly deps: { agents?: AgentHub; bus?: Bus; nodeId?: string } = {},
  ) {
    this.unsubscribeTerminate =
      deps.bus?.subscribe(Subjects.channelsTerminate, (data) => {
        this.terminateKept(data as TerminateFilter).catch((err: unknown) =>
          this.log.warn('ending kept terminals failed', { err: String(err) }),
        );
      }) ?? (() => {});
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => this.log.warn('websh sweep failed', { err: String(err) }));
    }, SESSION_SWEEP_MS);
    this.sweeper.unref();
  }

  private get nodeId(): string {
    return this.deps.nodeId ?? 'local';
  }

  /** Called for every captured command (risk analysis hooks in here). */
  onCommand:
    | ((c: {
        p: Principal;
        server: { id: string; name: string };
        sessionId: string;
        osUser: string;
        command: string;
        sourceIp: string;
      }) => void)
    | null = null;

  /** The workspace's recording settings (input recording is off unless a superuser turns it on). */
  private async sessionPolicy(
    workspaceId: string,
  ): Promise<{ record: boolean; recordInput: boolean; persistSeconds: number }> {
    const s = await workspaceSettings<{ recordSessions: boolean; recordInput: boolean; sessionPersistSeconds: number }>(
      this.db,
      workspaceId,
    );
    return {
      record: s.recordSessions !== false,
      recordInput: s.recordInput === true,
      persistSeconds: s.sessionPersistSeconds ?? DEFAULT_PERSIST_SECONDS,
    };
  }

  async open(
    p: Principal,
    serverName: string,
    req: z.infer<typeof WebshOpenRequest>,
    sourceIp: string,
    workSessionId: string | null = null,
  ): Promise<WebshOpenResponse> {
    const server = await this.servers.getByName(p.workspaceId, serverName);
    // An API token with a command ACL: commands are checked, interactive terminals refused.
    await enforceTokenTerminal(this.audit, p, req, server, sourceIp);
    // Cluster-wide truth: the agent may hold its control connection on another node.
    if (server.status !== 'online') {
      throw new CorralError('SERVER_OFFLINE', `Server "${server.name}" is offline: its agent is not connected.`);
    }
    const osUser = req.osUser ?? agentUserOf(server);
    const pty = req.pty ?? req.command === undefined;
    const sessionId = newId('ses');
    const startedAt = iso(this.clock.now());
    const commandText = req.command ? req.command.join(' ') : null;
    const policy = await this.sessionPolicy(p.workspaceId);
    // Only interactive shells persist (a command's output belongs to the connection that asked for it).
    const persistSeconds = pty && !req.command && serverCan(server, 'persist') ? policy.persistSeconds : 0;
    const ls: LiveSession = {
      sessionId,
      owner: p,
      server: { id: server.id, name: server.name },
      osUser,
      command: req.command,
      pty,
      workSessionId,
      sourceIp,
      recorder: undefined,
      commands: null,
      persistSeconds,
      channelId: null,
      detachTimer: null,
      bytesIn: 0,
      bytesOut: 0,
      ended: false,
      release: () => {},
    };
    // Interactive shells get the shell integration: its marks carry this nonce.
    const shellNonce = pty && !req.command ? randomBytes(16).toString('base64url') : null;
    if (pty && !req.command) ls.commands = this.commandTracker(ls, shellNonce);
    // In the map before the row exists, so the sweep never mistakes it for an orphan.
    this.hold(ls);
    await this.db
      .insertInto('websh_sessions')
      .values({
        id: sessionId,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        server_id: server.id,
        os_user: osUser,
        command: commandText,
        pty: pty ? 1 : 0,
        started_at: startedAt,
        ended_at: null,
        bytes_in: 0,
        bytes_out: 0,
        exit_code: null,
        end_reason: null,
        work_session_id: workSessionId,
        persist_seconds: persistSeconds,
        host_node: this.nodeId,
        detached_at: null,
        channel_id: null,
        shell_nonce: shellNonce,
      })
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.start',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp,
      details: { sessionId, osUser, command: commandText, pty, workSessionId, persistSeconds },
    });
    if (this.recordingsDir && policy.record) {
      ls.recorder = new AsciicastRecorder(
        join(this.recordingsDir, p.workspaceId, startedAt.slice(0, 7), `${sessionId}.cast.gz`),
        {
          cols: req.cols ?? 80,
          rows: req.rows ?? 24,
          term: req.term,
          title: `${p.email} on ${server.name} as ${osUser}${commandText ? `: ${commandText}` : ''}`,
        },
        policy.recordInput,
        this.clock,
        this.log,
      );
    }
    return this.startChannel(ls, false, { cols: req.cols ?? 80, rows: req.rows ?? 24, term: req.term });
  }

  /** A channel for the session: a new terminal, or a re-attach to the one the agent keeps. */
  private async startChannel(
    ls: LiveSession,
    attach: boolean,
    size: { cols: number; rows: number; term?: string | undefined },
  ): Promise<WebshOpenResponse> {
    const p = ls.owner;
    const interactive = ls.pty && !ls.command;
    const { channelId, token } = this.channels.create({
      ...(ls.recorder ? { recorder: ls.recorder } : {}),
      // Interactive terminals: the session's command tracker (shell marks, else keystrokes).
      ...(interactive && ls.commands ? { commands: ls.commands } : {}),
      ...(ls.persistSeconds > 0 ? { session: { id: ls.sessionId, persistSeconds: ls.persistSeconds, attach } } : {}),
      onViewer: (event, v, why) => this.viewerEvent(ls, event, v, why),
      sessionId: ls.sessionId,
      workspaceId: p.workspaceId,
      userId: p.userId,
      serverId: ls.server.id,
      kind: 'pty',
      osUser: ls.osUser,
      command: ls.command,
      pty: ls.pty,
      cols: size.cols,
      rows: size.rows,
      term: size.term,
      workSessionId: ls.workSessionId,
      onEnd: (r) => {
        const done = this.channelEnded(ls, channelId, attach, r)
          .catch((err: unknown) =>
            this.log.error('session bookkeeping failed', { err: String(err), sessionId: ls.sessionId }),
          )
          .finally(() => this.pending.delete(done));
        this.pending.add(done);
      },
    });
    ls.channelId = channelId;
    if (ls.detachTimer) clearTimeout(ls.detachTimer);
    ls.detachTimer = null;
    await this.db
      .updateTable('websh_sessions')
      .set({ channel_id: channelId, detached_at: null, host_node: this.nodeId })
      .where('id', '=', ls.sessionId)
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    return { sessionId: ls.sessionId, channelId, token, path: `/api/v1/channels/${channelId}?token=${token}` };
  }

  /**
   * The commands of an interactive session: each becomes a recording marker and a risk check as it
   * starts, and a session.command event once it is over (with its exit status when the shell reports
   * it). `nonce` is the one the shell integration's marks carry (kept in the session row, so a node that
   * adopts the session still knows it).
   */
  private commandTracker(ls: LiveSession, nonce: string | null): CommandTracker {
    // Bound to the opening request's context: when it was made with an API token, the audit log names
    // the token on every session.command too.
    return new CommandTracker({
      ...(nonce ? { nonce } : {}),
      clock: this.clock,
      hooks: {
        started: AsyncLocalStorage.bind((c: CapturedCommand) => {
          const p = ls.owner;
          ls.recorder?.marker(c.command);
          if (p.role) {
            this.onCommand?.({
              p: p as Principal,
              server: ls.server,
              sessionId: ls.sessionId,
              osUser: ls.osUser,
              command: c.command,
              sourceIp: ls.sourceIp,
            });
          }
        }),
        finished: AsyncLocalStorage.bind((c: CapturedCommand) => {
          const p = ls.owner;
          this.audit
            .append({
              workspaceId: p.workspaceId,
              action: 'session.command',
              actor: { type: 'user', id: p.userId, name: p.email },
              target: { type: 'server', id: ls.server.id, name: ls.server.name },
              sourceIp: ls.sourceIp,
              details: { sessionId: ls.sessionId, osUser: ls.osUser, workSessionId: ls.workSessionId, ...c },
            })
            .catch((err: unknown) => this.log.error('command audit failed', { err: String(err) }));
        }),
        onError: (err) => this.log.error('command hook failed', { err: String(err) }),
      },
    });
  }

  private viewerEvent(ls: LiveSession, event: 'join' | 'leave', v: ViewerSpec, why?: string): void {
    const label =
      event === 'join'
        ? `${v.email} ${v.role === 'watcher' ? 'started watching' : `joined (${v.mode === 'write' ? 'read-write' : 'read-only'})`}`
        : `${v.email} left${why && why !== 'left' ? ` (${why.replace('_', ' ')})` : ''}`;
    ls.recorder?.marker(label);
    this.audit
      .append({
        workspaceId: ls.owner.workspaceId,
        action: event === 'join' ? 'session.join' : 'session.leave',
        actor: { type: 'user', id: v.userId, name: v.email },
        target: { type: 'server', id: ls.server.id, name: ls.server.name },
        details: {
          sessionId: ls.sessionId,
          owner: ls.owner.email,
          mode: v.mode,
          role: v.role,
          shareId: v.shareId,
          ...(why ? { why } : {}),
        },
      })
      .catch((err: unknown) => this.log.error('participant audit failed', { err: String(err) }));
  }

  /**
   * A channel of the session ended. The session ends with it, unless the terminal persists and the
   * channel only lost its user (then the session is detached) or a newer channel carries it already.
   */
  private async channelEnded(ls: LiveSession, channelId: string, attach: boolean, r: ChannelResult): Promise<void> {
    ls.bytesIn += r.bytesIn;
    ls.bytesOut += r.bytesOut;
    if (ls.ended || ls.channelId !== channelId) return; // superseded by a re-attach
    ls.channelId = null;
    const reason = r.endReason;
    const keptByAgent =
      ls.persistSeconds > 0 &&
      (reason === 'detached' ||
        reason === 'gateway_shutdown' ||
        (r.opened && reason.startsWith('agent_closed:1006')) ||
        // A re-attach that never connected leaves the terminal where it was: detached.
        (attach &&
          !r.opened &&
          !reason.startsWith('rejected:') &&
          reason !== 'terminated' &&
          reason !== 'access_revoked'));
    if (!keptByAgent) return this.finish(ls, r);
    await this.detached(ls, reason);
  }

  private async detached(ls: LiveSession, reason: string): Promise<void> {
    const p = ls.owner;
    const now = this.clock.now();
    await this.db
      .updateTable('websh_sessions')
      .set({ detached_at: iso(now), channel_id: null })
      .where('id', '=', ls.sessionId)
      .where('workspace_id', '=', p.workspaceId)
      .where('ended_at', 'is', null)
      .execute();
    ls.recorder?.marker('detached');
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.detach',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: ls.server.id, name: ls.server.name },
      details: { sessionId: ls.sessionId, reason, keptUntil: iso(now + ls.persistSeconds * 1000) },
    });
    if (ls.detachTimer) clearTimeout(ls.detachTimer);
    ls.detachTimer = setTimeout(
      () => {
        ls.detachTimer = null;
        if (ls.channelId || ls.ended) return;
        this.finish(ls, endedWithout('detach_timeout')).catch((err: unknown) =>
          this.log.error('session end bookkeeping failed', { err: String(err), sessionId: ls.sessionId }),
        );
      },
      ls.persistSeconds * 1000 + DETACH_GRACE_MS,
    );
    ls.detachTimer.unref();
  }

  private async finish(ls: LiveSession, r: ChannelResult): Promise<void> {
    if (ls.ended) return;
    ls.ended = true;
    if (ls.detachTimer) clearTimeout(ls.detachTimer);
    ls.detachTimer = null;
    this.live.delete(ls.sessionId);
    ls.release();
    const p = ls.owner;
    const exitCode = r.exitCode ?? null;
    // A command still running is reported unfinished (and marked) before the recording closes.
    ls.commands?.end();
    const recording = ls.recorder ? await ls.recorder.close() : null;
    const updated = await this.db
      .updateTable('websh_sessions')
      .set({
        ended_at: iso(this.clock.now()),
        bytes_in: ls.bytesIn,
        bytes_out: ls.bytesOut,
        exit_code: exitCode,
        end_reason: r.endReason,
        channel_id: null,
        ...(recording
          ? { recording_path: recording.path, recording_bytes: recording.bytes, recording_sha256: recording.sha256 }
          : {}),
      })
      .where('id', '=', ls.sessionId)
      .where('workspace_id', '=', p.workspaceId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return; // another node ended it already
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.end',
      outcome: r.endReason === 'exit' ? 'success' : 'failure',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: ls.server.id, name: ls.server.name },
      sourceIp: ls.sourceIp,
      details: {
        sessionId: ls.sessionId,
        exitCode,
        signal: r.exitSignal,
        reason: r.endReason,
        bytesIn: ls.bytesIn,
        bytesOut: ls.bytesOut,
        ...(recording ? { recording: { sha256: recording.sha256, bytes: recording.bytes } } : {}),
      },
    });
  }

  private async row(workspaceId: string, sessionId: string): Promise<SessionRow> {
    const row = await this.db
      .selectFrom('websh_sessions')
      .innerJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .selectAll('websh_sessions')
      .select('servers.name as server_name')
      .where('websh_sessions.workspace_id', '=', workspaceId)
      .where('websh_sessions.id', '=', sessionId)
      .executeTakeFirst();
    if (!row) throw new CorralError('SESSION_NOT_FOUND', `No terminal session "${sessionId}" in this workspace.`);
    return row;
  }

  /** The work session a terminal session runs under. */
  async workSessionOf(workspaceId: string, sessionId: string): Promise<string | null> {
    return (await this.row(workspaceId, sessionId)).work_session_id;
  }

  /** Hang up a kept (detached) terminal and end its session: its access ended while nobody was attached. */
  async endKept(workspaceId: string, sessionId: string, reason: string): Promise<void> {
    const row = await this.row(workspaceId, sessionId);
    if (row.ended_at) return;
    await this.deps.agents?.send(row.server_id, { type: 'session.close', sessionId, reason });
    if (row.detached_at || !row.channel_id) await this.endDetached(sessionId, workspaceId, reason);
  }

  /**
   * A termination (kill, revocation, expiry, deactivation, access removed) reaches detached terminals
   * too: they have no channel for ChannelHub to close, so the agent is told to hang them up.
   */
  private async terminateKept(f: TerminateFilter): Promise<void> {
    let q = this.db
      .selectFrom('websh_sessions')
      .select(['id'])
      .where('workspace_id', '=', f.workspaceId)
      .where('ended_at', 'is', null)
      .where('detached_at', 'is not', null);
    if (f.sessionId) q = q.where('id', '=', f.sessionId);
    if (f.userId) q = q.where('user_id', '=', f.userId);
    if (f.serverId) q = q.where('server_id', '=', f.serverId);
    if (f.workSessionId) q = q.where('work_session_id', '=', f.workSessionId);
    for (const r of await q.limit(1000).execute()) {
      await this.endKept(f.workspaceId, r.id, f.code === 'WORK_SESSION_ENDED' ? 'work_session_ended' : 'terminated');
    }
  }

  /** The server a session runs on (for the routes' IAM checks). */
  async serverOf(workspaceId: string, sessionId: string): Promise<ServersTable> {
    const row = await this.row(workspaceId, sessionId);
    return this.servers.getByNameOrId(workspaceId, row.server_id);
  }

  /**
   * Re-attach the caller's own terminal: from another terminal, after a dropped connection, or through
   * another gateway node. Whoever was attached is moved off (their socket closes with 4412).
   */
  async attach(
    p: Principal,
    sessionId: string,
    req: z.infer<typeof WebshAttachRequest>,
    sourceIp: string,
  ): Promise<WebshOpenResponse> {
    const row = await this.row(p.workspaceId, sessionId);
    if (row.user_id !== p.userId) {
      throw new CorralError(
        'SESSION_NOT_FOUND',
        `No terminal session "${sessionId}" of yours: only its owner re-attaches (others join a share).`,
      );
    }
    if (row.ended_at) {
      throw new CorralError(
        'SESSION_ENDED',
        `Session ${sessionId} ended (${row.end_reason ?? 'unknown'}); start a new one with corral websh ${row.server_name}.`,
      );
    }
    if (!row.persist_seconds) {
      throw new CorralError(
        'SESSION_NOT_PERSISTENT',
        `Session ${sessionId} does not survive a dropped connection (a command, or persistence is off).`,
      );
    }
    const size = { cols: req.cols ?? 80, rows: req.rows ?? 24 };
    const local = this.live.get(sessionId);
    if (local) return this.attachLocal(local, p, size, sourceIp);
    if (row.host_node && row.host_node !== this.nodeId && this.deps.bus) {
      try {
        const answer = (await this.deps.bus.request(
          Subjects.webshSession(sessionId),
          { op: 'attach', userId: p.userId, size, sourceIp },
          5000,
        )) as { ok: true; res: WebshOpenResponse } | { ok: false; code: string; message: string };
        if (answer.ok) return answer.res;
        if (answer.code !== 'NOT_HERE') throw new CorralError(answer.code as 'SESSION_NOT_FOUND', answer.message);
      } catch (err) {
        if (err instanceof CorralError) throw err;
        if (!(err instanceof BusNoResponders))
          this.log.warn('session host did not answer', { sessionId, err: String(err) });
      }
    }
    // Nobody holds the session's state (its node died or restarted): adopt it here.
    return this.adopt(p, row, size, sourceIp);
  }

  private async attachLocal(
    ls: LiveSession,
    p: Pick<Principal, 'userId' | 'email'>,
    size: { cols: number; rows: number },
    sourceIp: string,
  ): Promise<WebshOpenResponse> {
    const previous = ls.channelId;
    ls.sourceIp = sourceIp;
    const res = await this.startChannel(ls, true, size);
    if (previous) this.channels.supersede(previous, 'This session was attached from another terminal.');
    ls.recorder?.marker('attached');
    await this.audit.append({
      workspaceId: ls.owner.workspaceId,
      action: 'session.attach',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: ls.server.id, name: ls.server.name },
      sourceIp,
      details: { sessionId: ls.sessionId, channelId: res.channelId, replaced: previous !== null, node: this.nodeId },
    });
    return res;
  }

  /** Take over a session whose live state was lost with its node; the recording goes on in a new part. */
  private async adopt(
    p: Principal,
    row: SessionRow,
    size: { cols: number; rows: number },
    sourceIp: string,
  ): Promise<WebshOpenResponse> {
    const server = await this.servers.getByNameOrId(p.workspaceId, row.server_id);
    if (server.status !== 'online') {
      throw new CorralError('SERVER_OFFLINE', `Server "${server.name}" is offline: its agent is not connected.`);
    }
    const policy = await this.sessionPolicy(p.workspaceId);
    const ls: LiveSession = {
      sessionId: row.id,
      owner: p,
      server: { id: server.id, name: server.name },
      osUser: row.os_user,
      command: undefined,
      pty: true,
      workSessionId: row.work_session_id,
      sourceIp,
      recorder: undefined,
      commands: null,
      persistSeconds: Number(row.persist_seconds),
      channelId: null,
      detachTimer: null,
      bytesIn: Number(row.bytes_in),
      bytesOut: Number(row.bytes_out),
      ended: false,
      release: () => {},
    };
    ls.commands = this.commandTracker(ls, row.shell_nonce);
    this.hold(ls);
    if (this.recordingsDir && policy.record) {
      // One recording per session: what this disk has of it (a restart) comes first; the earlier file
      // stays beside it as `.part1` until the recording is purged.
      const path = join(this.recordingsDir, p.workspaceId, row.started_at.slice(0, 7), `${row.id}.cast.gz`);
      const events = readRecordingEvents(path);
      if (events.length > 0) renameSync(path, path.replace(/\.cast\.gz$/, '.part1.cast.gz'));
      ls.recorder = new AsciicastRecorder(
        path,
        {
          cols: size.cols,
          rows: size.rows,
          term: undefined,
          title: `${p.email} on ${server.name} as ${row.os_user}`,
        },
        policy.recordInput,
        this.clock,
        this.log,
        { startedAtMs: Date.parse(row.started_at), events },
      );
      ls.recorder.marker(
        events.length > 0 ? 'adopted by this gateway node' : 'adopted (earlier recording not on this node)',
      );
    }
    return this.attachLocal(ls, p, size, sourceIp);
  }

  /**
   * This node holds the session's live state: keep it in the map and answer other nodes' requests for
   * it (a re-attach through another node). Only the holder subscribes, so when it is gone a request
   * fails at once with no responders and the asking node adopts the session.
   */
  private hold(ls: LiveSession): void {
    this.live.set(ls.sessionId, ls);
    const bus = this.deps.bus;
    if (!bus) return;
    ls.release = bus.subscribe(Subjects.webshSession(ls.sessionId), (data, respond) => {
      const d = data as { op?: string; userId?: string; size?: { cols: number; rows: number }; sourceIp?: string };
      void (async () => {
        if (ls.ended) return respond({ ok: false, code: 'NOT_HERE', message: 'the session is over' });
        if (d.op === 'attach' && d.userId === ls.owner.userId) {
          const res = await this.attachLocal(ls, ls.owner, d.size ?? { cols: 80, rows: 24 }, d.sourceIp ?? ls.sourceIp);
          return respond({ ok: true, res });
        }
        respond({ ok: false, code: 'SESSION_NOT_FOUND', message: 'no such session of yours' });
      })().catch((err: unknown) => respond({ ok: false, code: 'INTERNAL', message: String(err) }));
    });
  }

  /** Share my live session with a workspace user, or make a link. */
  async share(
    p: Principal,
    sessionId: string,
    req: z.infer<typeof WebshShareRequest>,
    sourceIp: string,
  ): Promise<WebshShareView & { linkToken?: string }> {
    const row = await this.row(p.workspaceId, sessionId);
    if (row.user_id !== p.userId) throw new CorralError('SESSION_NOT_FOUND', 'Only the owner of a session shares it.');
    if (row.ended_at) throw new CorralError('SESSION_ENDED', `Session ${sessionId} has ended.`);
    if (!row.pty || row.command)
      throw new CorralError('VALIDATION_FAILED', 'Only interactive terminals can be shared.');
    let userId: string | null = null;
    let userEmail: string | null = null;
    if (req.user !== undefined) {
      const u = await this.db
        .selectFrom('users')
        .select(['id', 'email', 'deactivated_at'])
        .where('workspace_id', '=', p.workspaceId)
        .where((eb) => eb.or([eb('email', '=', req.user!.trim().toLowerCase()), eb('id', '=', req.user!)]))
        .executeTakeFirst();
      if (!u || u.deactivated_at)
        throw new CorralError('USER_NOT_FOUND', `No active user "${req.user}" in this workspace.`);
      if (u.id === p.userId)
        throw new CorralError(
          'VALIDATION_FAILED',
          'You own this session: re-attach instead of sharing it with yourself.',
        );
      userId = u.id;
      userEmail = u.email;
    }
    const now = this.clock.now();
    const ttl = req.expiresInSeconds ?? (req.link ? LINK_TTL_SECONDS : null);
    const linkToken = req.link ? newSecret('cws') : undefined;
    const id = newId('shr');
    const mode = req.readWrite ? 'write' : 'read';
    const view: WebshShareView = {
      id,
      sessionId,
      user: userEmail,
      link: Boolean(linkToken),
      mode,
      createdAt: iso(now),
      expiresAt: ttl ? iso(now + ttl * 1000) : null,
      revokedAt: null,
    };
    await this.db
      .insertInto('websh_shares')
      .values({
        id,
        workspace_id: p.workspaceId,
        session_id: sessionId,
        user_id: userId,
        link_hash: linkToken ? hashSecret(linkToken) : null,
        mode,
        created_by: p.userId,
        created_at: view.createdAt,
        expires_at: view.expiresAt,
        revoked_at: null,
      })
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.share',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: userId
        ? { type: 'user', id: userId, name: userEmail }
        : { type: 'session', id: sessionId, name: sessionId },
      sourceIp,
      details: { sessionId, shareId: id, mode, link: view.link, expiresAt: view.expiresAt },
    });
    return linkToken ? { ...view, linkToken } : view;
  }

  async shares(p: Principal, sessionId: string): Promise<WebshShareView[]> {
    const row = await this.row(p.workspaceId, sessionId);
    if (row.user_id !== p.userId && p.role === 'member') throw new CorralError('SESSION_NOT_FOUND');
    const rows = await this.db
      .selectFrom('websh_shares')
      .leftJoin('users', 'users.id', 'websh_shares.user_id')
      .selectAll('websh_shares')
      .select('users.email')
      .where('websh_shares.workspace_id', '=', p.workspaceId)
      .where('websh_shares.session_id', '=', sessionId)
      .orderBy('websh_shares.created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      sessionId: r.session_id,
      user: r.email ?? null,
      link: r.link_hash !== null,
      mode: r.mode as 'read' | 'write',
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** Remove a share (or every share of a user): its participants are disconnected at once. */
  async unshare(p: Principal, sessionId: string, shareOrUser: string, sourceIp: string): Promise<void> {
    const row = await this.row(p.workspaceId, sessionId);
    if (row.user_id !== p.userId && p.role === 'member') throw new CorralError('SESSION_NOT_FOUND');
    const all = await this.shares(p, sessionId);
    const needle = shareOrUser.trim().toLowerCase();
    const hit = all.filter((s) => !s.revokedAt && (s.id === shareOrUser || s.user === needle));
    if (hit.length === 0)
      throw new CorralError('SHARE_NOT_FOUND', `No active share "${shareOrUser}" on session ${sessionId}.`);
    const now = iso(this.clock.now());
    for (const s of hit) {
      await this.db
        .updateTable('websh_shares')
        .set({ revoked_at: now })
        .where('id', '=', s.id)
        .where('workspace_id', '=', p.workspaceId)
        .execute();
      this.channels.dropViewers({
        workspaceId: p.workspaceId,
        sessionId,
        shareId: s.id,
        reason: `${p.email} removed you from the session`,
      });
      await this.audit.append({
        workspaceId: p.workspaceId,
        action: 'session.unshare',
        actor: { type: 'user', id: p.userId, name: p.email },
        target: { type: 'session', id: sessionId, name: sessionId },
        sourceIp,
        details: { sessionId, shareId: s.id, user: s.user, link: s.link },
      });
    }
  }

  /** The share that lets `p` join (their own, or the link's), or null. */
  async shareFor(
    p: Principal,
    sessionId: string,
    link: string | undefined,
  ): Promise<{ id: string; mode: 'read' | 'write' } | null> {
    const now = iso(this.clock.now());
    let q = this.db
      .selectFrom('websh_shares')
      .select(['id', 'mode', 'link_hash', 'user_id'])
      .where('workspace_id', '=', p.workspaceId)
      .where('session_id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]));
    q = link ? q.where('link_hash', '=', hashSecret(link)) : q.where('user_id', '=', p.userId);
    const r = await q.executeTakeFirst();
    if (!r) return null;
    if (link && !(r.link_hash && digestsEqual(r.link_hash, hashSecret(link)))) return null;
    return { id: r.id, mode: r.mode as 'read' | 'write' };
  }

  /**
   * Connect a participant (share) or a watcher to the live session, on whichever node carries it.
   * The caller has checked who may do this.
   */
  async join(
    p: Principal,
    sessionId: string,
    how: { role: 'participant' | 'watcher'; mode: 'read' | 'write'; shareId: string | null },
    sourceIp: string,
  ): Promise<WebshJoinResponse> {
    const row = await this.row(p.workspaceId, sessionId);
    if (row.ended_at) throw new CorralError('SESSION_ENDED', `Session ${sessionId} has ended.`);
    if (how.role === 'participant' && row.user_id === p.userId) {
      throw new CorralError('VALIDATION_FAILED', `It is your own session: corral websh attach ${sessionId}`);
    }
    const channelId = row.channel_id;
    const token = channelId
      ? await this.channels.addViewer(channelId, { userId: p.userId, email: p.email, ...how })
      : null;
    if (!channelId || !token) {
      throw new CorralError(
        'SESSION_DETACHED',
        `Nobody is attached to session ${sessionId} right now; try again when its owner is back.`,
      );
    }
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: how.role === 'watcher' ? 'session.watch' : 'session.join.request',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: row.server_id, name: row.server_name },
      sourceIp,
      details: { sessionId, mode: how.mode, shareId: how.shareId },
    });
    return { sessionId, channelId, token, path: `/api/v1/channels/${channelId}?token=${token}`, mode: how.mode };
  }

  /**
   * End a session wherever it runs (any node), attached or detached; the reason is shown to everyone
   * on it. False when the session is unknown in this workspace or already over.
   */
  async terminate(p: Principal, sessionId: string, sourceIp: string, reason?: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('websh_sessions')
      .innerJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .select([
        'websh_sessions.id',
        'websh_sessions.ended_at',
        'websh_sessions.detached_at',
        'websh_sessions.persist_seconds',
        'servers.id as server_id',
        'servers.name as server_name',
      ])
      .where('websh_sessions.workspace_id', '=', p.workspaceId)
      .where('websh_sessions.id', '=', sessionId)
      .executeTakeFirst();
    if (!row) return false;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.terminate',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: row.server_id, name: row.server_name },
      sourceIp,
      details: { sessionId, alreadyEnded: row.ended_at !== null, ...(reason ? { reason } : {}) },
    });
    if (row.ended_at) return false;
    const text = `Session terminated by ${p.email}${reason ? `: ${reason}` : ''}`;
    // Live channels close on every node; a detached terminal is hung up by its agent (terminateKept).
    this.channels.terminate({ workspaceId: p.workspaceId, sessionId, reason: text });
    return true;
  }

  /** End a detached session: locally through its live state, else by row (its node is gone). */
  private async endDetached(sessionId: string, workspaceId: string, reason: string): Promise<void> {
    const ls = this.live.get(sessionId);
    if (ls) {
      if (!ls.channelId) await this.finish(ls, endedWithout(reason));
      return;
    }
    const r = await this.db
      .updateTable('websh_sessions')
      .set({ ended_at: iso(this.clock.now()), end_reason: reason, channel_id: null })
      .where('id', '=', sessionId)
      .where('workspace_id', '=', workspaceId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return;
    const row = await this.db
      .selectFrom('websh_sessions')
      .innerJoin('users', 'users.id', 'websh_sessions.user_id')
      .innerJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .select(['users.id as user_id', 'users.email', 'servers.id as server_id', 'servers.name as server_name'])
      .where('websh_sessions.id', '=', sessionId)
      .executeTakeFirst();
    await this.audit.append({
      workspaceId,
      action: 'session.end',
      outcome: 'failure',
      actor: { type: 'user', id: row?.user_id ?? null, name: row?.email ?? null },
      target: { type: 'server', id: row?.server_id ?? null, name: row?.server_name ?? null },
      details: { sessionId, exitCode: null, signal: null, reason, endedBy: this.nodeId },
    });
  }

  /**
   * Sessions nobody holds any more: those of a dead node (or of this node before a restart) become
   * detached when they persist, else end with `gateway_node_lost`; detached ones past their time end
   * with `detach_timeout`. Every node runs it; conditional updates make each change happen once.
   */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    const alive = new Set(
      (
        await this.db
          .selectFrom('gateway_nodes')
          .select('node_id')
          .where('heartbeat_at', '>', iso(now - NODE_STALE_MS))
          .execute()
      ).map((n) => n.node_id),
    );
    alive.add(this.nodeId);
    const open = await this.db
      .selectFrom('websh_sessions')
      .select(['id', 'workspace_id', 'host_node', 'detached_at', 'persist_seconds', 'user_id', 'server_id'])
      .where('ended_at', 'is', null)
      .where('kind', '=', 'terminal')
      .limit(1000)
      .execute();
    for (const s of open) {
      if (this.live.has(s.id)) continue;
      const orphan = !s.host_node || !alive.has(s.host_node) || s.host_node === this.nodeId;
      const persist = Number(s.persist_seconds ?? 0);
      if (s.detached_at) {
        const deadline = Date.parse(s.detached_at) + persist * 1000 + DETACH_GRACE_MS;
        if (deadline <= now && orphan) await this.endDetached(s.id, s.workspace_id, 'detach_timeout');
        continue;
      }
      if (!orphan) continue;
      if (persist > 0) {
        const r = await this.db
          .updateTable('websh_sessions')
          .set({ detached_at: iso(now), channel_id: null })
          .where('id', '=', s.id)
          .where('ended_at', 'is', null)
          .where('detached_at', 'is', null)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) === 1) {
          await this.audit.append({
            workspaceId: s.workspace_id,
            action: 'session.detach',
            actor: { type: 'system', id: null, name: this.nodeId },
            target: { type: 'server', id: s.server_id, name: null },
            details: {
              sessionId: s.id,
              reason: 'gateway_node_lost',
              node: s.host_node,
              keptUntil: iso(now + persist * 1000),
            },
          });
        }
      } else {
        await this.endDetached(s.id, s.workspace_id, 'gateway_node_lost');
      }
    }
  }

  async list(p: Principal, opts: { scope: 'mine' | 'all'; live: boolean; limit: number }): Promise<WebshSessionView[]> {
    let q = this.db
      .selectFrom('websh_sessions')
      .leftJoin('users', 'users.id', 'websh_sessions.user_id')
      .leftJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .select([
        'websh_sessions.id',
        'websh_sessions.user_id',
        'users.email as user_email',
        'servers.name as server_name',
        'websh_sessions.os_user',
        'websh_sessions.command',
        'websh_sessions.started_at',
        'websh_sessions.ended_at',
        'websh_sessions.bytes_in',
        'websh_sessions.bytes_out',
        'websh_sessions.exit_code',
        'websh_sessions.end_reason',
        'websh_sessions.detached_at',
        'websh_sessions.persist_seconds',
      ])
      .where('websh_sessions.workspace_id', '=', p.workspaceId)
      .where('websh_sessions.kind', '=', 'terminal');
    if (opts.scope === 'mine') q = q.where('websh_sessions.user_id', '=', p.userId);
    if (opts.live) q = q.where('websh_sessions.ended_at', 'is', null);
    const rows = await q.orderBy('websh_sessions.started_at', 'desc').limit(opts.limit).execute();
    return rows.map((r) => {
      const persist = Number(r.persist_seconds ?? 0);
      return {
        id: r.id,
        userEmail: r.user_email,
        serverName: r.server_name,
        osUser: r.os_user,
        command: r.command,
        startedAt: r.started_at,
        endedAt: r.ended_at,
        bytesIn: Number(r.bytes_in),
        bytesOut: Number(r.bytes_out),
        exitCode: r.exit_code,
        endReason: r.end_reason,
        state: r.ended_at ? 'ended' : r.detached_at ? 'detached' : 'attached',
        detachedAt: r.detached_at,
        keptUntil: r.detached_at && !r.ended_at ? iso(Date.parse(r.detached_at) + persist * 1000) : null,
        persistent: persist > 0,
        mine: r.user_id === p.userId,
      };
    });
  }

  /**
   * Gateway shutdown (after the channels closed): wait for their bookkeeping, then finish the recordings
   * of sessions that go on without this process (the agent keeps persistent terminals; whichever node
   * the owner re-attaches through adopts them and carries the recording on).
   */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribeTerminate();
    await Promise.allSettled([...this.pending]);
    const recordings: Array<Promise<unknown>> = [];
    for (const ls of this.live.values()) {
      if (ls.detachTimer) clearTimeout(ls.detachTimer);
      ls.release();
      if (ls.recorder) recordings.push(ls.recorder.close());
    }
    await Promise.allSettled(recordings);
  }
}

/** The result of a session that ends with no channel carrying it (detach timeout, kill while detached). */
function endedWithout(endReason: string): ChannelResult {
  return { bytesIn: 0, bytesOut: 0, exitCode: null, exitSignal: null, endReason, opened: true };
}
