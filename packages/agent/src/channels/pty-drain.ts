import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../clock.js';

/** How often the guard polls the master fd for late output after a premature EOF, in ms. */
const DRAIN_POLL_MS = 10;
/** Bytes per read while draining by hand. */
const READ_CHUNK_BYTES = 64 * 1024;
/** Reads per turn of the event loop while draining by hand (then yield, so backpressure can act). */
const READS_PER_TURN = 16;

/** Inputs of {@link PtyDrainGuard}. */
export interface PtyDrainGuardOptions {
  /** node-pty's tty.ReadStream over the pty master. */
  socket: Socket;
  /** The master fd (node-pty's `_fd`); without it the guard cannot read by hand. */
  fd: number | undefined;
  clock: Clock;
  /** Output the guard read itself, after the stream had already ended. */
  onData: (data: Buffer) => void;
  /** Give up waiting for more output after this much silence (not counting time paused), in ms. */
  drainIdleMs: number;
  /** Injectable for tests. */
  readSync?: (fd: number, buf: Buffer, offset: number, length: number, position: null) => number;
}

type Mode = 'reading' | 'waiting' | 'manual' | 'closed';

/**
 * Keeps a pty's output until the very last byte, working around node-pty's exit race
 * (microsoft/node-pty issues 726 and 72). Three ways output was lost, all measured here:
 *
 * 1. 200 ms after the child exits node-pty destroys the tty stream if it has not closed yet,
 *    dropping what the kernel and the (possibly paused) stream still hold.
 * 2. A read error (EIO: Linux's "the slave side is closed, nothing left") destroys the stream with
 *    unread data still in its buffer when it was paused.
 * 3. While the session leader's exit hangs up the terminal, a read on the master can return 0
 *    (EOF) although output is still queued in the kernel; the stream ends and the rest is lost.
 *
 * The guard replaces `socket.destroy` and decides when the stream may really close:
 *
 *   reading --node-pty's post-exit destroy()--> waiting (stream still reads; idle timer)
 *   reading | waiting --EOF ('end')--> manual (read the fd by hand until EIO; poll on EAGAIN)
 *   any --EIO | idle for drainIdleMs | destroyNow()--> closed (buffered bytes flushed first)
 *
 * EIO is final: the kernel returns it only once no input is left and the slave is closed.
 * node-pty emits 'exit' only after the stream closed, so 'exit' follows the last byte.
 */
export class PtyDrainGuard {
  readonly #o: PtyDrainGuardOptions;
  readonly #realDestroy: (err?: Error) => Socket;
  readonly #read: NonNullable<PtyDrainGuardOptions['readSync']>;
  #mode: Mode = 'reading';
  #paused = false;
  #timer: TimerHandle | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #lastDataAt = 0;
  #buf: Buffer | undefined;

  constructor(options: PtyDrainGuardOptions) {
    this.#o = options;
    this.#read = options.readSync ?? ((fd, buf, off, len, pos) => readSync(fd, buf, off, len, pos));
    const socket = options.socket;
    this.#realDestroy = socket.destroy.bind(socket);
    socket.destroy = ((err?: Error) => this.#onDestroy(err)) as Socket['destroy'];
    socket.on('data', () => {
      this.#lastDataAt = this.#o.clock.now();
      if (this.#mode === 'waiting') this.#armIdle();
    });
  }

  /** Current mode (for tests and logs). */
  get mode(): Mode {
    return this.#mode;
  }

  /** Backpressure: stop reading (the stream is paused by the caller; manual reads stop here). */
  pause(): void {
    this.#paused = true;
    this.#clearTimers();
  }

  /** Reading may go on. */
  resume(): void {
    this.#paused = false;
    if (this.#mode === 'waiting') this.#armIdle();
    else if (this.#mode === 'manual') this.#scheduleManual(0);
  }

  /** Close the stream now, whatever is left (the session was abandoned). */
  destroyNow(): void {
    this.#close();
  }

  #onDestroy(err?: Error): Socket {
    const socket = this.#o.socket;
    if (err || this.#mode === 'closed') {
      // EIO (final), another read error, or our own close: hand over what the stream buffered.
      return this.#close(err);
    }
    if (socket.readableEnded) {
      // EOF: maybe premature (3). Read the fd by hand until the kernel says EIO.
      if (this.#mode !== 'manual') {
        if (this.#o.fd === undefined) return this.#close();
        this.#mode = 'manual';
        this.#clearTimers();
        this.#lastDataAt = this.#o.clock.now();
        this.#scheduleManual(0);
      }
      return socket;
    }
    // node-pty's post-exit timer (1): the child is gone, the stream still reads. Let it.
    if (this.#mode === 'reading') {
      this.#mode = 'waiting';
      this.#lastDataAt = this.#o.clock.now();
      this.#armIdle();
    }
    return socket;
  }

  #close(err?: Error): Socket {
    const socket = this.#o.socket;
    const first = this.#mode !== 'closed';
    this.#mode = 'closed';
    this.#clearTimers();
    if (first) {
      // read() on a paused stream returns its buffer and emits it as 'data' (2).
      while (socket.readableLength > 0 && socket.read() !== null) {
        /* emitted as 'data' */
      }
    }
    return this.#realDestroy(err);
  }

  #armIdle(): void {
    this.#clearTimers();
    if (this.#paused) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#close();
    }, this.#o.drainIdleMs);
  }

  #scheduleManual(delayMs: number): void {
    this.#clearTimers();
    if (this.#paused || this.#mode !== 'manual') return;
    if (delayMs === 0) this.#immediate = setImmediate(() => this.#readManually());
    else this.#timer = this.#o.clock.setTimeout(() => this.#readManually(), delayMs);
  }

  #readManually(): void {
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#paused || this.#mode !== 'manual') return;
    const buf = (this.#buf ??= Buffer.allocUnsafe(READ_CHUNK_BYTES));
    for (let i = 0; i < READS_PER_TURN; i++) {
      let n: number;
      try {
        n = this.#read(this.#o.fd!, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.#close(); // EIO: everything was read
          return;
        }
        n = -1;
      }
      if (n <= 0) {
        // Nothing yet (EAGAIN, or another 0 while the hangup completes): poll, within the idle bound.
        if (this.#o.clock.now() - this.#lastDataAt >= this.#o.drainIdleMs) this.#close();
        else this.#scheduleManual(DRAIN_POLL_MS);
        return;
      }
      this.#lastDataAt = this.#o.clock.now();
      this.#o.onData(Buffer.from(buf.subarray(0, n)));
      if (this.#paused || this.#mode !== 'manual') return;
    }
    this.#scheduleManual(0);
  }

  #clearTimers(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }
}
