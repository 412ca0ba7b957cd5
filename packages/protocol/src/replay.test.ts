import { describe, it, expect } from 'vitest';
import { OutputRing, onAlternateScreen, replayFor } from './replay.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('OutputRing', () => {
  it('keeps everything below capacity, in order', () => {
    const r = new OutputRing(100);
    r.push(enc('hello '));
    r.push(enc('world'));
    expect(dec(r.snapshot())).toBe('hello world');
    expect(r.wrapped).toBe(false);
  });

  it('keeps exactly the last `capacity` bytes across chunk boundaries', () => {
    const r = new OutputRing(10);
    for (const part of ['abcdef', 'ghijkl', 'mnop']) r.push(enc(part));
    expect(dec(r.snapshot())).toBe('ghijklmnop');
    expect(r.bytes).toBe(10);
    expect(r.wrapped).toBe(true);
    r.push(enc('0123456789ABCDEF'));
    expect(dec(r.snapshot())).toBe('6789ABCDEF');
  });

  it('copies what it is given (producers reuse buffers)', () => {
    const r = new OutputRing(10);
    const b = enc('abc');
    r.push(b);
    b[0] = 0x7a;
    expect(dec(r.snapshot())).toBe('abc');
  });
});

describe('replayFor', () => {
  it('resets the screen, then replays everything when nothing was dropped', () => {
    const r = new OutputRing(100);
    r.push(enc('$ ls\r\nfile\r\n$ '));
    expect(dec(replayFor(r))).toBe('\x1b[0m\x1b[H\x1b[2J\x1b[3J$ ls\r\nfile\r\n$ ');
  });

  it('starts at a line boundary once older output was dropped', () => {
    const r = new OutputRing(12);
    r.push(enc('\x1b[31mred line\r\nnext\r\n$ '));
    expect(dec(replayFor(r)).endsWith('next\r\n$ ')).toBe(true);
    expect(dec(replayFor(r))).not.toContain('line');
  });
});

describe('onAlternateScreen', () => {
  it('follows the last switch', () => {
    const r = new OutputRing(1000);
    r.push(enc('x\x1b[?1049hvim screen'));
    expect(onAlternateScreen(r)).toBe(true);
    r.push(enc('\x1b[?1049l$ '));
    expect(onAlternateScreen(r)).toBe(false);
  });
});
