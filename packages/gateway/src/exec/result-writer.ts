import type { Insertable, Kysely } from 'kysely';
import type { Database, ExecResultsTable } from '../db/schema.js';

/** One server's final result in a job (the row exists already, inserted as `queued` when the job began). */
export type ExecResultRow = Insertable<ExecResultsTable>;

/** Rows per statement: 15 columns each, far below SQLite's and PostgreSQL's parameter limits. */
const ROWS_PER_STATEMENT = 100;
/** Output bytes per statement: a hundred servers with 1 MiB each would make one huge statement. */
const BYTES_PER_STATEMENT = 4 * 1024 * 1024;
/** Rows per transaction. */
const MAX_BATCH = 1000;

interface Pending {
  row: ExecResultRow;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Writes servers' final exec results with group commit: rows that finish while a write is in flight go
 * together in the next transaction, as multi-row upserts on the primary key (job_id, n). A job on 1,000
 * servers then costs a handful of transactions instead of one UPDATE (and one commit) per server.
 *
 * Crash safety is unchanged: each row was inserted as `queued` when the job began and reads so until
 * its final state is committed; every write resolves only once its own row is committed.
 */
export class ExecResultWriter {
  private pending: Pending[] = [];
  private inFlight = 0;
  private writing: Promise<void> | null = null;

  constructor(private readonly db: Kysely<Database>) {}

  /** Rows queued or being written: callers hold back when it grows (bounded memory). */
  get backlog(): number {
    return this.pending.length + this.inFlight;
  }

  /** Queue a final row; resolves once it is committed. */
  write(row: ExecResultRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Let the rows of this event-loop turn join the first batch.
    await new Promise<void>((r) => setImmediate(r));
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH);
        this.inFlight = batch.length;
        try {
          await this.writeBatch(batch.map((b) => b.row));
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        } finally {
          this.inFlight = 0;
        }
      }
    } finally {
      this.writing = null;
    }
  }

  private async writeBatch(rows: ExecResultRow[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length;) {
        let bytes = 0;
        let j = i;
        while (j < rows.length && j - i < ROWS_PER_STATEMENT && (j === i || bytes < BYTES_PER_STATEMENT)) {
          bytes += (rows[j]!.stdout?.length ?? 0) + (rows[j]!.stderr?.length ?? 0);
          j++;
        }
        await trx
          .insertInto('exec_results')
          .values(rows.slice(i, j))
          .onConflict((oc) =>
            oc.columns(['job_id', 'n']).doUpdateSet((eb) => ({
              status: eb.ref('excluded.status'),
              reason: eb.ref('excluded.reason'),
              exit_code: eb.ref('excluded.exit_code'),
              signal: eb.ref('excluded.signal'),
              started_at: eb.ref('excluded.started_at'),
              finished_at: eb.ref('excluded.finished_at'),
              stdout: eb.ref('excluded.stdout'),
              stderr: eb.ref('excluded.stderr'),
              truncated: eb.ref('excluded.truncated'),
            })),
          )
          .execute();
        i = j;
      }
    });
  }
}
