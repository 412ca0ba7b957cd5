/**
 * The last bytes of a terminal's output, kept so that someone who (re)joins a live session sees the
 * screen: the agent keeps 256 KiB per persistent terminal for re-attach, the gateway a smaller tail for
 * participants who join a shared session. Pure: Uint8Array in, Uint8Array out (Node's Buffer is one).
 */
export class OutputRing {
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #wrapped = false;

  constructor(readonly capacity: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  /** Whether older output was dropped (the snapshot starts mid-stream). */
  get wrapped(): boolean {
    return this.#wrapped;
  }

  push(buf: Uint8Array): void {
    if (buf.length === 0) return;
    // A copy: producers (node-pty, ws) may reuse their buffers.
    const copy = (buf.length > this.capacity ? buf.subarray(buf.length - this.capacity) : buf).slice();
    this.#chunks.push(copy);
    this.#bytes += copy.length;
    while (this.#bytes > this.capacity) {
      const first = this.#chunks[0]!;
      const excess = this.#bytes - this.capacity;
      this.#wrapped = true;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#bytes -= first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#bytes -= excess;
      }
    }
  }

  snapshot(): Uint8Array {
    const out = new Uint8Array(this.#bytes);
    let off = 0;
    for (const c of this.#chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** Reset attributes, home, clear the screen and the scrollback. */
const RESET = new Uint8Array([
  0x1b, 0x5b, 0x30, 0x6d, 0x1b, 0x5b, 0x48, 0x1b, 0x5b, 0x32, 0x4a, 0x1b, 0x5b, 0x33, 0x4a,
]);

/**
 * What a (re)joining reader is sent: a screen reset, then the kept output, starting at a line boundary
 * when older output was dropped (so it never begins inside an escape sequence or a UTF-8 character).
 * The terminal then ends showing what the session shows.
 */
export function replayFor(ring: OutputRing): Uint8Array {
  let out = ring.snapshot();
  if (ring.wrapped) {
    const nl = out.indexOf(0x0a);
    out = nl >= 0 ? out.subarray(nl + 1) : new Uint8Array(0);
  }
  const all = new Uint8Array(RESET.length + out.length);
  all.set(RESET, 0);
  all.set(out, RESET.length);
  return all;
}

function lastIndexOfSeq(hay: Uint8Array, text: string): number {
  const n = text.length;
  outer: for (let i = hay.length - n; i >= 0; i--) {
    for (let j = 0; j < n; j++) if (hay[i + j] !== text.charCodeAt(j)) continue outer;
    return i;
  }
  return -1;
}

/** True when the output leaves the terminal on its alternate screen (vim, less, top ...). */
export function onAlternateScreen(ring: OutputRing): boolean {
  const out = ring.snapshot();
  const on = Math.max(...['\x1b[?1049h', '\x1b[?1047h', '\x1b[?47h'].map((s) => lastIndexOfSeq(out, s)));
  const off = Math.max(...['\x1b[?1049l', '\x1b[?1047l', '\x1b[?47l'].map((s) => lastIndexOfSeq(out, s)));
  return on > off;
}
