import { fileURLToPath } from 'node:url';
import { isSea } from 'node:sea';
import { ExecRunner } from './exec/exec-runner.js';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { SystemInfo } from '@corral/protocol';
import { loadEd25519Key } from './agent-keys.js';
import { ChannelManager } from './channels/channel-manager.js';
import type { AgentIdentity } from './channels/os-user.js';
import { installShellIntegration, type ShellIntegration } from './channels/shell-integration.js';
import { createProcessSpawner, findSetpriv, type ProcessSpawner } from './channels/spawner.js';
import { systemClock, type Clock } from './clock.js';
import type { AgentConfig } from './config.js';
import { ControlConnection, type UpgradeFrame } from './control-connection.js';
import type { ControlState } from './control-state.js';
import { createLogger, type Logger } from './logger.js';
import { MetricsCollector, type MetricsSources } from './metrics.js';
import { DEFAULT_METRICS_INTERVAL_MS, MetricsReporter } from './metrics-reporter.js';
import {
  createSocketFactories,
  type ChannelSocketFactory,
  type ControlSocketFactory,
  type ProxySettings,
} from './socket-factory.js';
import { collectSystemInfo } from './sysinfo.js';
import { wsUrl } from './urls.js';

/** The outside world of an agent. {@link defaultAgentDeps} gives the real one; tests swap parts. */
export interface AgentDeps {
  clock: Clock;
  /** Uniform in [0, 1), for backoff jitter. */
  random: () => number;
  logger: Logger;
  connectControl: ControlSocketFactory;
  connectChannel: ChannelSocketFactory;
  spawner: ProcessSpawner;
  readPasswd: () => string;
  homeExists: (path: string) => boolean;
  /** Who the agent runs as (decides whether it may switch users). */
  identity: AgentIdentity;
  systemInfo: () => SystemInfo;
  /** util-linux setpriv, when installed. */
  setprivPath?: string;
  /** LANG to pass to sessions. */
  lang?: string;
  /** SIGHUP -> SIGKILL grace for abandoned sessions, in ms. Default 2000. */
  killGraceMs?: number;
  /** How to start the file helper (file channels); absent: file channels are refused. */
  filesHelper?: { file: string; args: string[] };
  /**
   * Installs the shell integration scripts (bash, zsh, sh) at start; absent: shells start without it
   * and the agent does not announce the `shell-marks` capability.
   */
  installShellIntegration?: () => ShellIntegration;
  /** Time between two `metrics` frames, in ms; 0 sends none. Default 15 000. */
  metricsIntervalMs?: number;
  /** Where metrics are read from (default: /proc, statfs and `os`). */
  metricsSources?: Partial<MetricsSources>;
  /** Self-upgrade (single executable only); absent: the agent does not announce the capability. */
  upgrades?: {
    onWelcome: () => void;
    handle: (m: UpgradeFrame) => Promise<void>;
  };
}

/**
 * V8 flags for the file helper. A file streams through it as a stream of large buffers; queued ones
 * outlive a few scavenges, get promoted, and with V8's default old-space limit for a heap this small
 * (about twice the ~10 MB it keeps) each few MB promoted set off a full mark-compact. Starting the
 * old-space limit at 64 MB makes those rare: 13-15% less helper CPU per GiB, either way, measured
 * (docs/BENCHMARKS.md); the helper's RSS does not grow, since the buffers die in scavenges.
 */
export const FILES_HELPER_NODE_FLAGS = ['--initial-old-space-size=64'];

/**
 * The real dependencies for `config`: sockets that trust only the pinned CA (TLS 1.3), node-pty and
 * child_process, /etc/passwd, the system clock, Math.random, a stderr logger.
 */
export function defaultAgentDeps(
  config: Pick<AgentConfig, 'caPem'>,
  overrides: Partial<AgentDeps> = {},
  proxy?: ProxySettings,
): AgentDeps {
  const clock = overrides.clock ?? systemClock;
  const sockets = createSocketFactories(config.caPem, proxy);
  const me = userInfo();
  return {
    clock,
    random: Math.random,
    logger: createLogger(),
    connectControl: sockets.control,
    connectChannel: sockets.channel,
    spawner: createProcessSpawner(clock),
    readPasswd: () => readFileSync('/etc/passwd', 'utf8'),
    homeExists: (p) => existsSync(p),
    identity: { uid: me.uid, username: me.username },
    systemInfo: () => collectSystemInfo(),
    setprivPath: findSetpriv(),
    filesHelper: filesHelperCommand(),
    installShellIntegration: () => installShellIntegration(),
    ...overrides,
  };
}

/**
 * How to start the file helper: the tiny entry beside this module when run from sources; the single
 * executable itself with `_files-helper` when bundled (there `import.meta.url` does not exist).
 */
function filesHelperCommand(): { file: string; args: string[] } {
  if (isSea()) return { file: process.execPath, args: ['_files-helper'] };
  return {
    file: process.execPath,
    args: [...FILES_HELPER_NODE_FLAGS, fileURLToPath(new URL('./files/helper-bin.js', import.meta.url))],
  };
}

/**
 * One agent: the control connection, the channels it opens and the metrics it reports. Start order:
 * channels, control (metrics start with each welcome from a protocol-2 gateway and stop when the
 * connection drops); stop order: metrics, control (no new channels), then channels newest first.
 *
 *   const agent = new Agent(config, defaultAgentDeps(config));
 *   agent.start();
 *   ...
 *   await agent.stop();
 */
export class Agent {
  readonly #control: ControlConnection;
  readonly #channels: ChannelManager;
  readonly #exec: ExecRunner;
  readonly #metrics: MetricsReporter | undefined;
  readonly #deps: AgentDeps;
  #shell: ShellIntegration | undefined;
  #stopping: Promise<void> | undefined;

  constructor(config: Readonly<AgentConfig>, deps: AgentDeps) {
    this.#deps = deps;
    const privateKey = loadEd25519Key(config.privateKeyPem, 'private', 'privateKeyPem');
    const gatewayKey = loadEd25519Key(config.gatewaySigningKeyPem, 'public', 'gatewaySigningKeyPem');
    const baseUrls = [config.gatewayUrl, ...(config.gatewayUrls ?? [])];
    this.#channels = new ChannelManager({
      // Channels dial the node the control connection is on.
      gatewayUrl: () => baseUrls[this.#control.urlIndex] ?? config.gatewayUrl,
      serverId: config.serverId,
      gatewayKey,
      connect: deps.connectChannel,
      spawner: deps.spawner,
      readPasswd: deps.readPasswd,
      homeExists: deps.homeExists,
      identity: deps.identity,
      setprivPath: deps.setprivPath,
      lang: deps.lang,
      clock: deps.clock,
      logger: deps.logger,
      killGraceMs: deps.killGraceMs,
      ...(deps.filesHelper ? { filesHelper: deps.filesHelper } : {}),
      shellIntegrationDir: () => this.#shell?.dir,
      reject: (m) => {
        if (!this.#control.send(m))
          deps.logger.warn('channel.reject not sent: control connection is down', { channel: m.channelId });
      },
    });
    this.#exec = new ExecRunner({
      serverId: config.serverId,
      gatewayKey,
      spawner: deps.spawner,
      readPasswd: deps.readPasswd,
      homeExists: deps.homeExists,
      identity: deps.identity,
      setprivPath: deps.setprivPath,
      lang: deps.lang,
      clock: deps.clock,
      logger: deps.logger,
      send: (m) => this.#control.send(m),
    });
    const metricsIntervalMs = deps.metricsIntervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
    this.#metrics =
      metricsIntervalMs > 0
        ? new MetricsReporter({
            collector: new MetricsCollector({
              logger: deps.logger,
              clock: deps.clock,
              ...(deps.metricsSources ? { sources: deps.metricsSources } : {}),
            }),
            send: (m) => this.#control.send(m),
            clock: deps.clock,
            logger: deps.logger,
            intervalMs: metricsIntervalMs,
          })
        : undefined;
    this.#control = new ControlConnection({
      url: wsUrl(config.gatewayUrl, '/api/v1/agent/connect'),
      fallbackUrls: (config.gatewayUrls ?? []).map((u) => wsUrl(u, '/api/v1/agent/connect')),
      agentId: config.agentId,
      privateKey,
      systemInfo: deps.systemInfo,
      connect: deps.connectControl,
      clock: deps.clock,
      random: deps.random,
      logger: deps.logger,
      onChannelOpen: (m) => this.#channels.open(m),
      capabilities: () => (this.#shell ? ['shell-marks'] : []),
      onSessionClose: (id, reason) => this.#channels.closeSession(id, reason),
      onExec: (m) => this.#exec.handle(m),
      ...(deps.upgrades
        ? {
            onUpgrade: (m: UpgradeFrame) => {
              deps.upgrades
                ?.handle(m)
                .catch((err: unknown) => deps.logger.error('upgrade failed', { error: (err as Error).message }));
            },
          }
        : {}),
      onWelcome: (w) => {
        deps.upgrades?.onWelcome();
        if (w.serverId !== config.serverId) {
          deps.logger.warn('gateway names another server id than the config', {
            config: config.serverId,
            gateway: w.serverId,
          });
        }
        // A protocol-1 gateway does not know `metrics` and would close the connection over it.
        if (w.protocolVersion >= 2) this.#metrics?.start();
        // Output the gateway may have missed while we were away.
        if (w.protocolVersion >= 2) this.#exec.resend();
      },
      onStateChange: (state) => {
        if (state !== 'connected') this.#metrics?.stop();
      },
    });
  }

  /** Send a frame to the gateway; false when not connected. */
  send(message: Parameters<ControlConnection['send']>[0]): boolean {
    return this.#control.send(message);
  }

  /** The control connection's state. */
  get state(): ControlState {
    return this.#control.state;
  }

  /** Whether `metrics` frames are being sent (connected to a protocol-2 gateway, metrics not disabled). */
  get reportingMetrics(): boolean {
    return this.#metrics?.running ?? false;
  }

  /** Live channels. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Connect to the gateway (and keep reconnecting). */
  start(): void {
    if (this.#deps.installShellIntegration && !this.#shell && !this.#stopping) {
      try {
        this.#shell = this.#deps.installShellIntegration();
      } catch (err) {
        // Shells then start as before and the gateway reconstructs commands from keystrokes.
        this.#deps.logger.warn('shell integration not installed', { error: (err as Error).message });
      }
    }
    this.#control.start();
  }

  /** Close the control socket with 1001, end every channel, wait for their processes. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#metrics?.stop();
      await this.#control.stop();
      this.#exec.dispose();
      await this.#channels.dispose();
      this.#shell?.dispose();
      this.#shell = undefined;
      this.#deps.logger.info('stopped');
    })();
    return this.#stopping;
  }
}
