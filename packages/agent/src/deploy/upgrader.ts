import { spawn, type ChildProcess } from 'node:child_process';
import { verify, type KeyObject } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { artifactSigningString, type GatewayToAgent, type AgentToGateway } from '@corral/protocol';
import type { Logger } from '../logger.js';
import { RESTART_EXIT_CODE } from './service-files.js';

/** A decoded `upgrade` frame. */
export type UpgradeMessage = Extract<GatewayToAgent, { type: 'upgrade' }>;
type UpgradeResultMessage = Extract<AgentToGateway, { type: 'upgrade.result' }>;

/** How long a new version has to connect before it is rolled back, in ms (the issue's 60 s). */
export const DEFAULT_UPGRADE_WINDOW_MS = 60_000;
/** Set in the environment of a new version on trial; it tells its parent over IPC once connected. */
export const TRIAL_ENV = 'CORRAL_AGENT_TRIAL';

/** The state of an upgrade, kept beside the executable so the next process reports how it ended. */
const Marker = z.object({
  upgradeId: z.string(),
  fromVersion: z.string(),
  toVersion: z.string(),
  state: z.enum(['trial', 'completed', 'rolled_back', 'failed']),
  reason: z.string().optional(),
});
type Marker = z.infer<typeof Marker>;

/** Paths an upgrade touches, all beside the running executable. */
export function upgradePaths(exe: string): { next: string; prev: string; marker: string } {
  return { next: `${exe}.new`, prev: `${exe}.prev`, marker: `${exe}.upgrade.json` };
}

/** Check a downloaded artifact: size, SHA-256, and the signature by the pinned artifact key. */
export function checkArtifact(
  m: Pick<UpgradeMessage, 'platform' | 'version' | 'sha256' | 'size' | 'signature'>,
  got: { sha256: string; size: number },
  key: KeyObject,
): string | undefined {
  if (got.size !== m.size) return `size ${got.size}, expected ${m.size}`;
  if (got.sha256 !== m.sha256) return `SHA-256 ${got.sha256}, expected ${m.sha256}`;
  const signed = artifactSigningString({ platform: m.platform, version: m.version, sha256: m.sha256, size: m.size });
  let ok: boolean;
  try {
    ok = verify(null, Buffer.from(signed), key, Buffer.from(m.signature, 'base64'));
  } catch {
    ok = false;
  }
  return ok ? undefined : 'the signature is not by the artifact key pinned at registration';
}

export interface UpgraderOptions {
  /** The running executable (process.execPath of the single executable). */
  exe: string;
  /** False when running from sources with node: nothing to swap. */
  isSingleExecutable: boolean;
  /** Arguments the agent was started with (`run --config ...`), for the new version. */
  runArgs: readonly string[];
  currentVersion: string;
  /** A service manager restarts the agent when it exits with RESTART_EXIT_CODE. */
  supervised: boolean;
  windowMs: number;
  /** The artifact key pinned at registration; absent for agents registered before upgrades existed. */
  artifactKey: KeyObject | undefined;
  /** Download a gateway path into a file; returns its SHA-256 and size. */
  download: (path: string, dest: string, maxBytes: number) => Promise<{ sha256: string; size: number }>;
  /** Stop serving (control connection and channels) before the new version takes over. */
  stopAgent: () => Promise<void>;
  /** Send a frame to the gateway (when connected). */
  send: (m: UpgradeResultMessage) => boolean;
  logger: Logger;
  exit: (code: number) => void;
  /** Start a process (the new version on trial, or the next agent when unsupervised). */
  spawnProcess?: (exe: string, args: readonly string[], trial: boolean) => ChildProcess;
}

function defaultSpawn(exe: string, args: readonly string[], trial: boolean): ChildProcess {
  return spawn(exe, [...args], {
    stdio: trial ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'inherit', 'inherit'],
    env: trial ? { ...process.env, [TRIAL_ENV]: '1' } : { ...process.env, [TRIAL_ENV]: '' },
    detached: !trial,
  });
}

/**
 * Self-upgrade with rollback, run by the version that is known to work:
 *
 *   1. download the artifact beside the executable (exe.new), check size, SHA-256 and signature;
 *   2. keep a copy of the running executable (exe.prev), rename exe.new over exe (atomic);
 *   3. stop serving and start the new version on trial; it reports over IPC once the gateway welcomed it;
 *   4. connected within the window: done. Exited or silent: kill it, rename exe.prev back over exe;
 *   5. restart through the service manager (exit 75) or, unsupervised, start the next agent detached.
 *
 * The next process reads the marker (exe.upgrade.json) and reports `upgrade.result` after its welcome,
 * so the audit log says completed or rolled_back whichever version runs. A crash-looping new version is
 * rolled back because it is never trusted until it connected, and the judge is the old process.
 */
export class Upgrader {
  readonly #o: UpgraderOptions;
  #busy = false;

  constructor(options: UpgraderOptions) {
    this.#o = options;
  }

  /** True when this process is a new version on trial (its parent waits for `connected`). */
  static get onTrial(): boolean {
    return process.env[TRIAL_ENV] === '1' && typeof process.send === 'function';
  }

  /**
   * At start: an upgrade that was on trial when its judge died is undone here (the executable may be the
   * untrusted new version). Returns true when the process should stop and restart.
   */
  recoverAtStart(): boolean {
    if (Upgrader.onTrial) return false;
    const marker = this.#readMarker();
    if (marker?.state !== 'trial') return false;
    const { prev } = upgradePaths(this.#o.exe);
    if (this.#o.currentVersion === marker.toVersion && existsSync(prev)) {
      renameSync(prev, this.#o.exe);
      this.#writeMarker({
        ...marker,
        state: 'rolled_back',
        reason: 'the upgrade was interrupted before the new version proved itself',
      });
      this.#o.logger.warn('interrupted upgrade rolled back', { to: marker.toVersion });
      this.#restart();
      return true;
    }
    this.#writeMarker({ ...marker, state: 'rolled_back', reason: 'the upgrade was interrupted' });
    return false;
  }

  /** After each welcome: tell the trial parent, or report how the last upgrade ended. */
  onWelcome(): void {
    if (Upgrader.onTrial) {
      process.send?.({ type: 'corral.trial.connected', version: this.#o.currentVersion });
      return;
    }
    const marker = this.#readMarker();
    if (!marker || marker.state === 'trial') return;
    const sent = this.#o.send({
      type: 'upgrade.result',
      upgradeId: marker.upgradeId,
      outcome: marker.state,
      fromVersion: marker.fromVersion,
      toVersion: marker.toVersion,
      ...(marker.reason ? { reason: marker.reason.slice(0, 1024) } : {}),
    });
    if (sent) rmSync(upgradePaths(this.#o.exe).marker, { force: true });
  }

  /** Handle an `upgrade` frame. Failures before the swap are reported at once; nothing changes then. */
  async handle(m: UpgradeMessage): Promise<void> {
    if (this.#busy || Upgrader.onTrial) return;
    this.#busy = true;
    const fail = (reason: string): void => {
      this.#o.logger.warn('upgrade refused', { to: m.version, reason });
      this.#o.send({
        type: 'upgrade.result',
        upgradeId: m.upgradeId,
        outcome: 'failed',
        fromVersion: this.#o.currentVersion,
        toVersion: m.version,
        reason,
      });
      this.#busy = false;
    };
    if (!this.#o.isSingleExecutable) return fail('this agent runs from sources (node), not from an installed artifact');
    if (!this.#o.artifactKey) {
      return fail(
        'no artifact-signing key pinned (registered before upgrades existed); reinstall with the install line',
      );
    }
    const { next, prev } = upgradePaths(this.#o.exe);
    this.#o.logger.info('upgrade: downloading', { from: this.#o.currentVersion, to: m.version, size: m.size });
    let got: { sha256: string; size: number };
    try {
      got = await this.#o.download(m.path, next, m.size);
    } catch (err) {
      rmSync(next, { force: true });
      return fail(`download failed: ${(err as Error).message}`);
    }
    const bad = checkArtifact(m, got, this.#o.artifactKey);
    if (bad) {
      rmSync(next, { force: true });
      return fail(`artifact rejected: ${bad}`);
    }
    chmodSync(next, 0o755);
    const base: Marker = {
      upgradeId: m.upgradeId,
      fromVersion: this.#o.currentVersion,
      toVersion: m.version,
      state: 'trial',
    };
    this.#writeMarker(base);
    copyFileSync(this.#o.exe, prev);
    chmodSync(prev, 0o755);
    renameSync(next, this.#o.exe);
    this.#o.logger.info('upgrade: new version in place; stopping to try it', {
      to: m.version,
      window_ms: this.#o.windowMs,
    });
    await this.#o.stopAgent();

    const outcome = await this.#trial();
    if (outcome.ok) {
      this.#o.logger.info('upgrade: the new version connected', { to: m.version });
      this.#writeMarker({ ...base, state: 'completed' });
    } else {
      renameSync(prev, this.#o.exe);
      this.#o.logger.error('upgrade: rolled back', { to: m.version, reason: outcome.reason });
      this.#writeMarker({ ...base, state: 'rolled_back', reason: outcome.reason });
    }
    this.#restart();
  }

  /** Run the new executable until it reports a welcome, exits, or the window closes; then stop it. */
  #trial(): Promise<{ ok: true } | { ok: false; reason: string }> {
    const spawnProcess = this.#o.spawnProcess ?? defaultSpawn;
    return new Promise((resolve) => {
      let done = false;
      const child = spawnProcess(this.#o.exe, this.#o.runArgs, true);
      const finish = (r: { ok: true } | { ok: false; reason: string }): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (child.exitCode !== null || child.signalCode !== null) return resolve(r);
        child.once('exit', () => resolve(r));
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      };
      const timer = setTimeout(
        () =>
          finish({
            ok: false,
            reason: `the new version did not connect within ${Math.round(this.#o.windowMs / 1000)} s`,
          }),
        this.#o.windowMs,
      );
      child.on('message', (msg: unknown) => {
        if ((msg as { type?: unknown } | null)?.type === 'corral.trial.connected') finish({ ok: true });
      });
      child.once('error', (err) => finish({ ok: false, reason: `the new version did not start: ${err.message}` }));
      child.once('exit', (code, signal) =>
        finish({ ok: false, reason: `the new version exited (${signal ?? `code ${code}`}) before connecting` }),
      );
    });
  }

  /** Hand over to the version now in place. */
  #restart(): void {
    if (this.#o.supervised) return this.#o.exit(RESTART_EXIT_CODE);
    const spawnProcess = this.#o.spawnProcess ?? defaultSpawn;
    const child = spawnProcess(this.#o.exe, this.#o.runArgs, false);
    child.unref();
    this.#o.exit(0);
  }

  #readMarker(): Marker | undefined {
    try {
      return Marker.parse(JSON.parse(readFileSync(upgradePaths(this.#o.exe).marker, 'utf8')));
    } catch {
      return undefined;
    }
  }

  #writeMarker(m: Marker): void {
    const { marker } = upgradePaths(this.#o.exe);
    writeFileSync(`${marker}.tmp`, JSON.stringify(m) + '\n', { mode: 0o600 });
    renameSync(`${marker}.tmp`, marker);
  }
}
