import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';

// WebAuthn end to end: Debian's chromium with a virtual authenticator from the DevTools protocol's
// WebAuthn domain (CTAP2, platform, resident keys, user verification) registers a passkey through the
// gateway's /auth/webauthn page (@simplewebauthn/browser) and signs in with it; @simplewebauthn/server
// checks both on the gateway. The page is served at https://localhost:PORT because an IP address cannot
// be a WebAuthn RP ID; chromium trusts the gateway's certificate by its SPKI hash (a blanket
// --ignore-certificate-errors would turn WebAuthn off).

const PW = 'admin-password-123';

declare global {
  interface Window {
    corral: {
      api(method: string, path: string, body?: unknown): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      login(email: string, password: string): Promise<{ cookie: boolean; csrfToken: string; user: { email: string } }>;
      register(label: string): Promise<{ factor: { kind: string; confirmed: boolean }; recoveryCodes?: string[] }>;
      stepUp(): Promise<{ validUntil: string }>;
    };
    SimpleWebAuthnBrowser: { startAuthentication(o: { optionsJSON: unknown }): Promise<unknown> };
  }
}

describe('WebAuthn in chromium with a virtual authenticator', () => {
  const dir = tempDir();
  let gw: Gateway;
  let url: string;
  let pageUrl: string;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    pageUrl = url.replace('127.0.0.1', 'localhost') + '/auth/webauthn';
    const spki = new X509Certificate(gw.tls.certPem).publicKey.export({ type: 'spki', format: 'der' });
    context = await chromium.launchPersistentContext(join(dir.path, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`,
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    }));
    await page.goto(pageUrl);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await gw?.close();
    dir.remove();
  });

  it('registers a passkey from the page; the first factor comes with recovery codes', async () => {
    const session = await page.evaluate(([e, p]) => window.corral.login(e!, p!), ['admin@localhost', PW]);
    expect(session).toMatchObject({ cookie: true, user: { email: 'admin@localhost' } });
    expect(await page.evaluate(() => document.cookie)).toBe(''); // HttpOnly: page scripts cannot read it
    const added = await page.evaluate(() => window.corral.register('laptop passkey'));
    expect(added.factor).toMatchObject({ kind: 'webauthn', confirmed: true });
    expect(added.recoveryCodes).toHaveLength(10);
    const creds = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(creds.credentials).toHaveLength(1);
    expect(creds.credentials[0]!.rpId).toBe('localhost');
    const row = await gw.services.db.selectFrom('mfa_factors').selectAll().executeTakeFirstOrThrow();
    expect(row.credential_id).toBe(
      creds.credentials[0]!.credentialId.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'),
    );
  });

  it('signs in on the page with password and then the passkey', async () => {
    await page.evaluate(() => window.corral.api('POST', '/api/v1/auth/logout'));
    await page.evaluate(() => sessionStorage.clear());
    await page.fill('#email', 'admin@localhost');
    await page.fill('#password', PW);
    await page.click('#signin-button');
    await page.waitForFunction(() => /Signed in|failed/.test(document.getElementById('status')!.textContent ?? ''));
    expect(await page.textContent('#status')).toBe('Signed in as admin@localhost.');
    const me = await page.evaluate(() => window.corral.api('GET', '/api/v1/auth/sessions'));
    expect(me.items.find((s: { current: boolean }) => s.current).method).toBe('password+webauthn');
    const creds = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(creds.credentials[0]!.signCount).toBeGreaterThan(0);
    // The CLI's address (an IP) cannot use the passkey: the challenge there offers only the recovery codes.
    const cli = await request(url, gw.tls.caPem, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PW },
    });
    expect(cli.body).toMatchObject({ mfaRequired: true, methods: ['recovery'] });
    expect(cli.body.webauthn).toBeUndefined();
  });

  it("refuses an authenticator's answer replayed against another challenge", async () => {
    const result = await page.evaluate(
      async ([e, p]) => {
        const a = await window.corral.api('POST', '/api/v1/auth/login', { email: e, password: p });
        const answer = await window.SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: a.webauthn });
        const b = await window.corral.api('POST', '/api/v1/auth/login', { email: e, password: p });
        const replay = await window.corral
          .api('POST', '/api/v1/auth/login/mfa', { challenge: b.challenge, method: 'webauthn', webauthn: answer })
          .then(
            () => 'accepted',
            (err: Error) => err.message,
          );
        const own = await window.corral.api('POST', '/api/v1/auth/login/mfa', {
          challenge: a.challenge,
          method: 'webauthn',
          webauthn: answer,
        });
        return { replay, ownToken: own.token as string };
      },
      ['admin@localhost', PW],
    );
    expect(result.replay).toMatch(/^MFA_INVALID/);
    expect(result.ownToken).toMatch(/^crl_/);
  });

  it('steps up with the passkey', async () => {
    const r = await page.evaluate(() => window.corral.stepUp());
    expect(Date.parse(r.validUntil)).toBeGreaterThan(Date.now());
    const steps = await gw.services.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'auth.step_up')
      .execute();
    expect(steps.map((s) => JSON.parse(s.details).method)).toContain('webauthn');
  });
});
