import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createPgDatabase, DB_KINDS, request, tempDir } from './helpers.js';
import { continueTo, TestBrowser, type Page } from './browser-client.js';
import { startSamlIdp, type IdpMode } from './saml-idp.js';

const PW = 'admin-password-123';

describe.each(DB_KINDS)('SSO with SAML 2.0 against a test IdP with its own keys (%s)', (kind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let admin: string;
  let idp: Awaited<ReturnType<typeof startSamlIdp>>;
  let dropDb: (() => Promise<void>) | undefined;
  const dir = tempDir();

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
    idp = await startSamlIdp({
      spEntityId: `${url}/api/v1/auth/sso/okta/metadata`,
      user: { nameId: '00u1bob', email: 'bob@corp.test', groups: ['Engineering', 'DBA'] },
    });
    const add = await request(url, ca, 'POST', '/api/v1/sso/providers', {
      token: admin,
      body: {
        kind: 'saml',
        name: 'okta',
        entryPoint: idp.url,
        idpCert: idp.certPem,
        idpIssuer: idp.entityId,
        groupMap: [
          { idpGroup: 'Engineering', group: 'engineers' },
          { idpGroup: 'DBA', group: 'dba' },
        ],
      },
    });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    expect(add.body.callbackUrl).toBe(`${url}/api/v1/auth/sso/okta/acs`);
  });

  afterAll(async () => {
    await idp?.close();
    await gw?.close();
    await dropDb?.();
    dir.remove();
  });

  /** Start at the gateway, let the IdP answer (in `mode`), and post its form to the ACS. */
  async function samlSignIn(
    b: TestBrowser,
    mode: IdpMode,
  ): Promise<{ acs: Page; form: Record<string, string>; binding: string }> {
    idp.state.mode = mode;
    const start = await b.request('GET', `${url}/api/v1/auth/sso/okta/start?next=/servers`);
    expect(start.status).toBe(302);
    expect(start.headers.location).toMatch(new RegExp(`^${idp.url}\\?SAMLRequest=`));
    const idpPage = await b.request('GET', start.headers.location!);
    const form = Object.fromEntries(
      [...idpPage.text.matchAll(/name="(\w+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, '&')]),
    );
    const binding = b.cookie('__Host-corral_sso')!;
    const acs = await b.submit(idpPage, {}, { follow: false });
    return { acs, form, binding };
  }

  async function failures() {
    const r = await request(url, ca, 'GET', '/api/v1/audit?action=auth.login&limit=100', { token: admin });
    return (r.body.items as { outcome: string; details: Record<string, unknown> }[]).filter(
      (e) => e.outcome === 'failure',
    );
  }

  it('signs in with a valid signed response: JIT user, mapped groups, browser session', async () => {
    const b = new TestBrowser(ca);
    const { acs } = await samlSignIn(b, 'valid');
    expect(acs.status, acs.text.slice(0, 500)).toBe(200);
    expect(continueTo(acs)).toBe('/servers');
    const me = await b.request('GET', `${url}/api/v1/auth/whoami`);
    expect(JSON.parse(me.text).user).toMatchObject({ email: 'bob@corp.test', role: 'member' });
    const groups = await request(url, ca, 'GET', '/api/v1/groups', { token: admin });
    const mine = (groups.body.items as { name: string; members: string[] }[])
      .filter((g) => g.members.includes('bob@corp.test'))
      .map((g) => g.name)
      .sort();
    expect(mine).toEqual(['dba', 'engineers']);
    const logins = await request(url, ca, 'GET', '/api/v1/audit?action=auth.login&limit=5', { token: admin });
    expect(logins.body.items[0]).toMatchObject({
      outcome: 'success',
      actorName: 'bob@corp.test',
      details: { method: 'saml', provider: 'okta' },
    });
  });

  it('binds the sign-in to the browser with a SameSite=None cookie (the ACS is a cross-site POST)', async () => {
    const b = new TestBrowser(ca);
    idp.state.mode = 'valid';
    await b.request('GET', `${url}/api/v1/auth/sso/okta/start`);
    expect(b.cookies.find((c) => c.name === '__Host-corral_sso')).toMatchObject({ secure: true, sameSite: 'None' });
  });

  for (const [mode, why, re] of [
    ['wrong-signature', 'signed with a key that is not the IdP certificate', /signature/i],
    ['wrong-audience', 'for another service provider', /audience mismatch/i],
    ['expired', 'past its NotOnOrAfter', /subject confirmation|expired/i],
    ['wrong-recipient', 'addressed to another ACS', /Recipient is not this ACS/],
    ['tampered', 'changed after it was signed', /signature/i],
    ['unsigned-response', 'with only the assertion signed while the Response must be too', /document signature/i],
  ] as const) {
    it(`refuses a response ${why} (${mode})`, async () => {
      const b = new TestBrowser(ca);
      const { acs } = await samlSignIn(b, mode);
      expect(acs.status, acs.text.slice(0, 500)).toBe(401);
      expect(acs.text).toContain('SSO_FAILED');
      expect(b.cookie('__Host-corral_session')).toBeUndefined();
      const f = (await failures())[0]!;
      expect(f.details).toMatchObject({ method: 'saml', provider: 'okta', reason: 'assertion_invalid' });
      expect(f.details.message).toMatch(re);
    });
  }

  it('refuses a replayed response (InResponseTo is single use), even in the browser that started it', async () => {
    const b = new TestBrowser(ca);
    const { acs, form, binding } = await samlSignIn(b, 'valid');
    expect(acs.status).toBe(200);
    expect(b.cookie('__Host-corral_sso')).toBeUndefined(); // cleared after use
    // Someone who captured the POST and the binding cookie replays both.
    const again = new TestBrowser(ca);
    again.setCookie('127.0.0.1', '__Host-corral_sso', binding);
    const replay = await again.request('POST', `${url}/api/v1/auth/sso/okta/acs`, { form });
    expect(replay.status).toBe(401);
    expect(again.cookie('__Host-corral_session')).toBeUndefined();
    expect((await failures())[0]!.details.reason).toBe('replayed');
    // Without the cookie it is refused as coming from another browser.
    const third = new TestBrowser(ca);
    expect((await third.request('POST', `${url}/api/v1/auth/sso/okta/acs`, { form })).status).toBe(401);
  });

  it('refuses an unsolicited response (no request of ours, IdP-initiated)', async () => {
    const b = new TestBrowser(ca);
    const { form } = await samlSignIn(b, 'valid');
    const other = new TestBrowser(ca);
    const r = await other.request('POST', `${url}/api/v1/auth/sso/okta/acs`, {
      form: { SAMLResponse: form.SAMLResponse! },
    });
    expect(r.status).toBe(401);
  });

  it('publishes SP metadata with the entity ID and the ACS', async () => {
    const r = await request(url, ca, 'GET', '/api/v1/auth/sso/okta/metadata');
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toContain('xml');
    expect(r.body).toContain(`entityID="${url}/api/v1/auth/sso/okta/metadata"`);
    expect(r.body).toContain(`Location="${url}/api/v1/auth/sso/okta/acs"`);
  });
});
