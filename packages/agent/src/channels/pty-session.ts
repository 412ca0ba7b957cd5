import type { WebSocket } from 'ws';
import { CloseCode, OutputRing, onAlternateScreen, replayFor } from '@corral/protocol';
import { closeAndWait, closeSocket, readChannelFrame, sendControl } from './channel-frames.js';
import { deferred, type LiveChannel } from './live-channel.js';
import { OutputPump } from './output-pump.js';
import { GroupTerminator, KILL_GRACE_MS } from './process-group.js';
import type { ExitStatus, PtyProcess } from './pty-process.js';
import type { ChannelRunOptions } from './pty-channel.js';

/** Output a detached terminal keeps for the screen of whoever re-attaches. */
export const REPLAY_BYTES = 256 * 1024;

/** Channel close codes after which a persistent terminal is kept (the user may come back). */
const KEEP_ON_CLOSE: ReadonlySet<number> = new Set([CloseCode.DETACHED, CloseCode.GOING_AWAY, 1006]);

export interface PtySessionOptions {
  sessionId: string;
  osUser: string;
  /** How long the terminal outlives a dropped channel, ms; 0 = not persistent (hang up at once). */
  persistMs: number;
  clock: ChannelRunOptions['clock'];
  logger: ChannelRunOptions['logger'];
  killGraceMs?: number;
  /** The process is gone (after its last channel closed, or while detached). */
  onGone: (status: ExitStatus) => void;
  pump?: ChannelRunOptions['pump'];
}

interface Attachment {
  ws: WebSocket;
  channelId: string;
  pump: OutputPump;
  finished: ReturnType<typeof deferred>;
  closed: boolean;
}

/**
 * A terminal that can outlive its channel socket. One socket is attached at a time:
 *
 *   socket binary  -> keystrokes (socket paused while input queues up)
 *   socket text    -> resize | ping (answered with pong)
 *   pty output     -> the ring (last 256 KiB, persistent sessions) and binary frames to the socket
 *   pty exit       -> (after the pty drained) {"type":"exit"} then close 1000
 *   socket closed  -> 4412 / 1001 / 1006 and persistent: detach (the ring keeps collecting, a timer
 *                     hangs up after persistMs); anything else: hang up the group, SIGKILL 2 s later
 *   attach(ws)     -> any previous socket is closed with 4412, the new one gets the replay, then live output
 */
export class PtySession {
  readonly #proc: PtyProcess;
  readonly #o: PtySessionOptions;
  readonly #ring: OutputRing | null;
  readonly #terminator: GroupTerminator;
  #current: Attachment | null = null;
  #exit: ExitStatus | null = null;
  #detachTimer: ReturnType<ChannelRunOptions['clock']['setTimeout']> | null = null;
  #hungUp = false;
  #cols: number;
  #rows: number;

  constructor(proc: PtyProcess, size: { cols: number; rows: number }, o: PtySessionOptions) {
    this.#proc = proc;
    this.#o = o;
    this.#cols = size.cols;
    this.#rows = size.rows;
    this.#ring = o.persistMs > 0 ? new OutputRing(REPLAY_BYTES) : null;
    this.#terminator = new GroupTerminator(o.clock, o.killGraceMs ?? KILL_GRACE_MS);
    proc.onData((data) => {
      this.#ring?.push(data);
      this.#current?.pump.stdout(data);
    });
    proc.onExit((status) => this.#exited(status));
    proc.onWritable(() => this.#current?.ws.resume());
  }

  get sessionId(): string {
    return this.#o.sessionId;
  }

  get osUser(): string {
    return this.#o.osUser;
  }

  get detached(): boolean {
    return this.#current === null && this.#exit === null;
  }

  get exited(): boolean {
    return this.#exit !== null;
  }

  /** Bridge `ws` to this terminal; `replay` sends the kept output first (re-attach). */
  attach(ws: WebSocket, channelId: string, replay: boolean, size?: { cols: number; rows: number }): LiveChannel {
    const previous = this.#current;
    if (previous) {
      this.#current = null;
      previous.pump.close();
      sendControl(previous.ws, { type: 'notice', message: 'This session was attached from somewhere else.' });
      closeSocket(previous.ws, CloseCode.DETACHED, 'attached elsewhere');
    }
    if (this.#detachTimer) {
      this.#o.clock.clearTimeout(this.#detachTimer);
      this.#detachTimer = null;
    }
    const a: Attachment = {
      ws,
      channelId,
      pump: new OutputPump(ws, this.#proc, this.#o.pump),
      finished: deferred(),
      closed: false,
    };
    this.#current = a;
    // A detached terminal was never paused for this socket.
    this.#proc.resume();

    ws.on('message', (data, isBinary) => this.#onMessage(a, data, isBinary));
    ws.on('close', (code) => this.#onClose(a, code));
    ws.on('error', (err) => this.#o.logger.warn('channel socket error', { channel: channelId, error: err.message }));

    if (replay && this.#ring) {
      const alternate = onAlternateScreen(this.#ring);
      a.pump.stdout(Buffer.from(replayFor(this.#ring)));
      const cols = size?.cols ?? this.#cols;
      const rows = size?.rows ?? this.#rows;
      if (alternate && cols === this.#cols && rows === this.#rows && rows > 1) {
        // Full-screen programs redraw on SIGWINCH, which the kernel sends only for a real change.
        this.#proc.resize(cols, rows - 1);
      }
      this.#resize(cols, rows);
    } else if (size) {
      this.#resize(size.cols, size.rows);
    }
    if (this.#exit) this.#sendExit(a, this.#exit);
    return {
      channelId,
      done: a.finished.promise,
      dispose: async () => {
        this.#hangUp();
        await closeAndWait(ws, this.#o.clock);
        await a.finished.promise;
      },
    };
  }

  /** Hang up now (agent shutdown, detach timeout). */
  hangUp(): void {
    this.#hangUp();
  }

  #resize(cols: number, rows: number): void {
    this.#cols = cols;
    this.#rows = rows;
    this.#proc.resize(cols, rows);
  }

  #onMessage(a: Attachment, data: Parameters<typeof readChannelFrame>[0], isBinary: boolean): void {
    if (this.#current !== a) return;
    const frame = readChannelFrame(data, isBinary);
    if (frame.kind === 'binary') {
      if (!this.#proc.write(frame.data)) a.ws.pause();
      return;
    }
    if (frame.kind === 'invalid') {
      this.#o.logger.warn('bad channel frame', { channel: a.channelId, code: frame.closeCode, reason: frame.reason });
      closeSocket(a.ws, frame.closeCode, frame.reason);
      this.#hangUp();
      return;
    }
    const m = frame.message;
    if (m.type === 'resize') this.#resize(m.cols, m.rows);
    else if (m.type === 'ping') sendControl(a.ws, { type: 'pong', ts: m.ts });
    // eof has no meaning for a terminal (the user types ^D); the rest is for users, not agents.
  }

  #onClose(a: Attachment, code: number): void {
    a.closed = true;
    a.pump.close();
    if (this.#current === a) {
      this.#current = null;
      if (!this.#exit) {
        if (this.#ring && KEEP_ON_CLOSE.has(code)) this.#detach(a.channelId, code);
        else {
          this.#o.logger.info('channel socket closed before the process ended; hanging up', {
            channel: a.channelId,
            code,
          });
          this.#hangUp();
        }
      }
    }
    this.#settle(a);
  }

  #detach(channelId: string, code: number): void {
    this.#o.logger.info('terminal detached; kept for re-attach', {
      session: this.#o.sessionId,
      channel: channelId,
      code,
      keepSeconds: Math.round(this.#o.persistMs / 1000),
    });
    // Nobody reads now: let the program run; the ring keeps the last output.
    this.#proc.resume();
    this.#detachTimer = this.#o.clock.setTimeout(() => {
      this.#detachTimer = null;
      this.#o.logger.info('detached terminal not re-attached in time; hanging up', { session: this.#o.sessionId });
      this.#hangUp();
    }, this.#o.persistMs);
  }

  #hangUp(): void {
    this.#current?.ws.resume();
    if (this.#exit || this.#hungUp) return;
    this.#hungUp = true;
    this.#proc.destroy();
    this.#terminator.terminate(this.#proc.pid);
  }

  #sendExit(a: Attachment, status: ExitStatus): void {
    a.ws.resume(); // read the peer's close frame even if input backpressure had paused us
    a.pump.flush();
    sendControl(a.ws, { type: 'exit', code: status.code, signal: status.signal });
    closeSocket(a.ws, CloseCode.NORMAL, 'exited');
    a.pump.close();
  }

  #exited(status: ExitStatus): void {
    this.#exit = status;
    this.#terminator.exited();
    if (this.#detachTimer) {
      this.#o.clock.clearTimeout(this.#detachTimer);
      this.#detachTimer = null;
    }
    const a = this.#current;
    if (a && !a.closed) this.#sendExit(a, status);
    this.#o.logger.info('channel process exited', {
      session: this.#o.sessionId,
      channel: a?.channelId,
      code: status.code,
      signal: status.signal,
    });
    if (a) this.#settle(a);
    this.#o.onGone(status);
  }

  #settle(a: Attachment): void {
    // An attachment is over when its socket closed and it no longer carries the terminal: detached,
    // replaced, or the process exited.
    if (a.closed && (this.#current !== a || this.#exit)) a.finished.resolve();
  }
}
