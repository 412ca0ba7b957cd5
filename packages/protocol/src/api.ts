import { z } from 'zod';
import { DiskUsage, SystemInfo } from './messages.js';
import { MfaFactorKind, MfaMethod, StepUpAction } from './mfa.js';

/**
 * HTTP API bodies and answers, shared by the gateway (validation, OpenAPI) and the clients.
 * Request bodies are strict: unknown fields are refused with 400 VALIDATION_FAILED.
 * Times are ISO 8601 strings (UTC).
 */

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const Role = z.enum(['member', 'staff', 'superuser']);
export type Role = z.infer<typeof Role>;

export const UserView = z.object({ id: z.string(), email: z.string(), role: Role });
export const WorkspaceView = z.object({ id: z.string(), name: z.string() });

// --- auth ---------------------------------------------------------------------------------------
export const LoginRequest = z.strictObject({
  email: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
  /** Browsers: keep the session in an HttpOnly cookie and answer a CSRF token instead of the token. */
  cookie: z.boolean().optional(),
});
/** A signed-in session. `enrollmentRequired`: the workspace enforces MFA and the session can only enrol a factor. */
export const LoginSession = z.object({
  token: z.string(),
  expiresAt: z.string(),
  user: UserView,
  workspace: WorkspaceView,
  enrollmentRequired: z.boolean().optional(),
});
export type LoginSession = z.infer<typeof LoginSession>;
/** The password was right and the user has a second factor: answer the challenge at /auth/login/mfa. */
export const MfaChallengeResponse = z.object({
  mfaRequired: z.literal(true),
  /** Opaque, single use, valid 5 minutes (10 once a code was sent). */
  challenge: z.string(),
  methods: z.array(MfaMethod),
  /** PublicKeyCredentialRequestOptionsJSON when the user has a passkey / security key. */
  webauthn: z.unknown().optional(),
});
export type MfaChallengeResponse = z.infer<typeof MfaChallengeResponse>;
export const LoginResponse = z.union([LoginSession, MfaChallengeResponse]);
export type LoginResponse = z.infer<typeof LoginResponse>;
/** Second sign-in step. */
export const LoginMfaRequest = z.strictObject({
  challenge: z.string().min(1).max(200),
  method: MfaMethod,
  code: z.string().trim().min(4).max(64).optional(),
  /** AuthenticationResponseJSON from @simplewebauthn/browser's startAuthentication. */
  webauthn: z.record(z.string(), z.unknown()).optional(),
  /** Browsers: finish with the HttpOnly session cookie (as LoginRequest's `cookie`). */
  cookie: z.boolean().optional(),
});
export type LoginMfaRequest = z.infer<typeof LoginMfaRequest>;
export const LoginMfaSendRequest = z.strictObject({
  challenge: z.string().min(1).max(200),
  method: z.enum(['email', 'sms']),
});
export const LoginMfaSendResponse = z.object({ sentTo: z.string(), expiresAt: z.string() });

/** A browser sign-in: the session is in the `__Host-corral_session` cookie; send csrfToken as X-CSRF-Token. */
export const BrowserLoginResponse = z.object({
  cookie: z.literal(true),
  csrfToken: z.string(),
  expiresAt: z.string(),
  user: UserView,
  workspace: WorkspaceView,
  enrollmentRequired: z.boolean().optional(),
});
export type BrowserLoginResponse = z.infer<typeof BrowserLoginResponse>;

export const WhoamiResponse = z.object({
  user: UserView,
  workspace: WorkspaceView,
  tokenExpiresAt: z.string().nullable(),
  /** The workspace enforces MFA and this session has proved no factor: it can only enrol one. */
  enrollmentRequired: z.boolean().optional(),
  /** Cookie sessions only: the CSRF token a reloaded page needs for its changes. */
  csrfToken: z.string().optional(),
  /** Set when the caller used an API token (`personal`) or a service token (`service`). */
  apiToken: z
    .object({
      id: z.string(),
      kind: z.enum(['personal', 'service']),
      name: z.string(),
      scopes: z.array(z.string()),
      servers: z.array(z.string()).nullable(),
    })
    .optional(),
});
export type WhoamiResponse = z.infer<typeof WhoamiResponse>;

// --- join tokens --------------------------------------------------------------------------------
/** Durations like "30m", "1h", "7d" or a number of seconds. */
export const DURATION_RE = /^(\d+)(s|m|h|d)?$/;

export const JoinTokenCreateRequest = z.strictObject({
  name: z.string().min(1).max(128).optional(),
  /** Lifetime in seconds; default 3600. */
  expiresInSeconds: z
    .number()
    .int()
    .min(60)
    .max(365 * 24 * 3600)
    .optional(),
  /** How many registrations the token allows; default 1. */
  uses: z.number().int().min(1).max(100000).optional(),
});
export const JoinTokenView = z.object({
  id: z.string(),
  name: z.string().nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
  usesLeft: z.number(),
  usesTotal: z.number(),
  revokedAt: z.string().nullable(),
  createdBy: z.string().nullable(),
  status: z.enum(['active', 'expired', 'used', 'revoked']),
});
export type JoinTokenView = z.infer<typeof JoinTokenView>;
export const JoinTokenCreateResponse = JoinTokenView.extend({
  /** The secret; shown once, stored only as a hash. */
  token: z.string(),
  /** A ready-to-paste registration line. */
  registerCommand: z.string(),
  /** A ready-to-paste one-line install (fetches the agent from the gateway, registers, installs the service). */
  installCommand: z.string().optional(),
});
export type JoinTokenCreateResponse = z.infer<typeof JoinTokenCreateResponse>;
export const JoinTokenList = z.object({ items: z.array(JoinTokenView) });

// --- agent registration -------------------------------------------------------------------------
export const SERVER_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
export const TAG_KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,62}$/;

export const RegisterRequest = z.strictObject({
  token: z.string().min(1).max(256),
  name: z
    .string()
    .regex(SERVER_NAME_RE, 'letters, digits, ".", "_" and "-", up to 63, starting with a letter or digit'),
  tags: z.record(z.string().regex(TAG_KEY_RE), z.string().max(256)).optional(),
  /** The agent's Ed25519 public key, SPKI PEM. */
  publicKey: z.string().min(1).max(1024),
  system: SystemInfo.optional(),
});
export const RegisterResponse = z.object({
  agentId: z.string(),
  serverId: z.string(),
  serverName: z.string(),
  /** The gateway's Ed25519 grant-signing public key, SPKI PEM. The agent pins it. */
  gatewaySigningKey: z.string(),
  /** The gateway's Ed25519 artifact-signing public key, SPKI PEM; pinned for upgrades. */
  artifactSigningKey: z.string().optional(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

// --- servers ------------------------------------------------------------------------------------
export const ServerStatus = z.enum(['online', 'offline']);
/**
 * Derived from the latest metrics sample: `critical` when CPU, memory or any disk is at 97 % or more,
 * `warning` at 90 % or more, `ok` below; `unknown` when the server is offline or sent no sample in 45 s.
 */
export const ServerHealth = z.enum(['ok', 'warning', 'critical', 'unknown']);
export type ServerHealth = z.infer<typeof ServerHealth>;
export const ServerView = z.object({
  id: z.string(),
  name: z.string(),
  status: ServerStatus,
  platform: z.string().nullable(),
  address: z.string().nullable(),
  lastSeenAt: z.string().nullable(),
  tags: z.record(z.string(), z.string()),
  registeredAt: z.string(),
  /** Server groups (production, web, ...). */
  groups: z.array(z.string()).optional(),
  /** From the latest metrics sample (gateways before protocol 2 leave it out). */
  health: ServerHealth.optional(),
});
export type ServerView = z.infer<typeof ServerView>;
export const ServerDetail = ServerView.extend({
  system: SystemInfo.nullable(),
  connectedAt: z.string().nullable(),
});
export type ServerDetail = z.infer<typeof ServerDetail>;
export const ServerList = z.object({ items: z.array(ServerView) });

// --- metrics ------------------------------------------------------------------------------------
/** `1h`: raw samples; `24h`: one-minute rollups; `7d`: hourly rollups. */
export const MetricsRange = z.enum(['1h', '24h', '7d']);
export type MetricsRange = z.infer<typeof MetricsRange>;
export const MetricsQuery = z.strictObject({ range: MetricsRange.optional() });

/**
 * One point of a metrics series. Percentages are 0..100; `diskPct` is the fullest mount's. Rollup points
 * carry the average in the plain field and the highest value in `...Max`; raw points have both equal.
 * A null is a value the gateway could not compute (network rates need two samples).
 */
export const MetricsPoint = z.object({
  /** Sample time, or the start of the rollup bucket. */
  at: z.string(),
  cpuPct: z.number(),
  cpuPctMax: z.number(),
  memPct: z.number(),
  memPctMax: z.number(),
  diskPct: z.number().nullable(),
  diskPctMax: z.number().nullable(),
  load1: z.number(),
  /** Bytes per second received / sent, all interfaces but lo. */
  rxBps: z.number().nullable(),
  txBps: z.number().nullable(),
  /** Samples in the point (1 for raw points). */
  samples: z.number(),
});
export type MetricsPoint = z.infer<typeof MetricsPoint>;

/** The newest sample in full: every mount, swap, the three load averages and network rates. */
export const MetricsLatest = z.object({
  /** When the gateway received it. */
  at: z.string(),
  cpuPct: z.number(),
  memUsed: z.number(),
  memTotal: z.number(),
  memPct: z.number(),
  swapUsed: z.number().nullable(),
  swapTotal: z.number().nullable(),
  load: z.tuple([z.number(), z.number(), z.number()]),
  disks: z.array(DiskUsage.extend({ pct: z.number() })),
  rxBps: z.number().nullable(),
  txBps: z.number().nullable(),
});
export type MetricsLatest = z.infer<typeof MetricsLatest>;

export const MetricsResponse = z.object({
  range: MetricsRange,
  /** `raw`: the agent's samples (every 15 s by default); `1m`, `1h`: rollup buckets. */
  step: z.enum(['raw', '1m', '1h']),
  /** Oldest first. */
  points: z.array(MetricsPoint),
  latest: MetricsLatest.nullable(),
  health: ServerHealth,
});
export type MetricsResponse = z.infer<typeof MetricsResponse>;

// --- websh --------------------------------------------------------------------------------------
export const OS_USER_RE = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;
export const WebshOpenRequest = z.strictObject({
  /** OS account on the server; default: the agent's own account. */
  osUser: z.string().regex(OS_USER_RE).optional(),
  /** Command to run instead of a login shell (joined with spaces and run by the user's shell, like ssh). */
  command: z.array(z.string().max(65536)).min(1).max(1024).optional(),
  /** Allocate a pty. Default: true for a shell, false for a command. */
  pty: z.boolean().optional(),
  cols: z.number().int().min(1).max(1000).optional(),
  rows: z.number().int().min(1).max(1000).optional(),
  term: z.string().max(64).optional(),
  /** Use this work session; default: the covering one that lasts longest. */
  workSessionId: z
    .string()
    .regex(/^wks_[A-Za-z0-9_-]{1,60}$/)
    .optional(),
});
export const TunnelOpenRequest = z.strictObject({
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9._:-]+$/, 'a host name or an IP address'),
  port: z.number().int().min(1).max(65535),
  workSessionId: z
    .string()
    .regex(/^wks_[A-Za-z0-9_-]{1,60}$/)
    .optional(),
});
export const TunnelOpenResponse = z.object({ channelId: z.string(), token: z.string(), path: z.string() });

export const FilesOpenRequest = z.strictObject({
  osUser: z.string().regex(OS_USER_RE).optional(),
  /** `file_transfer` (default) or `code_editor` (read and save text only); each is a work-session feature. */
  purpose: z.enum(['file_transfer', 'code_editor']).optional(),
  workSessionId: z
    .string()
    .regex(/^wks_[A-Za-z0-9_-]{1,60}$/)
    .optional(),
});
export const FilesOpenResponse = z.object({
  sessionId: z.string(),
  channelId: z.string(),
  token: z.string(),
  path: z.string(),
  osUser: z.string(),
});
export type FilesOpenResponse = z.infer<typeof FilesOpenResponse>;

export const WebshOpenResponse = z.object({
  sessionId: z.string(),
  channelId: z.string(),
  /** One-time token; connect within 30 s. */
  token: z.string(),
  /** Path of the channel socket, relative to the gateway URL, token included. */
  path: z.string(),
});
export type WebshOpenResponse = z.infer<typeof WebshOpenResponse>;

export const WebshSessionView = z.object({
  id: z.string(),
  userEmail: z.string().nullable(),
  serverName: z.string().nullable(),
  osUser: z.string(),
  command: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  exitCode: z.number().nullable(),
  endReason: z.string().nullable(),
  /** `attached`: someone is connected; `detached`: kept on the server for re-attach; `ended`. */
  state: z.enum(['attached', 'detached', 'ended']).optional(),
  detachedAt: z.string().nullable().optional(),
  /** Detached sessions: the server hangs up at this instant unless someone re-attaches. */
  keptUntil: z.string().nullable().optional(),
  /** Whether the terminal survives a dropped connection. */
  persistent: z.boolean().optional(),
  /** Whether it is the caller's own session. */
  mine: z.boolean().optional(),
});
export type WebshSessionView = z.infer<typeof WebshSessionView>;
export const WebshSessionList = z.object({ items: z.array(WebshSessionView) });
export const WebshSessionListQuery = z.strictObject({
  /** Only sessions that have not ended (attached or detached). */
  live: z.enum(['true', 'false']).optional(),
  /** `mine` (default for members) or `all` (staff and superusers). */
  scope: z.enum(['mine', 'all']).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
/** Re-attach to my detached (or attached elsewhere) terminal. */
export const WebshAttachRequest = z.strictObject({
  cols: z.number().int().min(1).max(1000).optional(),
  rows: z.number().int().min(1).max(1000).optional(),
});
/** Share a live terminal with a workspace user, or make a link anyone signed in and allowed may use. */
export const WebshShareRequest = z
  .strictObject({
    user: z.string().min(1).max(320).optional(),
    link: z.boolean().optional(),
    /** Default: read-only. */
    readWrite: z.boolean().optional(),
    /** Default: until the session ends (users) or 1 hour (links). */
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86400)
      .optional(),
  })
  .refine((b) => (b.user !== undefined) !== (b.link === true), { message: 'give either user or link: true' });
export const WebshShareView = z.object({
  id: z.string(),
  sessionId: z.string(),
  user: z.string().nullable(),
  link: z.boolean(),
  mode: z.enum(['read', 'write']),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type WebshShareView = z.infer<typeof WebshShareView>;
export const WebshShareCreateResponse = WebshShareView.extend({
  /** Links only, shown once: `corral websh join SESSION --link TOKEN`. */
  linkToken: z.string().optional(),
});
export const WebshShareList = z.object({ items: z.array(WebshShareView) });
export const WebshJoinRequest = z.strictObject({ link: z.string().min(10).max(200).optional() });
export const WebshJoinResponse = z.object({
  sessionId: z.string(),
  channelId: z.string(),
  token: z.string(),
  path: z.string(),
  mode: z.enum(['read', 'write']),
});
export type WebshJoinResponse = z.infer<typeof WebshJoinResponse>;
export const WebshTerminateRequest = z.strictObject({ reason: z.string().trim().min(1).max(500).optional() });

// --- audit --------------------------------------------------------------------------------------
export const AuditEventView = z.object({
  seq: z.number(),
  id: z.string(),
  ts: z.string(),
  action: z.string(),
  outcome: z.enum(['success', 'failure', 'denied']),
  actorType: z.string(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  targetName: z.string().nullable(),
  sourceIp: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  hash: z.string(),
});
export type AuditEventView = z.infer<typeof AuditEventView>;
export const AuditList = z.object({ items: z.array(AuditEventView), nextBefore: z.number().nullable() });
export const AuditVerifyResponse = z.object({
  ok: z.boolean(),
  count: z.number(),
  headSeq: z.number(),
  headHash: z.string().nullable(),
  /** First sequence number whose hash does not match, when ok is false. */
  brokenAt: z.number().nullable(),
  reason: z.string().nullable(),
});
export type AuditVerifyResponse = z.infer<typeof AuditVerifyResponse>;

export const HealthResponse = z.object({ ok: z.boolean(), version: z.string(), protocolVersion: z.number() });

/** Parse "90", "90s", "30m", "1h", "7d" into seconds; undefined when malformed. */
export function parseDurationSeconds(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult = unit === 's' ? 1 : unit === 'm' ? 60 : unit === 'h' ? 3600 : 86400;
  return n * mult;
}

// --- users ----------------------------------------------------------------------------------------
export const UserListItem = z.object({
  id: z.string(),
  email: z.string(),
  role: Role,
  createdAt: z.string(),
  deactivatedAt: z.string().nullable(),
});
export type UserListItem = z.infer<typeof UserListItem>;
export const UserList = z.object({ items: z.array(UserListItem) });

export const InviteRequest = z.strictObject({
  email: z
    .string()
    .max(320)
    .regex(/^[^\s@]+@[^\s@]+$/, 'an email address'),
  /** Default member. Only superusers may invite superusers. */
  role: Role.optional(),
});
export const InviteResponse = z.object({
  id: z.string(),
  email: z.string(),
  role: Role,
  expiresAt: z.string(),
  /** Where the invitation went: `smtp`, or `outbox` (read with `corral-gateway outbox`). */
  delivery: z.enum(['smtp', 'outbox']),
});
export type InviteResponse = z.infer<typeof InviteResponse>;

export const AcceptInviteRequest = z.strictObject({
  token: z.string().min(1).max(256),
  password: z.string().min(12, 'at least 12 characters').max(1024),
});

export const SetRoleRequest = z.strictObject({ role: Role });

// --- IAM: user groups, grants, access checks -------------------------------------------------------
export const ScopeLevel = z.enum(['read', 'write', 'owner']);
export const GROUP_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
export const GroupView = z.object({
  id: z.string(),
  name: z.string(),
  members: z.array(z.string()),
  createdAt: z.string(),
});
export type GroupView = z.infer<typeof GroupView>;
export const GroupList = z.object({ items: z.array(GroupView) });
export const GroupCreateRequest = z.strictObject({ name: z.string().regex(GROUP_NAME_RE) });
export const GroupMemberRequest = z.strictObject({ user: z.string().min(1).max(320) });

export const GrantCreateRequest = z.strictObject({
  /** Exactly one of user (email or id) and group (name). */
  user: z.string().min(1).max(320).optional(),
  group: z.string().regex(GROUP_NAME_RE).optional(),
  /** name, glob (web-*), group:NAME or tag:KEY=VALUE */
  servers: z.string().min(1).max(200),
  level: ScopeLevel,
});
export const GrantView = z.object({
  id: z.string(),
  subject: z.object({ kind: z.enum(['user', 'group']), id: z.string(), name: z.string() }),
  servers: z.string(),
  level: ScopeLevel,
  createdBy: z.string().nullable(),
  createdAt: z.string(),
});
export type GrantView = z.infer<typeof GrantView>;
export const GrantList = z.object({ items: z.array(GrantView) });

export const AccessCheckResponse = z.object({
  allow: z.boolean(),
  reason: z.string(),
  user: z.string(),
  server: z.string(),
  action: z.string(),
});

// --- workspace settings -----------------------------------------------------------------------------
export const Plan = z.enum(['essentials', 'enterprise']);
const EMAIL = z
  .string()
  .max(320)
  .regex(/^[^\s@]+@[^\s@]+$/, 'an email address');
/** The settings a superuser changes (shared by the stored settings and the update request). */
const SETTINGS_FIELDS = {
  /** Port forwarding targets: `server` (default: the server's own addresses) or `any`. */
  tunnelTargets: z.enum(['server', 'any']).optional(),
  /** Privilege elevation for root: `explicit` (default: -u root / --root) or `always` (root by default too). */
  rootElevation: z.enum(['explicit', 'always']).optional(),
  /** How long a step-up lasts (default 300 s). */
  stepUpGraceSeconds: z.number().int().min(60).max(3600).optional(),
  /** Terminal recording: on unless false; input (keystrokes) only when true. */
  recordSessions: z.boolean().optional(),
  recordInput: z.boolean().optional(),
  /** Days recordings are kept (default by plan: essentials 365, enterprise 1825). */
  recordingRetentionDays: z.number().int().min(1).max(3650).optional(),
  /** Command risk: alert at this score (default 70); `terminate` also ends the session; own rules; a webhook. */
  riskThreshold: z.number().int().min(1).max(100).optional(),
  riskAction: z.enum(['alert', 'terminate']).optional(),
  riskRules: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(64),
        pattern: z.string().min(1).max(500),
        score: z.number().int().min(0).max(100),
        category: z.string().max(64),
        reason: z.string().max(500),
      }),
    )
    .max(200)
    .optional(),
  riskWebhookUrl: z.string().url().max(2000).optional(),
  /** MFA at sign-in: when true, users without a factor can only enrol one. */
  mfaEnforced: z.boolean().optional(),
  /** Second factors users may enrol and use (default: all). Recovery codes always work as a backup. */
  mfaMethods: z.array(MfaFactorKind).min(1).max(4).optional(),
  /** Actions that need a fresh step-up within stepUpGraceSeconds (privilege elevation always does). */
  stepUpActions: z.array(StepUpAction).max(10).optional(),
  /** How long a terminal outlives a dropped connection for re-attach (default 600 s; 0: hang up at once). */
  sessionPersistSeconds: z.number().int().min(0).max(86400).optional(),
};
export const WorkspaceSettings = z.strictObject({
  displayName: z.string().trim().min(1).max(100).optional(),
  billingEmail: EMAIL.optional(),
  ...SETTINGS_FIELDS,
});
export const WorkspaceDetail = z.object({
  id: z.string(),
  name: z.string(),
  region: z.string().nullable(),
  plan: Plan,
  settings: WorkspaceSettings,
  createdAt: z.string(),
  isDefault: z.boolean(),
});
export type WorkspaceDetail = z.infer<typeof WorkspaceDetail>;
/** `plan` needs workspace.billing; the settings need workspace.settings (both superuser). */
export const WorkspaceUpdateRequest = z.strictObject({
  plan: Plan.optional(),
  /** null clears these two. */
  displayName: z.string().trim().min(1).max(100).nullable().optional(),
  billingEmail: EMAIL.nullable().optional(),
  ...SETTINGS_FIELDS,
});
/** The update fields that are settings (need workspace.settings); `plan` needs workspace.billing. */
export const WORKSPACE_SETTING_KEYS = ['displayName', 'billingEmail', ...Object.keys(SETTINGS_FIELDS)] as const;
/** Deleting a workspace: repeat its name to confirm. */
export const WorkspaceDeleteRequest = z.strictObject({ confirm: z.string().min(1).max(64) });

export const ServerUpdateRequest = z.strictObject({
  /** Rename the server. */
  name: z.string().regex(SERVER_NAME_RE).optional(),
  /** Set tags; a null value removes the tag. */
  tags: z.record(z.string().regex(TAG_KEY_RE), z.string().max(256).nullable()).optional(),
  addGroups: z.array(z.string().regex(SERVER_NAME_RE)).max(32).optional(),
  removeGroups: z.array(z.string().regex(SERVER_NAME_RE)).max(32).optional(),
});
export const ServerGroupList = z.object({
  items: z.array(z.object({ id: z.string(), name: z.string(), servers: z.array(z.string()), createdAt: z.string() })),
});
export const ServerGroupCreateRequest = z.strictObject({ name: z.string().regex(SERVER_NAME_RE) });

// --- exec (multi-server commands) --------------------------------------------------------------------
export const ExecRequest = z.strictObject({
  /** Selectors as for grants: names, globs, group:NAME, tag:K=V. */
  servers: z.array(z.string().min(1).max(200)).min(1).max(32),
  command: z.array(z.string().max(65536)).min(1).max(1024),
  osUser: z.string().regex(OS_USER_RE).optional(),
  /** Commands running at once (default 100). */
  parallel: z.number().int().min(1).max(10000).optional(),
  /** Per server (default 30 s). */
  timeoutSeconds: z.number().int().min(1).max(86400).optional(),
  workSessionId: z
    .string()
    .regex(/^wks_[A-Za-z0-9_-]{1,60}$/)
    .optional(),
});
export const ExecSummary = z.object({
  servers: z.number(),
  ok: z.number(),
  failed: z.number(),
  offline: z.number(),
  refused: z.number(),
  lost: z.number(),
  cancelled: z.number(),
  durationMs: z.number(),
});
export type ExecSummary = z.infer<typeof ExecSummary>;
export const ExecTargetStatus = z.enum([
  'queued',
  'running',
  'ok',
  'failed',
  'offline',
  'refused',
  'lost',
  'cancelled',
]);
/** The lines of the NDJSON stream POST /api/v1/exec answers with. */
export const ExecStreamEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('job'),
    jobId: z.string(),
    command: z.array(z.string()),
    targets: z.array(z.object({ server: z.string(), status: ExecTargetStatus, reason: z.string().optional() })),
  }),
  z.object({ type: z.literal('output'), server: z.string(), stream: z.enum(['stdout', 'stderr']), data: z.string() }),
  z.object({
    type: z.literal('exit'),
    server: z.string(),
    status: ExecTargetStatus,
    exitCode: z.number().nullable(),
    signal: z.string().nullable(),
    timedOut: z.boolean(),
    truncated: z.boolean(),
    durationMs: z.number(),
    reason: z.string().optional(),
  }),
  z.object({ type: z.literal('done'), jobId: z.string(), summary: ExecSummary }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ExecStreamEvent = z.infer<typeof ExecStreamEvent>;
export const ExecJobView = z.object({
  id: z.string(),
  user: z.string(),
  servers: z.array(z.string()),
  command: z.array(z.string()),
  osUser: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  summary: ExecSummary.nullable(),
});
export type ExecJobView = z.infer<typeof ExecJobView>;
export const ExecJobList = z.object({ items: z.array(ExecJobView) });
export const ExecJobDetail = ExecJobView.extend({
  results: z.array(
    z.object({
      server: z.string(),
      status: z.string(),
      reason: z.string().nullable(),
      exitCode: z.number().nullable(),
      signal: z.string().nullable(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      workSessionId: z.string().nullable(),
      stdout: z.string(),
      stderr: z.string(),
      truncated: z.boolean(),
    }),
  ),
});
export type ExecJobDetail = z.infer<typeof ExecJobDetail>;
// --- agent artifacts and upgrades ----------------------------------------------------------------
export const AgentArtifactView = z.object({
  platform: z.string(),
  version: z.string(),
  /** Lower-case hex SHA-256 of the executable. */
  sha256: z.string(),
  size: z.number(),
  /** base64 Ed25519 signature over artifactSigningString(platform, version, sha256, size). */
  signature: z.string(),
  /** Where to download it. */
  path: z.string(),
});
export type AgentArtifactView = z.infer<typeof AgentArtifactView>;
export const AgentArtifactList = z.object({
  items: z.array(AgentArtifactView),
  /** The newest version among the artifacts (what `corral server upgrade` moves agents to), or null. */
  currentVersion: z.string().nullable(),
  /** The artifact-signing public key, SPKI PEM. */
  signingKey: z.string(),
});
export type AgentArtifactList = z.infer<typeof AgentArtifactList>;

export const ServerUpgradeRequest = z.strictObject({
  /** Upgrade to this version (default: the newest artifact for the server's platform). */
  version: z.string().max(64).optional(),
});
export const UpgradeOutcome = z.enum(['requested', 'up_to_date', 'offline', 'unsupported', 'no_artifact']);
export const ServerUpgradeItem = z.object({
  server: z.string(),
  fromVersion: z.string().nullable(),
  toVersion: z.string().nullable(),
  platform: z.string().nullable(),
  outcome: UpgradeOutcome,
  /** Set when requested: the id the agent reports back in its upgrade.result. */
  upgradeId: z.string().optional(),
  message: z.string(),
});
export type ServerUpgradeItem = z.infer<typeof ServerUpgradeItem>;
export const ServerUpgradeResponse = z.object({ items: z.array(ServerUpgradeItem) });
export type ServerUpgradeResponse = z.infer<typeof ServerUpgradeResponse>;
