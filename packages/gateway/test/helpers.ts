import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import pg from 'pg';

/** PostgreSQL on the machine (trust auth). Each suite gets a fresh database, dropped afterwards. */
export const PG_ADMIN_URL = process.env.CORRAL_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `corral_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      // pg-pool's end() resolves before its clients' sockets have closed. A backend that FORCE kills while
      // its client is still ending sends a FATAL that the client emits as an unhandled 'error' (a flaky
      // "57P01 terminating connection" after a passing suite), so wait up to 2 s for them to go first.
      for (let i = 0; i < 100; i++) {
        const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [
          name,
        ]);
        if (r.rows[0]?.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export type DbKind = 'sqlite' | 'postgres';
export const DB_KINDS: DbKind[] = ['sqlite', 'postgres'];

/** A temporary directory removed by the returned function. */
export function tempDir(prefix = 'corral-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A JSON request over real TLS, trusting only `caPem`. */
export function request(
  baseUrl: string,
  caPem: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    servername?: string;
  } = {},
): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, baseUrl);
    const payload = opts.rawBody ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined);
    const req = https.request(
      u,
      {
        method,
        ca: caPem,
        minVersion: 'TLSv1.3',
        ...(opts.servername ? { servername: opts.servername } : {}),
        headers: {
          // An explicit length: Node sends DELETE bodies unchunked, which would leave them unframed.
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
