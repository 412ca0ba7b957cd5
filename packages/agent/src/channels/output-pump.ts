import { HIGH_WATER_MARK_BYTES, LOW_WATER_MARK_BYTES, encodeFrame } from '@corral/protocol';

/** The slice of a ws socket the pump writes to. */
export interface FrameSink {
  readonly bufferedAmount: number;
  send(data: Buffer | string, options: { binary: boolean }, cb: (err?: Error) => void): void;
}

/** Something that produces output and can be told to stop and go (a pty, a child's pipes). */
export interface FlowSource {
  pause(): void;
  resume(): void;
}

/**
 * Raw stderr bytes per `stderr` text frame. Base64 makes 48 KiB of it about 64 KiB
 * (MAX_CONTROL_FRAME_BYTES); 32 KiB keeps the JSON frame well under that limit.
 */
export const STDERR_CHUNK_BYTES = 32 * 1024;

/**
 * Largest stdout frame the pump builds, in bytes: the low-water mark (256 KiB), below the protocol's
 * 1 MiB limit. A relay that pauses on bufferedAmount then never jumps from "below low water" to
 * "above high water" in one frame (which stranded the gateway's bridge with no send callback left to
 * resume it), and an `exit` or `stderr` frame never queues behind a megabyte of output.
 */
export const MAX_OUTPUT_FRAME_BYTES = LOW_WATER_MARK_BYTES;

/** Knobs, with the protocol's values as defaults. */
export interface OutputPumpOptions {
  highWaterMark?: number;
  lowWaterMark?: number;
  /** Default MAX_OUTPUT_FRAME_BYTES. */
  maxFrameBytes?: number;
  /** Runs a function at the end of this tick's I/O; default setImmediate. Never a timer. */
  schedule?: (fn: () => void) => void;
}

type Stream = 'stdout' | 'stderr';

/**
 * Moves process output to a channel socket.
 * - Chunks that arrive in one event-loop tick are joined into one frame (setImmediate, never a
 *   timer: a timer would add latency to every keystroke echo).
 * - Backpressure: when the socket's bufferedAmount passes the high-water mark (1 MiB) the source is
 *   paused; it resumes from a send callback once bufferedAmount is under the low-water mark (256 KiB).
 *   'drain' is not used: ws may never emit it while it queues.
 * - stdout goes as binary frames (at most 256 KiB each); stderr as `{"type":"stderr","data":base64}`.
 *   Order between the two is kept.
 */
export class OutputPump {
  readonly #sink: FrameSink;
  readonly #source: FlowSource;
  readonly #high: number;
  readonly #low: number;
  readonly #maxFrame: number;
  readonly #schedule: (fn: () => void) => void;
  readonly #pending: { stream: Stream; chunks: Buffer[]; bytes: number }[] = [];
  #scheduled = false;
  #paused = false;
  #closed = false;
  readonly #onSent = (err?: Error): void => {
    if (err) return; // the socket is going away; its close handler cleans up
    if (this.#paused && this.#sink.bufferedAmount < this.#low) {
      this.#paused = false;
      this.#source.resume();
    }
  };

  constructor(sink: FrameSink, source: FlowSource, options: OutputPumpOptions = {}) {
    this.#sink = sink;
    this.#source = source;
    this.#high = options.highWaterMark ?? HIGH_WATER_MARK_BYTES;
    this.#low = options.lowWaterMark ?? LOW_WATER_MARK_BYTES;
    this.#maxFrame = options.maxFrameBytes ?? MAX_OUTPUT_FRAME_BYTES;
    this.#schedule = options.schedule ?? ((fn) => void setImmediate(fn));
  }

  /** Whether the source is paused for backpressure. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Queue stdout (or terminal) bytes. */
  stdout(buf: Buffer): void {
    this.#push('stdout', buf);
  }

  /** Queue stderr bytes (pipe mode). */
  stderr(buf: Buffer): void {
    this.#push('stderr', buf);
  }

  /** Send everything queued now (before an `exit` frame). */
  flush(): void {
    const pending = this.#pending.splice(0);
    for (const { stream, chunks, bytes } of pending) {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
      const step = stream === 'stdout' ? this.#maxFrame : STDERR_CHUNK_BYTES;
      for (let off = 0; off < all.length; off += step) {
        const part = all.subarray(off, Math.min(off + step, all.length));
        if (stream === 'stdout') this.#sink.send(part, { binary: true }, this.#onSent);
        else
          this.#sink.send(
            encodeFrame({ type: 'stderr', data: part.toString('base64') }),
            { binary: false },
            this.#onSent,
          );
      }
    }
    if (!this.#paused && this.#sink.bufferedAmount > this.#high) {
      this.#paused = true;
      this.#source.pause();
    }
  }

  /** Drop anything queued and ignore later output (the socket is gone). */
  close(): void {
    this.#closed = true;
    this.#pending.length = 0;
  }

  #push(stream: Stream, buf: Buffer): void {
    if (this.#closed || buf.length === 0) return;
    const last = this.#pending[this.#pending.length - 1];
    if (last && last.stream === stream) {
      last.chunks.push(buf);
      last.bytes += buf.length;
    } else {
      this.#pending.push({ stream, chunks: [buf], bytes: buf.length });
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(() => {
        this.#scheduled = false;
        if (!this.#closed) this.flush();
      });
    }
  }
}
