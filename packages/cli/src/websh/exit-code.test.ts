import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { describeClose, exitStatus, signalNumber } from './exit-code.js';

describe('exitStatus (the local status for the remote end, like ssh and shells)', () => {
  it('passes exit codes through', () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(3, null)).toBe(3);
    expect(exitStatus(255, null)).toBe(255);
  });
  it('keeps the low 8 bits of out-of-range codes, as wait(2) does', () => {
    expect(exitStatus(256, null)).toBe(0);
    expect(exitStatus(-1, null)).toBe(255);
  });
  it('maps a signal to 128 + its number, by name with or without SIG, or by number', () => {
    expect(exitStatus(null, 'SIGKILL')).toBe(128 + constants.signals.SIGKILL);
    expect(exitStatus(null, 'TERM')).toBe(128 + constants.signals.SIGTERM);
    expect(exitStatus(null, 'sighup')).toBe(128 + constants.signals.SIGHUP);
    expect(exitStatus(null, '9')).toBe(137);
  });
  it('gives 255 for an unknown signal or no status at all', () => {
    expect(exitStatus(null, 'SIGNOPE')).toBe(255);
    expect(exitStatus(null, null)).toBe(255);
    expect(signalNumber('0')).toBeUndefined();
  });
});

describe('describeClose', () => {
  it('names known close codes and keeps the reason', () => {
    expect(describeClose(4411, 'work session expired')).toBe('4411 access revoked or expired (work session expired)');
    expect(describeClose(1006, '')).toBe('1006 connection lost');
    expect(describeClose(4999, '')).toBe('4999 unknown close code');
  });
});
