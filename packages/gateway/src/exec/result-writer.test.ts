import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, type OpenDb } from '../db/open.js';
import { ExecResultWriter, type ExecResultRow } from './result-writer.js';

describe('exec result writer', () => {
  let odb: OpenDb;
  let writer: ExecResultWriter;
  const N = 1200;
  beforeEach(async () => {
    odb = await openDatabase('sqlite::memory:');
    writer = new ExecResultWriter(odb.db);
    await sql`INSERT INTO workspaces (id, name, created_at) VALUES ('ws_a', 'a', 'x')`.execute(odb.db);
    await odb.db
      .insertInto('exec_jobs')
      .values({
        id: 'exj_a',
        workspace_id: 'ws_a',
        user_id: 'usr_a',
        user_email: 'a@x',
        selectors: '["s-*"]',
        command: '["true"]',
        os_user: null,
        parallel: 100,
        timeout_s: 30,
        created_at: 'x',
        finished_at: null,
        summary: null,
      })
      .execute();
    // As the job inserts them when it begins: every server queued.
    for (let i = 0; i < N; i += 200) {
      await odb.db
        .insertInto('exec_results')
        .values(
          Array.from({ length: Math.min(200, N - i) }, (_, k) => ({
            job_id: 'exj_a',
            n: i + k,
            workspace_id: 'ws_a',
            server_id: `srv_${i + k}`,
            server_name: `s-${i + k}`,
            status: 'queued',
            reason: null,
            work_session_id: 'wks_a',
            exit_code: null,
            signal: null,
            started_at: null,
            finished_at: null,
            stdout: null,
            stderr: null,
          })),
        )
        .execute();
    }
  });
  afterEach(async () => odb.close());

  const final = (n: number, over: Partial<ExecResultRow> = {}): ExecResultRow => ({
    job_id: 'exj_a',
    n,
    workspace_id: 'ws_a',
    server_id: `srv_${n}`,
    server_name: `s-${n}`,
    status: 'ok',
    reason: null,
    work_session_id: 'wks_a',
    exit_code: 0,
    signal: null,
    started_at: 'a',
    finished_at: 'b',
    stdout: `out ${n}\n`,
    stderr: '',
    truncated: 0,
    ...over,
  });
  const row = (n: number) =>
    odb.db
      .selectFrom('exec_results')
      .selectAll()
      .where('job_id', '=', 'exj_a')
      .where('n', '=', n)
      .executeTakeFirstOrThrow();

  it('turns queued rows into final ones, and a write resolves only once its row is committed', async () => {
    await writer.write(final(7, { status: 'failed', exit_code: 3, reason: 'no', truncated: 1, stderr: 'e' }));
    expect(await row(7)).toMatchObject({
      status: 'failed',
      exit_code: 3,
      reason: 'no',
      truncated: 1,
      stdout: 'out 7\n',
      stderr: 'e',
      // Not part of the final write: kept from the insert.
      work_session_id: 'wks_a',
    });
    expect((await row(8)).status).toBe('queued');
  });

  it('writes a burst from separate callbacks of one turn in one transaction, however many rows', async () => {
    const transactions = vi.spyOn(odb.db, 'transaction');
    // Large outputs too: a statement is cut by bytes as well as by rows.
    const big = 'x'.repeat(1024 * 1024);
    const writes = await new Promise<Array<Promise<void>>>((resolve) => {
      const out: Array<Promise<void>> = [];
      for (let n = 0; n < 1000; n++)
        setImmediate(() => out.push(writer.write(final(n, n < 10 ? { stdout: big } : {}))));
      setImmediate(() => resolve(out));
    });
    await Promise.all(writes);
    expect(transactions).toHaveBeenCalledTimes(1);
    const counts = await odb.db
      .selectFrom('exec_results')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .orderBy('status')
      .execute();
    expect(counts).toEqual([
      { status: 'ok', n: 1000 },
      { status: 'queued', n: N - 1000 },
    ]);
    expect((await row(3)).stdout).toHaveLength(1024 * 1024);
    expect(writer.backlog).toBe(0);
  });

  it('rejects the writes of a failed batch and goes on with the next', async () => {
    // A row for a job that does not exist breaks the foreign key: its whole transaction fails.
    const bad = writer.write(final(1, { job_id: 'exj_missing' }));
    const sameBatch = writer.write(final(2));
    await expect(bad).rejects.toThrow();
    await expect(sameBatch).rejects.toThrow();
    expect((await row(2)).status).toBe('queued');
    await writer.write(final(2));
    expect((await row(2)).status).toBe('ok');
  });
});
