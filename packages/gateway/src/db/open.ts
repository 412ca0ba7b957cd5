import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider, type Dialect } from './migrations.js';

export interface OpenDb {
  db: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
}

/**
 * Open the database named by `url` and bring its schema up to date.
 * - `postgres://...` or `postgresql://...`: PostgreSQL through a pg pool.
 * - `sqlite:PATH`, or a plain path: SQLite through better-sqlite3 (WAL, foreign keys, busy timeout).
 */
export async function openDatabase(url: string): Promise<OpenDb> {
  let db: Kysely<Database>;
  let dialect: Dialect;
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pg = (await import('pg')).default;
    // int8 (bigint) columns hold sequence numbers and byte counts, all well below 2^53.
    pg.types.setTypeParser(20, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    dialect = 'postgres';
  } else {
    const path = url.replace(/^sqlite:/, '');
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const Sqlite = (await import('better-sqlite3')).default;
    const database = new Sqlite(path);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    dialect = 'sqlite';
  }
  // Migrations are independent of each other; a database that already has a later one (a branch that
  // landed first) still gets an earlier one it lacks.
  const migrator = new Migrator({ db, provider: migrationProvider(dialect), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
  return { db, dialect, close: () => db.destroy() };
}
