import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { sso0015 } from './migration-0015-sso.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * One migration set for both databases. Only the audit triggers differ by dialect: the database itself
 * refuses UPDATE and DELETE on audit_events, so not even a bug in our code can rewrite history.
 */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_foundation': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('workspaces')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('deactivated_at', 'text')
          .addUniqueConstraint('users_ws_email', ['workspace_id', 'email'])
          .execute();
        await db.schema
          .createTable('auth_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addColumn('last_used_at', 'text')
          .addColumn('source_ip', 'text')
          .execute();
        await db.schema
          .createTable('join_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('name', 'text')
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('uses_total', 'integer', (c) => c.notNull())
          .addColumn('uses_left', 'integer', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema
          .createTable('servers')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('agent_id', 'text', (c) => c.notNull().unique())
          .addColumn('public_key', 'text', (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('system', 'text')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('connected_at', 'text')
          .addColumn('last_seen_at', 'text')
          .addColumn('connected_node', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('join_token_id', 'text')
          .addUniqueConstraint('servers_ws_name', ['workspace_id', 'name'])
          .execute();
        await db.schema
          .createTable('websh_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('server_id', 'text', (c) => c.notNull())
          .addColumn('os_user', 'text', (c) => c.notNull())
          .addColumn('command', 'text')
          .addColumn('pty', 'integer', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('ended_at', 'text')
          .addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('exit_code', 'integer')
          .addColumn('end_reason', 'text')
          .execute();
        await db.schema
          .createIndex('websh_sessions_ws_started')
          .on('websh_sessions')
          .columns(['workspace_id', 'started_at'])
          .execute();
        await db.schema
          .createTable('audit_events')
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('actor_type', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('actor_name', 'text')
          .addColumn('target_type', 'text')
          .addColumn('target_id', 'text')
          .addColumn('target_name', 'text')
          .addColumn('source_ip', 'text')
          .addColumn('details', 'text', (c) => c.notNull())
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('audit_events_pk', ['workspace_id', 'seq'])
          .execute();
        await db.schema
          .createTable('audit_heads')
          .addColumn('workspace_id', 'text', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();

        if (dialect === 'sqlite') {
          await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`.execute(db);
          await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`.execute(db);
        } else {
          await sql`CREATE OR REPLACE FUNCTION corral_audit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql`.execute(db);
          await sql`CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION corral_audit_append_only()`.execute(db);
          await sql`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION corral_audit_append_only()`.execute(db);
        }
      },
    },
    '0002_gateway_nodes': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('gateway_nodes')
          .addColumn('node_id', 'text', (c) => c.primaryKey())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('heartbeat_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0003_workspace_region': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('workspaces').addColumn('region', 'text').execute();
      },
    },
    '0004_invitations_outbox': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('invitations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('invited_by', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('accepted_at', 'text')
          .execute();
        await db.schema
          .createTable('outbox')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('recipient', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0005_iam': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('user_groups')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('user_groups_ws_name', ['workspace_id', 'name'])
          .execute();
        await db.schema
          .createTable('user_group_members')
          .addColumn('group_id', 'text', (c) => c.notNull().references('user_groups.id').onDelete('cascade'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('user_group_members_pk', ['group_id', 'user_id'])
          .execute();
        await db.schema
          .createTable('grants')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('subject_kind', 'text', (c) => c.notNull())
          .addColumn('subject_id', 'text', (c) => c.notNull())
          .addColumn('selector', 'text', (c) => c.notNull())
          .addColumn('level', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0006_server_groups': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('server_groups')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('server_groups_ws_name', ['workspace_id', 'name'])
          .execute();
        await db.schema
          .createTable('server_group_members')
          .addColumn('server_group_id', 'text', (c) => c.notNull().references('server_groups.id').onDelete('cascade'))
          .addColumn('server_id', 'text', (c) => c.notNull().references('servers.id').onDelete('cascade'))
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('server_group_members_pk', ['server_group_id', 'server_id'])
          .execute();
      },
    },
    '0008_work_sessions': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('workspaces')
          .addColumn('plan', 'text', (c) => c.notNull().defaultTo('essentials'))
          .execute();
        await db.schema
          .alterTable('workspaces')
          .addColumn('settings', 'text', (c) => c.notNull().defaultTo('{}'))
          .execute();
        await db.schema.alterTable('workspaces').addColumn('deleted_at', 'text').execute();
        await db.schema.alterTable('websh_sessions').addColumn('work_session_id', 'text').execute();
        await db.schema
          .alterTable('websh_sessions')
          .addColumn('kind', 'text', (c) => c.notNull().defaultTo('terminal'))
          .execute();
        await db.schema
          .createTable('work_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('selectors', 'text', (c) => c.notNull())
          .addColumn('server_ids', 'text', (c) => c.notNull())
          .addColumn('features', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('duration_s', 'integer', (c) => c.notNull())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('approvals_required', 'integer', (c) => c.notNull())
          .addColumn('approvers', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('approved_at', 'text')
          .addColumn('activated_at', 'text')
          .addColumn('expires_at', 'text')
          .addColumn('ended_at', 'text')
          .addColumn('end_reason', 'text')
          .addColumn('round', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('ext_duration_s', 'integer')
          .addColumn('ext_reason', 'text')
          .addColumn('ext_requested_at', 'text')
          .execute();
        await db.schema
          .createIndex('work_sessions_live')
          .on('work_sessions')
          .columns(['status', 'expires_at'])
          .execute();
        await db.schema
          .createIndex('work_sessions_user')
          .on('work_sessions')
          .columns(['workspace_id', 'user_id'])
          .execute();
        await db.schema
          .createTable('work_session_approvals')
          .addColumn('work_session_id', 'text', (c) => c.notNull().references('work_sessions.id'))
          .addColumn('round', 'integer', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('work_session_approvals_pk', ['work_session_id', 'round', 'user_id'])
          .execute();
        await db.schema
          .createTable('work_session_events')
          .addColumn('work_session_id', 'text', (c) => c.notNull().references('work_sessions.id'))
          .addColumn('n', 'integer', (c) => c.notNull())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('actor_name', 'text')
          .addColumn('details', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('work_session_events_pk', ['work_session_id', 'n'])
          .execute();
        await db.schema
          .createTable('approval_policies')
          .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id'))
          .addColumn('policy', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .execute();
      },
    },
    '0007_metrics': {
      async up(db: Kysely<unknown>) {
        // Health metrics (metrics/metrics-service.ts): raw samples kept 24 h, one-minute rollups 7 days,
        // hourly rollups 90 days. No foreign keys: rows are written in bulk and purged by age, and a
        // deleted server's rows are removed with it (MetricsService.forget).
        const real = 'double precision';
        await db.schema
          .createTable('server_metrics')
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('server_id', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('cpu_pct', real, (c) => c.notNull())
          .addColumn('mem_pct', real, (c) => c.notNull())
          .addColumn('mem_used', 'bigint', (c) => c.notNull())
          .addColumn('mem_total', 'bigint', (c) => c.notNull())
          .addColumn('disk_pct', real)
          .addColumn('disk_used', 'bigint')
          .addColumn('disk_total', 'bigint')
          .addColumn('load1', real, (c) => c.notNull())
          .addColumn('rx_bps', real)
          .addColumn('tx_bps', real)
          .addPrimaryKeyConstraint('server_metrics_pk', ['server_id', 'at'])
          .execute();
        await db.schema.createIndex('server_metrics_at').on('server_metrics').column('at').execute();
        for (const table of ['server_metrics_1m', 'server_metrics_1h']) {
          await db.schema
            .createTable(table)
            .addColumn('workspace_id', 'text', (c) => c.notNull())
            .addColumn('server_id', 'text', (c) => c.notNull())
            .addColumn('bucket', 'text', (c) => c.notNull())
            .addColumn('samples', 'integer', (c) => c.notNull())
            .addColumn('cpu_pct', real, (c) => c.notNull())
            .addColumn('cpu_pct_max', real, (c) => c.notNull())
            .addColumn('mem_pct', real, (c) => c.notNull())
            .addColumn('mem_pct_max', real, (c) => c.notNull())
            .addColumn('disk_pct', real)
            .addColumn('disk_pct_max', real)
            .addColumn('load1', real, (c) => c.notNull())
            .addColumn('load1_max', real, (c) => c.notNull())
            .addColumn('rx_bps', real)
            .addColumn('tx_bps', real)
            .addPrimaryKeyConstraint(`${table}_pk`, ['server_id', 'bucket'])
            .execute();
          await db.schema.createIndex(`${table}_bucket`).on(table).column('bucket').execute();
        }
        await db.schema
          .createTable('server_metrics_latest')
          .addColumn('server_id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('cpu_pct', real, (c) => c.notNull())
          .addColumn('mem_pct', real, (c) => c.notNull())
          .addColumn('disk_pct', real)
          .addColumn('sample', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('server_metrics_latest_ws')
          .on('server_metrics_latest')
          .column('workspace_id')
          .execute();
      },
    },
    '0010_exec': {
      async up(db: Kysely<unknown>) {
        // Command allow/deny lists attached to a work session (JSON {allow?, deny?}).
        await db.schema.alterTable('work_sessions').addColumn('commands', 'text').execute();
        await db.schema
          .createTable('exec_jobs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('user_email', 'text', (c) => c.notNull())
          .addColumn('selectors', 'text', (c) => c.notNull())
          .addColumn('command', 'text', (c) => c.notNull())
          .addColumn('os_user', 'text')
          .addColumn('parallel', 'integer', (c) => c.notNull())
          .addColumn('timeout_s', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('finished_at', 'text')
          .addColumn('summary', 'text')
          .execute();
        await db.schema.createIndex('exec_jobs_ws').on('exec_jobs').columns(['workspace_id', 'created_at']).execute();
        await db.schema
          .createTable('exec_results')
          .addColumn('job_id', 'text', (c) => c.notNull().references('exec_jobs.id'))
          .addColumn('n', 'integer', (c) => c.notNull())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('server_id', 'text')
          .addColumn('server_name', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('work_session_id', 'text')
          .addColumn('exit_code', 'integer')
          .addColumn('signal', 'text')
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .addColumn('stdout', 'text')
          .addColumn('stderr', 'text')
          .addColumn('truncated', 'integer', (c) => c.notNull().defaultTo(0))
          .addPrimaryKeyConstraint('exec_results_pk', ['job_id', 'n'])
          .execute();
      },
    },
    '0011_step_up': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('auth_tokens').addColumn('stepped_up_at', 'text').execute();
      },
    },
    '0012_recordings': {
      async up(db: Kysely<unknown>) {
        for (const [name, type] of [
          ['recording_path', 'text'],
          ['recording_bytes', 'integer'],
          ['recording_sha256', 'text'],
          ['recording_purged_at', 'text'],
        ] as const) {
          await db.schema.alterTable('websh_sessions').addColumn(name, type).execute();
        }
      },
    },
    '0016_shell_marks': {
      async up(db: Kysely<unknown>) {
        // The nonce the session's shell integration puts in its marks (a node adopting the session needs it).
        await db.schema.alterTable('websh_sessions').addColumn('shell_nonce', 'text').execute();
      },
    },
    '0013_api_tokens': {
      async up(db: Kysely<unknown>) {
        // Applications are rows of users (kind 'application') so grants, groups, work sessions and
        // foreign keys keep working; they have no password and can never sign in with one.
        await db.schema
          .alterTable('users')
          .addColumn('kind', 'text', (c) => c.notNull().defaultTo('human'))
          .execute();
        await db.schema
          .createTable('applications')
          .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id'))
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('deleted_at', 'text')
          .execute();
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('servers', 'text')
          .addColumn('commands', 'text')
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('revoked_at', 'text')
          .addColumn('last_used_at', 'text')
          .addColumn('last_used_ip', 'text')
          .execute();
        await db.schema
          .createIndex('api_tokens_ws_user')
          .on('api_tokens')
          .columns(['workspace_id', 'user_id'])
          .execute();
        await db.schema
          .createTable('api_token_activity')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('token_id', 'text', (c) => c.notNull())
          .addColumn('ts', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('route', 'text', (c) => c.notNull())
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('source_ip', 'text')
          .execute();
        await db.schema
          .createIndex('api_token_activity_token')
          .on('api_token_activity')
          .columns(['token_id', 'ts'])
          .execute();
      },
    },
    '0017_websh_persist': {
      async up(db: Kysely<unknown>) {
        // What the agent announced in its hello (e.g. persist, upgrade), as a JSON array.
        await db.schema.alterTable('servers').addColumn('capabilities', 'text').execute();
        for (const [name, type] of [
          ['detached_at', 'text'],
          ['channel_id', 'text'],
          ['host_node', 'text'],
          ['persist_seconds', 'integer'],
        ] as const) {
          await db.schema.alterTable('websh_sessions').addColumn(name, type).execute();
        }
        await db.schema
          .createTable('websh_shares')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text')
          .addColumn('link_hash', 'text')
          .addColumn('mode', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text')
          .addColumn('revoked_at', 'text')
          .execute();
        await db.schema
          .createIndex('websh_shares_session')
          .on('websh_shares')
          .columns(['workspace_id', 'session_id'])
          .execute();
        await db.schema.createIndex('websh_shares_link').on('websh_shares').column('link_hash').execute();
      },
    },
    '0015_sso': sso0015,
    '0014_mfa': {
      async up(db: Kysely<unknown>) {
        // Second factors. TOTP secrets are AES-256-GCM encrypted (mfa/secret-box.ts); WebAuthn keeps the
        // public key only; last_step refuses a TOTP code's time step twice (replay).
        await db.schema
          .createTable('mfa_factors')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('secret_enc', 'text')
          .addColumn('phone', 'text')
          .addColumn('channel', 'text')
          .addColumn('credential_id', 'text')
          .addColumn('public_key', 'text')
          .addColumn('sign_count', 'bigint')
          .addColumn('transports', 'text')
          .addColumn('last_step', 'bigint')
          .addColumn('confirmed_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .execute();
        await db.schema
          .createIndex('mfa_factors_user')
          .on('mfa_factors')
          .columns(['workspace_id', 'user_id'])
          .execute();
        await db.schema
          .createIndex('mfa_factors_credential')
          .on('mfa_factors')
          .column('credential_id')
          .unique()
          .execute();
        await db.schema
          .createTable('mfa_recovery_codes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('code_hash', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .execute();
        await db.schema
          .createIndex('mfa_recovery_codes_user')
          .on('mfa_recovery_codes')
          .columns(['workspace_id', 'user_id'])
          .execute();
        // Pending second steps: a sign-in waiting for its factor, a step-up or an enrolment waiting for a
        // code or an authenticator's answer. In the database so that any cluster node can finish them.
        await db.schema
          .createTable('mfa_challenges')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('purpose', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
          .addColumn('auth_token_id', 'text')
          .addColumn('factor_id', 'text')
          .addColumn('code_method', 'text')
          .addColumn('code_hash', 'text')
          .addColumn('code_expires_at', 'text')
          .addColumn('webauthn_challenge', 'text')
          .addColumn('webauthn_origin', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('source_ip', 'text')
          .addColumn('user_agent', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .execute();
        // Sign-in sessions: the browser or CLI that holds them, and how they signed in (null: password only).
        await db.schema.alterTable('auth_tokens').addColumn('user_agent', 'text').execute();
        await db.schema.alterTable('auth_tokens').addColumn('mfa_method', 'text').execute();
      },
    },
  };
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}
