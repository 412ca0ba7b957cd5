import { describe, expect, it } from 'vitest';
import { encodeStdioFrame, FRAME_BINARY, FRAME_JSON, StdioFrameDecoder, type StdioFrame } from './stdio-frames.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The binary pieces joined back per frame, and the JSON texts, in order. */
function collect(frames: StdioFrame[]): Array<string | Buffer> {
  const out: Array<string | Buffer> = [];
  let parts: Buffer[] = [];
  for (const f of frames) {
    if (f.kind === 'json') out.push(f.text);
    else {
      parts.push(f.data);
      if (f.end) {
        out.push(Buffer.concat(parts));
        parts = [];
      }
    }
  }
  return out;
}

describe('stdio frames', () => {
  it('encodes [kind u8][length u32 BE][payload]', () => {
    expect(Buffer.concat(encodeStdioFrame(FRAME_JSON, Buffer.from('{}'))).toString('hex')).toBe('00000000027b7d');
    expect(Buffer.concat(encodeStdioFrame(FRAME_BINARY, hex('ff00'))).toString('hex')).toBe('0100000002ff00');
  });

  it('decodes a JSON frame and a binary frame from one chunk', () => {
    const d = new StdioFrameDecoder();
    const frames = d.push(hex('00 00000002 7b7d  01 00000003 aabbcc'));
    expect(frames).toEqual([
      { kind: 'json', text: '{}' },
      { kind: 'binary', data: hex('aabbcc'), end: true },
    ]);
  });

  it('hands binary payloads on as pieces that view the chunks read (no copy)', () => {
    const d = new StdioFrameDecoder();
    const first = hex('01 00000006 0102');
    const second = hex('0304 0506 00 00');
    const a = d.push(first);
    expect(a).toEqual([{ kind: 'binary', data: hex('0102'), end: false }]);
    expect((a[0] as { data: Buffer }).data.buffer).toBe(first.buffer);
    const b = d.push(second);
    expect(b).toEqual([{ kind: 'binary', data: hex('03040506'), end: true }]);
    expect((b[0] as { data: Buffer }).data.buffer).toBe(second.buffer);
    // The next frame's header began in the same chunk and goes on in the next one.
    expect(d.push(hex('000002 7b7d'))).toEqual([{ kind: 'json', text: '{}' }]);
  });

  it('gives the same frames whatever the chunking, byte by byte included', () => {
    const json = '{"type":"fs.end","id":1,"bytes":5,"sha256":"x"}';
    const stream = Buffer.concat([
      ...encodeStdioFrame(FRAME_JSON, Buffer.from('{"type":"fs.begin"}')),
      ...encodeStdioFrame(FRAME_BINARY, hex('0102030405')),
      ...encodeStdioFrame(FRAME_BINARY, Buffer.alloc(0)),
      ...encodeStdioFrame(FRAME_JSON, Buffer.from(json)),
    ]);
    const expected = ['{"type":"fs.begin"}', hex('0102030405'), Buffer.alloc(0), json];
    for (const size of [1, 2, 3, 5, 7, stream.length]) {
      const d = new StdioFrameDecoder();
      const frames: StdioFrame[] = [];
      for (let off = 0; off < stream.length; off += size) frames.push(...d.push(stream.subarray(off, off + size)));
      expect(collect(frames), `chunks of ${size}`).toEqual(expected);
    }
  });

  it('refuses an unknown kind and a frame over the limit (a confused helper cannot make it buffer)', () => {
    expect(() => new StdioFrameDecoder().push(hex('07 00000001 00'))).toThrow(/bad frame kind 7/);
    expect(() => new StdioFrameDecoder(16).push(hex('00 00000011'))).toThrow(/17 bytes is over the 16 limit/);
    // Binary frames are checked too, although they are never held whole.
    expect(() => new StdioFrameDecoder(16).push(hex('01 00000011'))).toThrow(/over the 16 limit/);
  });
});
