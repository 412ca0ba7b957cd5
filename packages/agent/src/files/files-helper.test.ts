import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runFilesHelper } from './files-helper.js';
import { encodeStdioFrame, FRAME_BINARY, FRAME_JSON, StdioFrameDecoder } from './stdio-frames.js';

/** The helper on in-memory streams: send requests and bytes, read back its answers (JSON and bytes). */
function start(home: string) {
  const input = new PassThrough();
  const output = new PassThrough();
  const decoder = new StdioFrameDecoder();
  const messages: Array<Record<string, unknown>> = [];
  const bytes: Buffer[] = [];
  const waiters: Array<() => void> = [];
  let exitCode: number | null = null;
  output.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      if (f.kind === 'json') messages.push(JSON.parse(f.text) as Record<string, unknown>);
      else bytes.push(Buffer.from(f.data));
    }
    for (const w of waiters.splice(0)) w();
  });
  runFilesHelper({ input, output, home, exit: (code) => (exitCode = code) });
  const until = async (type: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const m = messages.find((x) => x.type === type);
      if (m) {
        messages.splice(messages.indexOf(m), 1);
        return m;
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return {
    /** Send a request frame. */
    json: (msg: object) => input.write(Buffer.concat(encodeStdioFrame(FRAME_JSON, Buffer.from(JSON.stringify(msg))))),
    /** Send raw bytes (already framed, cut anywhere). */
    raw: (data: Buffer) => input.write(data),
    until,
    bytes,
    end: () => input.end(),
    exitCode: () => exitCode,
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('file helper', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'corral-helper-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('uploads bytes framed and cut anywhere, then renames the temporary file into place', async () => {
    const h = start(home);
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
    h.json({ type: 'fs.write', id: 1, path: 'up.bin', size: data.length });
    await h.until('fs.ready');
    // Two frames (the agent relays one per socket message), written in odd-sized slices.
    const framed = Buffer.concat([
      ...encodeStdioFrame(FRAME_BINARY, data.subarray(0, 100_001)),
      ...encodeStdioFrame(FRAME_BINARY, data.subarray(100_001)),
    ]);
    for (let off = 0; off < framed.length; off += 65_521) h.raw(framed.subarray(off, off + 65_521));
    h.json({ type: 'fs.commit', id: 1 });
    const r = await h.until('fs.result');
    expect(r).toMatchObject({ id: 1, path: join(home, 'up.bin'), bytes: data.length, sha256: sha(data) });
    expect(readFileSync(join(home, 'up.bin')).equals(data)).toBe(true);
    expect(readdirSync(home)).toEqual(['up.bin']);
    h.end();
  });

  it('a short upload fails with SIZE_MISMATCH and leaves nothing behind', async () => {
    const h = start(home);
    h.json({ type: 'fs.write', id: 2, path: 'short.bin', size: 10 });
    await h.until('fs.ready');
    h.raw(Buffer.concat(encodeStdioFrame(FRAME_BINARY, Buffer.from('12345'))));
    h.json({ type: 'fs.commit', id: 2 });
    expect(await h.until('fs.error')).toMatchObject({ id: 2, code: 'SIZE_MISMATCH' });
    expect(readdirSync(home)).toEqual([]);
    h.end();
  });

  it('the channel closing mid-upload removes the temporary file', async () => {
    const h = start(home);
    h.json({ type: 'fs.write', id: 3, path: 'gone.bin' });
    await h.until('fs.ready');
    h.raw(Buffer.concat(encodeStdioFrame(FRAME_BINARY, Buffer.alloc(1000, 1))));
    expect(readdirSync(home).some((n) => n.startsWith('.gone.bin.corral-upload-'))).toBe(true);
    h.end();
    for (let i = 0; i < 100 && h.exitCode() === null; i++) await new Promise((r) => setTimeout(r, 10));
    expect(h.exitCode()).toBe(0);
    expect(readdirSync(home)).toEqual([]);
  });

  it('downloads a file in frames of at most 1 MiB, with its size and SHA-256', async () => {
    const data = Buffer.alloc(2.5 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    writeFileSync(join(home, 'down.bin'), data);
    const h = start(home);
    h.json({ type: 'fs.read', id: 4, path: '~/down.bin' });
    expect(await h.until('fs.begin')).toMatchObject({ id: 4, size: data.length, name: 'down.bin' });
    const end = await h.until('fs.end');
    expect(end).toMatchObject({ id: 4, bytes: data.length, sha256: sha(data) });
    expect(Buffer.concat(h.bytes).equals(data)).toBe(true);
    expect(Math.max(...h.bytes.map((b) => b.length))).toBeLessThanOrEqual(1024 * 1024);
    h.end();
  });
});
