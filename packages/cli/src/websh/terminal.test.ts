import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RawTerminal, terminalSize } from './terminal.js';
import { planSession } from '../commands/websh.js';

function fakeTty() {
  const modes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode(m: boolean) {
      modes.push(m);
      return stdin;
    },
  });
  return { stdin, modes };
}

function fakeProc() {
  const ee = new EventEmitter();
  const kills: string[] = [];
  const proc = Object.assign(ee, {
    pid: 4242,
    kill(pid: number, signal?: string | number) {
      kills.push(`${pid} ${String(signal)}`);
      return true;
    },
  });
  return { proc, kills };
}

describe('RawTerminal', () => {
  it('enters raw mode once and restores it once', () => {
    const { stdin, modes } = fakeTty();
    const { proc } = fakeProc();
    const t = new RawTerminal(stdin, proc as never);
    t.enter();
    t.enter();
    expect(t.isRaw).toBe(true);
    t.restore();
    t.restore();
    expect(modes).toEqual([true, false]);
    expect(proc.listenerCount('exit') + proc.listenerCount('SIGTERM') + proc.listenerCount('SIGHUP')).toBe(0);
  });

  it('restores the terminal when the process exits without restoring it first', () => {
    const { stdin, modes } = fakeTty();
    const { proc } = fakeProc();
    new RawTerminal(stdin, proc as never).enter();
    proc.emit('exit', 1);
    expect(modes).toEqual([true, false]);
  });

  it('on SIGTERM restores the terminal, then raises the signal again so the process still ends by it', () => {
    const { stdin, modes } = fakeTty();
    const { proc, kills } = fakeProc();
    new RawTerminal(stdin, proc as never).enter();
    proc.emit('SIGTERM', 'SIGTERM');
    expect(modes).toEqual([true, false]);
    expect(kills).toEqual(['4242 SIGTERM']);
    expect(proc.listenerCount('SIGTERM')).toBe(0); // so the re-raised signal takes its default action
  });

  it('does nothing on a stdin that is not a terminal', () => {
    const stdin = new PassThrough();
    const t = new RawTerminal(stdin, fakeProc().proc as never);
    t.enter();
    expect(t.isRaw).toBe(false);
  });
});

describe('terminalSize', () => {
  it('uses the terminal size, clamped to 1..1000, and 80x24 when not a terminal', () => {
    const out = new PassThrough();
    expect(terminalSize(out)).toEqual({ cols: 80, rows: 24 });
    expect(terminalSize(Object.assign(out, { isTTY: true, columns: 132, rows: 43 }))).toEqual({ cols: 132, rows: 43 });
    expect(terminalSize(Object.assign(new PassThrough(), { isTTY: true, columns: 5000, rows: 0 }))).toEqual({
      cols: 1000,
      rows: 24,
    });
  });
});

describe('planSession (ssh-like choice of pty and stdin handling)', () => {
  it('a shell always gets a pty and raw stdin', () => {
    expect(planSession([], false, true)).toEqual({ pty: true, stdinMode: 'raw' });
  });
  it('a command reads piped stdin (then eof), and leaves a terminal stdin alone without -t', () => {
    expect(planSession(['cat'], false, false)).toEqual({ pty: false, stdinMode: 'pipe' });
    expect(planSession(['cat'], false, true)).toEqual({ pty: false, stdinMode: 'none' });
  });
  it('-t gives a command a pty, with raw stdin from a terminal', () => {
    expect(planSession(['htop'], true, true)).toEqual({ pty: true, stdinMode: 'raw' });
    expect(planSession(['htop'], true, false)).toEqual({ pty: true, stdinMode: 'pipe' });
  });
});
