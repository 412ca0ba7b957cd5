import type { Kysely } from 'kysely';
import { EXEC_MAX_OUTPUT_BYTES, type Grant } from '@corral/protocol';
import type { Database, ServersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AgentHub } from '../agents/agent-hub.js';
import type { GrantSigner } from '../agents/grant-signer.js';
import type { Bus } from '../bus/bus.js';
import { Subjects } from '../bus/bus.js';
import type { IamService } from '../iam/iam-service.js';
import type { WorkSessionService } from '../work-sessions/work-session-service.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../log.js';
import { CorralError } from '../errors.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import { parseSelector, selectorMatches } from '../iam/selectors.js';
import { checkCommand } from './command-acl.js';
import { agentUserOf } from '../servers/server-store.js';
import type { Elevation } from '../privilege/elevation.js';
import { ExecResultWriter } from './result-writer.js';
import { enforceTokenCommand } from '../auth/api-tokens.js';

export interface ExecRequest {
  servers: string[];
  command: string[];
  osUser?: string | undefined;
  parallel?: number | undefined;
  timeoutSeconds?: number | undefined;
  workSessionId?: string | undefined;
}

export type TargetStatus = 'queued' | 'running' | 'ok' | 'failed' | 'offline' | 'refused' | 'lost' | 'cancelled';

export interface ExecSummary {
  servers: number;
  ok: number;
  failed: number;
  offline: number;
  refused: number;
  lost: number;
  cancelled: number;
  durationMs: number;
}

export type ExecEvent =
  | {
      type: 'job';
      jobId: string;
      command: string[];
      targets: Array<{ server: string; status: TargetStatus; reason?: string }>;
    }
  | { type: 'output'; server: string; stream: 'stdout' | 'stderr'; data: string }
  | {
      type: 'exit';
      server: string;
      status: TargetStatus;
      exitCode: number | null;
      signal: string | null;
      timedOut: boolean;
      truncated: boolean;
      durationMs: number;
      reason?: string;
    }
  | { type: 'done'; jobId: string; summary: ExecSummary };

/** Where a run's events go (the HTTP response, in the API) and what the run learns from there. */
export interface ExecSink {
  /** One event of the live stream; never blocks. */
  emit(e: ExecEvent): void;
  /** The caller went away (Ctrl-C): commands still running are cancelled, queued ones not started. */
  cancelled(): boolean;
  /**
   * Resolves once the caller takes events again (its buffer drained). No new command is dispatched
   * before, so a slow reader holds the run back instead of the gateway buffering its output.
   */
  writable(): Promise<void>;
}

interface Target {
  n: number;
  server: ServersTable;
  status: TargetStatus;
  reason?: string;
  workSessionId: string | null;
  execId: string;
  nextSeq: number;
  out: { stdout: Buffer[]; stderr: Buffer[]; bytes: number };
  startedAt: number;
  exited: ((ev: ExecAgentEvent) => void) | null;
  truncated: boolean;
}

interface ExecAgentEvent {
  serverId: string;
  type: 'exec.output' | 'exec.exit';
  execId: string;
  seq: number;
  stream?: 'stdout' | 'stderr';
  data?: string;
  code?: number | null;
  signal?: string | null;
  timedOut?: boolean;
  truncated?: boolean;
  error?: { code: string; message: string };
}

const GRANT_TTL_MS = 60_000;

/** Grace after the command's own timeout before a server that never answered counts as lost. */
const LOST_AFTER_MS = 15_000;
/** A cancelled run sends exec.cancel again this often to each command still running (agents reconnect). */
const CANCEL_EVERY_MS = 250;
/**
 * Servers whose result (row and audit event) may still be on its way to the database while the run
 * goes on; past it, dispatch waits for the writes. Bounds the output held in memory and keeps a slow
 * database from being outrun.
 */
const MAX_UNWRITTEN = 500;

/**
 * Multi-server commands: resolve the servers a selector names, check each (scope, online, work session,
 * command ACL), dispatch to the agents with bounded parallelism, relay output live, keep the results.
 * Agents on other gateway nodes are reached through the bus both ways, so a job runs from any node.
 */
export class ExecService {
  private readonly results: ExecResultWriter;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly agents: AgentHub,
    private readonly signer: GrantSigner,
    private readonly bus: Bus,
    private readonly iam: IamService,
    private readonly workSessions: WorkSessionService,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly elevation: Elevation,
  ) {
    this.results = new ExecResultWriter(db);
  }

  async run(p: Principal, req: ExecRequest, sourceIp: string, sink: ExecSink): Promise<ExecSummary> {
    const emit = (e: ExecEvent): void => sink.emit(e);
    const cancelled = (): boolean => sink.cancelled();
    // An API token's command ACL is checked before anything is resolved or dispatched.
    await enforceTokenCommand(this.audit, p, req.command, sourceIp);
    const t0 = this.clock.now();
    const selectors = req.servers.map((s) => {
      try {
        return parseSelector(s);
      } catch (err) {
        throw new CorralError('VALIDATION_FAILED', (err as Error).message);
      }
    });
    const all = await this.db.selectFrom('servers').selectAll().where('workspace_id', '=', p.workspaceId).execute();
    const groups = await this.iam.serverGroupsByServer(p.workspaceId);
    const matched = all.filter((s) => {
      const f = { name: s.name, groups: groups.get(s.id) ?? [], tags: JSON.parse(s.tags) as Record<string, string> };
      return selectors.some((sel) => selectorMatches(sel, f));
    });
    // Servers the caller may not even see stay out of the answer entirely.
    const visible = await this.iam.visible(p, matched);
    if (visible.length === 0) {
      throw new CorralError('VALIDATION_FAILED', `${req.servers.join(', ')} matches no server you can see.`);
    }
    const writable = new Set((await this.iam.allowed(p, 'exec.run', visible)).map((s) => s.id));
    const cover = await this.workSessions.coverMany(
      p,
      visible.filter((s) => writable.has(s.id)),
      'exec',
      req.workSessionId,
      sourceIp,
    );
    const jobId = newId('exj');
    const targets: Target[] = [];
    for (const [n, server] of visible.entries()) {
      const t: Target = {
        n,
        server,
        status: 'queued',
        workSessionId: null,
        execId: `${jobId}.${n}`,
        nextSeq: 0,
        out: { stdout: [], stderr: [], bytes: 0 },
        startedAt: 0,
        exited: null,
        truncated: false,
      };
      targets.push(t);
      if (!writable.has(server.id)) {
        t.status = 'refused';
        t.reason = `exec needs write scope on ${server.name}`;
        await this.denied(p, server, t.reason, sourceIp);
        continue;
      }
      const ws = cover.get(server.id);
      if (!ws || ws instanceof CorralError) {
        t.status = 'refused';
        t.reason = ws ? ws.message.split('\n')[0]! : 'no work session';
        continue;
      }
      t.workSessionId = ws.id;
      const acl = checkCommand(ws.commands, req.command);
      if (!acl.allow) {
        t.status = 'refused';
        t.reason = `${acl.reason} (work session ${ws.id})`;
        await this.denied(p, server, t.reason, sourceIp, acl.rule);
        continue;
      }
      const osUser = req.osUser ?? agentUserOf(server);
      if (await this.elevation.needed(p, osUser, req.osUser !== undefined)) {
        try {
          await this.elevation.require(p, server, 'exec', sourceIp, req.workSessionId);
        } catch (err) {
          if (!(err instanceof CorralError)) throw err;
          t.status = 'refused';
          t.reason = err.message.split('\n')[0]!;
          continue;
        }
      }
      if (server.status !== 'online') {
        t.status = 'offline';
        t.reason = 'the agent is not connected';
      }
    }

    const now = iso(t0);
    await this.db
      .insertInto('exec_jobs')
      .values({
        id: jobId,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        user_email: p.email,
        selectors: JSON.stringify(req.servers),
        command: JSON.stringify(req.command),
        os_user: req.osUser ?? null,
        parallel: req.parallel ?? 100,
        timeout_s: req.timeoutSeconds ?? 30,
        created_at: now,
        finished_at: null,
        summary: null,
      })
      .execute();
    for (let i = 0; i < targets.length; i += 200) {
      await this.db
        .insertInto('exec_results')
        .values(
          targets.slice(i, i + 200).map((t) => ({
            job_id: jobId,
            n: t.n,
            workspace_id: p.workspaceId,
            server_id: t.server.id,
            server_name: t.server.name,
            status: t.status,
            reason: t.reason ?? null,
            work_session_id: t.workSessionId,
            exit_code: null,
            signal: null,
            started_at: null,
            finished_at: t.status === 'queued' ? null : now,
            stdout: null,
            stderr: null,
          })),
        )
        .execute();
    }
    emit({
      type: 'job',
      jobId,
      command: req.command,
      targets: targets.map((t) => ({
        server: t.server.name,
        status: t.status,
        ...(t.reason ? { reason: t.reason } : {}),
      })),
    });

    const byExec = new Map(targets.map((t) => [t.execId, t]));
    const unsubscribe = this.bus.subscribe(Subjects.execEvent(jobId), (data) => {
      const ev = data as ExecAgentEvent;
      const t = byExec.get(ev.execId);
      if (!t || t.server.id !== ev.serverId || ev.seq < t.nextSeq) return; // unknown, or a re-sent duplicate
      t.nextSeq = ev.seq + 1;
      if (ev.type === 'exec.output' && ev.stream && ev.data !== undefined) {
        const buf = Buffer.from(ev.data, 'base64');
        if (t.out.bytes + buf.length <= EXEC_MAX_OUTPUT_BYTES) {
          t.out[ev.stream].push(buf);
          t.out.bytes += buf.length;
        } else {
          t.truncated = true;
        }
        emit({ type: 'output', server: t.server.name, stream: ev.stream, data: buf.toString('utf8') });
      } else if (ev.type === 'exec.exit') {
        t.exited?.(ev);
      }
    });

    const osUserOf = (s: ServersTable): string => req.osUser ?? agentUserOf(s);
    const timeoutMs = (req.timeoutSeconds ?? 30) * 1000;
    const queue = targets.filter((t) => t.status === 'queued');

    // Results are written behind the run (group commit, ExecResultWriter and AuditLog): a server's lane
    // takes its next server without waiting for the database, up to MAX_UNWRITTEN results in flight.
    const unwritten = new Set<Promise<void>>();
    const writeFailure: { err?: unknown; failed: boolean } = { failed: false };
    const track = (write: Promise<void>): void => {
      const tracked: Promise<void> = write.then(
        () => void unwritten.delete(tracked),
        (err: unknown) => {
          unwritten.delete(tracked);
          if (!writeFailure.failed) Object.assign(writeFailure, { failed: true, err });
        },
      );
      unwritten.add(tracked);
    };

    // A cancelled run stops the commands still going: one watcher for the job, re-sending exec.cancel
    // to each running command until it exits (its agent may be reconnecting).
    const running = new Set<Target>();
    const cancelWatch = setInterval(() => {
      if (!cancelled()) return;
      for (const t of running) void this.agents.send(t.server.id, { type: 'exec.cancel', execId: t.execId });
    }, CANCEL_EVERY_MS);
    cancelWatch.unref();

    const runOne = async (t: Target): Promise<void> => {
      if (cancelled()) {
        t.status = 'cancelled';
        t.reason = 'the run was cancelled';
        return track(this.finish(p, jobId, t, null, emit, req, sourceIp));
      }
      const grant: Grant = {
        v: 1,
        channelId: t.execId,
        serverId: t.server.id,
        kind: 'exec',
        osUser: osUserOf(t.server),
        expiresAt: this.clock.now() + GRANT_TTL_MS,
        command: req.command,
      };
      t.startedAt = this.clock.now();
      t.status = 'running';
      let lostTimer: NodeJS.Timeout | undefined;
      const exit = new Promise<ExecAgentEvent | null>((resolve) => {
        t.exited = resolve;
        lostTimer = setTimeout(() => resolve(null), timeoutMs + LOST_AFTER_MS);
        lostTimer.unref();
      });
      running.add(t);
      const sent = await this.agents.send(t.server.id, {
        type: 'exec.start',
        execId: t.execId,
        grant,
        signature: this.signer.sign(grant),
        timeoutMs,
      });
      if (!sent) {
        running.delete(t);
        clearTimeout(lostTimer);
        t.status = 'offline';
        t.reason = 'the agent went offline';
        return track(this.finish(p, jobId, t, null, emit, req, sourceIp));
      }
      const ev = await exit;
      running.delete(t);
      clearTimeout(lostTimer);
      if (!ev) {
        t.status = 'lost';
        t.reason = 'no answer from the agent (it or its gateway node went away)';
      } else if (ev.error) {
        t.status = 'refused';
        t.reason = `${ev.error.code}: ${ev.error.message}`;
      } else {
        t.truncated ||= Boolean(ev.truncated);
        t.status = cancelled() && ev.code !== 0 ? 'cancelled' : ev.code === 0 ? 'ok' : 'failed';
        if (ev.timedOut) t.reason = `timed out after ${timeoutMs / 1000} s`;
        void this.agents.send(t.server.id, { type: 'exec.ack', execId: t.execId });
      }
      return track(this.finish(p, jobId, t, ev, emit, req, sourceIp));
    };
    // Bounded parallelism: at most `parallel` commands running at once.
    const workers = Math.max(1, Math.min(req.parallel ?? 100, queue.length));
    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: workers }, async () => {
          // A result that cannot be stored stops the run: no more commands whose results would be lost.
          while (next < queue.length && !writeFailure.failed) {
            await sink.writable();
            const t = queue[next++];
            if (!t) break;
            await runOne(t);
            while (unwritten.size >= MAX_UNWRITTEN) await Promise.race(unwritten);
          }
        }),
      );
      await Promise.all(unwritten);
    } finally {
      unsubscribe();
      clearInterval(cancelWatch);
    }
    if (writeFailure.failed) throw writeFailure.err;
    for (const t of targets) {
      if (t.status === 'offline' || t.status === 'refused') {
        if (!queue.includes(t)) emit(this.exitEvent(t, null));
      }
    }
    const count = (s: TargetStatus) => targets.filter((t) => t.status === s).length;
    const summary: ExecSummary = {
      servers: targets.length,
      ok: count('ok'),
      failed: count('failed'),
      offline: count('offline'),
      refused: count('refused'),
      lost: count('lost'),
      cancelled: count('cancelled'),
      durationMs: this.clock.now() - t0,
    };
    await this.db
      .updateTable('exec_jobs')
      .set({ finished_at: iso(this.clock.now()), summary: JSON.stringify(summary) })
      .where('id', '=', jobId)
      .execute();
    emit({ type: 'done', jobId, summary });
    return summary;
  }

  private exitEvent(t: Target, ev: ExecAgentEvent | null): Extract<ExecEvent, { type: 'exit' }> {
    return {
      type: 'exit',
      server: t.server.name,
      status: t.status,
      exitCode: ev?.code ?? null,
      signal: ev?.signal ?? null,
      timedOut: Boolean(ev?.timedOut),
      truncated: t.truncated,
      durationMs: t.startedAt ? this.clock.now() - t.startedAt : 0,
      ...(t.reason ? { reason: t.reason } : {}),
    };
  }

  /** Report a server's exit to the caller; resolves once its result row and audit event are committed. */
  private async finish(
    p: Principal,
    jobId: string,
    t: Target,
    ev: ExecAgentEvent | null,
    emit: (e: ExecEvent) => void,
    req: ExecRequest,
    sourceIp: string,
  ): Promise<void> {
    const e = this.exitEvent(t, ev);
    emit(e);
    const row = this.results.write({
      job_id: jobId,
      n: t.n,
      workspace_id: p.workspaceId,
      server_id: t.server.id,
      server_name: t.server.name,
      status: t.status,
      reason: t.reason ?? null,
      work_session_id: t.workSessionId,
      exit_code: e.exitCode,
      signal: e.signal,
      started_at: t.startedAt ? iso(t.startedAt) : null,
      finished_at: iso(this.clock.now()),
      stdout: Buffer.concat(t.out.stdout).toString('utf8'),
      stderr: Buffer.concat(t.out.stderr).toString('utf8'),
      truncated: t.truncated ? 1 : 0,
    });
    // The output now lives in the row being written: the target no longer holds it.
    t.out = { stdout: [], stderr: [], bytes: t.out.bytes };
    const event = this.audit.append({
      workspaceId: p.workspaceId,
      action: 'exec.run',
      outcome: t.status === 'ok' ? 'success' : 'failure',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: t.server.id, name: t.server.name },
      sourceIp,
      details: {
        jobId,
        command: req.command.join(' '),
        osUser: req.osUser ?? null,
        status: t.status,
        exitCode: e.exitCode,
        reason: t.reason ?? null,
        workSessionId: t.workSessionId,
        durationMs: e.durationMs,
      },
    });
    await Promise.all([row, event]);
  }

  private async denied(
    p: Principal,
    server: ServersTable,
    reason: string,
    sourceIp: string,
    rule?: string,
  ): Promise<void> {
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'server', id: server.id, name: server.name },
      sourceIp,
      details: { attempted: 'exec.run', reason, ...(rule ? { rule } : {}) },
    });
  }

  async list(p: Principal, limit = 100) {
    let q = this.db
      .selectFrom('exec_jobs')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .orderBy('created_at', 'desc')
      .limit(limit);
    if (p.role === 'member') q = q.where('user_id', '=', p.userId);
    const rows = await q.execute();
    return rows.map((r) => ({
      id: r.id,
      user: r.user_email,
      servers: JSON.parse(r.selectors) as string[],
      command: JSON.parse(r.command) as string[],
      osUser: r.os_user,
      createdAt: r.created_at,
      finishedAt: r.finished_at,
      summary: r.summary ? (JSON.parse(r.summary) as ExecSummary) : null,
    }));
  }

  async show(p: Principal, id: string) {
    const job = await this.db
      .selectFrom('exec_jobs')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!job || (p.role === 'member' && job.user_id !== p.userId)) {
      throw new CorralError('EXEC_JOB_NOT_FOUND', `No exec job ${id} in this workspace.`);
    }
    const results = await this.db
      .selectFrom('exec_results')
      .selectAll()
      .where('job_id', '=', id)
      .orderBy('n', 'asc')
      .execute();
    return {
      id: job.id,
      user: job.user_email,
      servers: JSON.parse(job.selectors) as string[],
      command: JSON.parse(job.command) as string[],
      osUser: job.os_user,
      createdAt: job.created_at,
      finishedAt: job.finished_at,
      summary: job.summary ? (JSON.parse(job.summary) as ExecSummary) : null,
      results: results.map((r) => ({
        server: r.server_name,
        status: r.status,
        reason: r.reason,
        exitCode: r.exit_code,
        signal: r.signal,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        workSessionId: r.work_session_id,
        stdout: r.stdout ?? '',
        stderr: r.stderr ?? '',
        truncated: Number(r.truncated) === 1,
      })),
    };
  }
}
