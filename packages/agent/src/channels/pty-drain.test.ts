import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { PtyDrainGuard } from './pty-drain.js';

/** The parts of node-pty's tty.ReadStream the guard touches. */
class FakeStream extends EventEmitter {
  readableEnded = false;
  buffered: Buffer[] = [];
  destroyedWith: (Error | undefined)[] = [];
  get readableLength(): number {
    return this.buffered.reduce((n, b) => n + b.length, 0);
  }
  read(): Buffer | null {
    const b = this.buffered.shift() ?? null;
    if (b) this.emit('data', b);
    return b;
  }
  destroy(err?: Error): this {
    this.destroyedWith.push(err);
    return this;
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const errno = (code: string): Error => Object.assign(new Error(code), { code });

function setup(reads: (Buffer | string)[] = []) {
  const stream = new FakeStream();
  const clock = new FakeClock();
  const got: string[] = [];
  stream.on('data', (b: Buffer) => got.push(b.toString()));
  const guard = new PtyDrainGuard({
    socket: stream as unknown as Socket,
    fd: 42,
    clock,
    drainIdleMs: 2000,
    onData: (b) => got.push(b.toString()),
    readSync: (_fd, buf) => {
      const next = reads.shift() ?? 'EAGAIN';
      if (typeof next === 'string') throw errno(next);
      next.copy(buf);
      return next.length;
    },
  });
  return { stream, clock, got, guard };
}

describe('pty drain guard (node-pty exit race)', () => {
  it("defers node-pty's post-exit destroy while the stream still reads", () => {
    const t = setup();
    t.stream.destroy(); // node-pty's 200 ms timer
    expect(t.stream.destroyedWith).toEqual([]);
    expect(t.guard.mode).toBe('waiting');
  });

  it('closes on EIO, handing over what a paused stream still buffered first', () => {
    const t = setup();
    t.guard.pause();
    t.stream.buffered.push(Buffer.from('tail-1'), Buffer.from('tail-2'));
    const eio = errno('EIO');
    t.stream.destroy(eio);
    expect(t.got).toEqual(['tail-1', 'tail-2']);
    expect(t.stream.destroyedWith).toEqual([eio]);
    expect(t.guard.mode).toBe('closed');
  });

  it('stops waiting after 2 s of silence, but not while paused for backpressure', () => {
    const t = setup();
    t.stream.destroy();
    t.clock.advance(1500);
    t.stream.emit('data', Buffer.from('late'));
    t.clock.advance(1500);
    expect(t.stream.destroyedWith).toEqual([]);
    t.guard.pause();
    t.clock.advance(60_000);
    expect(t.stream.destroyedWith).toEqual([]);
    t.guard.resume();
    t.clock.advance(2000);
    expect(t.stream.destroyedWith).toEqual([undefined]);
  });

  it('after a premature EOF reads the fd by hand until EIO', async () => {
    const t = setup([Buffer.from('abc'), 'EAGAIN', Buffer.from('de'), 'EIO']);
    t.stream.readableEnded = true;
    t.stream.destroy(); // net.Socket ends itself after EOF
    expect(t.guard.mode).toBe('manual');
    expect(t.stream.destroyedWith).toEqual([]);
    await tick();
    expect(t.got).toEqual(['abc']);
    t.clock.advance(10); // poll after EAGAIN
    expect(t.got).toEqual(['abc', 'de']);
    expect(t.stream.destroyedWith).toEqual([undefined]);
    expect(t.guard.mode).toBe('closed');
  });

  it('gives up polling after 2 s without output', async () => {
    const t = setup();
    t.stream.readableEnded = true;
    t.stream.destroy();
    await tick();
    t.clock.advance(1990);
    expect(t.stream.destroyedWith).toEqual([]);
    t.clock.advance(20);
    expect(t.stream.destroyedWith).toEqual([undefined]);
  });

  it('destroyNow closes at once (the user left)', () => {
    const t = setup();
    t.guard.destroyNow();
    expect(t.stream.destroyedWith).toEqual([undefined]);
    t.stream.destroy(); // node-pty's own destroy afterwards goes straight through
    expect(t.stream.destroyedWith).toHaveLength(2);
  });
});
