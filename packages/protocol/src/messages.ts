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
// ---------------------------------------------------------------------------------------------

/** What an agent can do beyond protocol 1's core; the gateway sends optional frames only to agents that say so. */
export const AgentCapability = z.enum(['upgrade']);
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

/** Frames the gateway sends to an agent. */
export const GatewayToAgent = z.discriminatedUnion('type', [Challenge, Welcome, Ping, Pong, ChannelOpen, Upgrade]);
export type GatewayToAgent = z.infer<typeof GatewayToAgent>;

/** Frames an agent sends to the gateway. */
export const AgentToGateway = z.discriminatedUnion('type', [
  Hello,
  Auth,
  Ping,
  Pong,
  ChannelReject,
  Info,
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
