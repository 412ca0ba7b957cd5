import { timingSafeEqual } from 'node:crypto';

/**
 * A shell integration mark (OSC 133, see docs/PROTOCOL.md "Shell marks"): `A` prompt start, `B` prompt
 * end, `C` a command line starts running, `D` it finished with an exit status.
 */
export type ShellMark = (
  | { kind: 'A'; reportsCommands: boolean }
  | { kind: 'B' }
  | { kind: 'C'; commandLine: string; partial: boolean; late: boolean }
  | { kind: 'D'; exitCode: number | null }
) & {
  /** The shell's count of A, C and D marks sent (bash, zsh): replayed marks repeat a number seen before. */
  seq?: number;
};

/** `ESC ] 133 ;`: every mark starts with it. */
const PREFIX = Buffer.from('\x1b]133;', 'latin1');
const BEL = 0x07;
const ESC = 0x1b;
const BACKSLASH = 0x5c;

/**
 * Largest mark kept back while waiting for its end, in bytes. The agent's scripts send at most 4096
 * characters of a command line, each at most 4 bytes once escaped (`\xHH`) or UTF-8 encoded, plus a few
 * fields: a mark longer than this is not one of ours and goes through untouched.
 */
export const MAX_MARK_BYTES = 4096 * 4 + 256;

/**
 * Finds the shell integration's marks in a terminal output stream and takes them out of it.
 *
 * Only marks carrying this session's nonce (`n=<nonce>`) count and are removed; anything else (a user's
 * `printf '\e]133;D;0\a'`, another program's OSC 133) passes through untouched, so what the user sees,
 * and the recording, is the output minus our marks, byte for byte.
 *
 * A mark may be split across frames: an unfinished one (or a trailing piece of `ESC ] 133 ;`) is held
 * back until its end arrives. The held bytes are bounded by {@link MAX_MARK_BYTES}: past that, they are
 * released as ordinary output. Held bytes are an unterminated OSC sequence, which a terminal would not
 * show anyway, so holding them back changes nothing on the screen.
 */
export class ShellMarkParser {
  readonly #nonce: Buffer;
  readonly #max: number;
  #held: Buffer = Buffer.alloc(0);

  /** @param maxMarkBytes bound on held bytes (default {@link MAX_MARK_BYTES}) */
  constructor(nonce: string, maxMarkBytes = MAX_MARK_BYTES) {
    this.#nonce = Buffer.from(nonce, 'latin1');
    this.#max = maxMarkBytes;
  }

  /** Bytes currently held back (an unfinished mark). */
  get heldBytes(): number {
    return this.#held.length;
  }

  /** Feed output; returns what the user should see and the marks found, in stream order. */
  feed(chunk: Buffer): { data: Buffer; marks: ShellMark[] } {
    const buf = this.#held.length > 0 ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = Buffer.alloc(0);
    const marks: ShellMark[] = [];
    const out: Buffer[] = [];
    let from = 0; // start of output not yet copied
    let pos = 0; // where to look for the next prefix
    while (pos < buf.length) {
      const at = buf.indexOf(PREFIX, pos);
      if (at < 0) {
        // A trailing piece of the prefix (`ESC`, `ESC ]`, ... `ESC ] 133`) may be the start of a mark.
        const tail = partialPrefixAt(buf, Math.max(pos, buf.length - PREFIX.length + 1));
        if (tail >= 0) {
          out.push(buf.subarray(from, tail));
          this.#held = Buffer.from(buf.subarray(tail));
          return { data: join(out), marks };
        }
        break;
      }
      const end = findEnd(buf, at + PREFIX.length, at + this.#max);
      if (end.kind === 'more') {
        out.push(buf.subarray(from, at));
        this.#held = Buffer.from(buf.subarray(at));
        return { data: join(out), marks };
      }
      if (end.kind === 'none') {
        // Not a mark (broken by another escape sequence, or too long): leave it, look further on.
        pos = at + PREFIX.length;
        continue;
      }
      const mark = this.#parse(buf.subarray(at + PREFIX.length, end.payloadEnd));
      if (mark === null) {
        pos = end.next;
        continue;
      }
      out.push(buf.subarray(from, at));
      if (mark !== 'ours-unknown') marks.push(mark);
      from = end.next;
      pos = end.next;
    }
    out.push(buf.subarray(from));
    return { data: join(out), marks };
  }

  /** null: not ours (no or another nonce); 'ours-unknown': ours but not understood (dropped). */
  #parse(payload: Buffer): ShellMark | 'ours-unknown' | null {
    const fields = payload.toString('latin1').split(';');
    const kind = fields[0];
    let nonce: string | undefined;
    let cmdline: string | undefined;
    let partial = false;
    let late = false;
    let reports = false;
    let status: string | undefined;
    let seq: number | undefined;
    for (let i = 1; i < fields.length; i++) {
      const f = fields[i]!;
      const eq = f.indexOf('=');
      if (eq < 0) {
        if (i === 1 && kind === 'D') status = f;
        continue;
      }
      const key = f.slice(0, eq);
      const value = f.slice(eq + 1);
      if (key === 'n') nonce = value;
      else if (key === 'cmdline') cmdline = value;
      else if (key === 'partial') partial = value === '1';
      else if (key === 'late') late = value === '1';
      else if (key === 'cmd') reports = value === '1';
      else if (key === 's' && /^\d{1,15}$/.test(value)) seq = Number(value);
    }
    if (nonce === undefined || !this.#isNonce(nonce)) return null;
    const s = seq !== undefined ? { seq } : {};
    switch (kind) {
      case 'A':
        return { kind: 'A', reportsCommands: reports, ...s };
      case 'B':
        return { kind: 'B' };
      case 'C':
        return cmdline === undefined
          ? 'ours-unknown'
          : { kind: 'C', commandLine: unescapeCommandLine(cmdline), partial, late, ...s };
      case 'D': {
        const n = status !== undefined && /^\d{1,3}$/.test(status) ? Number(status) : null;
        return { kind: 'D', exitCode: n, ...s };
      }
      default:
        return 'ours-unknown';
    }
  }

  #isNonce(value: string): boolean {
    const b = Buffer.from(value, 'latin1');
    return b.length === this.#nonce.length && timingSafeEqual(b, this.#nonce);
  }
}

/** Where a mark's payload ends: BEL or ESC \ (ST); `more`: not yet in the buffer; `none`: not a mark. */
function findEnd(
  buf: Buffer,
  start: number,
  limit: number,
): { kind: 'found'; payloadEnd: number; next: number } | { kind: 'more' } | { kind: 'none' } {
  const stop = Math.min(buf.length, limit);
  for (let i = start; i < stop; i++) {
    const b = buf[i]!;
    if (b === BEL) return { kind: 'found', payloadEnd: i, next: i + 1 };
    if (b === ESC) {
      if (i + 1 >= buf.length) return i + 1 >= limit ? { kind: 'none' } : { kind: 'more' };
      return buf[i + 1] === BACKSLASH ? { kind: 'found', payloadEnd: i, next: i + 2 } : { kind: 'none' };
    }
    // Control bytes other than BEL/ESC never occur in our marks (escaped): not a mark.
    if (b < 0x20 || b === 0x7f) return { kind: 'none' };
  }
  return buf.length < limit ? { kind: 'more' } : { kind: 'none' };
}

/** Index of a proper prefix of PREFIX that ends the buffer, searched from `from`; -1 if none. */
function partialPrefixAt(buf: Buffer, from: number): number {
  for (let i = Math.max(0, from); i < buf.length; i++) {
    if (buf[i] !== ESC) continue;
    const n = buf.length - i;
    if (n < PREFIX.length && buf.subarray(i).equals(PREFIX.subarray(0, n))) return i;
  }
  return -1;
}

function join(parts: Buffer[]): Buffer {
  const nonEmpty = parts.filter((p) => p.length > 0);
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  return Buffer.concat(nonEmpty);
}

/**
 * Undo the scripts' escaping: `\\` is a backslash, `\xHH` a byte; the result is UTF-8 (invalid bytes
 * become U+FFFD). The mark arrives as latin1 so each byte is one character here.
 */
export function unescapeCommandLine(escaped: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped.charCodeAt(i);
    if (c === BACKSLASH && escaped[i + 1] === '\\') {
      bytes.push(BACKSLASH);
      i++;
    } else if (c === BACKSLASH && escaped[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(escaped.slice(i + 2, i + 4))) {
      bytes.push(parseInt(escaped.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
