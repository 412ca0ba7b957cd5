import type { Kysely } from 'kysely';
import { workspaceSettings } from '../workspaces/workspace-service.js';
import { agentUserOf } from '../servers/server-store.js';
import type { z } from 'zod';
import type { WebshOpenRequest, WebshOpenResponse, WebshSessionView } from '@corral/protocol';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ServerStore } from '../servers/server-store.js';
import type { ChannelHub, ChannelResult } from '../channels/channel-hub.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import { CorralError } from '../errors.js';
import { join } from 'node:path';
import { AsciicastRecorder } from '../recordings/recorder.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import { enforceTokenTerminal } from '../auth/api-tokens.js';

/** Opens websh sessions: a session row, an audited start and end, a channel to bridge. */
export class WebshService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly servers: ServerStore,
    private readonly channels: ChannelHub,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Where recordings go (DATA/recordings); null: no recording. */
    private readonly recordingsDir: string | null = null,
  ) {}

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
  private async recordingPolicy(workspaceId: string): Promise<{ record: boolean; recordInput: boolean }> {
    const s = await workspaceSettings<{ recordSessions: boolean; recordInput: boolean }>(this.db, workspaceId);
    return { record: s.recordSessions !== false, recordInput: s.recordInput === true };
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
      })
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.start',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp,
      details: { sessionId, osUser, command: commandText, pty, workSessionId },
    });
    const policy = this.recordingsDir
      ? await this.recordingPolicy(p.workspaceId)
      : { record: false, recordInput: false };
    const recorder = policy.record
      ? new AsciicastRecorder(
          join(this.recordingsDir!, p.workspaceId, startedAt.slice(0, 7), `${sessionId}.cast.gz`),
          {
            cols: req.cols ?? 80,
            rows: req.rows ?? 24,
            term: req.term,
            title: `${p.email} on ${server.name} as ${osUser}${commandText ? `: ${commandText}` : ''}`,
          },
          policy.recordInput,
          this.clock,
          this.log,
        )
      : undefined;
    const { channelId, token } = this.channels.create({
      ...(recorder ? { recorder } : {}),
      // Interactive terminals: each command line typed becomes an audit event and a recording marker.
      ...(pty && !req.command
        ? {
            onCommand: (line: string) => {
              recorder?.marker(line);
              this.audit
                .append({
                  workspaceId: p.workspaceId,
                  action: 'session.command',
                  actor: { type: 'user', id: p.userId, name: p.email },
                  target: { type: 'server', id: server.id, name: server.name },
                  sourceIp,
                  details: { sessionId, command: line, osUser, workSessionId, source: 'keystrokes' },
                })
                .catch((err: unknown) => this.log.error('command audit failed', { err: String(err) }));
              this.onCommand?.({ p, server, sessionId, osUser, command: line, sourceIp });
            },
          }
        : {}),
      sessionId,
      workspaceId: p.workspaceId,
      userId: p.userId,
      serverId: server.id,
      kind: 'pty',
      osUser,
      command: req.command,
      pty,
      cols: req.cols ?? 80,
      rows: req.rows ?? 24,
      term: req.term,
      workSessionId,
      onEnd: (r) => {
        this.finish(p, server.id, server.name, sessionId, r, sourceIp, recorder).catch((err: unknown) =>
          this.log.error('session end bookkeeping failed', { err: String(err), sessionId }),
        );
      },
    });
    return { sessionId, channelId, token, path: `/api/v1/channels/${channelId}?token=${token}` };
  }

  private async finish(
    p: Principal,
    serverId: string,
    serverName: string,
    sessionId: string,
    r: ChannelResult,
    sourceIp: string,
    recorder?: AsciicastRecorder,
  ): Promise<void> {
    const exitCode = r.exitCode ?? null;
    const recording = recorder ? await recorder.close() : null;
    await this.db
      .updateTable('websh_sessions')
      .set({
        ended_at: iso(this.clock.now()),
        bytes_in: r.bytesIn,
        bytes_out: r.bytesOut,
        exit_code: exitCode,
        end_reason: r.endReason,
        ...(recording
          ? { recording_path: recording.path, recording_bytes: recording.bytes, recording_sha256: recording.sha256 }
          : {}),
      })
      .where('id', '=', sessionId)
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'session.end',
      outcome: r.endReason === 'exit' ? 'success' : 'failure',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: serverId, name: serverName },
      sourceIp,
      details: {
        sessionId,
        exitCode,
        signal: r.exitSignal,
        reason: r.endReason,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        ...(recording ? { recording: { sha256: recording.sha256, bytes: recording.bytes } } : {}),
      },
    });
  }

  /**
   * End a live session wherever it runs (any node). Answers false when the session is unknown in this
   * workspace or already over.
   */
  async terminate(p: Principal, sessionId: string, sourceIp: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('websh_sessions')
      .innerJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .select([
        'websh_sessions.id',
        'websh_sessions.ended_at',
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
      details: { sessionId, alreadyEnded: row.ended_at !== null },
    });
    if (row.ended_at) return false;
    this.channels.terminate({ workspaceId: p.workspaceId, sessionId, reason: `session terminated by ${p.email}` });
    return true;
  }

  async list(workspaceId: string, limit = 100): Promise<WebshSessionView[]> {
    const rows = await this.db
      .selectFrom('websh_sessions')
      .leftJoin('users', 'users.id', 'websh_sessions.user_id')
      .leftJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .select([
        'websh_sessions.id',
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
      ])
      .where('websh_sessions.workspace_id', '=', workspaceId)
      .orderBy('websh_sessions.started_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
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
    }));
  }
}
