import { createHash } from 'node:crypto';
import { agentUserOf } from '../servers/server-store.js';
import type { Kysely } from 'kysely';
import type { FsFromAgent, FsRequest } from '@corral/protocol';
import type { Database, ServersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChannelHub, FileChannelInspector } from '../channels/channel-hub.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';

export interface FileLimits {
  /** Largest upload, in bytes. */
  maxUploadBytes: number;
  /** Largest file the code editor opens or saves. */
  maxEditBytes: number;
}

export const DEFAULT_FILE_LIMITS: FileLimits = { maxUploadBytes: 16 * 1024 ** 3, maxEditBytes: 2 * 1024 * 1024 };

export type FilePurpose = 'file_transfer' | 'code_editor';

/** Operations a code-editor channel may use (reading and saving text, nothing else). */
const EDITOR_OPS = new Set(['fs.stat', 'fs.read', 'fs.write', 'fs.commit', 'fs.abort', 'fs.list']);

const AUDIT_ACTION: Record<string, string> = {
  'fs.list': 'file.list',
  'fs.stat': 'file.stat',
  'fs.mkdir': 'file.mkdir',
  'fs.rename': 'file.rename',
  'fs.delete': 'file.delete',
  'fs.chmod': 'file.chmod',
  'fs.read': 'file.download',
  'fs.write': 'file.upload',
};

interface OpenOp {
  req: FsRequest;
  startedAt: number;
  bytes: number;
  hash: ReturnType<typeof createHash> | null;
  path: string;
}

/**
 * File channels: opened under IAM and a work session, watched op by op. The gateway counts and hashes
 * the bytes it relays itself (and compares with what the agent reports), enforces the size limits and
 * the editor's restrictions, and writes one `file.*` audit event per operation.
 */
export class FilesService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly channels: ChannelHub,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly limits: FileLimits,
  ) {}

  async open(
    p: Principal,
    server: ServersTable,
    opts: { osUser?: string | undefined; purpose: FilePurpose; workSessionId: string | null },
    sourceIp: string,
  ): Promise<{ sessionId: string; channelId: string; token: string; path: string; osUser: string }> {
    if (server.status !== 'online') {
      throw new CorralError('SERVER_OFFLINE', `Server "${server.name}" is offline: its agent is not connected.`);
    }
    const osUser = opts.osUser ?? agentUserOf(server);
    const sessionId = newId('ses');
    await this.db
      .insertInto('websh_sessions')
      .values({
        id: sessionId,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        server_id: server.id,
        os_user: osUser,
        command: opts.purpose === 'code_editor' ? '(code editor)' : '(file transfer)',
        pty: 0,
        started_at: iso(this.clock.now()),
        ended_at: null,
        bytes_in: 0,
        bytes_out: 0,
        exit_code: null,
        end_reason: null,
        work_session_id: opts.workSessionId,
        kind: 'files',
      })
      .execute();
    const inspector = this.inspector(p, server, osUser, opts.purpose, sessionId, opts.workSessionId, sourceIp);
    const { channelId, token } = this.channels.create({
      sessionId,
      workspaceId: p.workspaceId,
      userId: p.userId,
      serverId: server.id,
      kind: 'files',
      files: inspector,
      filesPurpose: opts.purpose,
      osUser,
      command: undefined,
      pty: false,
      cols: 80,
      rows: 24,
      term: undefined,
      workSessionId: opts.workSessionId,
      onEnd: (r) => {
        this.db
          .updateTable('websh_sessions')
          .set({ ended_at: iso(this.clock.now()), bytes_in: r.bytesIn, bytes_out: r.bytesOut, end_reason: r.endReason })
          .where('id', '=', sessionId)
          .execute()
          .catch((err: unknown) => this.log.error('file channel bookkeeping failed', { err: String(err) }));
      },
    });
    return { sessionId, channelId, token, path: `/api/v1/channels/${channelId}?token=${token}`, osUser };
  }

  private inspector(
    p: Principal,
    server: ServersTable,
    osUser: string,
    purpose: FilePurpose,
    sessionId: string,
    workSessionId: string | null,
    sourceIp: string,
  ): FileChannelInspector {
    let op: OpenOp | null = null;
    let swallow: number | null = null;
    const limits = this.limits;
    const record = (o: OpenOp, outcome: 'success' | 'failure', extra: Record<string, unknown>): void => {
      const req = o.req;
      const action = AUDIT_ACTION[req.type] ?? 'file.op';
      const details: Record<string, unknown> = {
        sessionId,
        workSessionId,
        osUser,
        path: extra.path ?? o.path,
        purpose,
        ...extra,
      };
      if (req.type === 'fs.rename') details.from = req.from;
      if (req.type === 'fs.read' && req.archive) details.archive = req.archive;
      if (req.type === 'fs.write' && req.unpack) details.unpack = req.unpack;
      this.audit
        .append({
          workspaceId: p.workspaceId,
          action,
          outcome,
          actor: { type: 'user', id: p.userId, name: p.email },
          target: { type: 'server', id: server.id, name: server.name },
          sourceIp,
          details,
        })
        .catch((err: unknown) => this.log.error('file audit failed', { err: String(err) }));
    };
    const refuse = (id: number, code: 'EACCES' | 'TOO_LARGE' | 'PROTOCOL', message: string): FsFromAgent => ({
      type: 'fs.error',
      id,
      code,
      message,
    });

    return {
      fromUser: (msg) => {
        if (msg.type === 'ping' || msg.type === 'pong') return { forward: true };
        if (msg.type === 'fs.commit' || msg.type === 'fs.abort') return { forward: true };
        if (purpose === 'code_editor' && !EDITOR_OPS.has(msg.type)) {
          return {
            forward: false,
            reply: refuse(msg.id, 'EACCES', `a code-editor session may not ${msg.type.slice(3)}`),
          };
        }
        if (purpose === 'code_editor' && msg.type === 'fs.read' && msg.archive) {
          return { forward: false, reply: refuse(msg.id, 'EACCES', 'a code-editor session reads files, not archives') };
        }
        if (msg.type === 'fs.write') {
          const cap = purpose === 'code_editor' ? limits.maxEditBytes : limits.maxUploadBytes;
          if (msg.size !== undefined && msg.size > cap) {
            return {
              forward: false,
              reply: refuse(msg.id, 'TOO_LARGE', `${msg.size} bytes is over this gateway's ${cap}-byte upload limit`),
            };
          }
        }
        if (op) return { forward: false, reply: refuse(msg.id, 'PROTOCOL', 'one operation at a time') };
        op = {
          req: purpose === 'code_editor' && msg.type === 'fs.read' ? { ...msg, maxBytes: limits.maxEditBytes } : msg,
          startedAt: this.clock.now(),
          bytes: 0,
          hash: msg.type === 'fs.read' || msg.type === 'fs.write' ? createHash('sha256') : null,
          path: msg.type === 'fs.rename' ? msg.to : msg.path,
        };
        return { forward: true };
      },
      userBytes: (data) => {
        if (!op || op.req.type !== 'fs.write') return { ok: true };
        op.bytes += data.length;
        op.hash?.update(data);
        const cap = purpose === 'code_editor' ? limits.maxEditBytes : limits.maxUploadBytes;
        if (op.bytes > cap) {
          const o = op;
          op = null;
          swallow = o.req.id;
          record(o, 'failure', { bytes: o.bytes, error: 'TOO_LARGE' });
          return {
            ok: false,
            reply: refuse(o.req.id, 'TOO_LARGE', `the upload passed this gateway's ${cap}-byte limit`),
          };
        }
        return { ok: true };
      },
      agentBytes: (data) => {
        if (!op || op.req.type !== 'fs.read') return;
        op.bytes += data.length;
        op.hash?.update(data);
      },
      fromAgent: (msg) => {
        if (msg.type === 'ping' || msg.type === 'pong') return true;
        if (swallow !== null && msg.id === swallow && (msg.type === 'fs.error' || msg.type === 'fs.result')) {
          swallow = null;
          return false;
        }
        if (!op || msg.id !== op.req.id) return true;
        if (msg.type === 'fs.begin' || msg.type === 'fs.ready') return true;
        const o = op;
        op = null;
        const ms = this.clock.now() - o.startedAt;
        if (msg.type === 'fs.error') {
          record(o, 'failure', { error: msg.code, message: msg.message, ms });
          return true;
        }
        const sha256 = o.hash ? o.hash.digest('hex') : undefined;
        if (msg.type === 'fs.end') {
          const match = sha256 === msg.sha256 && o.bytes === msg.bytes;
          if (!match) this.log.warn('download digest mismatch', { sessionId, agent: msg.sha256, gateway: sha256 });
          record(o, match ? 'success' : 'failure', {
            size: o.bytes,
            sha256,
            ms,
            ...(match ? {} : { error: 'DIGEST_MISMATCH' }),
          });
          return true;
        }
        // fs.result
        if (o.req.type === 'fs.write') {
          const match = msg.sha256 === sha256 && msg.bytes === o.bytes;
          record(o, match ? 'success' : 'failure', {
            path: msg.path,
            size: o.bytes,
            sha256,
            ms,
            ...(match ? {} : { error: 'DIGEST_MISMATCH' }),
          });
          return true;
        }
        record(o, 'success', {
          path: msg.path,
          ...(msg.entries ? { entries: msg.entries.length } : {}),
          ms,
        });
        return true;
      },
      end: () => {
        if (op) {
          const o = op;
          op = null;
          record(o, 'failure', { error: 'INTERRUPTED', size: o.bytes });
        }
      },
    };
  }
}
