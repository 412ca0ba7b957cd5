import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Secrets at rest (TOTP shared secrets): AES-256-GCM under a 32-byte key kept in the data directory
 * (`mfa-secrets.key`, mode 0600, made on first start). A database dump alone does not reveal them.
 * Cluster nodes share the database, so they must share this file too (copy it before starting a node).
 * Sealed form: `v1.<iv>.<tag>.<ciphertext>`, base64url; the AAD binds a ciphertext to its row.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static loadOrCreate(path: string): SecretBox {
    if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${path} must hold a base64 32-byte key (AES-256)`);
    return new SecretBox(key);
  }

  static fromKey(key: Buffer): SecretBox {
    return new SecretBox(key);
  }

  seal(plain: Buffer, aad: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return ['v1', iv, c.getAuthTag(), body].map((x) => (typeof x === 'string' ? x : x.toString('base64url'))).join('.');
  }

  /** Throws when the ciphertext was altered, belongs to another row, or the key is not the one used. */
  open(sealed: string, aad: string): Buffer {
    const [v, iv, tag, body] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('not a sealed secret');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]);
  }
}
