import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';

// Expiry with an injected clock: no sleeping, exact instants.
describe('expiry (fake clock)', () => {
  let now = Date.UTC(2026, 0, 1);
  let gw: Gateway;
  let url: string;
  let ca: string;
  const dir = tempDir();
  const PW = 'pw-for-expiry-tests';

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      clock: { now: () => now },
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
  });
  afterAll(async () => {
    await gw.close();
    dir.remove();
  });

  const login = async () =>
    (await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } })).body
      .token as string;
  const pub = () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;

  it('refuses an expired join token', async () => {
    const t = await login();
    const jt = await request(url, ca, 'POST', '/api/v1/join-tokens', { token: t, body: { expiresInSeconds: 60 } });
    now += 61_000;
    const r = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: jt.body.token, name: 'late', publicKey: pub() },
    });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('JOIN_TOKEN_INVALID');
    const list = await request(url, ca, 'GET', '/api/v1/join-tokens', { token: await login() });
    expect(list.body.items.find((x: { id: string }) => x.id === jt.body.id).status).toBe('expired');
  });

  it('refuses a sign-in token after its 12 h lifetime', async () => {
    const t = await login();
    expect((await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: t })).status).toBe(200);
    now += 12 * 3600_000 + 1;
    const r = await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: t });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('lets a rate-limited account try again once the 15 min window has passed', async () => {
    for (let i = 0; i < 5; i++) {
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: 'wrong' } });
    }
    const locked = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: PW },
    });
    expect(locked.status).toBe(429);
    now += 15 * 60_000;
    expect(await login()).toMatch(/^crl_/);
  });

  it('rate-limits a source address across accounts', async () => {
    now += 16 * 60_000;
    let status = 0;
    for (let i = 0; i < 25 && status !== 429; i++) {
      const r = await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: `user${i}@x`, password: 'x' } });
      status = r.status;
    }
    expect(status).toBe(429);
  });
});
