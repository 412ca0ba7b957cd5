import { describe, expect, it } from 'vitest';
import { sparkline, timeSlots } from './sparkline.js';

describe('sparkline', () => {
  it('scales from the lowest to the highest value', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([10, 20])).toBe('▁█');
  });

  it('uses a fixed scale when given (percentages: 0..100)', () => {
    expect(sparkline([0, 50, 100], { min: 0, max: 100 })).toBe('▁▅█');
    // Out-of-scale values are clamped, not wrapped.
    expect(sparkline([-5, 150], { min: 0, max: 100 })).toBe('▁█');
  });

  it('draws nothing for no data', () => {
    expect(sparkline([])).toBe('');
    expect(sparkline([null, undefined])).toBe('  ');
  });

  it('draws a constant series as a flat line: low without a scale, high against a zero floor', () => {
    expect(sparkline([3, 3, 3])).toBe('▁▁▁');
    expect(sparkline([3, 3, 3], { min: 0 })).toBe('███');
    expect(sparkline([0, 0], { min: 0 })).toBe('▁▁');
  });

  it('leaves gaps for missing values (null, NaN, Infinity) and ignores them for the scale', () => {
    expect(sparkline([0, null, Number.NaN, 7, Number.POSITIVE_INFINITY, 0])).toBe('▁  █ ▁');
  });
});

describe('timeSlots', () => {
  it('averages the values of each slot and leaves empty slots null', () => {
    const points = [
      { atMs: 0, value: 10 },
      { atMs: 10, value: 30 },
      { atMs: 35, value: 5 },
      { atMs: 99, value: 7 },
    ];
    expect(timeSlots(points, 0, 100, 4)).toEqual([20, 5, null, 7]);
  });

  it('ignores values outside the window and null values', () => {
    expect(
      timeSlots(
        [
          { atMs: -1, value: 1 },
          { atMs: 100, value: 1 },
          { atMs: 50, value: null },
        ],
        0,
        100,
        2,
      ),
    ).toEqual([null, null]);
    expect(timeSlots([], 0, 100, 0)).toEqual([]);
  });
});
