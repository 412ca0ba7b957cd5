import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { constants, createGzip, gunzipSync, type Gzip } from 'node:zlib';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

/** What a finished recording is: where, how big, and its SHA-256 (of the stored .cast.gz). */
export interface RecordingResult {
  path: string;
  bytes: number;
  sha256: string;
}

export interface SessionRecorder {
  output(data: Buffer): void;
  input(data: Buffer): void;
  resize(cols: number, rows: number): void;
  /** A command marker (`m` event): a command line the session ran. */
  marker(label: string): void;
  /** Finish the file; resolves once it is complete on disk. Safe to call twice. */
  close(): Promise<RecordingResult | null>;
}

/** Flush the gzip stream this often, so a gateway crash loses at most this much of a recording. */
export const RECORDING_FLUSH_MS = 1000;
/**
 * Most bytes waiting for compression before output is skipped (with a marker saying how much): a
 * session pushing bulk data faster than gzip keeps up must not grow the gateway's memory.
 */
export const RECORDING_BACKLOG_BYTES = 1024 * 1024;

/**
 * Records a terminal session as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/),
 * gzip-compressed, streamed to disk while the session runs: a header line, then `[t, "o", text]` for
 * output, `[t, "i", text]` for input (when the workspace records input), `[t, "r", "COLSxROWS"]` for
 * resizes and `[t, "m", command]` markers for the command lines the session captured (command-capture.ts,
 * which never captures a line typed at a password prompt). The gzip stream is flushed every second (Z_SYNC_FLUSH),
 * so a crash loses at most the last second; the SHA-256 of the compressed bytes is computed as they are
 * written and goes into `session.end`.
 */
export class AsciicastRecorder implements SessionRecorder {
  readonly #gz: Gzip;
  readonly #file: WriteStream;
  readonly #hash = createHash('sha256');
  readonly #out = new StringDecoder('utf8');
  readonly #in = new StringDecoder('utf8');
  readonly #t0: number;
  readonly #timer: NodeJS.Timeout;
  #bytes = 0;
  #skipped = 0;
  #dirty = false;
  #closed: Promise<RecordingResult | null> | null = null;
  #failed = false;

  constructor(
    private readonly path: string,
    header: { cols: number; rows: number; term?: string | undefined; title: string },
    private readonly recordInput: boolean,
    private readonly clock: Clock,
    private readonly log: Logger,
    /**
     * Go on with an earlier recording of the same session (a gateway restart, a node that adopted the
     * session): times count from its start and its events come first, so there stays one recording.
     */
    continuation?: { startedAtMs: number; events: string[] },
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#t0 = continuation?.startedAtMs ?? clock.now();
    this.#gz = createGzip({ level: 6 });
    this.#file = createWriteStream(path, { mode: 0o600 });
    this.#gz.on('data', (chunk: Buffer) => {
      this.#hash.update(chunk);
      this.#bytes += chunk.length;
    });
    const fail = (err: Error): void => {
      if (this.#failed) return;
      this.#failed = true;
      this.log.error('recording failed', { path, err: err.message });
    };
    this.#gz.on('error', fail);
    this.#file.on('error', fail);
    this.#gz.pipe(this.#file);
    this.#write({
      version: 2,
      width: header.cols,
      height: header.rows,
      timestamp: Math.floor(this.#t0 / 1000),
      env: { TERM: header.term ?? 'xterm-256color', SHELL: '' },
      title: header.title,
    });
    for (const line of continuation?.events ?? []) {
      this.#gz.write(line + '\n');
      this.#dirty = true;
    }
    this.#timer = setInterval(() => {
      if (!this.#dirty || this.#failed) return;
      this.#dirty = false;
      this.#gz.flush(constants.Z_SYNC_FLUSH);
    }, RECORDING_FLUSH_MS);
    this.#timer.unref();
  }

  #t(): number {
    return Math.round(this.clock.now() - this.#t0) / 1000;
  }

  #write(value: unknown): void {
    if (this.#closed || this.#failed) return;
    this.#gz.write(JSON.stringify(value) + '\n');
    this.#dirty = true;
  }

  output(data: Buffer): void {
    if (this.#gz.writableLength > RECORDING_BACKLOG_BYTES) {
      this.#skipped += data.length;
      return;
    }
    if (this.#skipped > 0) {
      this.#write([
        this.#t(),
        'm',
        `[recording gap: ${this.#skipped} bytes of output not recorded, the gateway was behind]`,
      ]);
      this.#skipped = 0;
    }
    const text = this.#out.write(data);
    if (text) this.#write([this.#t(), 'o', text]);
  }

  input(data: Buffer): void {
    if (!this.recordInput) return;
    const text = this.#in.write(data);
    if (text) this.#write([this.#t(), 'i', text]);
  }

  marker(label: string): void {
    this.#write([this.#t(), 'm', label.slice(0, 500)]);
  }

  resize(cols: number, rows: number): void {
    this.#write([this.#t(), 'r', `${cols}x${rows}`]);
  }

  close(): Promise<RecordingResult | null> {
    this.#closed ??= new Promise((resolve) => {
      clearInterval(this.#timer);
      const rest = this.#out.end();
      if (rest && !this.#failed) this.#gz.write(JSON.stringify([this.#t(), 'o', rest]) + '\n');
      this.#file.once('close', () =>
        resolve(this.#failed ? null : { path: this.path, bytes: this.#bytes, sha256: this.#hash.digest('hex') }),
      );
      this.#gz.end();
    });
    return this.#closed;
  }
}

/**
 * The events of a recording file, even one whose writer died (a gzip stream flushed every second but
 * never ended): every complete event line after the header. Empty when there is no readable file.
 */
export function readRecordingEvents(path: string): string[] {
  let text: string;
  try {
    text = gunzipSync(readFileSync(path), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n').slice(1);
  return lines.filter((l) => {
    if (!l.startsWith('[')) return false;
    try {
      return Array.isArray(JSON.parse(l));
    } catch {
      return false; // the last line of a file cut mid-write
    }
  });
}
