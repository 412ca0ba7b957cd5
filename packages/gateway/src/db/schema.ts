import type { Generated } from 'kysely';

/** Row types. Times are ISO 8601 UTC strings (portable and sortable in SQLite and PostgreSQL). */
export interface WorkspacesTable {
  id: string;
  name: string;
  created_at: string;
  /** The region whose gateways serve this workspace; null: this deployment's own region. */
  region: string | null;
  /** Plan: `essentials` or `enterprise` (sets defaults such as recording retention). */
  plan: Generated<string>;
  /** Workspace settings (JSON, superusers edit them): display name, billing contact, ... */
  settings: Generated<string>;
  /** Set when a superuser deleted the workspace: nothing is served for it any more. */
  deleted_at: string | null;
}

export interface UsersTable {
  id: string;
  workspace_id: string;
  email: string;
  password_hash: string;
  role: 'member' | 'staff' | 'superuser';
  created_at: string;
  deactivated_at: string | null;
  /** `human` (signs in) or `application` (service tokens only; see ApplicationsTable). */
  kind?: 'human' | 'application';
}

/** Non-human identities: the users row (kind `application`) holds role and id; this row the rest. */
export interface ApplicationsTable {
  user_id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  /** JSON array of scopes (`servers:read`): the most any of its service tokens may do. */
  scopes: string;
  created_by: string | null;
  created_at: string;
  deleted_at: string | null;
}

/** API tokens (`crl_pat_`) and service tokens (`crl_svc_`). Only the SHA-256 of the secret is kept. */
export interface ApiTokensTable {
  id: string;
  workspace_id: string;
  /** The owner: a human user (personal) or an application's user row (service). */
  user_id: string;
  kind: 'personal' | 'service';
  name: string;
  token_hash: string;
  /** First characters of the secret, shown in listings. */
  prefix: string;
  /** JSON array of `resource:level`. */
  scopes: string;
  /** JSON array of server selectors, or null: no server limit. */
  servers: string | null;
  /** JSON CommandAcl, or null. */
  commands: string | null;
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  last_used_ip: string | null;
}

/** The last requests made with each API token (bounded per token). */
export interface ApiTokenActivityTable {
  id: string;
  workspace_id: string;
  token_id: string;
  ts: string;
  method: string;
  route: string;
  status: number;
  source_ip: string | null;
}

/** Bearer tokens of signed-in users (CLI and browser sessions). Only the SHA-256 of the secret is kept. */
export interface AuthTokensTable {
  id: string;
  workspace_id: string;
  user_id: string;
  token_hash: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
  /** Last step-up (password again) for privileged actions, or null. */
  stepped_up_at: string | null;
  source_ip: string | null;
  user_agent: string | null;
  /** The second factor this session signed in (or enrolled) with; null: password only. */
  mfa_method: string | null;
}

export interface MfaFactorsTable {
  id: string;
  workspace_id: string;
  user_id: string;
  kind: string;
  label: string;
  secret_enc: string | null;
  phone: string | null;
  channel: string | null;
  credential_id: string | null;
  public_key: string | null;
  sign_count: number | string | null;
  transports: string | null;
  last_step: number | string | null;
  confirmed_at: string | null;
  created_at: string;
  last_used_at: string | null;
}

export interface MfaRecoveryCodesTable {
  id: string;
  workspace_id: string;
  user_id: string;
  code_hash: string;
  created_at: string;
  used_at: string | null;
}

export interface MfaChallengesTable {
  id: string;
  workspace_id: string;
  user_id: string;
  purpose: string;
  secret_hash: string;
  auth_token_id: string | null;
  factor_id: string | null;
  code_method: string | null;
  code_hash: string | null;
  code_expires_at: string | null;
  webauthn_challenge: string | null;
  webauthn_origin: string | null;
  attempts: Generated<number>;
  source_ip: string | null;
  user_agent: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface JoinTokensTable {
  id: string;
  workspace_id: string;
  name: string | null;
  token_hash: string;
  created_by: string | null;
  created_at: string;
  expires_at: string;
  uses_total: number;
  uses_left: number;
  revoked_at: string | null;
}

export interface ServersTable {
  id: string;
  workspace_id: string;
  name: string;
  agent_id: string;
  /** Agent's Ed25519 public key, SPKI PEM. */
  public_key: string;
  /** JSON object of tags. */
  tags: string;
  /** JSON SystemInfo, or null before the first hello. */
  system: string | null;
  status: 'online' | 'offline';
  connected_at: string | null;
  last_seen_at: string | null;
  /** The gateway node holding the agent's control connection. */
  connected_node: string | null;
  /** JSON array of what the agent announced in its hello (persist, upgrade). */
  capabilities: string | null;
  created_at: string;
  join_token_id: string | null;
}

export interface WebshSessionsTable {
  id: string;
  workspace_id: string;
  user_id: string;
  server_id: string;
  os_user: string;
  command: string | null;
  pty: number;
  started_at: string;
  ended_at: string | null;
  bytes_in: number;
  bytes_out: number;
  exit_code: number | null;
  end_reason: string | null;
  /** The work session this terminal ran under. */
  work_session_id: string | null;
  /** `terminal` (websh) or `files` (a file channel). */
  kind: Generated<string>;
  /** The asciicast recording (terminal sessions): file, size and SHA-256 of the .cast.gz. */
  recording_path: string | null;
  recording_bytes: number | null;
  recording_sha256: string | null;
  /** Set when the retention job removed the file. */
  recording_purged_at: string | null;
  /** Persistent terminals: when the user's connection dropped (null while attached or ended). */
  detached_at: string | null;
  /** The channel carrying it now (participants join this one). */
  channel_id: string | null;
  /** The gateway node that holds its live state (recording, participants). */
  host_node: string | null;
  /** How long the server keeps it after the connection drops (0: not persistent). */
  persist_seconds: number | null;
  /** Interactive terminals: the nonce in its shell integration's marks (not a secret from its user). */
  shell_nonce: string | null;
}

/** Who may join a live terminal session: a named user or the holder of a link. */
export interface WebshSharesTable {
  id: string;
  workspace_id: string;
  session_id: string;
  user_id: string | null;
  /** SHA-256 of the link token (links only). */
  link_hash: string | null;
  /** `read` or `write`. */
  mode: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface AuditEventsTable {
  workspace_id: string;
  seq: number;
  id: string;
  ts: string;
  action: string;
  outcome: 'success' | 'failure' | 'denied';
  actor_type: string;
  actor_id: string | null;
  actor_name: string | null;
  target_type: string | null;
  target_id: string | null;
  target_name: string | null;
  source_ip: string | null;
  /** Canonical JSON object. */
  details: string;
  prev_hash: string;
  hash: string;
}

/** The head of each workspace's audit chain; the only audit row that is ever updated. */
export interface AuditHeadsTable {
  workspace_id: string;
  seq: number;
  hash: string;
}

/** Live gateway nodes (cluster): each refreshes its heartbeat; stale nodes' agents are marked offline. */
export interface GatewayNodesTable {
  node_id: string;
  url: string;
  started_at: string;
  heartbeat_at: string;
}

export interface InvitationsTable {
  id: string;
  workspace_id: string;
  email: string;
  role: 'member' | 'staff' | 'superuser';
  token_hash: string;
  invited_by: string | null;
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
}

/** Mail the gateway would send, kept for the operator when no SMTP server is configured. */
export interface OutboxTable {
  id: string;
  workspace_id: string;
  recipient: string;
  subject: string;
  body: string;
  created_at: string;
}

export interface UserGroupsTable {
  id: string;
  workspace_id: string;
  name: string;
  created_at: string;
}
export interface UserGroupMembersTable {
  group_id: string;
  user_id: string;
  workspace_id: string;
}
/** Object scopes: a level on the servers a selector matches, for a user or a user group. */
export interface GrantsTable {
  id: string;
  workspace_id: string;
  subject_kind: 'user' | 'group';
  subject_id: string;
  /** Canonical selector text (iam/selectors.ts). */
  selector: string;
  level: 'read' | 'write' | 'owner';
  created_by: string | null;
  created_at: string;
}

export interface ServerGroupsTable {
  id: string;
  workspace_id: string;
  name: string;
  created_at: string;
}
export interface ServerGroupMembersTable {
  server_group_id: string;
  server_id: string;
  workspace_id: string;
}

/** Time-bound, approved access (JSON columns hold arrays). */
export interface WorkSessionsTable {
  id: string;
  workspace_id: string;
  user_id: string;
  status: 'pending' | 'approved' | 'denied' | 'cancelled' | 'active' | 'expired' | 'revoked' | 'completed';
  selectors: string;
  server_ids: string;
  features: string;
  reason: string;
  duration_s: number;
  rule: string;
  approvals_required: number;
  approvers: string;
  created_at: string;
  approved_at: string | null;
  activated_at: string | null;
  expires_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  /** Approval round: 0 for the request, n for the n-th extension. */
  round: Generated<number>;
  ext_duration_s: number | null;
  ext_reason: string | null;
  ext_requested_at: string | null;
  /** Command allow/deny lists (JSON {allow?, deny?}), or null. */
  commands: string | null;
}

/** A multi-server command: one row per run. */
export interface ExecJobsTable {
  id: string;
  workspace_id: string;
  user_id: string;
  user_email: string;
  selectors: string;
  /** JSON array of words. */
  command: string;
  os_user: string | null;
  parallel: number;
  timeout_s: number;
  created_at: string;
  finished_at: string | null;
  /** JSON {ok, failed, offline, refused, durationMs}. */
  summary: string | null;
}

/** One server's part of a job. status: queued | running | ok | failed | offline | refused | lost | cancelled. */
export interface ExecResultsTable {
  job_id: string;
  n: number;
  workspace_id: string;
  server_id: string | null;
  server_name: string;
  status: string;
  reason: string | null;
  work_session_id: string | null;
  exit_code: number | null;
  signal: string | null;
  started_at: string | null;
  finished_at: string | null;
  stdout: string | null;
  stderr: string | null;
  truncated: Generated<number>;
}

export interface WorkSessionApprovalsTable {
  work_session_id: string;
  round: number;
  user_id: string;
  at: string;
}

/** The timeline of a work session: every transition, in order (n counts from 1 per session). */
export interface WorkSessionEventsTable {
  work_session_id: string;
  n: number;
  workspace_id: string;
  at: string;
  kind: string;
  actor_id: string | null;
  actor_name: string | null;
  details: string;
}

/** A workspace's approval policy (absent: the default policy). */
export interface ApprovalPoliciesTable {
  workspace_id: string;
  policy: string;
  updated_at: string;
  updated_by: string | null;
}

/** One raw metrics sample (kept 24 h); times are the gateway's receive time. Disk: the fullest mount. */
export interface ServerMetricsTable {
  workspace_id: string;
  server_id: string;
  at: string;
  cpu_pct: number;
  mem_pct: number;
  mem_used: number;
  mem_total: number;
  disk_pct: number | null;
  disk_used: number | null;
  disk_total: number | null;
  load1: number;
  /** Bytes per second since the previous sample; null for the first one or after a counter reset. */
  rx_bps: number | null;
  tx_bps: number | null;
}

/** A rollup bucket (server_metrics_1m: 7 days, server_metrics_1h: 90 days): averages and maxima. */
export interface ServerMetricsRollupTable {
  workspace_id: string;
  server_id: string;
  /** Start of the minute or hour, ISO. */
  bucket: string;
  samples: number;
  cpu_pct: number;
  cpu_pct_max: number;
  mem_pct: number;
  mem_pct_max: number;
  disk_pct: number | null;
  disk_pct_max: number | null;
  load1: number;
  load1_max: number;
  rx_bps: number | null;
  tx_bps: number | null;
}

/** The newest sample of each server in full (every mount), for health and `latest`; shared by all nodes. */
export interface ServerMetricsLatestTable {
  server_id: string;
  workspace_id: string;
  at: string;
  cpu_pct: number;
  mem_pct: number;
  /** The fullest mount's use. */
  disk_pct: number | null;
  /** JSON MetricsLatest. */
  sample: string;
}

export interface Database {
  sso_providers: SsoProvidersTable;
  sso_identities: SsoIdentitiesTable;
  sso_flows: SsoFlowsTable;
  sso_policies: SsoPoliciesTable;
  device_authorizations: DeviceAuthorizationsTable;
  exec_jobs: ExecJobsTable;
  exec_results: ExecResultsTable;
  work_sessions: WorkSessionsTable;
  work_session_approvals: WorkSessionApprovalsTable;
  work_session_events: WorkSessionEventsTable;
  approval_policies: ApprovalPoliciesTable;
  server_metrics: ServerMetricsTable;
  server_metrics_1m: ServerMetricsRollupTable;
  server_metrics_1h: ServerMetricsRollupTable;
  server_metrics_latest: ServerMetricsLatestTable;
  server_groups: ServerGroupsTable;
  server_group_members: ServerGroupMembersTable;
  user_groups: UserGroupsTable;
  user_group_members: UserGroupMembersTable;
  grants: GrantsTable;
  invitations: InvitationsTable;
  outbox: OutboxTable;
  gateway_nodes: GatewayNodesTable;
  workspaces: WorkspacesTable;
  users: UsersTable;
  applications: ApplicationsTable;
  api_tokens: ApiTokensTable;
  api_token_activity: ApiTokenActivityTable;
  auth_tokens: AuthTokensTable;
  mfa_factors: MfaFactorsTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  mfa_challenges: MfaChallengesTable;
  join_tokens: JoinTokensTable;
  servers: ServersTable;
  websh_sessions: WebshSessionsTable;
  websh_shares: WebshSharesTable;
  audit_events: AuditEventsTable;
  audit_heads: AuditHeadsTable;
}

/** SSO providers per workspace (OIDC or SAML). `settings` is JSON; the OIDC client secret is encrypted. */
export interface SsoProvidersTable {
  id: string;
  workspace_id: string;
  name: string;
  kind: 'oidc' | 'saml';
  display_name: string;
  enabled: number;
  jit: number;
  jit_role: 'member' | 'staff';
  /** JSON array of {idpGroup, group}. */
  group_map: string;
  settings: string;
  /** AES-256-GCM (secret-box) of the OIDC client secret. */
  secret_enc: string | null;
  created_at: string;
  updated_at: string;
}
/** Which user an IdP subject (OIDC `sub`, SAML NameID) is, per provider. */
export interface SsoIdentitiesTable {
  provider_id: string;
  subject: string;
  workspace_id: string;
  user_id: string;
  created_at: string;
  last_login_at: string | null;
}
/** A sign-in in flight: keyed by SHA-256 of the OIDC state / SAML RelayState; single use, 10 minutes. */
export interface SsoFlowsTable {
  id: string;
  workspace_id: string;
  provider_id: string;
  /** SHA-256 of the browser-binding cookie's value. */
  binding_hash: string;
  nonce: string | null;
  code_verifier: string | null;
  /** SAML AuthnRequest ID (the expected InResponseTo). */
  request_id: string | null;
  /** The OIDC redirect URI or SAML ACS URL used for this flow. */
  redirect_uri: string;
  next: string;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
}
export interface SsoPoliciesTable {
  workspace_id: string;
  sso_required: number;
  updated_at: string;
  updated_by: string | null;
}
/** `corral login --browser`: device and user codes are kept as SHA-256 only. */
export interface DeviceAuthorizationsTable {
  id: string;
  workspace_id: string;
  device_code_hash: string;
  user_code_hash: string;
  /** pending, approved, denied, consumed. */
  status: string;
  client_name: string | null;
  client_ip: string | null;
  user_id: string | null;
  decided_at: string | null;
  created_at: string;
  expires_at: string;
  interval_s: number;
  last_poll_at: string | null;
}

// Keep the Generated import in use for future auto-increment columns.
export type _Unused = Generated<number>;
