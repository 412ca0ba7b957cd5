/**
 * API tokens and applications over the HTTP API, on SQLite and PostgreSQL: secrets stored as hashes
 * only, the intersection with the owner's current rights (role changes, deactivation), expiry, who may
 * revoke what, the bounded activity log, and application identities that grants can name.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { hashSecret } from '../src/ids.js';
import { ACTIVITY_KEEP } from '../src/auth/api-tokens.js';
import { createPgDatabase, DB_KINDS, request, tempDir, type DbKind } from './helpers.js';

const PW = 'admin-password-123';

describe.each(DB_KINDS)('API tokens on %s', (kind: DbKind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let admin: string;
  let dropDb: (() => Promise<void>) | undefined;
  const dir = tempDir();
  // The gateway's clock runs `skew` ms ahead of real time (expiry without waiting).
  let skew = 0;
  const api = (method: string, path: string, token: string, body?: unknown) =>
    request(url, ca, method, path, { token, ...(body !== undefined ? { body } : {}) });
  const login = async (email: string, password: string) =>
    (await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email, password } })).body.token as string;

  /** Invite and accept a user with `role`; returns a session token. */
  async function onboard(email: string, role: string): Promise<string> {
    const inv = await api('POST', '/api/v1/users/invitations', admin, { email, role });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', email)
      .executeTakeFirstOrThrow();
    const token = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
    await request(url, ca, 'POST', '/api/v1/invitations/accept', { body: { token, password: 'a long password 1' } });
    return login(email, 'a long password 1');
  }

  beforeAll(async () => {
    let db: string | undefined;
    if (kind === 'postgres') {
      const pg = await createPgDatabase();
      db = pg.url;
      dropDb = pg.drop;
    }
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0', db }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
      clock: { now: () => Date.now() + skew },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    admin = await login('admin@localhost', PW);
  });

  afterAll(async () => {
    await gw?.close();
    await dropDb?.();
    dir.remove();
  });

  it('shows the secret once and stores only its SHA-256', async () => {
    const r = await api('POST', '/api/v1/tokens', admin, { name: 'hash-check', scopes: ['servers:read'] });
    expect(r.status).toBe(201);
    expect(r.body.token).toMatch(/^crl_pat_/);
    expect(r.body.prefix).toBe(r.body.token.slice(0, 12));
    const row = await gw.services.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', r.body.id)
      .executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(hashSecret(r.body.token));
    expect(JSON.stringify(row)).not.toContain(r.body.token);
    const list = await api('GET', '/api/v1/tokens', admin);
    expect(JSON.stringify(list.body)).not.toContain(r.body.token);
    expect(list.body.items[0]).toMatchObject({ id: r.body.id, status: 'active', scopes: ['servers:read'] });
    // Default lifetime 30 days; `null` never expires.
    expect(Date.parse(r.body.expiresAt) - Date.now()).toBeGreaterThan(29 * 86400_000);
    const forever = await api('POST', '/api/v1/tokens', admin, {
      name: 'forever',
      scopes: ['servers:read'],
      expiresInSeconds: null,
    });
    expect(forever.body.expiresAt).toBeNull();
  });

  it('rejects unknown scopes and bad selectors', async () => {
    const bad = await api('POST', '/api/v1/tokens', admin, { name: 'x', scopes: ['ships:read'] });
    expect(bad.status).toBe(400);
    const sel = await api('POST', '/api/v1/tokens', admin, { name: 'x', scopes: ['servers:read'], servers: ['a b'] });
    expect(sel.status).toBe(400);
  });

  it("follows the owner's current rights: a role taken away is taken from the token, deactivation ends it", async () => {
    const staff = await onboard('staff@localhost', 'staff');
    const t = (await api('POST', '/api/v1/tokens', staff, { name: 'users', scopes: ['users:read', 'iam:read'] })).body;
    expect((await api('GET', '/api/v1/users', t.token)).status).toBe(200);
    expect((await api('POST', '/api/v1/users/staff@localhost/role', admin, { role: 'member' })).status).toBe(200);
    const after = await api('GET', '/api/v1/users', t.token);
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('FORBIDDEN');
    const who = await api('GET', '/api/v1/auth/whoami', t.token);
    expect(who.body.user).toMatchObject({ email: 'staff@localhost', role: 'member' });
    expect((await api('POST', '/api/v1/users/staff@localhost/deactivate', admin)).status).toBe(200);
    expect((await api('GET', '/api/v1/auth/whoami', t.token)).status).toBe(401);
  });

  it('expires on time', async () => {
    const t = (
      await api('POST', '/api/v1/tokens', admin, { name: 'short', scopes: ['servers:read'], expiresInSeconds: 60 })
    ).body;
    expect((await api('GET', '/api/v1/servers', t.token)).status).toBe(200);
    skew = 61_000;
    try {
      expect((await api('GET', '/api/v1/servers', t.token)).status).toBe(401);
      const mine = await api('GET', '/api/v1/tokens', admin);
      expect(mine.body.items.find((x: { id: string }) => x.id === t.id).status).toBe('expired');
    } finally {
      skew = 0;
    }
  });

  it('tokens cannot sign out, step up, or use routes that need a person', async () => {
    const t = (await api('POST', '/api/v1/tokens', admin, { name: 'all', scopes: ['*:owner'] })).body;
    const out = await api('POST', '/api/v1/auth/logout', t.token);
    expect(out.status).toBe(403);
    expect(out.body.error.code).toBe('TOKEN_SCOPE');
    const up = await api('POST', '/api/v1/auth/step-up', t.token, { password: PW });
    expect(up.body.error.code).toBe('TOKEN_SCOPE');
  });

  it('only the owner (or staff) revokes a token or reads its activity', async () => {
    const member = await onboard('member@localhost', 'member');
    const mt = (await api('POST', '/api/v1/tokens', member, { name: 'm', scopes: ['servers:read'] })).body;
    const at = (await api('POST', '/api/v1/tokens', admin, { name: 'a', scopes: ['servers:read'] })).body;
    expect((await api('DELETE', `/api/v1/tokens/${at.id}`, member)).status).toBe(404);
    expect((await api('GET', `/api/v1/tokens/${at.id}/activity`, member)).status).toBe(404);
    expect((await api('GET', `/api/v1/tokens/${mt.id}/activity`, admin)).status).toBe(200);
    expect((await api('DELETE', `/api/v1/tokens/${mt.id}`, admin)).status).toBe(204);
    expect((await api('GET', '/api/v1/servers', mt.token)).status).toBe(401);
    // Members do not manage applications.
    const app = await api('POST', '/api/v1/applications', member, { name: 'nope', scopes: ['servers:read'] });
    expect(app.status).toBe(403);
  });

  it(`keeps the activity log bounded (the newest ${ACTIVITY_KEEP} requests per token)`, async () => {
    const t = (await api('POST', '/api/v1/tokens', admin, { name: 'busy', scopes: ['servers:read'] })).body;
    const p = await gw.services.tokens.authenticate(t.token);
    for (let i = 0; i < ACTIVITY_KEEP + 150; i++) {
      await gw.services.tokens.recordActivity(p!, 'GET', `/api/v1/servers?i=${i}`, 200, '127.0.0.1');
    }
    const n = await gw.services.db
      .selectFrom('api_token_activity')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('token_id', '=', t.id)
      .executeTakeFirstOrThrow();
    expect(Number(n.n)).toBeLessThanOrEqual(ACTIVITY_KEEP + 100);
    expect(Number(n.n)).toBeGreaterThanOrEqual(ACTIVITY_KEEP);
    const last = await api('GET', `/api/v1/tokens/${t.id}/activity?limit=1`, admin);
    expect(last.body.items[0].route).toBe(`/api/v1/servers?i=${ACTIVITY_KEEP + 149}`);
    const row = await gw.services.db
      .selectFrom('api_tokens')
      .select(['last_used_at', 'last_used_ip'])
      .where('id', '=', t.id)
      .executeTakeFirstOrThrow();
    expect(row.last_used_ip).toBe('127.0.0.1');
  });

  it("applications: grants name them as app:NAME, service tokens stay within the application's scopes", async () => {
    const a = await api('POST', '/api/v1/applications', admin, {
      name: 'backup',
      role: 'member',
      scopes: ['servers:read', 'files:read'],
      description: 'nightly backups',
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ principal: 'app:backup', role: 'member', scopes: ['servers:read', 'files:read'] });
    const dup = await api('POST', '/api/v1/applications', admin, { name: 'backup', scopes: ['servers:read'] });
    expect(dup.body.error.code).toBe('APPLICATION_EXISTS');
    const g = await api('POST', '/api/v1/grants', admin, { user: 'app:backup', servers: 'db-*', level: 'read' });
    expect(g.status).toBe(201);
    expect(g.body.subject.name).toBe('app:backup');
    const wide = await api('POST', '/api/v1/applications/backup/tokens', admin, { name: 'x', scopes: ['exec:write'] });
    expect(wide.status).toBe(400);
    const st = await api('POST', '/api/v1/applications/backup/tokens', admin, { name: 'cron' });
    expect(st.status).toBe(201);
    expect(st.body.token).toMatch(/^crl_svc_/);
    const who = await api('GET', '/api/v1/auth/whoami', st.body.token);
    expect(who.body.user).toMatchObject({ email: 'app:backup', role: 'member' });
    // A service token's prefix cannot pass for a personal token, nor the other way round.
    const swapped = 'crl_pat_' + (st.body.token as string).slice(8);
    expect((await api('GET', '/api/v1/auth/whoami', swapped)).status).toBe(401);
    // Applications are not people: not in the user list, no personal tokens.
    const users = await api('GET', '/api/v1/users', admin);
    expect(JSON.stringify(users.body)).not.toContain('app:backup');
    const pat = await api('POST', '/api/v1/tokens', st.body.token, { name: 'p', scopes: ['servers:read'] });
    expect(pat.status).toBe(403);
    const up = await api('POST', '/api/v1/users/app:backup/role', admin, { role: 'superuser' });
    expect(up.status).toBe(403);
    expect((await api('POST', '/api/v1/users/app:backup/role', admin, { role: 'staff' })).status).toBe(200);
    const list = await api('GET', '/api/v1/applications', admin);
    expect(list.body.items.find((x: { name: string }) => x.name === 'backup').tokens).toBe(1);
    expect((await api('DELETE', '/api/v1/applications/backup', admin)).status).toBe(204);
    expect((await api('GET', '/api/v1/auth/whoami', st.body.token)).status).toBe(401);
    const grants = await api('GET', '/api/v1/grants', admin);
    expect(JSON.stringify(grants.body)).not.toContain('app:backup');
    // The name is free again.
    expect(
      (await api('POST', '/api/v1/applications', admin, { name: 'backup', scopes: ['servers:read'] })).status,
    ).toBe(201);
    await gw.services.audit.flush();
    const actions = (await gw.services.audit.list(gw.services.defaultWorkspaceId, { limit: 500 })).items.map(
      (e) => e.action,
    );
    for (const a of [
      'token.create',
      'token.revoke',
      'application.create',
      'application.delete',
      'application.token.create',
    ])
      expect(actions).toContain(a);
  });
});
