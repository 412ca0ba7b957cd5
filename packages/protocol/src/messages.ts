import { z } from 'zod';
import { Grant } from './grant.js';
import { AGENT_VERSION_RE, ARTIFACT_PLATFORM_RE } from './artifacts.js';

/** System facts an agent reports in `hello`. */
export const SystemInfo = z.strictObject({
  hostname: z.string().max(255),
  osName: z.string().max(128),
  osVersion: z.string().max(128),
  kernel: z.string().max(255),
  arch: z.string().max(32),
  cpuCount: z.number().int().nonnegative(),
  memoryBytes: z.number().nonnegative(),
  addresses: z.array(z.string().max(64)).max(64),
  agentVersion: z.string().max(64),
  /** The OS account the agent runs as: the default for websh's -u. */
  agentUser: z.string().max(64).optional(),
  /** Distribution id: ubuntu, debian, rhel, centos, rocky, alpine, amzn, macos, windows, ... */
  osId: z.string().max(32).optional(),
  /** `<os>-<arch>` of the agent's executable (linux-x64, darwin-arm64, ...): which artifact it upgrades to. */
  platform: z.string().max(32).optional(),
});
export type SystemInfo = z.infer<typeof SystemInfo>;

// ---------------------------------------------------------------------------------------------
// Agent control connection (/api/v1/agent/connect). JSON text frames only.
//
//   agent                          gateway
//     | -- hello {version,agentId} -> |
//     | <- challenge {nonce} -------- |
//     | -- auth {signature} --------> |
//     | <- welcome {serverId,...} --- |   (or close 4401/4003)
//     | <-> ping/pong, channel.open, channel.reject, info
//     | -- metrics {...} -----------> |   (protocol 2+: every 15 s)
// ---------------------------------------------------------------------------------------------

/** What an agent can do beyond protocol 1's core; the gateway sends optional frames only to agents that say so. */
export const AgentCapability = z.enum(['upgrade', 'persist', 'shell-marks']);
export type AgentCapability = z.infer<typeof AgentCapability>;

export const Hello = z.strictObject({
  type: z.literal('hello'),
  protocolVersion: z.number().int().positive(),
  agentId: z.string().min(1).max(64),
  system: SystemInfo,
  /** Optional features; absent from agents that have none (the gateway then never sends them). */
  capabilities: z.array(z.string().max(32)).max(32).optional(),
});

export const Challenge = z.strictObject({
  type: z.literal('challenge'),
  /** base64url random bytes, single use. */
  nonce: z.string().min(16).max(128),
});

export const Auth = z.strictObject({
  type: z.literal('auth'),
  /** base64 Ed25519 signature over agentAuthSigningString(agentId, nonce). */
  signature: z.string().min(1).max(256),
});

export const Welcome = z.strictObject({
  type: z.literal('welcome'),
  serverId: z.string(),
  serverName: z.string(),
  /** How often the agent should ping, in ms. */
  pingIntervalMs: z.number().int().positive(),
  /** The gateway's protocol version. */
  protocolVersion: z.number().int().positive(),
});

export const Ping = z.strictObject({ type: z.literal('ping'), ts: z.number() });
export const Pong = z.strictObject({ type: z.literal('pong'), ts: z.number() });

/** Terminal parameters for a pty channel. */
export const PtyParams = z.strictObject({
  cols: z.number().int().min(1).max(1000),
  rows: z.number().int().min(1).max(1000),
  term: z.string().max(64).optional(),
});

/** A shell-mark nonce: base64url, 16 to 64 characters (the gateway sends 22: 128 random bits). */
export const SHELL_MARK_NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;

export const ChannelOpen = z.strictObject({
  type: z.literal('channel.open'),
  channelId: z.string().min(1).max(64),
  /** One-time token for the agent's side of /api/v1/channels/<id>. */
  token: z.string().min(16).max(128),
  grant: Grant,
  /** base64 Ed25519 signature over grantSigningString(grant). */
  signature: z.string().max(256),
  /** true: run in a pty (terminal); false: plain pipes, stderr kept apart (like `ssh host cmd`). */
  pty: z.boolean(),
  ptyParams: PtyParams.optional(),
  /**
   * Interactive shells only, and only to agents that announced the `shell-marks` capability: start the
   * shell with Corral's integration, whose OSC 133 marks carry this nonce (see docs/PROTOCOL.md).
   */
  shellMarks: z.strictObject({ nonce: z.string().regex(SHELL_MARK_NONCE_RE) }).optional(),
});

export const ChannelReject = z.strictObject({
  type: z.literal('channel.reject'),
  channelId: z.string().min(1).max(64),
  code: z.string().max(64),
  message: z.string().max(1024),
});

/**
 * Gateway -> agent, only to agents with the `upgrade` capability: fetch this artifact from the gateway
 * (`path`, over the pinned CA), check size, SHA-256 and the Ed25519 signature against the artifact key
 * pinned at registration, swap it in and restart; roll back unless the new version reconnects in time.
 */
export const Upgrade = z.strictObject({
  type: z.literal('upgrade'),
  /** Id of this request, echoed in `upgrade.result`. */
  upgradeId: z.string().min(1).max(64),
  platform: z.string().regex(ARTIFACT_PLATFORM_RE),
  version: z.string().regex(AGENT_VERSION_RE),
  /** Path on the gateway, e.g. /api/v1/agent/artifacts/linux-x64. */
  path: z.string().regex(/^\/api\/v1\/agent\/artifacts\/[a-z0-9-]+$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
  /** base64 Ed25519 signature over artifactSigningString(...). */
  signature: z.string().min(1).max(256),
});

/** Agent -> gateway: how an upgrade ended (sent after the next welcome, by whichever version runs then). */
export const UpgradeResult = z.strictObject({
  type: z.literal('upgrade.result'),
  upgradeId: z.string().min(1).max(64),
  /** completed: the new version connected; rolled_back: it did not, the old one is back; failed: nothing swapped. */
  outcome: z.enum(['completed', 'rolled_back', 'failed']),
  fromVersion: z.string().max(64),
  toVersion: z.string().max(64),
  reason: z.string().max(1024).optional(),
});

/** Updated system facts after the connection is up. */
export const Info = z.strictObject({ type: z.literal('info'), system: SystemInfo });

/** At most this many mounts in one `metrics` frame (a host with more reports its first 64). */
export const MAX_METRIC_DISKS = 64;

/** A byte count or counter: a whole number in [0, 2^53). */
const Bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** A finite, non-negative measurement (zod 4 numbers are finite already; the bound keeps sums finite too). */
const Gauge = z.number().nonnegative().max(1e12);

/** Space on one mounted file system, as `df` shows it. */
export const DiskUsage = z.strictObject({
  /** Mount point, e.g. `/` or `/var/lib/postgresql`. */
  mount: z.string().min(1).max(512),
  /** File system type, e.g. `ext4`, `xfs`. */
  fsType: z.string().max(64).optional(),
  /** Bytes in use (size minus free blocks). */
  used: Bytes,
  /** Size of the file system in bytes. */
  total: Bytes,
  /**
   * Bytes an unprivileged user may still write (blocks reserved for root excluded). With it, the use
   * percentage is `used / (used + avail)`, as `df` computes it; without it, `used / total`.
   */
  avail: Bytes.optional(),
});
export type DiskUsage = z.infer<typeof DiskUsage>;

/**
 * One health sample, sent by the agent every 15 s (protocol 2+). Network counters are cumulative since
 * boot: the gateway turns the difference between two samples into bytes per second.
 */
export const Metrics = z.strictObject({
  type: z.literal('metrics'),
  /** When the agent took the sample (the agent's clock; the gateway stores its own receive time). */
  at: z.iso.datetime(),
  /** CPU busy share over the last interval, all cores together, 0..100. */
  cpuPct: z.number().min(0).max(100),
  /** Memory in use (total minus available), bytes. */
  memUsed: Bytes,
  memTotal: Bytes,
  swapUsed: Bytes.optional(),
  swapTotal: Bytes.optional(),
  /** Load average over 1, 5 and 15 minutes. */
  load: z.tuple([Gauge, Gauge, Gauge]),
  disks: z.array(DiskUsage).max(MAX_METRIC_DISKS),
  /** Bytes received and sent on all interfaces but `lo`, cumulative; absent where the agent cannot read them. */
  net: z.strictObject({ rxBytes: Bytes, txBytes: Bytes }).optional(),
});
export type Metrics = z.infer<typeof Metrics>;

// --- exec (multi-server commands), protocol 2 -------------------------------------------------------

/** One server's part of an exec job: `<jobId>-<n>`. */
export const ExecId = z.string().regex(/^exj_[A-Za-z0-9_-]{1,40}\.\d{1,6}$/);
/** Largest output piece in one frame, before base64. */
export const EXEC_CHUNK_BYTES = 32 * 1024;
/** Output kept and forwarded per server; past it the rest is dropped and `truncated` is set. */
export const EXEC_MAX_OUTPUT_BYTES = 1024 * 1024;

/** Run a command (the grant, kind `exec`, carries it and the OS user) in pipes; output comes back seq-numbered. */
export const ExecStart = z.strictObject({
  type: z.literal('exec.start'),
  execId: ExecId,
  grant: Grant,
  signature: z.string().max(256),
  /** Kill the command's process group after this long. */
  timeoutMs: z
    .number()
    .int()
    .min(1000)
    .max(24 * 3600_000),
});
/** Stop a running command (SIGTERM to its group, SIGKILL 2 s later). */
export const ExecCancel = z.strictObject({ type: z.literal('exec.cancel'), execId: ExecId });
/** The gateway has the command's exit and everything before it: the agent may forget it. */
export const ExecAck = z.strictObject({ type: z.literal('exec.ack'), execId: ExecId });

/**
 * A piece of output. `seq` counts from 0 per execId across output and exit, so that a gateway receiving
 * frames again after a reconnect (the agent re-sends what was not acknowledged) drops duplicates.
 */
export const ExecOutput = z.strictObject({
  type: z.literal('exec.output'),
  execId: ExecId,
  seq: z.number().int().min(0),
  stream: z.enum(['stdout', 'stderr']),
  /** base64 */
  data: z.string().max(Math.ceil((EXEC_CHUNK_BYTES * 4) / 3) + 4),
});
export const ExecExit = z.strictObject({
  type: z.literal('exec.exit'),
  execId: ExecId,
  seq: z.number().int().min(0),
  code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  timedOut: z.boolean(),
  /** Output past EXEC_MAX_OUTPUT_BYTES was dropped. */
  truncated: z.boolean(),
  /** The agent refused or could not start the command (bad grant, unknown user, spawn failure). */
  error: z.strictObject({ code: z.string().max(64), message: z.string().max(1024) }).optional(),
});

/**
 * Gateway -> agent, only to agents with the `persist` capability: hang up the terminal kept for this
 * websh session (it was killed, or its owner lost access while it was detached).
 */
export const SessionClose = z.strictObject({
  type: z.literal('session.close'),
  sessionId: z.string().min(1).max(64),
  reason: z.string().max(500),
});

/** Frames the gateway sends to an agent. */
export const GatewayToAgent = z.discriminatedUnion('type', [
  Challenge,
  Welcome,
  Ping,
  Pong,
  ChannelOpen,
  ExecStart,
  ExecCancel,
  ExecAck,
  Upgrade,
  SessionClose,
]);
export type GatewayToAgent = z.infer<typeof GatewayToAgent>;

/** Frames an agent sends to the gateway. */
export const AgentToGateway = z.discriminatedUnion('type', [
  Hello,
  Auth,
  Ping,
  Pong,
  ChannelReject,
  Info,
  Metrics,
  ExecOutput,
  ExecExit,
  UpgradeResult,
]);
export type AgentToGateway = z.infer<typeof AgentToGateway>;

// ---------------------------------------------------------------------------------------------
// Channel sockets (/api/v1/channels/<id>?token=...), user<->gateway and gateway<->agent alike.
// Binary frames: raw terminal bytes (stdout in pipe mode; stdin from the user).
// Text frames: the JSON control messages below.
// ---------------------------------------------------------------------------------------------

export const Resize = z.strictObject({
  type: z.literal('resize'),
  cols: z.number().int().min(1).max(1000),
  rows: z.number().int().min(1).max(1000),
});
/** The process ended; sent by the agent after all output, then the socket closes with 1000. */
export const Exit = z.strictObject({
  type: z.literal('exit'),
  code: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
});
/** stdin is finished (pipe mode): the agent closes the process's stdin. */
export const Eof = z.strictObject({ type: z.literal('eof') });
/** stderr bytes in pipe mode, base64. */
export const Stderr = z.strictObject({ type: z.literal('stderr'), data: z.string().max(2 * 1024 * 1024) });
/** The gateway tells the user both ends are connected and bytes will flow. */
export const Ready = z.strictObject({ type: z.literal('ready'), sessionId: z.string() });
/** Something the user should read (sent by the gateway). */
export const Notice = z.strictObject({ type: z.literal('notice'), message: z.string().max(4096) });
/** A failure before or during the channel; the socket closes right after. */
export const ChannelError = z.strictObject({
  type: z.literal('error'),
  code: z.string().max(64),
  message: z.string().max(4096),
});

export const ChannelControl = z.discriminatedUnion('type', [
  Resize,
  Exit,
  Eof,
  Stderr,
  Ready,
  Notice,
  ChannelError,
  Ping,
  Pong,
]);
export type ChannelControl = z.infer<typeof ChannelControl>;
