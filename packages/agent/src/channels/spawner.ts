import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Clock } from '../clock.js';
import type { LaunchPlan } from './launch-plan.js';
import { spawnPty, type PtyProcess, type PtySize } from './pty-process.js';

/** Starts channel processes; injected so the manager is testable without real processes. */
export interface ProcessSpawner {
  /** Start `plan` in a pseudo-terminal. @throws when the pty cannot be created */
  spawnPty(plan: LaunchPlan, size: PtySize): PtyProcess;
  /** Start `plan` with three pipes, as the leader of its own process group. */
  spawnPipe(plan: LaunchPlan): ChildProcessWithoutNullStreams;
}

/** The real spawner: node-pty for terminals, child_process for pipes. */
export function createProcessSpawner(clock: Clock): ProcessSpawner {
  return {
    spawnPty: (plan, size) => spawnPty(plan, size, clock),
    spawnPipe: (plan) =>
      spawn(plan.file, plan.args, {
        cwd: plan.cwd,
        env: plan.env,
        stdio: 'pipe',
        // Own session and process group, so hanging up reaches the whole pipeline (kill(-pid)).
        detached: true,
        ...(plan.uid !== undefined && plan.gid !== undefined ? { uid: plan.uid, gid: plan.gid } : {}),
      }),
  };
}

/** util-linux setpriv, if installed (used to switch user with the right supplementary groups). */
export function findSetpriv(exists: (path: string) => boolean = existsSync): string | undefined {
  return ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'].find((p) => exists(p));
}
