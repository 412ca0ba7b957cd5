import { describe, expect, it } from 'vitest';
import { OutputPump, STDERR_CHUNK_BYTES, type FrameSink } from './output-pump.js';

class FakeSink implements FrameSink {
  bufferedAmount = 0;
  frames: { data: Buffer | string; binary: boolean; cb: (err?: Error) => void }[] = [];
  send(data: Buffer | string, options: { binary: boolean }, cb: (err?: Error) => void): void {
    this.frames.push({ data, binary: options.binary, cb });
    this.bufferedAmount += data.length;
  }
  /** The socket wrote the oldest frame out. */
  written(): void {
    const f = this.frames.shift()!;
    this.bufferedAmount -= f.data.length;
    f.cb();
  }
}

function setup(opts: { high?: number; low?: number; maxFrameBytes?: number } = {}) {
  const sink = new FakeSink();
  const ticks: (() => void)[] = [];
  const source = {
    paused: 0,
    resumed: 0,
    pause() {
      this.paused++;
    },
    resume() {
      this.resumed++;
    },
  };
  const pump = new OutputPump(sink, source, {
    highWaterMark: opts.high ?? 100,
    lowWaterMark: opts.low ?? 25,
    maxFrameBytes: opts.maxFrameBytes,
    schedule: (fn) => ticks.push(fn),
  });
  const tick = (): void => ticks.splice(0).forEach((fn) => fn());
  return { sink, source, pump, tick };
}

describe('output pump', () => {
  it('joins chunks of one tick into one binary frame', () => {
    const t = setup();
    t.pump.stdout(Buffer.from('ab'));
    t.pump.stdout(Buffer.from('cd'));
    expect(t.sink.frames).toHaveLength(0);
    t.tick();
    expect(t.sink.frames.map((f) => [f.data.toString(), f.binary])).toEqual([['abcd', true]]);
  });

  it('splits frames at maxFrameBytes', () => {
    const t = setup({ high: 1e9, maxFrameBytes: 4 });
    t.pump.stdout(Buffer.from('0123456789'));
    t.tick();
    expect(t.sink.frames.map((f) => f.data.toString())).toEqual(['0123', '4567', '89']);
  });

  it('sends stderr as base64 text frames and keeps stdout/stderr order', () => {
    const t = setup({ high: 1e9 });
    t.pump.stdout(Buffer.from('out1'));
    t.pump.stderr(Buffer.from('err'));
    t.pump.stdout(Buffer.from('out2'));
    t.tick();
    expect(t.sink.frames.map((f) => [f.binary, f.data.toString()])).toEqual([
      [true, 'out1'],
      [false, JSON.stringify({ type: 'stderr', data: Buffer.from('err').toString('base64') })],
      [true, 'out2'],
    ]);
  });

  it('keeps stderr frames under the control frame limit', () => {
    const t = setup({ high: 1e12 });
    t.pump.stderr(Buffer.alloc(STDERR_CHUNK_BYTES * 2 + 1, 1));
    t.pump.flush();
    expect(t.sink.frames).toHaveLength(3);
    for (const f of t.sink.frames) expect(f.data.length).toBeLessThan(64 * 1024);
  });

  it('pauses the source above the high-water mark and resumes from a send callback under the low-water mark', () => {
    const t = setup({ high: 100, low: 25 });
    t.pump.stdout(Buffer.alloc(60));
    t.tick();
    expect(t.source.paused).toBe(0);
    t.pump.stdout(Buffer.alloc(60));
    t.tick();
    expect(t.source.paused).toBe(1);
    expect(t.pump.paused).toBe(true);
    t.sink.written(); // 60 left, still above 25
    expect(t.source.resumed).toBe(0);
    t.sink.written(); // 0 left
    expect(t.source.resumed).toBe(1);
    expect(t.pump.paused).toBe(false);
  });

  it('flush() sends at once; after close() output is dropped', () => {
    const t = setup();
    t.pump.stdout(Buffer.from('tail'));
    t.pump.flush();
    expect(t.sink.frames).toHaveLength(1);
    t.pump.close();
    t.pump.stdout(Buffer.from('late'));
    t.tick();
    expect(t.sink.frames).toHaveLength(1);
  });
});
