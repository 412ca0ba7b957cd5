import { createHash, randomInt } from 'node:crypto';
import { digestsEqual } from '../ids.js';

/** Six random digits, the code sent by email or SMS. */
export function numericCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * The stored form of a short code: SHA-256 over the challenge's id and the code, so equal codes of two
 * challenges differ. Short codes are safe to hash this fast only because each challenge allows a few
 * attempts and lives minutes.
 */
export function codeDigest(challengeId: string, code: string): string {
  return createHash('sha256').update(`${challengeId}\n${code.trim()}`).digest('hex');
}

/** Constant-time check of a code against its stored digest. */
export function codeMatches(challengeId: string, code: string, digest: string | null): boolean {
  return digest !== null && digestsEqual(codeDigest(challengeId, code), digest);
}

// No 0/o, 1/l/i: codes are read off paper.
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/**
 * A recovery code: 16 characters from a 31-letter alphabet (~79 bits) in four groups, e.g.
 * `k7qm-2xhp-9fat-vw3d`. That much entropy makes a plain SHA-256 at rest safe (no offline guessing).
 */
export function recoveryCode(): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    // randomInt draws without modulo bias.
    s += RECOVERY_ALPHABET[randomInt(0, RECOVERY_ALPHABET.length)];
    if (i % 4 === 3 && i < 15) s += '-';
  }
  return s;
}

/** Normalise what a person typed (case, spaces, missing dashes) before hashing a recovery code. */
export function normalizeRecoveryCode(input: string): string {
  const raw = input.toLowerCase().replace(/[^a-z0-9]/g, '');
  return raw.length === 16 ? raw.replace(/(.{4})(?!$)/g, '$1-') : input.trim().toLowerCase();
}

/** Mask an address for display: `m***@example.com`, `+1******4567`. */
export function maskDestination(to: string): string {
  const at = to.indexOf('@');
  if (at > 0) return `${to[0]}***${to.slice(at)}`;
  return to.length > 6 ? `${to.slice(0, 2)}${'*'.repeat(to.length - 6)}${to.slice(-4)}` : to;
}
