import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createPgDatabase, DB_KINDS, request, tempDir } from './helpers.js';
import { continueTo, TestBrowser, type Page } from './browser-client.js';
import { startOidcIdp, type IdpAccount } from './oidc-idp.js';

const PW = 'admin-password-123';

describe.each(DB_KINDS)('SSO with OpenID Connect against a real oidc-provider (%s)', (kind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let admin: string;
  let idp: Awaited<ReturnType<typeof startOidcIdp>>;
  let dropDb: (() => Promise<void>) | undefined;
  const dir = tempDir();
  const accounts: Record<string, IdpAccount> = {
    alice: {
      email: 'Alice@Corp.test',
      email_verified: true,
      name: 'Alice',
      groups: ['eng', 'ops-admins', 'unrelated'],
    },
    mallory: { email: 'mallory@corp.test', email_verified: false, name: 'Mallory', groups: [] },
  };

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
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    admin = (await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } }))
      .body.token;
    idp = await startOidcIdp({ redirectUris: [`${url}/api/v1/auth/sso/corp/callback`], accounts });
    const add = await request(url, ca, 'POST', '/api/v1/sso/providers', {
      token: admin,
      body: {
        kind: 'oidc',
        name: 'corp',
        displayName: 'Corp IdP',
        issuer: idp.issuer,
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        scopes: 'openid email profile groups',
        groupMap: [
          { idpGroup: 'eng', group: 'engineers' },
          { idpGroup: 'ops-admins', group: 'ops' },
        ],
      },
    });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    expect(add.body.callbackUrl).toBe(`${url}/api/v1/auth/sso/corp/callback`);
    expect(add.body.hasClientSecret).toBe(true);
    expect(JSON.stringify(add.body)).not.toContain(idp.clientSecret);
  });

  afterAll(async () => {
    await idp?.close();
    await gw?.close();
    await dropDb?.();
    dir.remove();
  });

  /**
   * Start at the gateway and walk the IdP's pages (login form, consent form) like a person would, up to
   * the redirect back to our callback, which is returned unfollowed.
   */
  async function toCallback(b: TestBrowser, account: string, next = '/servers'): Promise<string> {
    let page: Page = await b.request('GET', `${url}/api/v1/auth/sso/corp/start?next=${encodeURIComponent(next)}`);
    for (let i = 0; i < 20; i++) {
      const loc = page.headers.location ? new URL(page.headers.location, page.url).href : null;
      if (loc?.startsWith(`${url}/api/v1/auth/sso/corp/callback`)) return loc;
      if (loc) {
        page = await b.request('GET', loc);
        continue;
      }
      expect(page.status, page.text.slice(0, 300)).toBe(200);
      const f = /name="login"/.test(page.text) ? { login: account, password: 'any' } : {};
      page = await b.submit(page, f, { follow: false });
    }
    throw new Error('never got back to the callback');
  }

  async function audit(action: string) {
    return (await request(url, ca, 'GET', `/api/v1/audit?action=${action}&limit=100`, { token: admin })).body.items as {
      outcome: string;
      actorName: string | null;
      targetName: string | null;
      details: Record<string, unknown>;
    }[];
  }

  async function groupsOf(email: string): Promise<string[]> {
    const g = await request(url, ca, 'GET', '/api/v1/groups', { token: admin });
    return (g.body.items as { name: string; members: string[] }[])
      .filter((x) => x.members.includes(email))
      .map((x) => x.name)
      .sort();
  }

  it('keeps the client secret encrypted at rest', async () => {
    const row = await gw.services.db.selectFrom('sso_providers').selectAll().executeTakeFirstOrThrow();
    expect(row.secret_enc).toMatch(/^v1\./);
    expect(row.secret_enc).not.toContain(idp.clientSecret);
    expect(row.settings).not.toContain(idp.clientSecret);
  });

  it('signs a new user in through the IdP: JIT account, groups mapped, browser session, lands on next', async () => {
    const b = new TestBrowser(ca);
    const cb = await toCallback(b, 'alice');
    expect(new URL(cb).searchParams.get('state')).toBeTruthy();
    expect(b.cookie('__Host-corral_sso')).toBeTruthy();
    const done = await b.request('GET', cb);
    expect(done.status, done.text.slice(0, 400)).toBe(200);
    expect(continueTo(done)).toBe('/servers');
    const session = b.cookie('__Host-corral_session');
    expect(session).toMatch(/^crl_/);
    expect(b.cookie('__Host-corral_sso')).toBeUndefined();
    const me = await b.request('GET', `${url}/api/v1/auth/whoami`);
    expect(me.status).toBe(200);
    const who = JSON.parse(me.text);
    expect(who.user).toMatchObject({ email: 'alice@corp.test', role: 'member' });
    expect(who.csrfToken).toBeTruthy();

    const jit = await audit('sso.user.create');
    expect(jit[0]).toMatchObject({
      targetName: 'alice@corp.test',
      details: { provider: 'corp', method: 'oidc', role: 'member' },
    });
    const logins = await audit('auth.login');
    expect(logins[0]).toMatchObject({
      outcome: 'success',
      actorName: 'alice@corp.test',
      details: { method: 'oidc', provider: 'corp', link: 'jit' },
    });
    expect(await groupsOf('alice@corp.test')).toEqual(['engineers', 'ops']);
  });

  it('syncs groups at the next sign-in: a group the IdP took away is removed, the others stay', async () => {
    accounts.alice!.groups = ['eng'];
    const b = new TestBrowser(ca);
    const done = await b.request('GET', await toCallback(b, 'alice', '/'));
    expect(done.status, done.text.slice(0, 400)).toBe(200);
    expect(await groupsOf('alice@corp.test')).toEqual(['engineers']);
    const sync = await audit('sso.groups.sync');
    expect(sync[0]).toMatchObject({ targetName: 'alice@corp.test', details: { removed: ['ops'], added: [] } });
    const logins = await audit('auth.login');
    expect(logins[0]!.details).toMatchObject({ method: 'oidc', link: 'linked' });
    // Still one account for alice.
    const users = await request(url, ca, 'GET', '/api/v1/users', { token: admin });
    expect(users.body.items.filter((u: { email: string }) => u.email === 'alice@corp.test')).toHaveLength(1);
  });

  it('refuses a tampered state, a callback from another browser, and a replayed callback (each audited)', async () => {
    const b = new TestBrowser(ca);
    const cb = new URL(await toCallback(b, 'alice'));
    const tampered = new URL(cb);
    tampered.searchParams.set('state', cb.searchParams.get('state')!.slice(0, -2) + 'xx');
    const t = await b.request('GET', tampered.href);
    expect(t.status).toBe(401);
    expect(t.text).toContain('SSO_FAILED');
    expect(t.headers['content-security-policy']).toContain("default-src 'none'");
    expect(b.cookie('__Host-corral_session')).toBeUndefined();

    // The genuine answer, but in a browser that did not start the sign-in (login CSRF).
    const b2 = new TestBrowser(ca);
    const c2 = new URL(await toCallback(b2, 'alice'));
    const other = new TestBrowser(ca);
    const o = await other.request('GET', c2.href);
    expect(o.status).toBe(401);
    expect(other.cookie('__Host-corral_session')).toBeUndefined();

    // The genuine answer in the right browser works once, then never again.
    const b3 = new TestBrowser(ca);
    const c3 = await toCallback(b3, 'alice');
    const binding = b3.cookie('__Host-corral_sso')!;
    expect((await b3.request('GET', c3)).status).toBe(200);
    b3.setCookie('127.0.0.1', '__Host-corral_sso', binding);
    const again = await b3.request('GET', c3);
    expect(again.status).toBe(401);

    const failures = (await audit('auth.login')).filter((e) => e.outcome === 'failure');
    const reasons = failures.map((e) => e.details.reason);
    expect(reasons).toEqual(expect.arrayContaining(['state_invalid', 'browser_mismatch', 'replayed']));
    expect(failures.every((e) => e.details.method === 'oidc' && e.details.provider === 'corp')).toBe(true);
  });

  it('refuses a sign-in the person cancelled at the IdP (error answer), audited as idp_error', async () => {
    const b = new TestBrowser(ca);
    let page: Page = await b.go('GET', `${url}/api/v1/auth/sso/corp/start`);
    expect(page.url.startsWith(idp.issuer)).toBe(true);
    const cancel = /href="([^"]*)">\[ Cancel \]/.exec(page.text)![1]!;
    page = await b.request('GET', new URL(cancel.replace(/&amp;/g, '&'), page.url).href);
    while (page.headers.location && !page.headers.location.startsWith(`${url}/api/v1/auth/sso/corp/callback`)) {
      page = await b.request('GET', new URL(page.headers.location, page.url).href);
    }
    const cb = new URL(page.headers.location!);
    expect(cb.searchParams.get('error')).toBe('access_denied');
    const r = await b.request('GET', cb.href);
    expect(r.status).toBe(401);
    expect(b.cookie('__Host-corral_session')).toBeUndefined();
    const failures = (await audit('auth.login')).filter((e) => e.outcome === 'failure');
    expect(failures[0]!.details.reason).toBe('idp_error');
  });

  it('refuses an IdP account whose email is not verified', async () => {
    const b = new TestBrowser(ca);
    const r = await b.request('GET', await toCallback(b, 'mallory'));
    expect(r.status).toBe(401);
    const failures = (await audit('auth.login')).filter((e) => e.outcome === 'failure');
    expect(failures[0]!.details.reason).toBe('email_unverified');
    const users = await request(url, ca, 'GET', '/api/v1/users', { token: admin });
    expect(JSON.stringify(users.body)).not.toContain('mallory');
  });

  it('redirects only to same-origin paths after sign-in', async () => {
    for (const evil of ['https://evil.test/x', '//evil.test/x', '/\\evil.test']) {
      const b = new TestBrowser(ca);
      const r = await b.request('GET', await toCallback(b, 'alice', evil));
      expect(r.status).toBe(200);
      expect(continueTo(r)).toBe('/');
    }
  });

  it('completes SSO for the CLI: sign in through the IdP in the browser, approve the device code, the poll gets a session', async () => {
    const dev = await request(url, ca, 'POST', '/api/v1/auth/device', { body: { clientName: 'corral CLI on test' } });
    const b = new TestBrowser(ca);
    const next = `/auth/device?code=${dev.body.userCode}`;
    const landed = await b.request('GET', await toCallback(b, 'alice', next));
    expect(continueTo(landed)).toBe(next);
    const page = await b.request('GET', `${url}${next}`);
    expect(page.text).toContain('alice@corp.test');
    expect((await b.submit(page, { decision: 'approve' })).text).toContain('Approved');
    const r = await request(url, ca, 'POST', '/api/v1/auth/device/token', {
      body: { deviceCode: dev.body.deviceCode },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.user.email).toBe('alice@corp.test');
    const me = await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: r.body.token });
    expect(me.body.user.email).toBe('alice@corp.test');
  });

  it('lists enabled providers for the sign-in page without authentication, never the secret', async () => {
    const r = await request(url, ca, 'GET', '/api/v1/auth/sso/providers');
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([
      { name: 'corp', kind: 'oidc', displayName: 'Corp IdP', startUrl: `${url}/api/v1/auth/sso/corp/start` },
    ]);
    expect(JSON.stringify(r.body)).not.toContain(idp.clientSecret);
  });
});
