import type { Socket } from 'node:net';
import * as nodePty from 'node-pty';
import type { Clock } from '../clock.js';
import { FdWriter } from './fd-writer.js';
import { PtyDrainGuard } from './pty-drain.js';
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
  /** EventEmitter-style listener on the tty stream (not in node-pty's typings). */
  on?: (event: 'error', listener: (err: Error) => void) => void;
}

/**
 * Spawn `plan` in a pty with node-pty (`encoding: null`: bytes, not strings). A PtyDrainGuard makes
 * sure no output is lost at exit (node-pty issues 726 and 72), so onExit follows the last byte.
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
  const fd = typeof internals._fd === 'number' ? internals._fd : undefined;
  const writer = fd !== undefined ? new FdWriter(fd) : undefined;
  let dataListener: (data: Buffer) => void = () => {};
  // node-pty rethrows tty read errors other than EAGAIN/EIO unless someone else listens; the
  // stream closes either way and 'exit' follows, so a listener that ignores them is enough.
  internals.on?.call(term, 'error', () => {});
  term.onData((d) => dataListener(d as unknown as Buffer));
  const guard = internals._socket
    ? new PtyDrainGuard({ socket: internals._socket, fd, clock, drainIdleMs, onData: (d) => dataListener(d) })
    : undefined;

  return {
    pid: term.pid,
    onData(listener) {
      dataListener = listener;
    },
    onExit(listener) {
      term.onExit(({ exitCode, signal }) => {
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
      guard?.pause();
      term.pause();
    },
    resume() {
      term.resume();
      guard?.resume();
    },
    kill(signal) {
      signalGroup(term.pid, signal);
    },
    destroy() {
      writer?.dispose();
      signalGroup(term.pid, 'SIGHUP');
      guard?.destroyNow();
      try {
        // Closes node-pty's side and SIGHUPs the child once the stream closed.
        internals.destroy?.call(term);
      } catch {
        /* already closed */
      }
    },
  };
}
