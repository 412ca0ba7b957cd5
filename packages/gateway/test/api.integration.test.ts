import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import tls from 'node:tls';
import { generateKeyPairSync } from 'node:crypto';
import { sql } from 'kysely';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createPgDatabase, DB_KINDS, request, tempDir, type DbKind } from './helpers.js';

const PASSWORD = 'correct horse battery staple';

describe.each(DB_KINDS)('gateway API on %s', (kind: DbKind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let dir: ReturnType<typeof tempDir>;
  let dropDb: (() => Promise<void>) | undefined;
  let token: string;

  beforeAll(async () => {
    dir = tempDir();
    let db: string | undefined;
    if (kind === 'postgres') {
      const pgdb = await createPgDatabase();
      db = pgdb.url;
      dropDb = pgdb.drop;
    }
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0', db }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PASSWORD },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    const r = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PASSWORD },
    });
    expect(r.status).toBe(200);
    token = r.body.token;
  });

  afterAll(async () => {
    await gw?.close();
    await dropDb?.();
    dir?.remove();
  });

  it('serves the CA it was started with, and its fingerprint matches', async () => {
    const r = await request(url, ca, 'GET', '/api/v1/ca');
    expect(r.status).toBe(200);
    expect(r.body).toContain('BEGIN CERTIFICATE');
    const { X509Certificate } = await import('node:crypto');
    expect(new X509Certificate(r.body).fingerprint256).toBe(gw.tls.caFingerprint);
  });

  it('refuses a TLS 1.2 client', async () => {
    const u = new URL(url);
    const err = await new Promise<Error | null>((resolve) => {
      const s = tls.connect(
        { host: u.hostname, port: Number(u.port), ca, maxVersion: 'TLSv1.2', servername: 'localhost' },
        () => {
          s.end();
          resolve(null);
        },
      );
      s.on('error', resolve);
    });
    expect(err).not.toBeNull();
  });

  it('answers whoami for a valid token', async () => {
    const r = await request(url, ca, 'GET', '/api/v1/auth/whoami', { token });
    expect(r.status).toBe(200);
    expect(r.body.user).toMatchObject({ email: 'admin@localhost', role: 'superuser' });
    expect(r.body.workspace.name).toBe('default');
  });

  it('keeps a browser session in an HttpOnly cookie and requires the CSRF token for changes', async () => {
    const r = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PASSWORD, cookie: true },
    });
    expect(r.status).toBe(200);
    expect(r.body.token).toBeUndefined();
    expect(r.body.cookie).toBe(true);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(
      /^__Host-corral_session=crl_[^;]+; Path=\/; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict/,
    );
    const cookie = setCookie.split(';')[0]!;
    const csrf: string = r.body.csrfToken;
    // Reads need only the cookie; whoami hands the CSRF token back to a reloaded page.
    const who = await request(url, ca, 'GET', '/api/v1/auth/whoami', { headers: { cookie } });
    expect(who.status).toBe(200);
    expect(who.body.csrfToken).toBe(csrf);
    // A change without the header (what a cross-site form post would send) is refused.
    const forged = await request(url, ca, 'POST', '/api/v1/server-groups', {
      headers: { cookie },
      body: { name: 'x1' },
    });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('CSRF_FAILED');
    const wrong = await request(url, ca, 'POST', '/api/v1/server-groups', {
      headers: { cookie, 'x-csrf-token': csrf.slice(1) + 'A' },
      body: { name: 'x1' },
    });
    expect(wrong.body.error.code).toBe('CSRF_FAILED');
    const ok = await request(url, ca, 'POST', '/api/v1/server-groups', {
      headers: { cookie, 'x-csrf-token': csrf },
      body: { name: 'cookie-made' },
    });
    expect(ok.status).toBe(201);
    // Sign-out revokes the session and clears the cookie.
    const out = await request(url, ca, 'POST', '/api/v1/auth/logout', { headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    const after = await request(url, ca, 'GET', '/api/v1/auth/whoami', { headers: { cookie } });
    expect(after.status).toBe(401);
  });

  it('refuses a wrong password with INVALID_CREDENTIALS and audits it', async () => {
    const r = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'nope' },
    });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('INVALID_CREDENTIALS');
    const audit = await request(url, ca, 'GET', '/api/v1/audit?action=auth.login&limit=5', { token });
    expect(audit.body.items.some((e: { outcome: string }) => e.outcome === 'failure')).toBe(true);
  });

  it('rejects unknown fields in API bodies', async () => {
    const r = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PASSWORD, admin: true },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.message).toContain('admin');
  });

  it('answers malformed JSON with VALIDATION_FAILED', async () => {
    const r = await request(url, ca, 'POST', '/api/v1/auth/login', { rawBody: '{"email":' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('requires a token, and names the error', async () => {
    const r = await request(url, ca, 'GET', '/api/v1/servers');
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('creates, lists and revokes join tokens; secrets are never listed', async () => {
    const c = await request(url, ca, 'POST', '/api/v1/join-tokens', { token, body: { name: 'web', uses: 2 } });
    expect(c.status).toBe(201);
    expect(c.body.token).toMatch(/^cjt_/);
    expect(c.body.registerCommand).toContain(c.body.token);
    const l = await request(url, ca, 'GET', '/api/v1/join-tokens', { token });
    expect(JSON.stringify(l.body)).not.toContain(c.body.token);
    expect(l.body.items.find((t: { id: string }) => t.id === c.body.id).status).toBe('active');
    const d = await request(url, ca, 'DELETE', `/api/v1/join-tokens/${c.body.id}`, { token });
    expect(d.status).toBe(204);
    const reg = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: c.body.token, name: 'revoked-one', publicKey: edPublicKey() },
    });
    expect(reg.status).toBe(401);
    expect(reg.body.error.code).toBe('JOIN_TOKEN_INVALID');
  });

  it('refuses a used-up join token and a wrong one', async () => {
    const c = await request(url, ca, 'POST', '/api/v1/join-tokens', { token, body: { uses: 1 } });
    const ok = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: c.body.token, name: `srv-${kind}-1`, publicKey: edPublicKey() },
    });
    expect(ok.status).toBe(201);
    expect(ok.body.gatewaySigningKey).toContain('PUBLIC KEY');
    const again = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: c.body.token, name: `srv-${kind}-2`, publicKey: edPublicKey() },
    });
    expect(again.status).toBe(401);
    const wrong = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: 'cjt_wrong', name: `srv-${kind}-3`, publicKey: edPublicKey() },
    });
    expect(wrong.body.error.code).toBe('JOIN_TOKEN_INVALID');
  });

  it('logs out: the token stops working', async () => {
    const l = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PASSWORD },
    });
    const t = l.body.token as string;
    expect((await request(url, ca, 'POST', '/api/v1/auth/logout', { token: t })).status).toBe(204);
    const w = await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: t });
    expect(w.status).toBe(401);
  });

  it('keeps a verifiable audit chain, and the database refuses UPDATE and DELETE on it', async () => {
    const v = await request(url, ca, 'GET', '/api/v1/audit/verify', { token });
    expect(v.body.ok).toBe(true);
    expect(v.body.count).toBeGreaterThan(3);
    const db = gw.services.db;
    await expect(sql`UPDATE audit_events SET action = 'x'`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_events`.execute(db)).rejects.toThrow(/append-only/);
    const again = await request(url, ca, 'GET', '/api/v1/audit/verify', { token });
    expect(again.body.ok).toBe(true);
  });

  it('serves an OpenAPI document listing the routes', async () => {
    const r = await request(url, ca, 'GET', '/api/v1/openapi.json');
    expect(r.body.openapi).toBe('3.1.0');
    expect(Object.keys(r.body.paths)).toContain('/api/v1/servers/{name}/websh');
    expect(r.body.paths['/api/v1/auth/login'].post.requestBody).toBeDefined();
    // Query parameters come from the route's query schema.
    expect(r.body.paths['/api/v1/servers/{name}/metrics'].get.parameters).toContainEqual({
      name: 'range',
      in: 'query',
      required: false,
      schema: { type: 'string', enum: ['1h', '24h', '7d'] },
    });
  });

  it('rate-limits repeated failed logins per account', async () => {
    // A separate account name so the admin is not locked out for the other tests.
    let last = 0;
    for (let i = 0; i < 7; i++) {
      const r = await request(url, ca, 'POST', '/api/v1/auth/login', {
        body: { email: 'ghost@localhost', password: 'x' },
      });
      last = r.status;
      if (r.status === 429) {
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
        break;
      }
    }
    expect(last).toBe(429);
  });
});

function edPublicKey(): string {
  return generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
}
