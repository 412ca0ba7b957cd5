import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  it('opens what it sealed, for the same row only', () => {
    const box = SecretBox.fromKey(randomBytes(32));
    const sealed = box.seal(Buffer.from('JBSWY3DPEHPK3PXP'), 'mfa_1');
    expect(sealed).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.open(sealed, 'mfa_1').toString()).toBe('JBSWY3DPEHPK3PXP');
    expect(() => box.open(sealed, 'mfa_2')).toThrow();
  });

  it('refuses a tampered ciphertext or another key', () => {
    const box = SecretBox.fromKey(randomBytes(32));
    const sealed = box.seal(Buffer.from('secret'), 'a');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] ^= 1;
    parts[3] = body.toString('base64url');
    expect(() => box.open(parts.join('.'), 'a')).toThrow();
    expect(() => SecretBox.fromKey(randomBytes(32)).open(sealed, 'a')).toThrow();
  });

  it('keeps its key in a 0600 file and finds it again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-box-'));
    try {
      const path = join(dir, 'mfa-secrets.key');
      const sealed = SecretBox.loadOrCreate(path).seal(Buffer.from('x'), 'r');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
      expect(SecretBox.loadOrCreate(path).open(sealed, 'r').toString()).toBe('x');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
