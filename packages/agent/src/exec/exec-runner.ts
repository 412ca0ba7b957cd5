import type { KeyObject } from 'node:crypto';
import { EXEC_CHUNK_BYTES, EXEC_MAX_OUTPUT_BYTES, type AgentToGateway, type GatewayToAgent } from '@corral/protocol';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../logger.js';
import { verifyGrant } from '../grant-verify.js';
import { RejectCode } from '../errors.js';
import { planLaunch } from '../channels/launch-plan.js';
import { resolveOsUser, type AgentIdentity } from '../channels/os-user.js';
import type { ProcessSpawner } from '../channels/spawner.js';
import { signalGroup, signalName } from '../channels/process-group.js';

type ExecStartMsg = Extract<GatewayToAgent, { type: 'exec.start' }>;
type ExecOut = Extract<AgentToGateway, { type: 'exec.output' | 'exec.exit' }>;

export interface ExecRunnerOptions {
  serverId: string;
  gatewayKey: KeyObject;
  spawner: ProcessSpawner;
  readPasswd: () => string;
  homeExists: (path: string) => boolean;
  identity: AgentIdentity;
  setprivPath?: string | undefined;
  lang?: string | undefined;
  clock: Clock;
  logger: Logger;
  /** Send on the control connection; false when it is down (the frame stays retained for a re-send). */
  send: (m: ExecOut) => boolean;
}

interface Running {
  execId: string;
  seq: number;
  /** Frames not yet acknowledged, re-sent after a reconnect. */
  retained: ExecOut[];
  outputBytes: number;
  truncated: boolean;
  pid: number | undefined;
  exited: boolean;
  timer: TimerHandle | undefined;
  killTimer: TimerHandle | undefined;
  timedOut: boolean;
}

/**
 * Runs `exec.start` commands (multi-server commands) in pipes, as the grant's OS user, and reports their
 * output in seq-numbered pieces on the control connection. Everything sent is kept until the gateway
 * acknowledges the exit (`exec.ack`): after a reconnect it is sent again and the gateway drops what it
 * already has, so nothing is lost or duplicated.
 */
export class ExecRunner {
  readonly #o: ExecRunnerOptions;
  readonly #running = new Map<string, Running>();
  readonly #seen = new Map<string, number>();

  constructor(o: ExecRunnerOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#running.size;
  }

  /** Whether the command has exited (its frames may still wait for the gateway's ack). */
  finished(execId: string): boolean {
    return this.#running.get(execId)?.exited ?? false;
  }

  handle(m: GatewayToAgent): void {
    if (m.type === 'exec.start') return this.#start(m);
    if (m.type === 'exec.ack') {
      const r = this.#running.get(m.execId);
      if (r?.exited) this.#running.delete(m.execId);
      return;
    }
    if (m.type === 'exec.cancel') {
      const r = this.#running.get(m.execId);
      if (r && !r.exited) this.#kill(r);
    }
  }

  /** The control connection is back: send again whatever was not acknowledged. */
  resend(): void {
    for (const r of this.#running.values()) for (const f of r.retained) this.#o.send(f);
  }

  #emit(r: Running, f: ExecOut): void {
    r.retained.push(f);
    this.#o.send(f);
  }

  #refuse(execId: string, code: string, message: string): void {
    const r = this.#track(execId);
    r.exited = true;
    this.#emit(r, {
      type: 'exec.exit',
      execId,
      seq: r.seq++,
      code: null,
      signal: null,
      timedOut: false,
      truncated: false,
      error: { code, message: message.slice(0, 1024) },
    });
  }

  #track(execId: string): Running {
    const r: Running = {
      execId,
      seq: 0,
      retained: [],
      outputBytes: 0,
      truncated: false,
      pid: undefined,
      exited: false,
      timer: undefined,
      killTimer: undefined,
      timedOut: false,
    };
    this.#running.set(execId, r);
    return r;
  }

  #start(m: ExecStartMsg): void {
    const o = this.#o;
    const now = o.clock.now();
    if (this.#running.has(m.execId)) return; // a re-delivered start: it is running or done already
    const check = verifyGrant(
      { channelId: m.execId, grant: m.grant, signature: m.signature },
      {
        gatewayKey: o.gatewayKey,
        serverId: o.serverId,
        now,
      },
    );
    if (!check.ok) return this.#refuse(m.execId, check.code, check.message);
    const grant = check.grant;
    for (const [id, exp] of this.#seen) if (exp <= now) this.#seen.delete(id);
    if (this.#seen.has(m.execId))
      return this.#refuse(m.execId, RejectCode.GRANT_REPLAYED, 'this command was already run');
    this.#seen.set(m.execId, grant.expiresAt);
    if (grant.kind !== 'exec' || !grant.command?.length) {
      return this.#refuse(m.execId, RejectCode.GRANT_MALFORMED, 'the grant is not for a command');
    }
    let passwd: string;
    try {
      passwd = o.readPasswd();
    } catch (err) {
      return this.#refuse(
        m.execId,
        RejectCode.OS_USER_UNKNOWN,
        `cannot read the user database: ${(err as Error).message}`,
      );
    }
    const who = resolveOsUser(grant.osUser, passwd, o.identity);
    if (!who.ok) return this.#refuse(m.execId, who.code, who.message);
    const plan = planLaunch({
      user: who.user,
      pty: false,
      command: grant.command,
      lang: o.lang,
      switchUser: who.switchUser,
      setprivPath: o.setprivPath,
      homeExists: o.homeExists(who.user.home),
    });
    const r = this.#track(m.execId);
    let child;
    try {
      child = o.spawner.spawnPipe(plan);
    } catch (err) {
      this.#running.delete(m.execId);
      return this.#refuse(m.execId, RejectCode.SPAWN_FAILED, `cannot start the command: ${(err as Error).message}`);
    }
    r.pid = child.pid;
    child.stdin.on('error', () => {});
    child.stdin.end();
    const onData = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      if (r.truncated) return;
      let data = d;
      if (r.outputBytes + data.length > EXEC_MAX_OUTPUT_BYTES) {
        data = data.subarray(0, EXEC_MAX_OUTPUT_BYTES - r.outputBytes);
        r.truncated = true;
      }
      r.outputBytes += data.length;
      for (let off = 0; off < data.length; off += EXEC_CHUNK_BYTES) {
        const piece = data.subarray(off, Math.min(data.length, off + EXEC_CHUNK_BYTES));
        this.#emit(r, { type: 'exec.output', execId: r.execId, seq: r.seq++, stream, data: piece.toString('base64') });
      }
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));
    r.timer = o.clock.setTimeout(() => {
      r.timedOut = true;
      this.#kill(r);
    }, m.timeoutMs);
    child.once('error', (err) => {
      if (r.exited) return;
      r.exited = true;
      this.#clear(r);
      this.#emit(r, {
        type: 'exec.exit',
        execId: r.execId,
        seq: r.seq++,
        code: null,
        signal: null,
        timedOut: false,
        truncated: r.truncated,
        error: { code: RejectCode.SPAWN_FAILED, message: err.message.slice(0, 1024) },
      });
    });
    child.once('close', (code, signal) => {
      if (r.exited) return;
      r.exited = true;
      this.#clear(r);
      this.#emit(r, {
        type: 'exec.exit',
        execId: r.execId,
        seq: r.seq++,
        code,
        signal: signalName(signal),
        timedOut: r.timedOut,
        truncated: r.truncated,
      });
    });
    o.logger.info('exec started', { exec: m.execId, user: who.user.name });
  }

  #kill(r: Running): void {
    signalGroup(r.pid, 'SIGTERM');
    r.killTimer ??= this.#o.clock.setTimeout(() => signalGroup(r.pid, 'SIGKILL'), 2000);
  }

  #clear(r: Running): void {
    if (r.timer !== undefined) this.#o.clock.clearTimeout(r.timer);
    if (r.killTimer !== undefined) this.#o.clock.clearTimeout(r.killTimer);
  }

  /** Agent shutdown: stop every command. */
  dispose(): void {
    for (const r of this.#running.values()) if (!r.exited) this.#kill(r);
  }
}
