import { describe, it, expect } from 'vitest';
import { forward } from './bridge.js';
import { HIGH_WATER_MARK_BYTES, LOW_WATER_MARK_BYTES } from '@corral/protocol';
import type { WebSocket } from 'ws';

/** A stand-in socket whose backlog we control, to drive forward() exactly. */
function fakeSocket() {
  const s = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    isPaused: false,
    callbacks: [] as Array<() => void>,
    send(data: Buffer | string, _opts: unknown, cb?: () => void) {
      s.bufferedAmount += typeof data === 'string' ? data.length : data.length;
      if (cb) s.callbacks.push(cb);
    },
    pause() {
      s.isPaused = true;
    },
    resume() {
      s.isPaused = false;
    },
  };
  return s;
}

describe('bridge backpressure', () => {
  it('pauses the source past the high-water mark and resumes it once drained', () => {
    const src = fakeSocket();
    const dst = fakeSocket();
    for (let i = 0; i < 20; i++)
      forward(src as unknown as WebSocket, dst as unknown as WebSocket, Buffer.alloc(64 * 1024), true);
    expect(dst.bufferedAmount).toBeGreaterThan(HIGH_WATER_MARK_BYTES);
    expect(src.isPaused).toBe(true);
    dst.bufferedAmount = 0;
    for (const cb of dst.callbacks) cb();
    expect(src.isPaused).toBe(false);
  });

  it('a single frame that jumps from below the low-water mark past the high-water mark still gets a callback (no stall)', () => {
    const src = fakeSocket();
    const dst = fakeSocket();
    dst.bufferedAmount = LOW_WATER_MARK_BYTES - 1;
    forward(src as unknown as WebSocket, dst as unknown as WebSocket, Buffer.alloc(2 * HIGH_WATER_MARK_BYTES), true);
    expect(src.isPaused).toBe(true);
    expect(dst.callbacks).toHaveLength(1);
    dst.bufferedAmount = 0;
    dst.callbacks[0]!();
    expect(src.isPaused).toBe(false);
  });

  it('adds no callback to small interactive frames', () => {
    const src = fakeSocket();
    const dst = fakeSocket();
    forward(src as unknown as WebSocket, dst as unknown as WebSocket, Buffer.from('a'), true);
    expect(dst.callbacks).toHaveLength(0);
  });
});
