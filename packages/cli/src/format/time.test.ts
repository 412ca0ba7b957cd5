import { describe, expect, it } from 'vitest';
import { formatDuration, formatTimestamp, relativeTime } from './time.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('relativeTime', () => {
  it.each([
    ['2025-06-01T12:00:00Z', 'just now'],
    ['2025-06-01T11:59:48Z', '12s ago'],
    ['2025-06-01T11:59:00Z', '1m ago'],
    ['2025-06-01T11:01:00Z', '59m ago'],
    ['2025-06-01T11:00:01Z', '1h ago'],
    ['2025-06-01T13:59:59Z', 'in 2h'],
    ['2025-06-01T11:00:00Z', '1h ago'],
    ['2025-05-30T13:00:00Z', '47h ago'],
    ['2025-05-30T12:00:00Z', '2d ago'],
    ['2025-06-01T12:59:00Z', 'in 59m'],
    ['2025-06-08T12:00:00Z', 'in 7d'],
  ])('%s is "%s"', (iso, expected) => {
    expect(relativeTime(iso, NOW)).toBe(expected);
  });

  it('renders null as "never" (or a given word) and passes through what is not a date', () => {
    expect(relativeTime(null, NOW)).toBe('never');
    expect(relativeTime(null, NOW, '-')).toBe('-');
    expect(relativeTime('soon', NOW)).toBe('soon');
  });

  it('accepts epoch milliseconds', () => {
    expect(relativeTime(NOW - 5000, NOW)).toBe('5s ago');
  });
});

describe('formatTimestamp / formatDuration', () => {
  it('shows UTC to the second', () => {
    expect(formatTimestamp('2025-06-01T12:00:00.123Z')).toBe('2025-06-01 12:00:00Z');
    expect(formatTimestamp(null)).toBe('-');
  });
  it('uses the largest exact unit', () => {
    expect(formatDuration(3600)).toBe('1h');
    expect(formatDuration(90)).toBe('90s');
    expect(formatDuration(1800)).toBe('30m');
    expect(formatDuration(7 * 86400)).toBe('7d');
  });
});
