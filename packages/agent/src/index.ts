/**
 * corral-agent as a library: everything needed to host an agent in-process (tests, benchmarks)
 * or to reuse its parts.
 *
 *   import { Agent, defaultAgentDeps, parseAgentConfig } from '@corral/agent';
 *   const config = parseAgentConfig(json);
 *   const agent = new Agent(config, defaultAgentDeps(config, { logger: silentLogger }));
 *   agent.start(); ... await agent.stop();
 */
export { Agent, defaultAgentDeps, type AgentDeps } from './agent.js';
export { AgentConfig, parseAgentConfig, loadAgentConfig, writeAgentConfig, defaultConfigPath } from './config.js';
export { registerAgent, fetchAndPinCa, sanitiseServerName, parseTags, type RegisterOptions } from './register.js';
export { httpsGatewayHttp, type GatewayHttp, type TlsTrust } from './gateway-http.js';
export {
  ControlConnection,
  DEAD_AFTER_MS,
  type ControlConnectionOptions,
  type ChannelOpenMessage,
  type WelcomeMessage,
} from './control-connection.js';
export { controlTransition, type ControlState, type ControlEvent } from './control-state.js';
export { verifyGrant, type GrantCheck, type GrantContext, type GrantRejectCode } from './grant-verify.js';
export { generateAgentKeyPair, loadEd25519Key, signChallenge } from './agent-keys.js';
export { certFingerprint, fingerprintsEqual, normaliseFingerprint } from './fingerprint.js';
export { collectSystemInfo, parseOsRelease, AGENT_VERSION } from './sysinfo.js';
export {
  MetricsCollector,
  parseProcStat,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  realFilesystems,
  cpuPercent,
  diskUsage,
  LOCAL_FS_TYPES,
  type MetricsSources,
  type CpuTimes,
  type MemInfo,
  type MountEntry,
  type StatFs,
} from './metrics.js';
export {
  MetricsReporter,
  DEFAULT_METRICS_INTERVAL_MS,
  MIN_METRICS_INTERVAL_MS,
  MAX_METRICS_INTERVAL_MS,
  type MetricsReporterOptions,
} from './metrics-reporter.js';
export {
  createSocketFactories,
  agentSocketOptions,
  type ControlSocket,
  type ControlSocketFactory,
  type ChannelSocketFactory,
} from './socket-factory.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { createLogger, silentLogger, type Logger, type LogFields } from './logger.js';
export { AgentError, AgentErrorCode, RejectCode } from './errors.js';
export { normaliseGatewayUrl, wsUrl, httpUrl } from './urls.js';
export { ChannelManager, type ChannelManagerOptions, type ChannelRejectMessage } from './channels/channel-manager.js';
export { ChannelRegistry } from './channels/channel-registry.js';
export { runPtyChannel, type ChannelRunOptions } from './channels/pty-channel.js';
export { runPipeChannel } from './channels/pipe-channel.js';
export { spawnPty, PTY_DRAIN_IDLE_MS, type PtyProcess, type PtySize, type ExitStatus } from './channels/pty-process.js';
export { createProcessSpawner, findSetpriv, type ProcessSpawner } from './channels/spawner.js';
export { planLaunch, type LaunchPlan, type LaunchInput } from './channels/launch-plan.js';
export { parsePasswd, lookupUser, type OsUser } from './channels/passwd.js';
export { resolveOsUser, type AgentIdentity, type OsUserResolution } from './channels/os-user.js';
export {
  OutputPump,
  STDERR_CHUNK_BYTES,
  MAX_OUTPUT_FRAME_BYTES,
  type FrameSink,
  type FlowSource,
} from './channels/output-pump.js';
export { FdWriter } from './channels/fd-writer.js';
export type { LiveChannel } from './channels/live-channel.js';
export { FakeClock } from './testing/fake-clock.js';
