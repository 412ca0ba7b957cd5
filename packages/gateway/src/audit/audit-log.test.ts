import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, type OpenDb } from '../db/open.js';
import { AuditLog, GENESIS_HASH } from './audit-log.js';
import { canonicalJson } from './canonical-json.js';

describe('audit log', () => {
  let odb: OpenDb;
  let log: AuditLog;
  let t = 1_700_000_000_000;
  beforeEach(async () => {
    odb = await openDatabase('sqlite::memory:');
    log = new AuditLog(odb.db, odb.dialect, { now: () => t++ });
    await sql`INSERT INTO workspaces (id, name, created_at) VALUES ('ws_a', 'a', 'x'), ('ws_b', 'b', 'x')`.execute(
      odb.db,
    );
  });
  afterEach(async () => odb.close());

  const ev = (workspaceId: string, action: string) => ({ workspaceId, action, actor: { type: 'system' as const } });

  it('numbers events per workspace and chains their hashes', async () => {
    const a1 = await log.append(ev('ws_a', 'x.one'));
    const b1 = await log.append(ev('ws_b', 'x.one'));
    const a2 = await log.append(ev('ws_a', 'x.two'));
    expect([a1.seq, b1.seq, a2.seq]).toEqual([1, 1, 2]);
    const rows = await odb.db
      .selectFrom('audit_events')
      .selectAll()
      .where('workspace_id', '=', 'ws_a')
      .orderBy('seq')
      .execute();
    expect(rows[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(rows[1]!.prev_hash).toBe(rows[0]!.hash);
    expect(await log.verify('ws_a')).toMatchObject({ ok: true, count: 2, headSeq: 2 });
  });

  it('keeps order under concurrent appends (group commit): each append gets the next number, in call order', async () => {
    const views = await Promise.all(Array.from({ length: 1200 }, (_, i) => log.append(ev('ws_a', `n.${i}`))));
    expect(views.map((v) => v.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(views.map((v) => v.action)).toEqual(Array.from({ length: 1200 }, (_, i) => `n.${i}`));
    expect(await log.verify('ws_a')).toMatchObject({ ok: true, count: 1200 });
    // A later single append continues the chain.
    expect((await log.append(ev('ws_a', 'late'))).seq).toBe(1201);
  });

  it('groups events from separate callbacks of one event-loop turn into one transaction', async () => {
    // What a burst of agent messages looks like: one callback per socket, all in the same poll phase.
    // better-sqlite3 writes synchronously, so without the yield before the first batch each callback's
    // event would be written (and committed) on its own.
    const transactions = vi.spyOn(odb.db, 'transaction');
    const appends = await new Promise<Array<Promise<unknown>>>((resolve) => {
      const out: Array<Promise<unknown>> = [];
      for (let i = 0; i < 50; i++) setImmediate(() => out.push(log.append(ev('ws_a', `burst.${i}`))));
      setImmediate(() => resolve(out));
    });
    await Promise.all(appends);
    expect(transactions).toHaveBeenCalledTimes(1);
    expect(await log.verify('ws_a')).toMatchObject({ ok: true, count: 50 });
  });

  it('detects an edited event, even when someone with database rights bypasses the trigger', async () => {
    for (let i = 0; i < 5; i++) await log.append(ev('ws_a', `n.${i}`));
    await sql`DROP TRIGGER audit_events_no_update`.execute(odb.db);
    await sql`UPDATE audit_events SET action = 'forged' WHERE workspace_id = 'ws_a' AND seq = 3`.execute(odb.db);
    expect(await log.verify('ws_a')).toMatchObject({ ok: false, brokenAt: 3 });
  });

  it('detects events removed from the end of the chain', async () => {
    for (let i = 0; i < 3; i++) await log.append(ev('ws_a', `n.${i}`));
    await sql`DROP TRIGGER audit_events_no_delete`.execute(odb.db);
    await sql`DELETE FROM audit_events WHERE workspace_id = 'ws_a' AND seq = 3`.execute(odb.db);
    expect(await log.verify('ws_a')).toMatchObject({ ok: false });
  });

  it('pages newest first', async () => {
    for (let i = 0; i < 5; i++) await log.append(ev('ws_a', `n.${i}`));
    const p1 = await log.list('ws_a', { limit: 2 });
    expect(p1.items.map((e) => e.seq)).toEqual([5, 4]);
    const p2 = await log.list('ws_a', { limit: 2, before: p1.nextBefore! });
    expect(p2.items.map((e) => e.seq)).toEqual([3, 2]);
  });
});

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"z":1}]},"b":1}',
    );
  });
});
