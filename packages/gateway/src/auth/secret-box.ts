import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const VERSION = 'v1';

/**
 * Encryption at rest for secrets the gateway must read back (an OIDC client secret): AES-256-GCM with a
 * 256-bit key kept in the data directory (`secret-box.key`, mode 0600; nodes of one cluster share it like
 * the grant-signing key). Each value gets a fresh 96-bit nonce; the associated data binds a ciphertext to
 * its purpose (e.g. the provider id), so a value copied into another row does not decrypt.
 * Format: `v1.<nonce>.<ciphertext+tag>` (base64url).
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('secret-box key must be 32 bytes');
  }

  /** Read the key file, or create it (32 random bytes, 0600) when missing. */
  static loadOrCreate(path: string): SecretBox {
    try {
      return new SecretBox(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const key = randomBytes(32);
      writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
      return new SecretBox(key);
    }
  }

  seal(plaintext: string, aad: string): string {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
    return `${VERSION}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** Decrypt; throws when the value was altered, moved to another `aad`, or sealed with another key. */
  open(sealed: string, aad: string): string {
    const [v, n, b] = sealed.split('.');
    if (v !== VERSION || !n || !b) throw new Error('not a sealed secret');
    const body = Buffer.from(b, 'base64url');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(n, 'base64url'));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
  }
}
