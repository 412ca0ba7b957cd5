import { describe, expect, it } from 'vitest';
import { codeDigest, codeMatches, maskDestination, normalizeRecoveryCode, numericCode, recoveryCode } from './codes.js';

describe('one-time codes', () => {
  it('makes six digits', () => {
    for (let i = 0; i < 50; i++) expect(numericCode()).toMatch(/^\d{6}$/);
  });

  it('binds a code digest to its challenge', () => {
    const d = codeDigest('mch_1', '123456');
    expect(codeMatches('mch_1', '123456', d)).toBe(true);
    expect(codeMatches('mch_1', ' 123456 ', d)).toBe(true);
    expect(codeMatches('mch_2', '123456', d)).toBe(false);
    expect(codeMatches('mch_1', '123457', d)).toBe(false);
    expect(codeMatches('mch_1', '123456', null)).toBe(false);
  });

  it('makes readable recovery codes and accepts them typed loosely', () => {
    const c = recoveryCode();
    expect(c).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    expect(c).not.toMatch(/[01ilo]/);
    expect(normalizeRecoveryCode(c.toUpperCase().replace(/-/g, ' '))).toBe(c);
    expect(new Set(Array.from({ length: 100 }, recoveryCode)).size).toBe(100);
  });

  it('masks destinations', () => {
    expect(maskDestination('me@example.com')).toBe('m***@example.com');
    expect(maskDestination('+15551234567')).toBe('+1******4567');
  });
});
