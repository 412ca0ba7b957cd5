import { describe, it, expect } from 'vitest';
import { backoffCeiling, initialBackoff, nextBackoff, resetBackoff } from './backoff.js';

describe('full-jitter backoff', () => {
  it('doubles the ceiling from 1 s up to the 60 s cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((a) => backoffCeiling(a))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000,
    ]);
  });
  it('draws the delay uniformly below the ceiling (random in, delay out)', () => {
    let s = initialBackoff;
    const delays: number[] = [];
    for (const r of [0.5, 0.5, 0.999, 0, 0.25]) {
      const n = nextBackoff(s, r);
      delays.push(n.delayMs);
      s = n.state;
    }
    expect(delays).toEqual([500, 1000, 3996, 0, 4000]);
    expect(s.attempt).toBe(5);
  });
  it('starts over after a success', () => {
    expect(resetBackoff()).toEqual({ attempt: 0 });
  });
  it('clamps a random number outside [0, 1)', () => {
    expect(nextBackoff(initialBackoff, 5).delayMs).toBe(1000);
    expect(nextBackoff(initialBackoff, -1).delayMs).toBe(0);
  });
});
