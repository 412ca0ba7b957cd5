import { describe, expect, it } from 'vitest';
import { FdWriter } from './fd-writer.js';

function eagain(): Error {
  return Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
}

describe('fd writer', () => {
  it('writes synchronously when the fd takes everything', () => {
    const out: string[] = [];
    const w = new FdWriter(9, {
      writeSync: (_fd, buf, off, len) => (out.push(buf.subarray(off, off + len).toString()), len),
      setImmediate: () => expect.fail('no retry expected'),
    });
    expect(w.write(Buffer.from('ls\r'))).toBe(true);
    expect(out).toEqual(['ls\r']);
  });

  it('queues on EAGAIN and partial writes, and keeps byte order', () => {
    let capacity = 2;
    const out: string[] = [];
    const ticks: (() => void)[] = [];
    const w = new FdWriter(9, {
      writeSync: (_fd, buf, off, len) => {
        if (capacity === 0) throw eagain();
        const n = Math.min(len, capacity);
        capacity -= n;
        out.push(buf.subarray(off, off + n).toString());
        return n;
      },
      setImmediate: (fn) => ticks.push(fn),
    });
    w.write(Buffer.from('abc'));
    w.write(Buffer.from('def'));
    expect(out.join('')).toBe('ab');
    expect(w.queuedBytes).toBe(4);
    capacity = 100;
    ticks.shift()!();
    expect(out.join('')).toBe('abcdef');
    expect(w.queuedBytes).toBe(0);
  });

  it('reports backpressure above 1 MiB queued and calls onDrain once emptied', () => {
    let blocked = true;
    const ticks: (() => void)[] = [];
    let drained = 0;
    const w = new FdWriter(9, {
      writeSync: (_fd, _buf, _off, len) => {
        if (blocked) throw eagain();
        return len;
      },
      setImmediate: (fn) => ticks.push(fn),
    });
    w.onDrain(() => drained++);
    expect(w.write(Buffer.alloc(600 * 1024))).toBe(true);
    expect(w.write(Buffer.alloc(600 * 1024))).toBe(false);
    blocked = false;
    ticks.shift()!();
    expect(drained).toBe(1);
  });

  it('drops everything after a hard error (EIO: the pty is gone)', () => {
    let calls = 0;
    const w = new FdWriter(9, {
      writeSync: () => {
        calls++;
        throw Object.assign(new Error('EIO'), { code: 'EIO' });
      },
    });
    expect(w.write(Buffer.from('x'))).toBe(true);
    w.write(Buffer.from('y'));
    expect(calls).toBe(1);
  });
});
