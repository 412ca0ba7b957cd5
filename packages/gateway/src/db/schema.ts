import type { Generated } from 'kysely';

/** Row types. Times are ISO 8601 UTC strings (portable and sortable in SQLite and PostgreSQL). */
export interface WorkspacesTable {
  id: string;
  name: string;
  created_at: string;
  /** The region whose gateways serve this workspace; null: this deployment's own region. */
  region: string | null;
}

export interface UsersTable {
  id: string;
  workspace_id: string;
  email: string;
  password_hash: string;
  role: 'member' | 'staff' | 'superuser';
  created_at: string;
  deactivated_at: string | null;
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
  source_ip: string | null;
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
  auth_tokens: AuthTokensTable;
  join_tokens: JoinTokensTable;
  servers: ServersTable;
  websh_sessions: WebshSessionsTable;
  audit_events: AuditEventsTable;
  audit_heads: AuditHeadsTable;
}

// Keep the Generated import in use for future auto-increment columns.
export type _Unused = Generated<number>;
