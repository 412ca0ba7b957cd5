import { describe, expect, it } from 'vitest';
import { parseExpiresIn, tokenCreateBody } from './join-token.js';

describe('token create options', () => {
  it('parses --expires-in with the protocol duration syntax into expiresInSeconds', () => {
    expect(parseExpiresIn('1h')).toBe(3600);
    expect(parseExpiresIn('30m')).toBe(1800);
    expect(parseExpiresIn('7d')).toBe(7 * 86400);
    expect(parseExpiresIn('90')).toBe(90);
    expect(tokenCreateBody({ output: 'table', expiresIn: '2h', uses: '3', name: 'web' })).toEqual({
      name: 'web',
      expiresInSeconds: 7200,
      uses: 3,
    });
    expect(tokenCreateBody({ output: 'table' })).toEqual({});
  });

  it('explains malformed or out-of-range durations and counts', () => {
    expect(() => parseExpiresIn('1 hour')).toThrow(/not a duration: use e\.g\. 30m/);
    expect(() => parseExpiresIn('30s')).toThrow(/between 1m and 365d/);
    expect(() => parseExpiresIn('400d')).toThrow(/between 1m and 365d/);
    expect(() => tokenCreateBody({ output: 'table', uses: '0' })).toThrow(/--uses/);
    expect(() => tokenCreateBody({ output: 'table', uses: 'many' })).toThrow(/--uses/);
  });
});
