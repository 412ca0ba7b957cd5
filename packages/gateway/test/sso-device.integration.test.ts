import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';
import { BIN, Proc, run } from './processes.js';
import { TestBrowser } from './browser-client.js';

const PW = 'admin-password-123';
const MEMBER_PW = 'member-password-123';

/**
 * `corral login --browser` end to end: the real CLI in a child process asks for a device code and polls
 * while this test, as the browser, signs in and approves (or denies) on the server-rendered page.
 * Also the "SSO required" policy on password sign-in.
 */
describe('device sign-in (corral login --browser) and the SSO required policy', () => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let admin: string;
  const dir = tempDir();
  const cliDirs: Array<{ remove: () => void }> = [];

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
      device: { intervalSeconds: 1 },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    admin = (await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } }))
      .body.token;
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: admin,
      body: { email: 'member@localhost', role: 'member' },
    });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', 'member@localhost')
      .executeTakeFirstOrThrow();
    const token = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
    expect(
      (await request(url, ca, 'POST', '/api/v1/invitations/accept', { body: { token, password: MEMBER_PW } })).status,
    ).toBe(201);
  });

  afterAll(async () => {
    await gw?.close();
    dir.remove();
    for (const d of cliDirs) d.remove();
  });

  /** A browser signed in as `email` with the password API (cookie session). */
  async function signedInBrowser(email: string, password: string): Promise<TestBrowser> {
    const b = new TestBrowser(ca);
    const r = await b.request('POST', `${url}/api/v1/auth/login`, { json: { email, password, cookie: true } });
    expect(r.status, r.text).toBe(200);
    expect(b.cookie('__Host-corral_session')).toBeTruthy();
    return b;
  }

  /** Start `corral login URL --browser --no-open` and wait for the code it prints. */
  async function startCli(): Promise<{ cli: Proc; env: Record<string, string>; code: string; link: string }> {
    const cfg = tempDir('corral-cli-');
    cliDirs.push(cfg);
    const env = { CORRAL_CONFIG_DIR: cfg.path, NO_COLOR: '1', DISPLAY: '' };
    const cli = new Proc(
      BIN.cli,
      ['login', url, '--browser', '--no-open', '--ca-fingerprint', gw.tls.caFingerprint],
      env,
    );
    const m = await cli.waitFor(/code: ([A-Z]{4}-[A-Z]{4})/);
    const link = (await cli.waitFor(/(https:\/\/\S+\/auth\/device\?code=\S+)/))[1]!;
    return { cli, env, code: m[1]!, link };
  }

  async function audit(action: string) {
    return (await request(url, ca, 'GET', `/api/v1/audit?action=${action}&limit=20`, { token: admin })).body.items as {
      outcome: string;
      actorName: string | null;
      details: Record<string, unknown>;
    }[];
  }

  it('signs the CLI in once the signed-in browser approves the code; the CLI then works as that user', async () => {
    const { cli, env, code, link } = await startCli();
    expect(link).toBe(`${url}/auth/device?code=${code}`);
    const b = await signedInBrowser('member@localhost', MEMBER_PW);
    const page = await b.request('GET', link);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(page.headers['content-security-policy']).not.toMatch(/script-src/);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.text).not.toMatch(/<script/i);
    expect(page.text).toContain(code);
    expect(page.text).toContain('member@localhost');
    expect(page.text).toContain('127.0.0.1'); // where the request came from
    expect(page.text).toMatch(/corral CLI on /);
    const done = await b.submit(page, { decision: 'approve' });
    expect(done.status, done.text).toBe(200);
    expect(done.text).toContain('Approved');
    const exit = await cli.exited;
    expect(exit.code, cli.err).toBe(0);
    expect(cli.out).toMatch(/Logged in to .* as member@localhost/);
    const who = await run(BIN.cli, ['whoami', '--output', 'json'], { env });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout).user).toMatchObject({ email: 'member@localhost', role: 'member' });

    expect((await audit('auth.device.approve'))[0]).toMatchObject({ actorName: 'member@localhost' });
    expect((await audit('auth.login'))[0]).toMatchObject({
      actorName: 'member@localhost',
      details: { method: 'device' },
    });
    // The page's code is used up: opening it again says so.
    expect((await b.request('GET', link)).status).toBe(404);
  });

  it('ends the CLI with an error when the browser denies, and saves nothing', async () => {
    const { cli, env, link } = await startCli();
    const b = await signedInBrowser('member@localhost', MEMBER_PW);
    const done = await b.submit(await b.request('GET', link), { decision: 'deny' });
    expect(done.text).toContain('Denied');
    const exit = await cli.exited;
    expect(exit.code).toBe(1);
    expect(cli.err).toMatch(/denied in the browser/);
    const who = await run(BIN.cli, ['whoami'], { env });
    expect(who.code).not.toBe(0);
    expect((await audit('auth.device.deny'))[0]).toMatchObject({ actorName: 'member@localhost' });
  });

  it('ends the CLI with an error when the code expires unapproved', async () => {
    const { cli, code } = await startCli();
    void code;
    // Ten minutes pass (the gateway's own expiry check decides, as it would after 600 s).
    await gw.services.db
      .updateTable('device_authorizations')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where('status', '=', 'pending')
      .execute();
    const exit = await cli.exited;
    expect(exit.code).toBe(1);
    expect(cli.err).toMatch(/expired before it was approved/);
  });

  it('sends a browser without a session to /login with next, and refuses a post without the CSRF field', async () => {
    const { cli, link, code } = await startCli();
    try {
      const anon = new TestBrowser(ca);
      const r = await anon.request('GET', link);
      expect(r.status).toBe(302);
      expect(r.headers.location).toBe(`/login?next=${encodeURIComponent(`/auth/device?code=${code}`)}`);
      const b = await signedInBrowser('member@localhost', MEMBER_PW);
      const page = await b.request('GET', link);
      const forged = await b.request('POST', `${url}/auth/device`, { form: { code, decision: 'approve', csrf: 'x' } });
      expect(forged.status).toBe(403);
      expect(forged.text).toContain('CSRF_FAILED');
      // Still pending: the real form works afterwards.
      expect((await b.submit(page, { decision: 'approve' })).text).toContain('Approved');
      expect((await cli.exited).code).toBe(0);
    } finally {
      await cli.stop();
    }
  });

  it('answers pending, slow_down, then the session once, then expired (device code single use)', async () => {
    const dev = await request(url, ca, 'POST', '/api/v1/auth/device', { body: { clientName: 'test' } });
    expect(dev.status).toBe(201);
    expect(dev.body.userCode).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(dev.body.expiresIn).toBe(600);
    const poll = () =>
      request(url, ca, 'POST', '/api/v1/auth/device/token', { body: { deviceCode: dev.body.deviceCode } });
    expect((await poll()).body.error.code).toBe('AUTHORIZATION_PENDING');
    const fast = await poll();
    expect(fast.body.error.code).toBe('SLOW_DOWN');
    // Stored hashed only.
    const row = await gw.services.db
      .selectFrom('device_authorizations')
      .selectAll()
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(dev.body.deviceCode);
    expect(JSON.stringify(row)).not.toContain(dev.body.userCode.replace('-', ''));
    expect(row.interval_s).toBe(6);
    const b = await signedInBrowser('admin@localhost', PW);
    // The user code is checked case- and dash-insensitively.
    const page = await b.request('GET', `${url}/auth/device?code=${dev.body.userCode.toLowerCase().replace('-', ' ')}`);
    expect(page.status).toBe(200);
    await b.submit(page, { decision: 'approve' });
    await gw.services.db
      .updateTable('device_authorizations')
      .set({ last_poll_at: null })
      .where('id', '=', row.id)
      .execute();
    const ok = await poll();
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.user.email).toBe('admin@localhost');
    expect(ok.body.token).toMatch(/^crl_/);
    await gw.services.db
      .updateTable('device_authorizations')
      .set({ last_poll_at: null })
      .where('id', '=', row.id)
      .execute();
    expect((await poll()).body.error.code).toBe('DEVICE_CODE_EXPIRED');
    expect(
      (await request(url, ca, 'POST', '/api/v1/auth/device/token', { body: { deviceCode: 'cdc_nope' } })).body.error
        .code,
    ).toBe('DEVICE_CODE_EXPIRED');
  });

  it('refuses an unknown user code on the page', async () => {
    const b = await signedInBrowser('member@localhost', MEMBER_PW);
    const r = await b.request('GET', `${url}/auth/device?code=BBBB-BBBB`);
    expect(r.status).toBe(404);
    expect(r.text).toMatch(/unknown, used or expired/);
  });

  it('configures providers with the CLI: sso add, ls, update, policy, remove', async () => {
    const cfg = tempDir('corral-cli-');
    cliDirs.push(cfg);
    const env = { CORRAL_CONFIG_DIR: cfg.path, NO_COLOR: '1' };
    const cli = (args: string[], input?: string) =>
      run(BIN.cli, args, { env, ...(input !== undefined ? { input } : {}) });
    const login = await cli(
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', gw.tls.caFingerprint],
      PW,
    );
    expect(login.code, login.stderr).toBe(0);
    const add = await cli(
      [
        'sso',
        'add',
        'keycloak',
        '--kind',
        'oidc',
        '--issuer',
        'https://kc.corp.test/realms/corp',
        '--client-id',
        'corral',
        '--client-secret-stdin',
        '--map',
        'corral-admins=ops',
        '--map',
        'dev=developers',
        '--display-name',
        'Corp SSO',
      ],
      'the-client-secret\n',
    );
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain(`redirect URI to register at the IdP: ${url}/api/v1/auth/sso/keycloak/callback`);
    expect(add.stdout).toContain('corral-admins -> ops');
    const ls = await cli(['sso', 'ls']);
    expect(ls.stdout).toMatch(/^NAME\s+KIND\s+STATUS/m);
    expect(ls.stdout).toMatch(/keycloak\s+oidc\s+enabled\s+member\s+2/);
    expect(ls.stdout).toContain('SSO required: no');
    const upd = await cli(['sso', 'update', 'keycloak', '--disable', '--map', 'corral-admins=ops', '-o', 'json']);
    expect(upd.code, upd.stderr).toBe(0);
    expect(JSON.parse(upd.stdout)).toMatchObject({
      enabled: false,
      jit: true,
      groupMap: [{ idpGroup: 'corral-admins', group: 'ops' }],
    });
    const json = JSON.parse((await cli(['sso', 'ls', '-o', 'json'])).stdout);
    expect(JSON.stringify(json)).not.toContain('the-client-secret');
    const bad = await cli(['sso', 'add', 'x', '--kind', 'saml']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/needs --entry-point and --idp-cert/);
    expect((await cli(['sso', 'policy'])).stdout).toMatch(/not required/);
    const rm = await cli(['sso', 'remove', 'keycloak']);
    expect(rm.code, rm.stderr).toBe(0);
    const gone = await cli(['sso', 'remove', 'keycloak']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('SSO_PROVIDER_NOT_FOUND');
  });

  it('"SSO required": password sign-in refused for a member (SSO_REQUIRED), allowed for a superuser', async () => {
    const none = await request(url, ca, 'PUT', '/api/v1/sso/policy', { token: admin, body: { required: true } });
    expect(none.status).toBe(400); // no provider yet
    const add = await request(url, ca, 'POST', '/api/v1/sso/providers', {
      token: admin,
      body: { kind: 'oidc', name: 'corp', issuer: 'https://idp.corp.test', clientId: 'c', clientSecret: 's' },
    });
    expect(add.status).toBe(201);
    const memberToken = (
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'member@localhost', password: MEMBER_PW } })
    ).body.token;
    const byMember = await request(url, ca, 'PUT', '/api/v1/sso/policy', {
      token: memberToken,
      body: { required: true },
    });
    expect(byMember.status).toBe(403);
    const set = await request(url, ca, 'PUT', '/api/v1/sso/policy', { token: admin, body: { required: true } });
    expect(set.body).toEqual({ required: true });

    const member = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'member@localhost', password: MEMBER_PW },
    });
    expect(member.status).toBe(403);
    expect(member.body.error.code).toBe('SSO_REQUIRED');
    // A wrong password still says wrong password: the policy is told only to whoever knows it.
    const wrong = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'member@localhost', password: 'not it' },
    });
    expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');
    const su = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PW },
    });
    expect(su.status).toBe(200);
    const denied = (await audit('auth.login')).find((e) => e.outcome === 'denied');
    expect(denied).toMatchObject({
      actorName: 'member@localhost',
      details: { reason: 'sso_required', method: 'password' },
    });
    // The public list tells the sign-in page.
    expect((await request(url, ca, 'GET', '/api/v1/auth/sso/providers')).body.ssoRequired).toBe(true);
    // The last provider cannot go while SSO is required.
    expect((await request(url, ca, 'DELETE', '/api/v1/sso/providers/corp', { token: admin })).status).toBe(400);
    const disable = await request(url, ca, 'PATCH', '/api/v1/sso/providers/corp', {
      token: admin,
      body: { enabled: false },
    });
    expect(disable.status).toBe(400);
    expect(disable.body.error.message).toMatch(/last enabled SSO provider/);

    await request(url, ca, 'PUT', '/api/v1/sso/policy', { token: admin, body: { required: false } });
    const again = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'member@localhost', password: MEMBER_PW },
    });
    expect(again.status).toBe(200);
    expect((await audit('sso.policy.update'))[0]!.details).toMatchObject({ after: { required: false } });
    expect((await request(url, ca, 'DELETE', '/api/v1/sso/providers/corp', { token: admin })).status).toBe(204);
  });
});
