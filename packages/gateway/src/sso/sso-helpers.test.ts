import { describe, it, expect } from 'vitest';
import { normalizeUserCode, USER_CODE_ALPHABET } from '@corral/protocol';
import { safeNext } from './sso-service.js';
import { newUserCode } from './device-auth.js';
import { claimList } from './oidc.js';
import { checkIssuerUrl, normalizeCert } from './sso-store.js';

describe('safeNext (where the browser lands after sign-in)', () => {
  it('keeps same-origin paths', () => {
    for (const p of ['/', '/servers', '/auth/device?code=BCDF-GHJK', '/a/b?c=d#e']) expect(safeNext(p)).toBe(p);
  });
  it('turns everything that could leave the origin into "/" (open redirect)', () => {
    for (const p of [
      'https://evil.test',
      '//evil.test',
      '/\\evil.test',
      '/a\\b',
      'javascript:alert(1)',
      'x',
      '',
      '/\nx',
      undefined,
      42,
    ]) {
      expect(safeNext(p)).toBe('/');
    }
    expect(safeNext('/' + 'a'.repeat(2001))).toBe('/');
  });
});

describe('device user codes', () => {
  it('are XXXX-XXXX from the consonant alphabet, and normalise what people type', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const c = newUserCode();
      expect(c).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
      for (const ch of c.replace('-', '')) expect(USER_CODE_ALPHABET).toContain(ch);
      seen.add(c);
    }
    expect(seen.size).toBeGreaterThan(195);
    expect(normalizeUserCode('bcdf ghjk')).toBe('BCDFGHJK');
    expect(normalizeUserCode('BCDF-GHJK')).toBe('BCDFGHJK');
  });
});

describe('provider settings checks', () => {
  it('accepts https issuers and http only on loopback', () => {
    expect(checkIssuerUrl('issuer', 'https://idp.example.com/realms/x')).toBe('https://idp.example.com/realms/x');
    expect(checkIssuerUrl('issuer', 'http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(() => checkIssuerUrl('issuer', 'http://idp.example.com')).toThrow(/https/);
    expect(() => checkIssuerUrl('issuer', 'ftp://x')).toThrow();
  });
  it('normalises a certificate body to PEM and refuses what is not one', () => {
    const body = 'A'.repeat(200);
    expect(normalizeCert(body)).toMatch(/^-----BEGIN CERTIFICATE-----\nA{64}\n/);
    expect(normalizeCert(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----`)).toBe(normalizeCert(body));
    expect(() => normalizeCert('not a cert <script>')).toThrow();
  });
  it('reads group claims as lists', () => {
    expect(claimList(['a', 'b', 3])).toEqual(['a', 'b']);
    expect(claimList('a')).toEqual(['a']);
    expect(claimList(undefined)).toEqual([]);
  });
});
