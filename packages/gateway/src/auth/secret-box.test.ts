import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SecretBox } from './secret-box.js';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));
  it('round-trips and never stores the plaintext', () => {
    const sealed = box.seal('client-secret-123', 'sso:p1');
    expect(sealed).not.toContain('client-secret');
    expect(box.open(sealed, 'sso:p1')).toBe('client-secret-123');
    expect(box.seal('x', 'a')).not.toBe(box.seal('x', 'a'));
  });
  it('refuses a value moved to another purpose, altered, or sealed with another key', () => {
    const sealed = box.seal('s', 'sso:p1');
    expect(() => box.open(sealed, 'sso:p2')).toThrow();
    const parts = sealed.split('.');
    const body = Buffer.from(parts[2]!, 'base64url');
    body[0]! ^= 1;
    expect(() => box.open(`${parts[0]}.${parts[1]}.${body.toString('base64url')}`, 'sso:p1')).toThrow();
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'sso:p1')).toThrow();
  });
});
