import { X509Certificate } from 'node:crypto';

/** Hex digits only, upper case: "aa:bb" and "AABB" compare equal. */
export function normaliseFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/**
 * SHA-256 fingerprint of the first certificate in `pem` (over its DER bytes), as `AA:BB:...`
 * (the form `openssl x509 -fingerprint -sha256` prints).
 * @throws when `pem` holds no parsable certificate
 */
export function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Whether two fingerprints name the same certificate (case and colons ignored; both must be 64 hex digits). */
export function fingerprintsEqual(a: string, b: string): boolean {
  const na = normaliseFingerprint(a);
  return na.length === 64 && na === normaliseFingerprint(b);
}
