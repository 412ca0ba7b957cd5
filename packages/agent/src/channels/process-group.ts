import { constants } from 'node:os';
import type { Clock, TimerHandle } from '../clock.js';

/** Grace between SIGHUP and SIGKILL when a channel ends before its process, in ms. */
export const KILL_GRACE_MS = 2_000;

/** Signal a whole process group (the channel's process is its group leader); errors (already gone) are ignored. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined || pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal); // not a group leader after all
    } catch {
      /* gone */
    }
  }
}

/** Signal number -> name ("SIGHUP"), or null. */
export function signalName(signal: number | string | null | undefined): string | null {
  if (signal === null || signal === undefined || signal === 0) return null;
  if (typeof signal === 'string') return signal;
  for (const [name, num] of Object.entries(constants.signals)) if (num === signal) return name;
  return `SIG${signal}`;
}

/**
 * Ends a process group: SIGHUP now (a hung-up terminal), SIGKILL after `graceMs` unless exited() was
 * called first. Safe to call terminate() more than once.
 */
export class GroupTerminator {
  readonly #clock: Clock;
  readonly #graceMs: number;
  #timer: TimerHandle | undefined;
  #exited = false;

  constructor(clock: Clock, graceMs = KILL_GRACE_MS) {
    this.#clock = clock;
    this.#graceMs = graceMs;
  }

  /** Hang up the group led by `pid`, and kill it if it is still there after the grace period. */
  terminate(pid: number | undefined): void {
    if (this.#exited || this.#timer !== undefined) return;
    signalGroup(pid, 'SIGHUP');
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#exited) signalGroup(pid, 'SIGKILL');
    }, this.#graceMs);
  }

  /** The process exited: cancel the pending SIGKILL. */
  exited(): void {
    this.#exited = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
