import { describe, it, expect } from 'vitest';
import { FailureLimiter } from './rate-limit.js';

describe('failure limiter', () => {
  it('refuses after max failures until the window passes (fake clock)', () => {
    let now = 0;
    const l = new FailureLimiter({ max: 3, windowMs: 1000 }, { now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterMs('k')).toBe(0);
      l.fail('k');
    }
    expect(l.retryAfterMs('k')).toBe(1000);
    now = 400;
    expect(l.retryAfterMs('k')).toBe(600);
    now = 1000;
    expect(l.retryAfterMs('k')).toBe(0);
  });
  it('a success clears the account', () => {
    const l = new FailureLimiter({ max: 1, windowMs: 1000 }, { now: () => 0 });
    l.fail('k');
    l.succeed('k');
    expect(l.retryAfterMs('k')).toBe(0);
  });
  it('keeps memory bounded', () => {
    const l = new FailureLimiter({ max: 1, windowMs: 1000 }, { now: () => 0 }, 10);
    for (let i = 0; i < 100; i++) l.fail(`k${i}`);
    expect(l.retryAfterMs('k0')).toBe(0);
    expect(l.retryAfterMs('k99')).toBe(1000);
  });
});
