import { describe, expect, it } from 'vitest';
import {
  decidePin,
  fingerprintOf,
  fingerprintsEqual,
  formatFingerprint,
  isValidFingerprint,
  normalizeFingerprint,
  normalizeGatewayUrl,
} from './tls-pin.js';

// A throwaway self-signed certificate and its fingerprint as `openssl x509 -noout -fingerprint -sha256` prints it.
const CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUIu0/7QedOaPGN4gxxIXaf1prhPYwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOQ29ycmFsIHRlc3QgQ0EwIBcNMjYxMTI3MDMzNjE0WhgPMjEy
NjExMDMwMzM2MTRaMBkxFzAVBgNVBAMMDkNvcnJhbCB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAExfehk1Xa3IvUW+1tVXuArAEOIZLRptpSoR3a0zoP
z0cKu1anUIOiRfpRYuFZ8Q+417Nur2e5Nfd6WtsErpnd5aNTMFEwHQYDVR0OBBYE
FG6LMCfa0BQzn6NNGCGNFuVsAouPMB8GA1UdIwQYMBaAFG6LMCfa0BQzn6NNGCGN
FuVsAouPMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgEJYM0ND2
hMgspePwTZnPXqou8NDJDddyrGNF2OmKkYwCIQD7Ud2+0Nz+ktGRyOLSTYeuAAU1
Fj2ttybLmvY7jedKkQ==
-----END CERTIFICATE-----
`;
const OPENSSL_FP = 'A7:08:86:A6:7A:D4:19:4E:96:5D:6F:93:E7:3A:B1:B7:2A:ED:27:A4:A7:5C:6F:D2:BA:4B:9B:20:19:F2:85:36';
const OTHER_FP = 'B'.repeat(64);

describe('fingerprints', () => {
  it('computes the same SHA-256 fingerprint as openssl', () => {
    expect(fingerprintOf(CA_PEM)).toBe(OPENSSL_FP);
  });

  it('compares case-insensitively and ignores colons and spaces', () => {
    const bare = OPENSSL_FP.replace(/:/g, '');
    expect(fingerprintsEqual(bare.toLowerCase(), OPENSSL_FP)).toBe(true);
    expect(fingerprintsEqual(formatFingerprint(bare).replace(/:/g, ' '), OPENSSL_FP)).toBe(true);
    expect(fingerprintsEqual(OTHER_FP, OPENSSL_FP)).toBe(false);
    expect(fingerprintsEqual('', '')).toBe(false);
  });

  it('normalises to upper-case hex and formats with colons', () => {
    expect(normalizeFingerprint('ab:cd ef')).toBe('ABCDEF');
    expect(formatFingerprint('abcdef')).toBe('AB:CD:EF');
  });

  it('accepts only 64 hex digits as a fingerprint', () => {
    expect(isValidFingerprint(OPENSSL_FP)).toBe(true);
    expect(isValidFingerprint(OPENSSL_FP.toLowerCase().replace(/:/g, ''))).toBe(true);
    expect(isValidFingerprint('AB:CD')).toBe(false);
    expect(isValidFingerprint('Z'.repeat(64))).toBe(false);
  });
});

describe('decidePin', () => {
  const url = 'https://gw:8443';
  it('trusts a matching --ca-fingerprint', () => {
    expect(decidePin({ url, served: OPENSSL_FP, flag: OPENSSL_FP.toLowerCase(), interactive: false })).toEqual({
      action: 'trust',
      why: 'flag',
    });
  });
  it('security: refuses loudly when --ca-fingerprint does not match, even with a terminal', () => {
    const d = decidePin({ url, served: OPENSSL_FP, flag: OTHER_FP, interactive: true });
    expect(d.action).toBe('refuse');
    expect(d.action === 'refuse' && d.message).toMatch(/MISMATCH/);
  });
  it('reuses a CA pinned for the same URL without asking', () => {
    expect(decidePin({ url, served: OPENSSL_FP, pinned: OPENSSL_FP, interactive: true })).toEqual({
      action: 'trust',
      why: 'pinned',
    });
  });
  it('security: refuses when the gateway now serves a different CA than the pinned one', () => {
    const d = decidePin({ url, served: OTHER_FP, pinned: OPENSSL_FP, interactive: true });
    expect(d.action === 'refuse' && d.message).toMatch(/CHANGED/);
  });
  it('a matching flag overrides a changed pin (the user checked the new CA)', () => {
    expect(decidePin({ url, served: OTHER_FP, flag: OTHER_FP, pinned: OPENSSL_FP, interactive: false }).action).toBe(
      'trust',
    );
  });
  it('asks on a terminal, and refuses without one, naming --ca-fingerprint', () => {
    expect(decidePin({ url, served: OPENSSL_FP, interactive: true })).toEqual({ action: 'ask' });
    const d = decidePin({ url, served: OPENSSL_FP, interactive: false });
    expect(d.action === 'refuse' && d.message).toMatch(/pass --ca-fingerprint/);
  });
});

describe('normalizeGatewayUrl', () => {
  it('adds https:// and drops trailing slashes', () => {
    expect(normalizeGatewayUrl('gw.example.com:8443/')).toBe('https://gw.example.com:8443');
    expect(normalizeGatewayUrl('https://GW.example.com/corral/')).toBe('https://gw.example.com/corral');
  });
  it('security: refuses plain http (the token would travel in clear)', () => {
    expect(() => normalizeGatewayUrl('http://gw:8080')).toThrow(/https/);
  });
});
