import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';
import { startOidcIdp, type IdpAccount } from './oidc-idp.js';
import { startSamlIdp } from './saml-idp.js';

const PW = 'admin-password-123';
const CHROMIUM = '/usr/bin/chromium';

/**
 * The same sign-ins in a real browser (Debian's chromium), which enforces what the HTTP test client
 * cannot: SameSite on the binding cookie across the IdP round trip (a cross-site redirect for OIDC, a
 * cross-site form POST for SAML), the __Host- cookie rules, and the device page's CSP (a wrong style
 * hash or an inline script would be reported as a violation).
 */
describe.skipIf(!existsSync(CHROMIUM))('SSO and device approval in chromium', () => {
  let gw: Gateway;
  let url: string;
  let browser: Browser;
  let oidc: Awaited<ReturnType<typeof startOidcIdp>>;
  let saml: Awaited<ReturnType<typeof startSamlIdp>>;
  const dir = tempDir();
  const accounts: Record<string, IdpAccount> = {
    carol: { email: 'carol@corp.test', email_verified: true, name: 'Carol', groups: ['eng'] },
  };

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    const ca = gw.tls.caPem;
    const admin = (
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } })
    ).body.token;
    oidc = await startOidcIdp({ redirectUris: [`${url}/api/v1/auth/sso/corp/callback`], accounts });
    saml = await startSamlIdp({
      spEntityId: `${url}/api/v1/auth/sso/okta/metadata`,
      user: { nameId: 'dave-1', email: 'dave@corp.test', groups: ['DBA'] },
    });
    for (const body of [
      {
        kind: 'oidc',
        name: 'corp',
        issuer: oidc.issuer,
        clientId: oidc.clientId,
        clientSecret: oidc.clientSecret,
        scopes: 'openid email profile groups',
        groupMap: [{ idpGroup: 'eng', group: 'engineers' }],
      },
      { kind: 'saml', name: 'okta', entryPoint: saml.url, idpCert: saml.certPem, idpIssuer: saml.entityId },
    ]) {
      const r = await request(url, ca, 'POST', '/api/v1/sso/providers', { token: admin, body });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    // launch() gives every run a fresh, temporary user-data-dir of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await oidc?.close();
    await saml?.close();
    await gw?.close();
    dir.remove();
  });

  /** A fresh context that accepts the gateway's local CA (chromium does not know it). */
  const fresh = (): Promise<BrowserContext> => browser.newContext({ ignoreHTTPSErrors: true });

  it('OIDC: IdP login and consent forms, back to the gateway with the Lax binding cookie, signed in', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    await page.goto(`${url}/api/v1/auth/sso/corp/start?next=${encodeURIComponent('/api/v1/auth/whoami')}`);
    await page.fill('input[name=login]', 'carol');
    await page.fill('input[name=password]', 'anything');
    await page.click('button[type=submit]');
    // Consent (the dev interactions ask once per client).
    await page.waitForLoadState();
    if (page.url().startsWith(oidc.issuer)) await page.click('button[type=submit]');
    await page.waitForURL(`${url}/api/v1/auth/whoami`);
    const who = JSON.parse((await page.textContent('body')) ?? '{}');
    expect(who.user).toMatchObject({ email: 'carol@corp.test', role: 'member' });
    const cookies = await ctx.cookies(url);
    expect(cookies.find((c) => c.name === '__Host-corral_session')).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
    });
    expect(cookies.find((c) => c.name === '__Host-corral_sso')).toBeUndefined();
    await ctx.close();
  });

  it('SAML: the IdP page auto-posts cross-site to the ACS; the SameSite=None binding cookie goes along', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    saml.state.mode = 'valid';
    await page.goto(`${url}/api/v1/auth/sso/okta/start?next=${encodeURIComponent('/api/v1/auth/whoami')}`);
    await page.waitForURL(`${url}/api/v1/auth/whoami`);
    const who = JSON.parse((await page.textContent('body')) ?? '{}');
    expect(who.user).toMatchObject({ email: 'dave@corp.test' });
    await ctx.close();
  });

  it('device page: approves with no CSP violation and no script', async () => {
    const ctx = await fresh();
    const page = await ctx.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    // Sign in through SAML, landing on the device page for a code the "CLI" asked for.
    const dev = await request(url, gw.tls.caPem, 'POST', '/api/v1/auth/device', { body: { clientName: 'ci-runner' } });
    saml.state.mode = 'valid';
    await page.goto(
      `${url}/api/v1/auth/sso/okta/start?next=${encodeURIComponent(`/auth/device?code=${dev.body.userCode}`)}`,
    );
    await page.waitForURL(`${url}/auth/device?code=${dev.body.userCode}`);
    expect(await page.textContent('.code')).toBe(dev.body.userCode);
    expect(await page.textContent('body')).toContain('dave@corp.test');
    expect(await page.textContent('body')).toContain('ci-runner');
    // The hashed inline style applies (a CSP block would leave the code box unstyled).
    expect(await page.$eval('.code', (e) => getComputedStyle(e).letterSpacing)).not.toBe('normal');
    await page.click('button.approve');
    await page.waitForSelector('h1');
    expect(await page.textContent('h1')).toBe('Approved');
    expect(violations).toEqual([]);
    const r = await request(url, gw.tls.caPem, 'POST', '/api/v1/auth/device/token', {
      body: { deviceCode: dev.body.deviceCode },
    });
    expect(r.body.user?.email, JSON.stringify(r.body)).toBe('dave@corp.test');
    await ctx.close();
  });
});
