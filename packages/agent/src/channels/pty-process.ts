import type { Socket } from 'node:net';
import * as nodePty from 'node-pty';
import type { Clock, TimerHandle } from '../clock.js';
import { FdWriter } from './fd-writer.js';
import type { LaunchPlan } from './launch-plan.js';
import { signalGroup, signalName } from './process-group.js';

/** How the process ended: `code` for a normal exit, `signal` (a name) when killed. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** A process in a pseudo-terminal, as the pty channel uses it. */
export interface PtyProcess {
  readonly pid: number;
  /** Terminal output (bytes). */
  onData(listener: (data: Buffer) => void): void;
  /** Fires once, only after all output was delivered to onData (or the drain wait gave up). */
  onExit(listener: (status: ExitStatus) => void): void;
  /** Keystrokes. @returns false when input queues up; wait for onWritable. */
  write(data: Buffer): boolean;
  onWritable(listener: () => void): void;
  resize(cols: number, rows: number): void;
  /** Stop reading output (backpressure). */
  pause(): void;
  resume(): void;
  /** Signal the process group. */
  kill(signal: NodeJS.Signals): void;
  /** Close the terminal (the session is abandoned) and hang up its group. */
  destroy(): void;
}

/** Terminal geometry. */
export interface PtySize {
  cols: number;
  rows: number;
  term: string;
}

/**
 * After the child exited, how long the terminal may stay silent (and not paused by backpressure)
 * before the agent stops waiting for EOF, in ms. A background job that keeps the tty open would
 * otherwise hold the channel forever.
 */
export const PTY_DRAIN_IDLE_MS = 2_000;

/** node-pty's UnixTerminal internals used here (lib/unixTerminal.js, node-pty 1.1). */
interface UnixTerminalInternals {
  _socket?: Socket;
  _fd?: number;
  /** Closes the tty stream, then SIGHUPs the child (not in node-pty's typings). */
  destroy?: () => void;
}

/**
 * Spawn `plan` in a pty with node-pty (`encoding: null`: bytes, not strings) and fix its exit race.
 *
 * node-pty loses the tail of the output at exit (microsoft/node-pty issues 726 and 72): 200 ms after
 * the child exits it destroys the tty stream if EOF has not arrived, dropping whatever the kernel
 * and the stream still buffer — always so while the stream is paused for backpressure. A read error
 * (EIO, how Linux reports that the slave side closed) likewise destroys the stream with unread data
 * in its buffer. This wrapper:
 *   - defers node-pty's post-exit destroy until the tty reports EIO/EOF by itself, or has been idle
 *     (no data, not paused) for PTY_DRAIN_IDLE_MS;
 *   - before any destroy, hands what the stream still buffers to the data listener;
 * so node-pty's 'exit' (which it emits only after the stream closed) comes after the last byte.
 * Keystrokes go to the master fd with fs.writeSync (see FdWriter).
 */
export function spawnPty(plan: LaunchPlan, size: PtySize, clock: Clock, drainIdleMs = PTY_DRAIN_IDLE_MS): PtyProcess {
  const term = nodePty.spawn(plan.file, plan.args, {
    name: size.term,
    cols: size.cols,
    rows: size.rows,
    cwd: plan.cwd,
    env: plan.env,
    encoding: null,
    ...(plan.uid !== undefined && plan.gid !== undefined ? { uid: plan.uid, gid: plan.gid } : {}),
  });
  const internals = term as unknown as UnixTerminalInternals;
  const socket = internals._socket;
  const writer = typeof internals._fd === 'number' ? new FdWriter(internals._fd) : undefined;

  let dataListener: (data: Buffer) => void = () => {};
  let paused = false;
  let draining = false; // the child exited; waiting for the tty to drain
  let allowDestroy = false;
  let idleTimer: TimerHandle | undefined;

  term.onData((d) => dataListener(d as unknown as Buffer));

  const flushBuffered = (): void => {
    if (!socket) return;
    // read() on a paused stream returns what it buffered and emits it as 'data', which node-pty
    // forwards to onData: nothing is lost when the stream is destroyed next.
    while (socket.readableLength > 0 && socket.read() !== null) {
      /* emitted as 'data' */
    }
  };
  const stopIdleTimer = (): void => {
    if (idleTimer !== undefined) clock.clearTimeout(idleTimer);
    idleTimer = undefined;
  };
  const armIdleTimer = (): void => {
    stopIdleTimer();
    if (!draining || paused) return;
    idleTimer = clock.setTimeout(() => {
      idleTimer = undefined;
      allowDestroy = true;
      flushBuffered();
      socket?.destroy();
    }, drainIdleMs);
  };

  if (socket) {
    const realDestroy = socket.destroy.bind(socket);
    socket.destroy = ((err?: Error): Socket => {
      if (err || allowDestroy) {
        // A read error (EIO: the slave closed, all output read) or our own decision.
        stopIdleTimer();
        flushBuffered();
        return realDestroy(err);
      }
      // node-pty's post-exit timer: the child is gone but the tty has not closed yet. Keep reading.
      if (!draining) {
        draining = true;
        armIdleTimer();
      }
      return socket;
    }) as Socket['destroy'];
    socket.on('data', () => {
      if (draining) armIdleTimer();
    });
  }

  return {
    pid: term.pid,
    onData(listener) {
      dataListener = listener;
    },
    onExit(listener) {
      term.onExit(({ exitCode, signal }) => {
        stopIdleTimer();
        const sig = signalName(signal);
        listener(sig ? { code: null, signal: sig } : { code: exitCode, signal: null });
      });
    },
    write(data) {
      if (writer) return writer.write(data);
      term.write(data as unknown as string);
      return true;
    },
    onWritable(listener) {
      writer?.onDrain(listener);
    },
    resize(cols, rows) {
      try {
        term.resize(cols, rows);
      } catch {
        /* the pty is already closed */
      }
    },
    pause() {
      paused = true;
      stopIdleTimer();
      term.pause();
    },
    resume() {
      paused = false;
      term.resume();
      armIdleTimer();
    },
    kill(signal) {
      signalGroup(term.pid, signal);
    },
    destroy() {
      allowDestroy = true;
      stopIdleTimer();
      writer?.dispose();
      signalGroup(term.pid, 'SIGHUP');
      try {
        if (internals.destroy) internals.destroy.call(term);
        else socket?.destroy();
      } catch {
        /* already closed */
      }
    },
  };
}
