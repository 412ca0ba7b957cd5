import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, hotp, otpauthUri, totp, verifyTotp } from './totp.js';

// RFC 6238 appendix B (SHA-1 column): the secret is ASCII "12345678901234567890", 8-digit codes.
const RFC_KEY = Buffer.from('12345678901234567890');
const RFC_VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('totp', () => {
  it('matches the RFC 6238 SHA-1 test vectors', () => {
    for (const [t, code] of RFC_VECTORS) expect(hotp(RFC_KEY, Math.floor(t / 30), 8)).toBe(code);
  });

  it('matches the RFC 4226 HOTP vectors', () => {
    expect([0, 1, 2, 9].map((c) => hotp(RFC_KEY, c))).toEqual(['755224', '287082', '359152', '520489']);
  });

  it('round-trips base32', () => {
    const key = Buffer.from('any twenty byte key!');
    expect(base32Decode(base32Encode(key))).toEqual(key);
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32Decode('mzxw 6ytb oi==').toString()).toBe('foobar');
    expect(() => base32Decode('A1')).toThrow(/not base32/);
  });

  it('accepts one step of drift either way, not two', () => {
    const now = 1_700_000_000_000;
    expect(verifyTotp(RFC_KEY, totp(RFC_KEY, now - 30_000), now, null)).not.toBeNull();
    expect(verifyTotp(RFC_KEY, totp(RFC_KEY, now + 30_000), now, null)).not.toBeNull();
    expect(verifyTotp(RFC_KEY, totp(RFC_KEY, now - 60_000), now, null)).toBeNull();
  });

  it('refuses a replayed step and any earlier one (replay protection)', () => {
    const now = 1_700_000_000_000;
    const step = verifyTotp(RFC_KEY, totp(RFC_KEY, now), now, null);
    expect(step).not.toBeNull();
    expect(verifyTotp(RFC_KEY, totp(RFC_KEY, now), now, step)).toBeNull();
    expect(verifyTotp(RFC_KEY, totp(RFC_KEY, now - 30_000), now, step)).toBeNull();
    expect(verifyTotp(RFC_KEY, totp(RFC_KEY, now + 30_000), now, step)).toBe(step! + 1);
  });

  it('refuses malformed codes', () => {
    expect(verifyTotp(RFC_KEY, '12345', 0, null)).toBeNull();
    expect(verifyTotp(RFC_KEY, 'abcdef', 0, null)).toBeNull();
  });

  it('builds an otpauth URI authenticator apps read', () => {
    expect(otpauthUri('Corral acme', 'me@example.com', 'ABC')).toBe(
      'otpauth://totp/Corral%20acme%3Ame%40example.com?secret=ABC&issuer=Corral+acme&algorithm=SHA1&digits=6&period=30',
    );
  });
});
