import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';

/** A random id with a readable prefix, e.g. `srv_5J8...`. 16 random bytes, base64url. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** A bearer secret: 32 random bytes, base64url, with a prefix that secret scanners can spot. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * SHA-256 of a high-entropy secret, hex. Tokens carry 256 random bits, so a fast hash is enough at rest
 * (passwords, which are low-entropy, use argon2id instead).
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ba.length === bb.length && ba.length > 0 && timingSafeEqual(ba, bb);
}
