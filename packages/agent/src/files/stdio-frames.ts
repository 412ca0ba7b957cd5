/**
 * Frames between the agent and its file helper over the helper's stdin/stdout:
 *
 *   [kind: u8][length: u32 big-endian][payload]      kind 0 = JSON text, 1 = file bytes
 *
 * The decoder is incremental (chunks arrive cut anywhere) and bounded: a frame longer than `maxFrame`
 * is an error, so a confused peer cannot make it buffer without limit.
 */
export const FRAME_JSON = 0;
export const FRAME_BINARY = 1;
export const MAX_STDIO_FRAME = 2 * 1024 * 1024;

export type StdioFrame = { kind: 'json'; text: string } | { kind: 'binary'; data: Buffer };

export function encodeStdioFrame(kind: typeof FRAME_JSON | typeof FRAME_BINARY, payload: Buffer): Buffer[] {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(kind, 0);
  head.writeUInt32BE(payload.length, 1);
  return [head, payload];
}

export class StdioFrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(private readonly maxFrame = MAX_STDIO_FRAME) {}

  /** Feed bytes; returns the complete frames. @throws on an unknown kind or an oversized frame */
  push(chunk: Buffer): StdioFrame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: StdioFrame[] = [];
    for (;;) {
      if (this.#buffered < 5) break;
      const head = this.#peek(5);
      const kind = head.readUInt8(0);
      const len = head.readUInt32BE(1);
      if (kind !== FRAME_JSON && kind !== FRAME_BINARY) throw new Error(`bad frame kind ${kind}`);
      if (len > this.maxFrame) throw new Error(`frame of ${len} bytes is over the ${this.maxFrame} limit`);
      if (this.#buffered < 5 + len) break;
      const all = this.#take(5 + len);
      const payload = all.subarray(5);
      out.push(
        kind === FRAME_JSON ? { kind: 'json', text: payload.toString('utf8') } : { kind: 'binary', data: payload },
      );
    }
    return out;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks).subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      this.#buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return first.subarray(0, n);
    }
    const all = Buffer.concat(this.#chunks);
    const rest = all.subarray(n);
    this.#chunks = rest.length ? [rest] : [];
    this.#buffered = rest.length;
    return all.subarray(0, n);
  }
}
