import { describe, it, expect } from 'vitest';
import { auditTime } from './audit.js';
import { CliError } from '../errors.js';

describe('corral audit ls --since/--until', () => {
  const now = Date.parse('2026-11-27T12:00:00.000Z');
  it('takes a duration back from now', () => {
    expect(auditTime('2h', '--since', now)).toBe('2026-11-27T10:00:00.000Z');
    expect(auditTime('30m', '--since', now)).toBe('2026-11-27T11:30:00.000Z');
    expect(auditTime('7d', '--since', now)).toBe('2026-11-20T12:00:00.000Z');
  });
  it('takes an ISO 8601 time and sends it in UTC', () => {
    expect(auditTime('2026-11-27T10:00:00Z', '--until', now)).toBe('2026-11-27T10:00:00.000Z');
    expect(auditTime('2026-11-27T11:00:00+01:00', '--until', now)).toBe('2026-11-27T10:00:00.000Z');
  });
  it('says what it takes when the value is neither', () => {
    expect(() => auditTime('yesterday', '--since', now)).toThrow(CliError);
    expect(() => auditTime('yesterday', '--since', now)).toThrow(/--since takes an ISO 8601 time/);
  });
});
