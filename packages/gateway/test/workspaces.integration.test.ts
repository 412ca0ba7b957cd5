/**
 * Workspaces are isolated tenants, chosen by host name. The isolation matrix: for every authenticated
 * route, workspace A's credentials against workspace B's objects answer 404 (never 403, never data), lists
 * never leak, and B's token is not even a principal at A's host.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { apiRoutes } from '../src/http/api-routes.js';
import { createPgDatabase, DB_KINDS, request, tempDir, type DbKind } from './helpers.js';

const BASE = 'example.test';
const PW = 'tenant-password-123';

interface Tenant {
  name: string;
  host: string;
  token: string;
  serverName: string;
  serverId: string;
  joinTokenId: string;
  sessionId: string;
  userId: string;
  grantId: string;
  workSessionId: string;
  /** The sign-in session (auth token row) and a pending second factor of this tenant's user. */
  authSessionId: string;
  factorId: string;
  /** A personal API token (secret and id) and an application with a service token. */
  pat: string;
  patId: string;
  appName: string;
  svcId: string;
}

describe.each(DB_KINDS)('workspace isolation on %s', (kind: DbKind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let port: string;
  const dir = tempDir();
  let dropDb: (() => Promise<void>) | undefined;
  const t: Record<'a' | 'b', Tenant> = {} as never;

  const call = (
    host: string,
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ) =>
    // The Host header picks the workspace; TLS is checked against "localhost" (the certificate has no
    // names for made-up test domains outside *.us1.example.test).
    request(url, ca, method, path, {
      ...opts,
      headers: { ...opts.headers, host: `${host}:${port}` },
      servername: 'localhost',
    });

  beforeAll(async () => {
    let db: string | undefined;
    if (kind === 'postgres') {
      const pg = await createPgDatabase();
      db = pg.url;
      dropDb = pg.drop;
    }
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0', db, region: 'us1', baseDomain: BASE }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    port = new URL(url).port;
    ca = gw.tls.caPem;
    await gw.services.workspaces.create('asia', { email: 'ops@asia.test', password: PW }, 'ap1');
    for (const [key, name] of [
      ['a', 'acme'],
      ['b', 'globex'],
    ] as const) {
      await gw.services.workspaces.create(name, { email: `ops@${name}.test`, password: PW });
      const host = `${name}.us1.${BASE}`;
      const login = await call(host, 'POST', '/api/v1/auth/login', {
        body: { email: `ops@${name}.test`, password: PW },
      });
      expect(login.status).toBe(200);
      expect(login.body.workspace.name).toBe(name);
      const token = login.body.token as string;
      const jt = await call(host, 'POST', '/api/v1/join-tokens', { token, body: { uses: 1 } });
      const serverName = `${name}-web-1`;
      const pub = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const reg = await call(host, 'POST', '/api/v1/agent/register', {
        body: { token: jt.body.token, name: serverName, publicKey: pub },
      });
      expect(reg.status).toBe(201);
      // A live session row, as if a terminal were open.
      const sessionId = `ses_${name}`;
      await gw.services.db
        .insertInto('websh_sessions')
        .values({
          id: sessionId,
          workspace_id: login.body.workspace.id,
          user_id: login.body.user.id,
          server_id: reg.body.serverId,
          os_user: 'root',
          command: null,
          pty: 1,
          started_at: new Date().toISOString(),
          ended_at: null,
          bytes_in: 0,
          bytes_out: 0,
          exit_code: null,
          end_reason: null,
        })
        .execute();
      const sg = await call(host, 'PATCH', `/api/v1/servers/${serverName}`, {
        token,
        body: { addGroups: [`${name}-servers`] },
      });
      expect(sg.status).toBe(200);
      const grp = await call(host, 'POST', '/api/v1/groups', { token, body: { name: `${name}-team` } });
      expect(grp.status).toBe(201);
      const gr = await call(host, 'POST', '/api/v1/grants', {
        token,
        body: { group: `${name}-team`, servers: `${name}-*`, level: 'write' },
      });
      expect(gr.status).toBe(201);
      const sso = await call(host, 'POST', '/api/v1/sso/providers', {
        token,
        body: {
          kind: 'oidc',
          name: `${name}-idp`,
          issuer: `https://idp.${name}.test`,
          clientId: name,
          clientSecret: 's',
        },
      });
      expect(sso.status, JSON.stringify(sso.body)).toBe(201);
      // A superuser's work session (auto-approved by the default policy).
      const wks = await call(host, 'POST', '/api/v1/work-sessions', {
        token,
        body: { servers: [serverName], features: ['terminal'], durationSeconds: 3600, reason: 'isolation' },
      });
      expect(wks.body.status, JSON.stringify(wks.body)).toBe('approved');
      const authSession = await gw.services.db
        .selectFrom('auth_tokens')
        .select('id')
        .where('user_id', '=', login.body.user.id)
        .executeTakeFirstOrThrow();
      const factorId = `mfa_${name}`;
      await gw.services.db
        .insertInto('mfa_factors')
        .values({
          id: factorId,
          workspace_id: login.body.workspace.id,
          user_id: login.body.user.id,
          kind: 'email',
          label: `ops@${name}.test`,
          secret_enc: null,
          phone: null,
          channel: null,
          credential_id: null,
          public_key: null,
          sign_count: null,
          transports: null,
          last_step: null,
          confirmed_at: null,
          created_at: new Date().toISOString(),
          last_used_at: null,
        })
        .execute();
      const pat = await call(host, 'POST', '/api/v1/tokens', {
        token,
        body: { name: `${name}-pat`, scopes: ['*:owner'] },
      });
      expect(pat.status, JSON.stringify(pat.body)).toBe(201);
      const appName = `${name}-ci`;
      const app = await call(host, 'POST', '/api/v1/applications', {
        token,
        body: { name: appName, scopes: ['servers:read'] },
      });
      expect(app.status, JSON.stringify(app.body)).toBe(201);
      const svc = await call(host, 'POST', `/api/v1/applications/${appName}/tokens`, {
        token,
        body: { name: `${name}-svc` },
      });
      expect(svc.status, JSON.stringify(svc.body)).toBe(201);
      t[key] = {
        authSessionId: authSession.id,
        factorId,
        pat: pat.body.token,
        patId: pat.body.id,
        appName,
        svcId: svc.body.id,
        workSessionId: wks.body.id,
        name,
        host,
        token,
        serverName,
        serverId: reg.body.serverId,
        joinTokenId: jt.body.id,
        sessionId,
        userId: login.body.user.id,
        grantId: gr.body.id,
      };
    }
  });

  afterAll(async () => {
    await gw?.close();
    await dropDb?.();
    dir.remove();
  });

  /** Every authenticated route, with A's token, aimed at B's objects. */
  const crossTenantCalls = (): Array<[string, string, unknown?]> => [
    ['GET', `/api/v1/servers/${t.b.serverName}`],
    ['GET', `/api/v1/servers/${t.b.serverName}/metrics?range=1h`],
    ['GET', `/api/v1/servers/${t.b.serverId}/metrics?range=7d`], // by id as well as by name
    ['POST', `/api/v1/servers/${t.b.serverName}/websh`, {}],
    ['DELETE', `/api/v1/join-tokens/${t.b.joinTokenId}`],
    ['POST', `/api/v1/websh/sessions/${t.b.sessionId}/terminate`],
    ['POST', `/api/v1/websh/sessions/${t.b.sessionId}/attach`, {}],
    ['POST', `/api/v1/websh/sessions/${t.b.sessionId}/shares`, { user: `ops@${t.a.name}.test` }],
    ['GET', `/api/v1/websh/sessions/${t.b.sessionId}/shares`],
    ['DELETE', `/api/v1/websh/sessions/${t.b.sessionId}/shares/ops@${t.a.name}.test`],
    ['POST', `/api/v1/websh/sessions/${t.b.sessionId}/join`, {}],
    ['POST', `/api/v1/websh/sessions/${t.b.sessionId}/watch`],
    ['POST', `/api/v1/users/${t.b.userId}/role`, { role: 'member' }],
    ['POST', `/api/v1/users/${t.b.userId}/deactivate`],
    ['POST', `/api/v1/users/ops@${t.b.name}.test/deactivate`],
    ['DELETE', `/api/v1/groups/${t.b.name}-team`],
    ['POST', `/api/v1/groups/${t.b.name}-team/members`, { user: `ops@${t.a.name}.test` }],
    ['DELETE', `/api/v1/groups/${t.b.name}-team/members/ops@${t.b.name}.test`],
    ['DELETE', `/api/v1/grants/${t.b.grantId}`],
    ['GET', `/api/v1/access/check?user=ops@${t.b.name}.test&server=${t.b.serverName}&action=websh.open`],
    ['POST', '/api/v1/grants', { user: `ops@${t.b.name}.test`, servers: '*', level: 'owner' }],
    ['PATCH', `/api/v1/servers/${t.b.serverName}`, { tags: { stolen: 'yes' } }],
    ['DELETE', `/api/v1/servers/${t.b.serverName}`],
    ['POST', `/api/v1/servers/${t.b.serverName}/upgrade`, {}],
    ['DELETE', `/api/v1/server-groups/${t.b.name}-servers`],
    ['POST', `/api/v1/servers/${t.b.serverName}/files`, {}],
    ['POST', `/api/v1/servers/${t.b.serverName}/tunnels`, { host: '127.0.0.1', port: 22 }],
    ['GET', `/api/v1/servers/${t.b.serverName}/files/list?path=/`],
    ['GET', `/api/v1/servers/${t.b.serverName}/files/download?path=/etc/hostname`],
    ['POST', `/api/v1/servers/${t.b.serverName}/files/mkdir`, { path: '/tmp/x' }],
    ['POST', `/api/v1/servers/${t.b.serverName}/files/rename`, { from: '/tmp/x', to: '/tmp/y' }],
    ['POST', `/api/v1/servers/${t.b.serverName}/files/delete`, { path: '/tmp/x' }],
    ['POST', `/api/v1/servers/${t.b.serverName}/files/chmod`, { path: '/tmp/x', mode: 0o777 }],
    ['GET', `/api/v1/servers/${t.b.serverName}/files/text?path=/etc/hostname`],
    ['PUT', `/api/v1/servers/${t.b.serverName}/files/text?path=/tmp/x`, { content: 'x', etag: '' }],
    ['GET', `/api/v1/exec/exj_doesnotmatter`],
    ['GET', `/api/v1/recordings/${t.b.sessionId}`],
    ['GET', `/api/v1/work-sessions/${t.b.workSessionId}`],
    ['GET', `/api/v1/work-sessions/${t.b.workSessionId}/timeline`],
    ['POST', `/api/v1/work-sessions/${t.b.workSessionId}/approve`, {}],
    ['POST', `/api/v1/work-sessions/${t.b.workSessionId}/deny`, {}],
    ['POST', `/api/v1/work-sessions/${t.b.workSessionId}/revoke`, {}],
    ['POST', `/api/v1/work-sessions/${t.b.workSessionId}/extend`, { durationSeconds: 600 }],
    ['POST', `/api/v1/work-sessions/${t.b.workSessionId}/complete`],
    ['POST', `/api/v1/work-sessions/${t.b.workSessionId}/cancel`],
    ['DELETE', `/api/v1/auth/sessions/${t.b.authSessionId}`],
    ['DELETE', `/api/v1/auth/mfa/factors/${t.b.factorId}`],
    ['POST', `/api/v1/auth/mfa/factors/${t.b.factorId}/confirm`, { code: '123456' }],
    ['DELETE', `/api/v1/tokens/${t.b.patId}`],
    ['GET', `/api/v1/tokens/${t.b.patId}/activity`],
    ['DELETE', `/api/v1/applications/${t.b.appName}`],
    ['GET', `/api/v1/applications/${t.b.appName}/tokens`],
    ['POST', `/api/v1/applications/${t.b.appName}/tokens`, { name: 'stolen' }],
    ['DELETE', `/api/v1/applications/${t.b.appName}/tokens/${t.b.svcId}`],
    ['PATCH', `/api/v1/sso/providers/${t.b.name}-idp`, { displayName: 'stolen' }],
    ['DELETE', `/api/v1/sso/providers/${t.b.name}-idp`],
  ];
  const listCalls = [
    '/api/v1/servers',
    '/api/v1/join-tokens',
    '/api/v1/websh/sessions',
    '/api/v1/websh/sessions?live=true&scope=all',
    '/api/v1/users',
    '/api/v1/groups',
    '/api/v1/grants',
    '/api/v1/server-groups',
    '/api/v1/audit?limit=1000',
    '/api/v1/work-sessions?scope=all',
    '/api/v1/approvals',
    '/api/v1/policies/work-sessions',
    '/api/v1/workspace',
    '/api/v1/exec',
    '/api/v1/recordings',
    '/api/v1/auth/sessions',
    '/api/v1/auth/mfa',
    '/api/v1/tokens',
    '/api/v1/applications',
    '/api/v1/sso/providers',
    '/api/v1/sso/policy',
  ];
  const selfCalls = ['/api/v1/auth/whoami', '/api/v1/audit/verify'];

  it('covers every authenticated route of the API (a new route must join the matrix)', () => {
    const covered = new Set<string>([
      'GET /api/v1/servers/:name',
      'GET /api/v1/servers/:name/metrics',
      'POST /api/v1/servers/:name/websh',
      'DELETE /api/v1/join-tokens/:id',
      'POST /api/v1/websh/sessions/:id/terminate',
      'POST /api/v1/websh/sessions/:id/attach',
      'POST /api/v1/websh/sessions/:id/shares',
      'GET /api/v1/websh/sessions/:id/shares',
      'DELETE /api/v1/websh/sessions/:id/shares/:share',
      'POST /api/v1/websh/sessions/:id/join',
      'POST /api/v1/websh/sessions/:id/watch',
      ...listCalls.map((p) => `GET ${p.split('?')[0]}`),
      ...selfCalls.map((p) => `GET ${p}`),
      'POST /api/v1/join-tokens',
      'POST /api/v1/auth/logout',
      'POST /api/v1/auth/step-up', // acts on the caller's own token only
      'POST /api/v1/auth/step-up/begin', // likewise
      'POST /api/v1/auth/mfa/factors', // enrols for the caller only
      'POST /api/v1/auth/mfa/recovery-codes', // the caller's own codes only
      'POST /api/v1/auth/password', // the caller's own password only
      'DELETE /api/v1/auth/sessions/:id',
      'DELETE /api/v1/auth/mfa/factors/:id',
      'POST /api/v1/auth/mfa/factors/:id/confirm',
      'POST /api/v1/users/:user/role',
      'POST /api/v1/users/:user/deactivate',
      'POST /api/v1/users/invitations', // creates in the caller's own workspace only
      'POST /api/v1/groups', // likewise
      'DELETE /api/v1/groups/:group',
      'POST /api/v1/groups/:group/members',
      'DELETE /api/v1/groups/:group/members/:user',
      'POST /api/v1/grants',
      'DELETE /api/v1/grants/:id',
      'GET /api/v1/access/check',
      'PATCH /api/v1/servers/:name',
      'DELETE /api/v1/servers/:name',
      'POST /api/v1/servers/:name/upgrade',
      'POST /api/v1/servers/upgrade', // the caller's own workspace's servers only
      'POST /api/v1/server-groups', // creates in the caller's own workspace only
      'DELETE /api/v1/server-groups/:group',
      'POST /api/v1/servers/:name/files',
      'POST /api/v1/servers/:name/tunnels',
      'GET /api/v1/servers/:name/files/list',
      'GET /api/v1/servers/:name/files/download',
      'POST /api/v1/servers/:name/files/upload', // multipart; B's server answers 404 like the others (below)
      'POST /api/v1/servers/:name/files/mkdir',
      'POST /api/v1/servers/:name/files/rename',
      'POST /api/v1/servers/:name/files/delete',
      'POST /api/v1/servers/:name/files/chmod',
      'GET /api/v1/servers/:name/files/text',
      'PUT /api/v1/servers/:name/files/text',
      'GET /api/v1/exec/:id',
      'GET /api/v1/recordings/:id',
      'POST /api/v1/exec', // selectors resolve among the caller's own servers only (B's names match none: 400)
      'GET /api/v1/work-sessions/:id',
      'GET /api/v1/work-sessions/:id/timeline',
      'POST /api/v1/work-sessions/:id/approve',
      'POST /api/v1/work-sessions/:id/deny',
      'POST /api/v1/work-sessions/:id/revoke',
      'POST /api/v1/work-sessions/:id/extend',
      'POST /api/v1/work-sessions/:id/complete',
      'POST /api/v1/work-sessions/:id/cancel',
      // Requests resolve selectors among the caller's own servers only (another workspace's name matches none).
      'POST /api/v1/work-sessions',
      'PUT /api/v1/policies/work-sessions', // the caller's own workspace only
      'DELETE /api/v1/policies/work-sessions', // likewise
      'PATCH /api/v1/workspace', // the caller's own workspace only
      'DELETE /api/v1/workspace', // likewise
      'DELETE /api/v1/tokens/:id',
      'GET /api/v1/tokens/:id/activity',
      'POST /api/v1/tokens', // issues a token in the caller's own workspace only
      'POST /api/v1/applications', // likewise
      'DELETE /api/v1/applications/:app',
      'GET /api/v1/applications/:app/tokens',
      'POST /api/v1/applications/:app/tokens',
      'DELETE /api/v1/applications/:app/tokens/:id',
      'PATCH /api/v1/sso/providers/:name',
      'DELETE /api/v1/sso/providers/:name',
      'POST /api/v1/sso/providers', // creates in the caller's own workspace only
      'PUT /api/v1/sso/policy', // the caller's own workspace only
    ]);
    const routes = apiRoutes(gw.services).filter((r) => r.auth !== false);
    for (const r of routes) expect(covered, `${r.method} ${r.url}`).toContain(`${r.method} ${r.url}`);
  });

  it("answers 404 for another workspace's objects, never 403 and never data", async () => {
    for (const [method, path, body] of crossTenantCalls()) {
      const r = await call(t.a.host, method, path, { token: t.a.token, ...(body !== undefined ? { body } : {}) });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(Object.keys(r.body)).toEqual(['error']);
    }
    const b = 'xb';
    const up = await call(t.a.host, 'POST', `/api/v1/servers/${t.b.serverName}/files/upload?path=/tmp`, {
      token: t.a.token,
      rawBody: `--${b}\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\nx\r\n--${b}--\r\n`,
      headers: { 'content-type': `multipart/form-data; boundary=${b}` },
    });
    expect(up.status).toBe(404);
    const ex = await call(t.a.host, 'POST', '/api/v1/exec', {
      token: t.a.token,
      body: { servers: [t.b.serverName], command: ['true'] },
    });
    expect(ex.status).toBe(400);
    expect(ex.body.error.message).toMatch(/matches no server you can see/);
    // B's objects are untouched: the join token still works for B, the session is still live.
    const list = await call(t.b.host, 'GET', '/api/v1/join-tokens', { token: t.b.token });
    expect(list.body.items[0].revokedAt).toBeNull();
  });

  it('never lists another workspace', async () => {
    for (const path of listCalls) {
      const r = await call(t.a.host, 'GET', path, { token: t.a.token });
      expect(r.status, path).toBe(200);
      const text = JSON.stringify(r.body);
      for (const secret of [
        t.b.name,
        t.b.serverName,
        t.b.joinTokenId,
        t.b.sessionId,
        t.b.userId,
        t.b.grantId,
        t.b.workSessionId,
        t.b.authSessionId,
        t.b.factorId,
        t.b.patId,
        t.b.svcId,
      ]) {
        expect(text, path).not.toContain(secret);
      }
    }
    const v = await call(t.a.host, 'GET', '/api/v1/audit/verify', { token: t.a.token });
    expect(v.body.ok).toBe(true);
  });

  it("does not accept one workspace's token at another workspace's host", async () => {
    for (const path of [...listCalls, ...selfCalls]) {
      const r = await call(t.a.host, 'GET', path, { token: t.b.token });
      expect(r.status, path).toBe(401);
      // Nor B's API token, even one with every scope.
      const p = await call(t.a.host, 'GET', path, { token: t.b.pat });
      expect(p.status, path).toBe(401);
    }
    // Nor at the default workspace (IP address / localhost).
    expect((await request(url, ca, 'GET', '/api/v1/servers', { token: t.b.token })).status).toBe(401);
  });

  it("never starts another workspace's SSO nor approves its device codes", async () => {
    const start = await call(t.a.host, 'GET', `/api/v1/auth/sso/${t.b.name}-idp/start`);
    expect(start.status).toBe(404);
    expect(start.body).toContain('SSO_PROVIDER_NOT_FOUND');
    expect((await call(t.a.host, 'GET', `/api/v1/auth/sso/${t.a.name}-idp/start`)).status).not.toBe(404);
    const pub = await call(t.a.host, 'GET', '/api/v1/auth/sso/providers');
    expect(JSON.stringify(pub.body)).not.toContain(t.b.name);
    // A device code made at B's host is unknown at A's, for A's token and for A's browser session.
    const dev = await call(t.b.host, 'POST', '/api/v1/auth/device', { body: {} });
    expect(dev.status).toBe(201);
    expect(dev.body.verificationUrl).toBe(`https://${t.b.host}:${port}/auth/device`);
    const poll = await call(t.a.host, 'POST', '/api/v1/auth/device/token', {
      body: { deviceCode: dev.body.deviceCode },
    });
    expect(poll.body.error.code).toBe('DEVICE_CODE_EXPIRED');
    const page = await call(t.a.host, 'GET', `/auth/device?code=${dev.body.userCode}`, {
      headers: { cookie: `__Host-corral_session=${t.a.token}` },
    });
    expect(page.status).toBe(404);
    // B's own token, as a cookie at A's host, is no session there.
    const foreign = await call(t.a.host, 'GET', `/auth/device?code=${dev.body.userCode}`, {
      headers: { cookie: `__Host-corral_session=${t.b.token}` },
    });
    expect(foreign.status).toBe(302);
  });

  it('signs in to the workspace named by the host; the same email elsewhere is another account', async () => {
    const wrong = await call(t.a.host, 'POST', '/api/v1/auth/login', {
      body: { email: 'ops@globex.test', password: PW },
    });
    expect(wrong.status).toBe(401);
    const local = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'ops@acme.test', password: PW },
      headers: { host: `acme.localhost:${port}` },
    });
    expect(local.body.workspace.name).toBe('acme');
  });

  it('settings and plan are for superusers; a superuser deletes their workspace and it stops being served', async () => {
    const created = await gw.services.workspaces.create('initech', { email: 'boss@initech.test', password: PW });
    const host = `initech.us1.${BASE}`;
    const boss = (
      await call(host, 'POST', '/api/v1/auth/login', { body: { email: 'boss@initech.test', password: PW } })
    ).body.token as string;
    const inv = await call(host, 'POST', '/api/v1/users/invitations', {
      token: boss,
      body: { email: 'staff@initech.test', role: 'staff' },
    });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', 'staff@initech.test')
      .executeTakeFirstOrThrow();
    const itok = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
    await call(host, 'POST', '/api/v1/invitations/accept', { body: { token: itok, password: PW } });
    const staff = (
      await call(host, 'POST', '/api/v1/auth/login', { body: { email: 'staff@initech.test', password: PW } })
    ).body.token as string;

    const show = await call(host, 'GET', '/api/v1/workspace', { token: staff });
    expect(show.body).toMatchObject({ id: created.workspaceId, name: 'initech', plan: 'essentials', isDefault: false });
    for (const body of [{ plan: 'enterprise' }, { displayName: 'Initech Inc.' }]) {
      const r = await call(host, 'PATCH', '/api/v1/workspace', { token: staff, body });
      expect(r.status, JSON.stringify(body)).toBe(403);
    }
    const staffDelete = await call(host, 'DELETE', '/api/v1/workspace', { token: staff, body: { confirm: 'initech' } });
    expect(staffDelete.status, JSON.stringify(staffDelete.body)).toBe(403);
    const up = await call(host, 'PATCH', '/api/v1/workspace', {
      token: boss,
      body: { plan: 'enterprise', displayName: 'Initech Inc.', billingEmail: 'ap@initech.test' },
    });
    expect(up.body).toMatchObject({
      plan: 'enterprise',
      settings: { displayName: 'Initech Inc.', billingEmail: 'ap@initech.test' },
    });
    const wrong = await call(host, 'DELETE', '/api/v1/workspace', { token: boss, body: { confirm: 'acme' } });
    expect(wrong.status).toBe(400);
    const del = await call(host, 'DELETE', '/api/v1/workspace', { token: boss, body: { confirm: 'initech' } });
    expect(del.status).toBe(202);
    expect((await call(host, 'GET', '/api/v1/servers', { token: boss })).body.error.code).toBe('WORKSPACE_NOT_FOUND');
    const again = await call(host, 'POST', '/api/v1/auth/login', {
      body: { email: 'boss@initech.test', password: PW },
    });
    expect(again.body.error.code).toBe('WORKSPACE_NOT_FOUND');
    const tokens = await gw.services.db
      .selectFrom('auth_tokens')
      .select('revoked_at')
      .where('workspace_id', '=', created.workspaceId)
      .execute();
    expect(tokens.every((x) => x.revoked_at !== null)).toBe(true);
    await gw.services.audit.flush();
    const events = await gw.services.audit.list(created.workspaceId, { limit: 100 });
    const actions = events.items.map((e) => e.action);
    expect(actions).toContain('workspace.delete');
    expect(actions).toContain('workspace.update');
    expect(actions.filter((a) => a === 'access.denied').length).toBe(3);
    // The default workspace cannot be deleted.
    const admin = (
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } })
    ).body.token as string;
    const def = await request(url, ca, 'DELETE', '/api/v1/workspace', { token: admin, body: { confirm: 'default' } });
    expect(def.status).toBe(403);
  });

  it('answers a workspace that lives in another region with its URL', async () => {
    const r = await call(`asia.us1.${BASE}`, 'POST', '/api/v1/auth/login', {
      body: { email: 'ops@asia.test', password: PW },
    });
    expect(r.status).toBe(421);
    expect(r.body.error.code).toBe('WORKSPACE_IN_OTHER_REGION');
    expect(r.body.error.details.url).toBe(`https://asia.ap1.${BASE}:${port}`);
    expect(r.headers.location).toBe(`https://asia.ap1.${BASE}:${port}`);
    const misrouted = await call(`acme.ap1.${BASE}`, 'GET', '/api/v1/auth/whoami', { token: t.a.token });
    expect(misrouted.body.error.details.url).toBe(`https://acme.us1.${BASE}:${port}`);
  });

  it('answers unknown workspaces and unknown hosts with WORKSPACE_NOT_FOUND', async () => {
    for (const host of [`nope.us1.${BASE}`, 'nope.localhost', 'www.elsewhere.test']) {
      const r = await call(host, 'GET', '/api/v1/servers', { token: t.a.token });
      expect(r.status, host).toBe(404);
      expect(r.body.error.code).toBe('WORKSPACE_NOT_FOUND');
    }
  });
});
