import { createReadStream, existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import { CorralError } from '../errors.js';
import { type Clock, iso } from '../clock.js';

/** Retention by plan, in days (a workspace setting overrides it). */
export const RETENTION_DAYS = { essentials: 365, enterprise: 1825 } as const;
const PURGE_EVERY_MS = 3600_000;

export interface RecordingView {
  sessionId: string;
  user: string | null;
  server: string | null;
  osUser: string;
  command: string | null;
  startedAt: string;
  endedAt: string | null;
  bytes: number | null;
  sha256: string | null;
  /** false once the retention job removed it (or before the session ended). */
  available: boolean;
  purgedAt: string | null;
}

/** Terminal recordings: listing, download (as .cast or .cast.gz), and the retention job. */
export class RecordingService {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.purge().catch((err: unknown) => this.log.warn('recording purge failed', { err: String(err) }));
    }, PURGE_EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async list(p: Principal, limit = 200): Promise<RecordingView[]> {
    let q = this.db
      .selectFrom('websh_sessions')
      .leftJoin('users', 'users.id', 'websh_sessions.user_id')
      .leftJoin('servers', 'servers.id', 'websh_sessions.server_id')
      .selectAll('websh_sessions')
      .select(['users.email as user_email', 'servers.name as server_name'])
      .where('websh_sessions.workspace_id', '=', p.workspaceId)
      .where('websh_sessions.kind', '=', 'terminal')
      .orderBy('websh_sessions.started_at', 'desc')
      .limit(limit);
    if (p.role === 'member') q = q.where('websh_sessions.user_id', '=', p.userId);
    const rows = await q.execute();
    return rows.map((r) => ({
      sessionId: r.id,
      user: r.user_email,
      server: r.server_name,
      osUser: r.os_user,
      command: r.command,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      bytes: r.recording_bytes === null ? null : Number(r.recording_bytes),
      sha256: r.recording_sha256,
      available: Boolean(r.recording_path && !r.recording_purged_at),
      purgedAt: r.recording_purged_at,
    }));
  }

  /** The recording as a stream: decompressed asciicast, or the stored gzip as is. */
  async open(p: Principal, sessionId: string, gz: boolean): Promise<{ stream: Readable; sha256: string | null }> {
    const r = await this.db
      .selectFrom('websh_sessions')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('id', '=', sessionId)
      .executeTakeFirst();
    if (!r || (p.role === 'member' && r.user_id !== p.userId)) {
      throw new CorralError('RECORDING_NOT_FOUND', `No recording of session ${sessionId} in this workspace.`);
    }
    if (!r.recording_path || r.recording_purged_at || !existsSync(r.recording_path)) {
      throw new CorralError(
        'RECORDING_NOT_FOUND',
        r.recording_purged_at
          ? `The recording of ${sessionId} was removed by the retention policy on ${r.recording_purged_at}.`
          : r.ended_at
            ? `Session ${sessionId} has no recording.`
            : `Session ${sessionId} is still running; its recording is ready when it ends.`,
      );
    }
    const file = createReadStream(r.recording_path);
    return { stream: gz ? file : file.pipe(createGunzip()), sha256: r.recording_sha256 };
  }

  /** Remove recordings older than their workspace's retention; one audit event per workspace. */
  async purge(): Promise<number> {
    const workspaces = await this.db.selectFrom('workspaces').select(['id', 'plan', 'settings']).execute();
    let total = 0;
    for (const w of workspaces) {
      const settings = JSON.parse(w.settings) as { recordingRetentionDays?: number };
      const days =
        settings.recordingRetentionDays ?? RETENTION_DAYS[w.plan === 'enterprise' ? 'enterprise' : 'essentials'];
      const cutoff = iso(this.clock.now() - days * 86400_000);
      const due = await this.db
        .selectFrom('websh_sessions')
        .select(['id', 'recording_path'])
        .where('workspace_id', '=', w.id)
        .where('recording_path', 'is not', null)
        .where('recording_purged_at', 'is', null)
        .where('ended_at', '<', cutoff)
        .limit(10_000)
        .execute();
      if (due.length === 0) continue;
      for (const d of due) {
        await unlink(d.recording_path!).catch(() => {});
        // The part an adopted session's recording was carried on from (websh-service adopt()).
        await unlink(d.recording_path!.replace(/\.cast\.gz$/, '.part1.cast.gz')).catch(() => {});
      }
      const now = iso(this.clock.now());
      await this.db
        .updateTable('websh_sessions')
        .set({ recording_purged_at: now })
        .where('workspace_id', '=', w.id)
        .where(
          'id',
          'in',
          due.map((d) => d.id),
        )
        .execute();
      await this.audit.append({
        workspaceId: w.id,
        action: 'recording.purge',
        actor: { type: 'system', name: 'retention' },
        details: {
          count: due.length,
          retentionDays: days,
          endedBefore: cutoff,
          sessions: due.map((d) => d.id).slice(0, 100),
        },
      });
      total += due.length;
    }
    return total;
  }
}
