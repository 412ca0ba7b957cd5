import type { Kysely } from 'kysely';
import type { Metrics, MetricsLatest, MetricsRange, MetricsResponse, ServerHealth } from '@corral/protocol';
import type { Database, ServerMetricsLatestTable, ServerMetricsTable, ServersTable } from '../db/schema.js';
import { iso, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { counterRates, healthOf, pointFromRaw, pointFromRollup, summarize, type HealthInput } from './metrics-math.js';
import { purge, rollUp, RETENTION_MS } from './metrics-rollup.js';

/**
 * Health metrics on the gateway:
 *
 *   agent --metrics--> AgentHub --ingest()--> buffer --flush (1 s)--> server_metrics (raw, 24 h)
 *                                  |                              \-> server_metrics_latest (newest, full)
 *                                  +-> in memory: newest sample and counters per server (rates, health)
 *   every minute, on every node:  server_metrics -> server_metrics_1m (7 d) -> server_metrics_1h (90 d),
 *                                 then retention purge (idempotent upserts: several nodes are harmless)
 *   GET /servers/:name/metrics:   1h raw | 24h 1m | 7d 1h, plus latest and health
 *
 * The buffer is bounded: when the database lags, the oldest samples are dropped and counted.
 */
export interface MetricsServiceOptions {
  /** Most raw rows waiting for the database; past it the oldest are dropped. Default 20 000. */
  maxBuffer?: number;
  /** Wait this long (ms) before writing, so that one INSERT carries the samples of many agents. Default 1000. */
  flushDelayMs?: number;
  /** Rows per INSERT statement (14 parameters each). Default 500. */
  batchRows?: number;
  /** Rollups and retention run this often (ms). Default 60 000. */
  maintenanceEveryMs?: number;
  /** A server's samples closer together than this (ms) are ignored (a runaway agent). Default 250. */
  minSpacingMs?: number;
}

const DEFAULTS: Required<MetricsServiceOptions> = {
  maxBuffer: 20_000,
  flushDelayMs: 1_000,
  batchRows: 500,
  maintenanceEveryMs: 60_000,
  minSpacingMs: 250,
};
/** After a failed write, wait this long before trying again (ms). */
const RETRY_AFTER_MS = 5_000;
/** Warn about dropped samples at most this often (ms). */
const DROP_WARN_EVERY_MS = 60_000;

/** What the gateway remembers of a server's newest sample (this node's agents only). */
interface Recent {
  workspaceId: string;
  atMs: number;
  counters: { atMs: number; rxBytes: number; txBytes: number } | undefined;
  health: HealthInput;
  latest: MetricsLatest;
}

const STEP: Record<MetricsRange, MetricsResponse['step']> = { '1h': 'raw', '24h': '1m', '7d': '1h' };
const SPAN_MS: Record<MetricsRange, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

export class MetricsService {
  readonly #db: Kysely<Database>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #o: Required<MetricsServiceOptions>;
  #buffer: ServerMetricsTable[] = [];
  /** Newest latest-row per server not yet written. */
  readonly #pendingLatest = new Map<string, ServerMetricsLatestTable>();
  readonly #recent = new Map<string, Recent>();
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #maintenanceTimer: NodeJS.Timeout | undefined;
  #maintaining: Promise<void> | undefined;
  #dropped = 0;
  #droppedSinceWarn = 0;
  #lastDropWarn = 0;
  #closed = false;

  constructor(db: Kysely<Database>, clock: Clock, log: Logger, options: MetricsServiceOptions = {}) {
    this.#db = db;
    this.#clock = clock;
    this.#log = log;
    this.#o = { ...DEFAULTS, ...options };
  }

  /** Samples dropped because the buffer was full (since start). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Rows waiting to be written. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Start the rollup and retention job (every minute). Tests call {@link runMaintenance} instead. */
  start(): void {
    if (this.#maintenanceTimer || this.#closed) return;
    this.#maintenanceTimer = setInterval(() => {
      this.runMaintenance().catch((err: unknown) => this.#log.warn('metrics maintenance failed', { err: String(err) }));
    }, this.#o.maintenanceEveryMs);
    this.#maintenanceTimer.unref();
  }

  /**
   * Take one sample from the agent of `server` (already validated by the protocol schema). Never blocks
   * and never throws: the row is buffered and written within `flushDelayMs`.
   */
  ingest(server: Pick<ServersTable, 'id' | 'workspace_id'>, m: Metrics): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const before = this.#recent.get(server.id);
    // A clock that went backwards (now < before.atMs) is not a runaway agent: accept the sample.
    if (before && now >= before.atMs && now - before.atMs < this.#o.minSpacingMs) return;
    const counters = m.net ? { atMs: now, ...m.net } : undefined;
    const { row, latest } = summarize(server, m, now, counterRates(before?.counters, counters));
    this.#recent.set(server.id, {
      workspaceId: server.workspace_id,
      atMs: now,
      counters,
      health: { atMs: now, cpuPct: row.cpu_pct, memPct: row.mem_pct, diskPct: row.disk_pct },
      latest,
    });
    this.#buffer.push(row);
    if (this.#buffer.length > this.#o.maxBuffer) this.#drop(this.#buffer.length - this.#o.maxBuffer);
    this.#pendingLatest.set(server.id, {
      server_id: server.id,
      workspace_id: server.workspace_id,
      at: row.at,
      cpu_pct: row.cpu_pct,
      mem_pct: row.mem_pct,
      disk_pct: row.disk_pct,
      sample: JSON.stringify(latest),
    });
    this.#scheduleFlush(this.#o.flushDelayMs);
  }

  /** Write everything buffered now. Concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushing ??= this.#drain().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  /**
   * Flush, roll raw samples up into minute and hour buckets, purge what is past retention. Safe to run on
   * several nodes at once (see metrics-rollup.ts); one run at a time per node.
   */
  runMaintenance(): Promise<void> {
    this.#maintaining ??= (async () => {
      await this.flush();
      const now = this.#clock.now();
      await rollUp(this.#db, now);
      await purge(this.#db, now);
      for (const [id, r] of this.#recent) if (now - r.atMs > RETENTION_MS.raw) this.#recent.delete(id);
    })().finally(() => (this.#maintaining = undefined));
    return this.#maintaining;
  }

  /** The series for `range`, the newest full sample and the health of `server`. */
  async query(server: ServersTable, range: MetricsRange): Promise<MetricsResponse> {
    const since = iso(this.#clock.now() - SPAN_MS[range]);
    let points;
    if (range === '1h') {
      const rows = await this.#db
        .selectFrom('server_metrics')
        .selectAll()
        .where('workspace_id', '=', server.workspace_id)
        .where('server_id', '=', server.id)
        .where('at', '>=', since)
        .orderBy('at', 'asc')
        .execute();
      points = rows.map(pointFromRaw);
    } else {
      const rows = await this.#db
        .selectFrom(range === '24h' ? 'server_metrics_1m' : 'server_metrics_1h')
        .selectAll()
        .where('workspace_id', '=', server.workspace_id)
        .where('server_id', '=', server.id)
        .where('bucket', '>=', since)
        .orderBy('bucket', 'asc')
        .execute();
      points = rows.map(pointFromRollup);
    }
    const newest = await this.#newest(server.workspace_id, [server.id]);
    const n = newest.get(server.id);
    return {
      range,
      step: STEP[range],
      points,
      latest: n?.latest ?? null,
      health: healthOf(n?.health, server.status === 'online', this.#clock.now()),
    };
  }

  /** Health of each of `servers` (one query for all of them). */
  async healthFor(workspaceId: string, servers: readonly ServersTable[]): Promise<Map<string, ServerHealth>> {
    const newest = await this.#newest(
      workspaceId,
      servers.map((s) => s.id),
      false,
    );
    const now = this.#clock.now();
    return new Map(servers.map((s) => [s.id, healthOf(newest.get(s.id)?.health, s.status === 'online', now)]));
  }

  /** Forget a deleted server: its rows in every table, buffered or written. */
  async forget(workspaceId: string, serverId: string): Promise<void> {
    this.#recent.delete(serverId);
    this.#pendingLatest.delete(serverId);
    this.#buffer = this.#buffer.filter((r) => r.server_id !== serverId);
    for (const table of [
      'server_metrics',
      'server_metrics_1m',
      'server_metrics_1h',
      'server_metrics_latest',
    ] as const) {
      await this.#db
        .deleteFrom(table)
        .where('workspace_id', '=', workspaceId)
        .where('server_id', '=', serverId)
        .execute();
    }
  }

  /** Stop the job and write what is buffered (gateway shutdown, before the database closes). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#maintenanceTimer) clearInterval(this.#maintenanceTimer);
    this.#maintenanceTimer = undefined;
    await this.#maintaining?.catch(() => {});
    await this.flush().catch((err: unknown) => this.#log.warn('metrics not written at shutdown', { err: String(err) }));
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  /**
   * The newest sample of each server, from this node's memory when it holds the agent (fresher) and from
   * server_metrics_latest otherwise (an agent on another node). `full` also parses the stored sample.
   */
  async #newest(
    workspaceId: string,
    serverIds: readonly string[],
    full = true,
  ): Promise<Map<string, { health: HealthInput; latest: MetricsLatest | undefined }>> {
    const out = new Map<string, { health: HealthInput; latest: MetricsLatest | undefined }>();
    if (serverIds.length === 0) return out;
    let q = this.#db
      .selectFrom('server_metrics_latest')
      .select(['server_id', 'at', 'cpu_pct', 'mem_pct', 'disk_pct'])
      .$if(full, (qb) => qb.select('sample'))
      .where('workspace_id', '=', workspaceId);
    // One server: by key. Many (the server list): the workspace's rows, filtered here.
    if (serverIds.length === 1) q = q.where('server_id', '=', serverIds[0]!);
    const wanted = new Set(serverIds);
    for (const r of await q.execute()) {
      if (!wanted.has(r.server_id)) continue;
      const sample = (r as { sample?: string }).sample;
      out.set(r.server_id, {
        health: { atMs: Date.parse(r.at), cpuPct: r.cpu_pct, memPct: r.mem_pct, diskPct: r.disk_pct },
        latest: sample ? (JSON.parse(sample) as MetricsLatest) : undefined,
      });
    }
    for (const id of serverIds) {
      const mine = this.#recent.get(id);
      const stored = out.get(id);
      if (mine && mine.workspaceId === workspaceId && (!stored || mine.atMs >= stored.health.atMs)) {
        out.set(id, { health: mine.health, latest: mine.latest });
      }
    }
    return out;
  }

  #scheduleFlush(delayMs: number): void {
    if (this.#flushTimer || this.#closed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.flush().catch(() => {}); // #drain logs its own failures
    }, delayMs);
    this.#flushTimer.unref();
  }

  #drop(n: number): void {
    this.#buffer.splice(0, n);
    this.#dropped += n;
    this.#droppedSinceWarn += n;
    const now = this.#clock.now();
    if (now - this.#lastDropWarn >= DROP_WARN_EVERY_MS) {
      this.#log.warn('metrics buffer full: oldest samples dropped (the database is not keeping up)', {
        dropped: this.#droppedSinceWarn,
        total: this.#dropped,
        buffer: this.#o.maxBuffer,
      });
      this.#lastDropWarn = now;
      this.#droppedSinceWarn = 0;
    }
  }

  /** Write the buffer in statements of `batchRows`; on failure put the rows back and retry later. */
  async #drain(): Promise<void> {
    while (this.#buffer.length > 0 || this.#pendingLatest.size > 0) {
      const rows = this.#buffer.splice(0, this.#o.batchRows * 10);
      const latest = [...this.#pendingLatest.values()];
      this.#pendingLatest.clear();
      try {
        for (let i = 0; i < rows.length; i += this.#o.batchRows) {
          await this.#db
            .insertInto('server_metrics')
            .values(rows.slice(i, i + this.#o.batchRows))
            // The same receive time twice (a clock stepped back): keep the first.
            .onConflict((oc) => oc.columns(['server_id', 'at']).doNothing())
            .execute();
        }
        for (let i = 0; i < latest.length; i += this.#o.batchRows) {
          await this.#db
            .insertInto('server_metrics_latest')
            .values(latest.slice(i, i + this.#o.batchRows))
            .onConflict((oc) =>
              oc
                .column('server_id')
                .doUpdateSet((eb) => ({
                  workspace_id: eb.ref('excluded.workspace_id'),
                  at: eb.ref('excluded.at'),
                  cpu_pct: eb.ref('excluded.cpu_pct'),
                  mem_pct: eb.ref('excluded.mem_pct'),
                  disk_pct: eb.ref('excluded.disk_pct'),
                  sample: eb.ref('excluded.sample'),
                }))
                // Another node may hold a newer sample of an agent that moved: only newer replaces.
                .whereRef('server_metrics_latest.at', '<', 'excluded.at'),
            )
            .execute();
        }
      } catch (err) {
        // Back in front, oldest first, within the bound; latest rows only where nothing newer arrived.
        this.#buffer = [...rows, ...this.#buffer];
        if (this.#buffer.length > this.#o.maxBuffer) this.#drop(this.#buffer.length - this.#o.maxBuffer);
        for (const l of latest) if (!this.#pendingLatest.has(l.server_id)) this.#pendingLatest.set(l.server_id, l);
        this.#log.warn('metrics write failed; retrying', { err: String(err), buffered: this.#buffer.length });
        this.#scheduleFlush(RETRY_AFTER_MS);
        return;
      }
    }
  }
}
