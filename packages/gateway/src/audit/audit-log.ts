import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEventView, AuditVerifyResponse } from '@corral/protocol';
import type { Database, AuditEventsTable } from '../db/schema.js';
import type { Dialect } from '../db/migrations.js';
import { canonicalJson } from './canonical-json.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import { currentPrincipal } from '../auth/request-context.js';

/** The hash that precedes a workspace's first event. */
export const GENESIS_HASH = '0'.repeat(64);

export type AuditOutcome = 'success' | 'failure' | 'denied';

/** One event to record. Dotted action names: `auth.login`, `session.start`, `access.denied`. */
export interface AuditInput {
  workspaceId: string;
  action: string;
  outcome?: AuditOutcome;
  actor: { type: 'user' | 'application' | 'agent' | 'system' | 'anonymous'; id?: string | null; name?: string | null };
  target?: { type: string; id?: string | null; name?: string | null };
  sourceIp?: string | null;
  details?: Record<string, unknown>;
}

type EventFields = Omit<AuditEventsTable, 'hash'>;

/**
 * An event caused by a request made with an API or service token names the token: `details.tokenId`
 * and `details.tokenKind` are added, and an application's actor type is `application`. Taken from the
 * request context (auth/request-context.ts), so no caller can forget it.
 */
function withToken(input: AuditInput): AuditInput {
  const p = currentPrincipal();
  if (!p?.apiToken || input.workspaceId !== p.workspaceId || input.actor.id !== p.userId) return input;
  return {
    ...input,
    actor: { ...input.actor, type: p.kind === 'application' ? 'application' : input.actor.type },
    details: { ...input.details, tokenId: p.apiToken.id, tokenKind: p.apiToken.kind },
  };
}

/** The hash of an event: SHA-256 over the previous hash and the canonical JSON of every other field. */
export function eventHash(e: EventFields): string {
  const body = canonicalJson({
    workspace_id: e.workspace_id,
    seq: e.seq,
    id: e.id,
    ts: e.ts,
    action: e.action,
    outcome: e.outcome,
    actor_type: e.actor_type,
    actor_id: e.actor_id,
    actor_name: e.actor_name,
    target_type: e.target_type,
    target_id: e.target_id,
    target_name: e.target_name,
    source_ip: e.source_ip,
    details: e.details,
  });
  return createHash('sha256').update(e.prev_hash).update('\n').update(body).digest('hex');
}

function toView(r: AuditEventsTable): AuditEventView {
  return {
    seq: Number(r.seq),
    id: r.id,
    ts: r.ts,
    action: r.action,
    outcome: r.outcome,
    actorType: r.actor_type,
    actorId: r.actor_id,
    actorName: r.actor_name,
    targetType: r.target_type,
    targetId: r.target_id,
    targetName: r.target_name,
    sourceIp: r.source_ip,
    details: JSON.parse(r.details) as Record<string, unknown>,
    hash: r.hash,
  };
}

/**
 * The append-only, hash-chained audit log. Appends to one workspace are serialised in-process and,
 * across gateway nodes, by locking the workspace's chain head row (PostgreSQL `FOR UPDATE`; SQLite
 * serialises writers itself).
 *
 * Group commit: events that arrive in the same event-loop turn, or while a write is in flight, are
 * chained and written together in the next transaction (up to 500), so a burst (10,000 agents
 * reconnecting after a restart, an exec on 1,000 servers) costs a few transactions, not one each. Every
 * append still resolves only once its own event is committed.
 */
interface Pending {
  input: AuditInput;
  resolve: (v: AuditEventView) => void;
  reject: (err: unknown) => void;
}

const MAX_BATCH = 500;

/** Filters of the audit list (all exact; `since`/`until` are ISO 8601 instants, inclusive). */
export interface AuditListFilter {
  limit?: number;
  before?: number;
  action?: string;
  /** The actor's name (an email for users) or id. */
  actor?: string;
  /** Events whose target is this server (name or id). */
  server?: string;
  since?: string;
  until?: string;
}

export class AuditLog {
  private readonly pending = new Map<string, Pending[]>();
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly clock: Clock,
    private readonly onAppend: (e: AuditEventView) => void = () => {},
  ) {}

  /** Record an event; resolves once it is committed. */
  append(event: AuditInput): Promise<AuditEventView> {
    const input = withToken(event);
    return new Promise((resolve, reject) => {
      const list = this.pending.get(input.workspaceId) ?? [];
      list.push({ input, resolve, reject });
      this.pending.set(input.workspaceId, list);
      if (!this.writing.has(input.workspaceId)) this.drain(input.workspaceId);
    });
  }

  /** Wait until every queued append has been written (for shutdown). */
  async flush(): Promise<void> {
    while (this.writing.size > 0) await Promise.allSettled([...this.writing.values()]);
  }

  private drain(workspaceId: string): void {
    const run = (async () => {
      // Let the rest of this event-loop turn join the first batch. better-sqlite3 writes synchronously,
      // so on SQLite a write is never "in flight" while other callbacks run: without this yield, events
      // from different callbacks of one turn (a burst of 1,000 exec results arriving on as many agent
      // sockets) would each get a transaction of their own.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (;;) {
        const list = this.pending.get(workspaceId);
        if (!list || list.length === 0) break;
        const batch = list.splice(0, MAX_BATCH);
        try {
          const views = await this.writeBatch(
            workspaceId,
            batch.map((b) => b.input),
          );
          batch.forEach((b, i) => b.resolve(views[i]!));
          for (const v of views) this.onAppend(v);
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
      this.pending.delete(workspaceId);
    })();
    this.writing.set(workspaceId, run);
    void run.finally(() => {
      if (this.writing.get(workspaceId) === run) this.writing.delete(workspaceId);
      // Appends that raced with the end of the loop start a new one.
      if ((this.pending.get(workspaceId)?.length ?? 0) > 0 && !this.writing.has(workspaceId)) this.drain(workspaceId);
    });
  }

  private async writeBatch(workspaceId: string, inputs: AuditInput[]): Promise<AuditEventView[]> {
    const rows = await this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('audit_heads').selectAll().where('workspace_id', '=', workspaceId);
      if (this.dialect === 'postgres') q = q.forUpdate();
      let head = await q.executeTakeFirst();
      if (!head) {
        head = { workspace_id: workspaceId, seq: 0, hash: GENESIS_HASH };
        await trx.insertInto('audit_heads').values(head).execute();
      }
      let seq = Number(head.seq);
      let prevHash = head.hash;
      const out: AuditEventsTable[] = [];
      for (const input of inputs) {
        const fields: EventFields = {
          workspace_id: workspaceId,
          seq: ++seq,
          id: newId('evt'),
          ts: iso(this.clock.now()),
          action: input.action,
          outcome: input.outcome ?? 'success',
          actor_type: input.actor.type,
          actor_id: input.actor.id ?? null,
          actor_name: input.actor.name ?? null,
          target_type: input.target?.type ?? null,
          target_id: input.target?.id ?? null,
          target_name: input.target?.name ?? null,
          source_ip: input.sourceIp ?? null,
          details: canonicalJson(input.details ?? {}),
          prev_hash: prevHash,
        };
        const full: AuditEventsTable = { ...fields, hash: eventHash(fields) };
        prevHash = full.hash;
        out.push(full);
      }
      // Multi-row inserts, in chunks small enough for SQLite's parameter limit.
      for (let i = 0; i < out.length; i += 50)
        await trx
          .insertInto('audit_events')
          .values(out.slice(i, i + 50))
          .execute();
      await trx
        .updateTable('audit_heads')
        .set({ seq, hash: prevHash })
        .where('workspace_id', '=', workspaceId)
        .execute();
      return out;
    });
    return rows.map(toView);
  }

  /** Newest first. `before` pages backwards by sequence number. */
  async list(
    workspaceId: string,
    opts: AuditListFilter = {},
  ): Promise<{ items: AuditEventView[]; nextBefore: number | null }> {
    const limit = Math.min(Math.max(opts.limit ?? 50, 1), 1000);
    let q = this.db.selectFrom('audit_events').selectAll().where('workspace_id', '=', workspaceId);
    if (opts.before !== undefined) q = q.where('seq', '<', opts.before);
    if (opts.action) q = q.where('action', '=', opts.action);
    const actor = opts.actor;
    if (actor) q = q.where((eb) => eb.or([eb('actor_name', '=', actor), eb('actor_id', '=', actor)]));
    const server = opts.server;
    if (server)
      q = q
        .where('target_type', '=', 'server')
        .where((eb) => eb.or([eb('target_name', '=', server), eb('target_id', '=', server)]));
    // ISO 8601 UTC strings of one width compare like the instants they name.
    if (opts.since) q = q.where('ts', '>=', opts.since);
    if (opts.until) q = q.where('ts', '<=', opts.until);
    const rows = await q
      .orderBy('seq', 'desc')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map(toView);
    const last = items[items.length - 1];
    return { items, nextBefore: rows.length > limit && last ? last.seq : null };
  }

  /** Recompute the whole chain of a workspace. */
  async verify(workspaceId: string): Promise<AuditVerifyResponse> {
    const head = await this.db
      .selectFrom('audit_heads')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    let prevHash = GENESIS_HASH;
    let expectSeq = 1;
    let count = 0;
    const page = 1000;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_events')
        .selectAll()
        .where('workspace_id', '=', workspaceId)
        .where('seq', '>=', expectSeq)
        .orderBy('seq', 'asc')
        .limit(page)
        .execute();
      for (const r of rows) {
        const seq = Number(r.seq);
        const fail = (reason: string): AuditVerifyResponse => ({
          ok: false,
          count,
          headSeq: Number(head?.seq ?? 0),
          headHash: head?.hash ?? null,
          brokenAt: seq,
          reason,
        });
        if (seq !== expectSeq) return fail(`sequence gap: expected ${expectSeq}, found ${seq}`);
        if (r.prev_hash !== prevHash) return fail('prev_hash does not match the previous event');
        const { hash, ...fields } = r;
        if (eventHash({ ...fields, seq }) !== hash) return fail('event hash does not match its content');
        prevHash = hash;
        expectSeq = seq + 1;
        count++;
      }
      if (rows.length < page) break;
    }
    const headSeq = Number(head?.seq ?? 0);
    if (headSeq !== count || (head && head.hash !== prevHash)) {
      return {
        ok: false,
        count,
        headSeq,
        headHash: head?.hash ?? null,
        brokenAt: count + 1,
        reason: 'chain head does not match the last event (events missing at the end)',
      };
    }
    return { ok: true, count, headSeq, headHash: head?.hash ?? null, brokenAt: null, reason: null };
  }
}
