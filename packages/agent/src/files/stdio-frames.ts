/**
 * Frames between the agent and its file helper over the helper's stdin/stdout:
 *
 *   [kind: u8][length: u32 big-endian][payload]      kind 0 = JSON text, 1 = file bytes
 *
 * The decoder is incremental (chunks arrive cut anywhere, 64 KiB at a time from a Node stream) and
 * bounded: a frame longer than `maxFrame` is an error, so a confused peer cannot make it buffer without
 * limit. File bytes are handed on as they arrive, in pieces that are views of the chunks read (no copy):
 * a frame's payload is opaque file data, so nothing needs it whole. JSON frames are joined.
 */
export const FRAME_JSON = 0;
export const FRAME_BINARY = 1;
export const FRAME_HEADER_BYTES = 5;
export const MAX_STDIO_FRAME = 2 * 1024 * 1024;

export type StdioFrame =
  | { kind: 'json'; text: string }
  /** A piece of a binary frame's payload; `end` on the frame's last piece. */
  | { kind: 'binary'; data: Buffer; end: boolean };

/** The 5-byte header of a frame of `length` payload bytes, written at `offset` of `into`. */
export function writeStdioHeader(
  kind: typeof FRAME_JSON | typeof FRAME_BINARY,
  length: number,
  into: Buffer = Buffer.allocUnsafe(FRAME_HEADER_BYTES),
  offset = 0,
): Buffer {
  into[offset] = kind;
  into.writeUInt32BE(length, offset + 1);
  return into;
}

/** One frame as [header, payload] (for a writev; the payload is not copied). */
export function encodeStdioFrame(kind: typeof FRAME_JSON | typeof FRAME_BINARY, payload: Buffer): Buffer[] {
  return [writeStdioHeader(kind, payload.length), payload];
}

export class StdioFrameDecoder {
  readonly #head = Buffer.alloc(FRAME_HEADER_BYTES);
  #headBytes = 0;
  /** Kind of the frame whose payload is being read, or -1 between frames. */
  #kind = -1;
  /** Payload bytes of the current frame still to come. */
  #left = 0;
  #json: Buffer[] = [];

  constructor(private readonly maxFrame = MAX_STDIO_FRAME) {}

  /** Feed bytes; returns the JSON frames completed and the binary pieces read. @throws on an unknown kind or an oversized frame */
  push(chunk: Buffer): StdioFrame[] {
    const out: StdioFrame[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.#kind < 0) {
        const n = Math.min(FRAME_HEADER_BYTES - this.#headBytes, chunk.length - off);
        chunk.copy(this.#head, this.#headBytes, off, off + n);
        this.#headBytes += n;
        off += n;
        if (this.#headBytes < FRAME_HEADER_BYTES) break;
        this.#headBytes = 0;
        const kind = this.#head[0]!;
        const len = this.#head.readUInt32BE(1);
        if (kind !== FRAME_JSON && kind !== FRAME_BINARY) throw new Error(`bad frame kind ${kind}`);
        if (len > this.maxFrame) throw new Error(`frame of ${len} bytes is over the ${this.maxFrame} limit`);
        if (len === 0) {
          out.push(
            kind === FRAME_JSON ? { kind: 'json', text: '' } : { kind: 'binary', data: Buffer.alloc(0), end: true },
          );
          continue;
        }
        this.#kind = kind;
        this.#left = len;
        continue;
      }
      const n = Math.min(this.#left, chunk.length - off);
      const piece = chunk.subarray(off, off + n);
      off += n;
      this.#left -= n;
      const end = this.#left === 0;
      if (this.#kind === FRAME_BINARY) {
        out.push({ kind: 'binary', data: piece, end });
      } else {
        this.#json.push(piece);
        if (end) {
          const parts = this.#json;
          this.#json = [];
          out.push({ kind: 'json', text: (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8') });
        }
      }
      if (end) this.#kind = -1;
    }
    return out;
  }
}
