import type { KeyObject } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CloseCode, type AgentToGateway } from '@corral/protocol';
import type { Clock } from '../clock.js';
import type { ChannelOpenMessage } from '../control-connection.js';
import { RejectCode } from '../errors.js';
import { verifyGrant } from '../grant-verify.js';
import type { Logger } from '../logger.js';
import type { ChannelSocketFactory } from '../socket-factory.js';
import { wsUrl } from '../urls.js';
import { closeAndWait, closeSocket, sendControl } from './channel-frames.js';
import { ChannelRegistry } from './channel-registry.js';
import { planLaunch, type LaunchPlan } from './launch-plan.js';
import { deferred, type LiveChannel } from './live-channel.js';
import { resolveOsUser, type AgentIdentity } from './os-user.js';
import { runPipeChannel } from './pipe-channel.js';
import { runPtyChannel } from './pty-channel.js';
import { PtySession } from './pty-session.js';
import { runTunnelChannel } from './tunnel-channel.js';
import { runFilesChannel } from '../files/files-channel.js';
import type { OsUser } from './passwd.js';
import type { ProcessSpawner } from './spawner.js';

/** A `channel.reject` frame. */
export type ChannelRejectMessage = Extract<AgentToGateway, { type: 'channel.reject' }>;

/** Everything the manager needs; the outside world is injected. */
export interface ChannelManagerOptions {
  /** Gateway base URL (https; http only in tests). */
  /** Base URL of the gateway node to dial channels on (the control connection's node). */
  gatewayUrl: () => string;
  /** This agent's server id (grants for others are refused). */
  serverId: string;
  /** The pinned gateway grant-signing key. */
  gatewayKey: KeyObject;
  connect: ChannelSocketFactory;
  spawner: ProcessSpawner;
  /** Contents of /etc/passwd, read at each open (accounts come and go). */
  readPasswd: () => string;
  homeExists: (path: string) => boolean;
  identity: AgentIdentity;
  /** See LaunchInput.setprivPath. */
  setprivPath?: string;
  /** The agent's LANG, passed on to sessions. */
  lang?: string;
  clock: Clock;
  logger: Logger;
  /** Send a `channel.reject` on the control connection. */
  reject: (message: ChannelRejectMessage) => void;
  /** SIGHUP -> SIGKILL grace, in ms. */
  killGraceMs?: number;
  /** How to start the file helper (argv without the user switch), e.g. [node, agent.js, '_files-helper']. */
  filesHelper?: { file: string; args: string[] };
  /** Where the shell integration scripts are (see shell-integration.ts); undefined: not installed. */
  shellIntegrationDir?: () => string | undefined;
}

/**
 * Serves `channel.open`: verifies the grant, picks the OS account, dials the channel socket and,
 * once it is open, starts the process and hands both to the pty or pipe runner. Refusals go back as
 * `channel.reject` and nothing else happens. All channels live in a registry for shutdown.
 *
 *   channel.open -> verifyGrant -> replay check -> kind -> OS user -> plan
 *        -> dial /api/v1/channels/<id>?token=T -> open -> spawn -> runPtyChannel | runPipeChannel
 */
export class ChannelManager {
  readonly #o: ChannelManagerOptions;
  readonly #registry = new ChannelRegistry();
  /** Channel ids already served, kept until their grant expires: a replayed open is refused. */
  readonly #seen = new Map<string, number>();
  /** Persistent terminals by websh session id, attached or detached, until their process is gone. */
  readonly #sessions = new Map<string, PtySession>();
  #disposed = false;

  constructor(options: ChannelManagerOptions) {
    this.#o = options;
  }

  /** Live channels (dialing or running). */
  get size(): number {
    return this.#registry.size;
  }

  /** Persistent terminals held (attached or detached). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Hang up the terminal kept for a websh session (the gateway's `session.close`). */
  closeSession(sessionId: string, reason: string): void {
    const s = this.#sessions.get(sessionId);
    if (!s) return;
    this.#o.logger.info('terminal closed by the gateway', { session: sessionId, reason });
    s.hangUp();
  }

  /** Terminals kept for re-attach with no channel now. */
  get detachedCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.detached) n++;
    return n;
  }

  /** Handle one `channel.open`. Never throws. */
  open(msg: ChannelOpenMessage): void {
    const o = this.#o;
    const reject = (code: string, message: string): void => {
      o.logger.warn('channel rejected', { channel: msg.channelId, code, message });
      o.reject({ type: 'channel.reject', channelId: msg.channelId, code, message: message.slice(0, 1024) });
    };
    if (this.#disposed) return reject(RejectCode.SPAWN_FAILED, 'the agent is shutting down');
    const now = o.clock.now();
    const check = verifyGrant(msg, { gatewayKey: o.gatewayKey, serverId: o.serverId, now });
    if (!check.ok) return reject(check.code, check.message);
    const grant = check.grant;

    for (const [id, expiresAt] of this.#seen) if (expiresAt <= now) this.#seen.delete(id);
    if (this.#seen.has(grant.channelId) || this.#registry.has(grant.channelId)) {
      return reject(RejectCode.GRANT_REPLAYED, 'this channel was already opened');
    }
    this.#seen.set(grant.channelId, grant.expiresAt);

    if (grant.kind === 'tunnel') return this.#openTunnel(msg, grant.command ?? [], reject);
    if (grant.kind === 'pty' && grant.session?.attach)
      return this.#openAttach(msg, grant.session.id, grant.osUser, reject);
    if (grant.kind !== 'pty' && !(grant.kind === 'files' && o.filesHelper))
      return reject(RejectCode.CHANNEL_KIND_UNSUPPORTED, `this agent does not serve "${grant.kind}" channels yet`);

    let passwd: string;
    try {
      passwd = o.readPasswd();
    } catch (err) {
      return reject(RejectCode.OS_USER_UNKNOWN, `cannot read the user database: ${(err as Error).message}`);
    }
    const who = resolveOsUser(grant.osUser, passwd, o.identity);
    if (!who.ok) return reject(who.code, who.message);

    const plan =
      grant.kind === 'files'
        ? planFilesHelper(o.filesHelper!, who.user, who.switchUser, o.setprivPath, o.lang, o.homeExists(who.user.home))
        : planLaunch({
            user: who.user,
            pty: msg.pty,
            command: grant.command,
            term: msg.ptyParams?.term,
            lang: o.lang,
            switchUser: who.switchUser,
            setprivPath: o.setprivPath,
            homeExists: o.homeExists(who.user.home),
            shellMarks: shellMarksOf(msg, o.shellIntegrationDir?.()),
          });

    let ws: WebSocket;
    try {
      ws = o.connect(
        wsUrl(o.gatewayUrl(), `/api/v1/channels/${encodeURIComponent(msg.channelId)}`, { token: msg.token }),
      );
    } catch (err) {
      return reject(RejectCode.CHANNEL_CONNECT_FAILED, (err as Error).message);
    }
    o.logger.info('channel open', { channel: msg.channelId, user: who.user.name, mode: msg.pty ? 'pty' : 'pipe' });
    const persist = grant.kind === 'pty' && msg.pty && !grant.command ? grant.session : undefined;
    this.#registry.add(this.#track(msg, ws, plan, reject, grant.kind === 'files', persist));
  }

  /** Re-attach a new channel socket to a terminal this agent keeps for the session. */
  #openAttach(
    msg: ChannelOpenMessage,
    sessionId: string,
    osUser: string,
    reject: (code: string, message: string) => void,
  ): void {
    const session = this.#sessions.get(sessionId);
    if (!session || session.exited || session.osUser !== osUser) {
      return reject(RejectCode.SESSION_GONE, 'the terminal is no longer kept on this server (it ended or timed out)');
    }
    this.#o.logger.info('channel re-attach', { channel: msg.channelId, session: sessionId });
    this.#dial(msg, reject, (ws) => {
      if (session.exited) {
        sendControl(ws, { type: 'error', code: RejectCode.SESSION_GONE, message: 'the terminal ended meanwhile' });
        closeSocket(ws, CloseCode.NOT_FOUND, 'session gone');
        return undefined;
      }
      return session.attach(ws, msg.channelId, true, msg.ptyParams);
    });
  }

  /** A port-forwarding channel: the signed grant's command is [host, port]; no process, no OS user. */
  #openTunnel(
    msg: ChannelOpenMessage,
    words: readonly string[],
    reject: (code: string, message: string) => void,
  ): void {
    const o = this.#o;
    const [host, portText] = words;
    const port = Number(portText);
    if (words.length !== 2 || !host || !Number.isInteger(port) || port < 1 || port > 65535) {
      return reject(RejectCode.GRANT_MALFORMED, 'a tunnel grant names [host, port]');
    }
    o.logger.info('tunnel open', { channel: msg.channelId, target: `${host}:${port}` });
    this.#dial(msg, reject, (ws) =>
      runTunnelChannel(ws, { host, port }, { channelId: msg.channelId, clock: o.clock, logger: o.logger }),
    );
  }

  /**
   * Dial the channel socket and, once it is open, hand it to `start` (which may decline with undefined);
   * the channel is in the registry from the dial until it is done.
   */
  #dial(
    msg: ChannelOpenMessage,
    reject: (code: string, message: string) => void,
    start: (ws: WebSocket) => LiveChannel | undefined,
  ): void {
    const o = this.#o;
    let ws: WebSocket;
    try {
      ws = o.connect(
        wsUrl(o.gatewayUrl(), `/api/v1/channels/${encodeURIComponent(msg.channelId)}`, { token: msg.token }),
      );
    } catch (err) {
      return reject(RejectCode.CHANNEL_CONNECT_FAILED, (err as Error).message);
    }
    const finished = deferred();
    let running: LiveChannel | undefined;
    let declined = false;
    ws.on('error', (err) => {
      if (!running) o.logger.warn('channel socket error', { channel: msg.channelId, error: err.message });
    });
    ws.once('close', (code) => {
      if (running || declined) return;
      reject(RejectCode.CHANNEL_CONNECT_FAILED, `channel socket closed before it opened (code ${code})`);
      finished.resolve();
    });
    ws.once('open', () => {
      running = start(ws);
      if (running) return void running.done.then(() => finished.resolve());
      declined = true;
      finished.resolve();
    });
    this.#registry.add({
      channelId: msg.channelId,
      done: finished.promise,
      dispose: async () => {
        if (running) return running.dispose();
        await closeAndWait(ws, o.clock);
        finished.resolve();
      },
    });
  }

  /** End every channel (newest first) and refuse new ones. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    for (const s of this.#sessions.values()) s.hangUp();
    await this.#registry.disposeAll();
  }

  /** The registry entry for one channel: dialing, then running, then done. */
  #track(
    msg: ChannelOpenMessage,
    ws: WebSocket,
    plan: LaunchPlan,
    reject: (code: string, message: string) => void,
    files = false,
    persist?: { id: string; persistSeconds: number },
  ): LiveChannel {
    const o = this.#o;
    const finished = deferred();
    let running: LiveChannel | undefined;
    let ended = false;
    const end = (): void => {
      ended = true;
      finished.resolve();
    };

    ws.on('error', (err) => {
      if (!running) o.logger.warn('channel socket error', { channel: msg.channelId, error: err.message });
    });
    ws.once('close', (code) => {
      if (running || ended) return;
      reject(RejectCode.CHANNEL_CONNECT_FAILED, `channel socket closed before it opened (code ${code})`);
      end();
    });
    ws.once('open', () => {
      if (ended) return;
      const run = { channelId: msg.channelId, clock: o.clock, logger: o.logger, killGraceMs: o.killGraceMs };
      try {
        running = files
          ? runFilesChannel(ws, o.spawner.spawnPipe(plan), run)
          : msg.pty && persist
            ? this.#startSession(ws, msg, plan, persist)
            : msg.pty
              ? runPtyChannel(
                  ws,
                  o.spawner.spawnPty(plan, {
                    cols: msg.ptyParams?.cols ?? 80,
                    rows: msg.ptyParams?.rows ?? 24,
                    term: plan.env.TERM ?? 'xterm-256color',
                  }),
                  run,
                )
              : runPipeChannel(ws, o.spawner.spawnPipe(plan), run);
      } catch (err) {
        const message = `cannot start the process: ${(err as Error).message}`;
        sendControl(ws, { type: 'error', code: RejectCode.SPAWN_FAILED, message });
        closeSocket(ws, CloseCode.INTERNAL, 'spawn failed');
        reject(RejectCode.SPAWN_FAILED, message);
        end();
        return;
      }
      void running.done.then(end);
    });

    return {
      channelId: msg.channelId,
      done: finished.promise,
      dispose: async () => {
        if (running) return running.dispose();
        if (!ended) {
          ended = true;
          await closeAndWait(ws, o.clock);
          finished.resolve();
        }
      },
    };
  }

  /** A terminal that may outlive its channel (persistent websh session). */
  #startSession(
    ws: WebSocket,
    msg: ChannelOpenMessage,
    plan: LaunchPlan,
    persist: { id: string; persistSeconds: number },
  ): LiveChannel {
    const o = this.#o;
    const size = { cols: msg.ptyParams?.cols ?? 80, rows: msg.ptyParams?.rows ?? 24 };
    const proc = o.spawner.spawnPty(plan, { ...size, term: plan.env.TERM ?? 'xterm-256color' });
    const session = new PtySession(proc, size, {
      sessionId: persist.id,
      osUser: msg.grant.osUser,
      persistMs: persist.persistSeconds * 1000,
      clock: o.clock,
      logger: o.logger,
      ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
      onGone: () => {
        if (this.#sessions.get(persist.id) === session) this.#sessions.delete(persist.id);
      },
    });
    this.#sessions.get(persist.id)?.hangUp();
    this.#sessions.set(persist.id, session);
    return session.attach(ws, msg.channelId, false);
  }
}

/** The integration for an interactive shell: the gateway asked for it (with a nonce) and it is installed. */
function shellMarksOf(msg: ChannelOpenMessage, dir: string | undefined): { dir: string; nonce: string } | undefined {
  return msg.pty && msg.shellMarks && dir ? { dir, nonce: msg.shellMarks.nonce } : undefined;
}

/** The file helper as `user`: switched with setpriv (groups included) when the agent is root. */
function planFilesHelper(
  helper: { file: string; args: string[] },
  user: OsUser,
  switchUser: boolean,
  setprivPath: string | undefined,
  lang: string | undefined,
  homeExists: boolean,
): LaunchPlan {
  const env: Record<string, string> = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    PATH: '/usr/local/bin:/usr/bin:/bin',
    ...(lang ? { LANG: lang } : {}),
  };
  const cwd = homeExists ? user.home : '/';
  if (!switchUser) return { file: helper.file, args: helper.args, cwd, env };
  if (setprivPath) {
    return {
      file: setprivPath,
      args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', helper.file, ...helper.args],
      cwd,
      env,
    };
  }
  return { file: helper.file, args: helper.args, cwd, env, uid: user.uid, gid: user.gid };
}
