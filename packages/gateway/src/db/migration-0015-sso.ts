import type { Kysely, Migration } from 'kysely';

/**
 * 0015_sso: single sign-on providers per workspace, the identities they vouch for, in-flight sign-ins
 * (OIDC state / SAML request), the "SSO required" policy, and device authorizations (`corral login
 * --browser`). Booleans are integers (0/1) on both databases.
 */
export const sso0015: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('sso_providers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('jit', 'integer', (c) => c.notNull())
      .addColumn('jit_role', 'text', (c) => c.notNull())
      .addColumn('group_map', 'text', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('secret_enc', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('sso_providers_ws_name', ['workspace_id', 'name'])
      .execute();
    await db.schema
      .createTable('sso_identities')
      .addColumn('provider_id', 'text', (c) => c.notNull().references('sso_providers.id').onDelete('cascade'))
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('workspace_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_login_at', 'text')
      .addPrimaryKeyConstraint('sso_identities_pk', ['provider_id', 'subject'])
      .execute();
    await db.schema
      .createTable('sso_flows')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('workspace_id', 'text', (c) => c.notNull())
      .addColumn('provider_id', 'text', (c) => c.notNull().references('sso_providers.id').onDelete('cascade'))
      .addColumn('binding_hash', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text')
      .addColumn('code_verifier', 'text')
      .addColumn('request_id', 'text')
      .addColumn('redirect_uri', 'text', (c) => c.notNull())
      .addColumn('next', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('consumed_at', 'text')
      .execute();
    await db.schema
      .createTable('sso_policies')
      .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id'))
      .addColumn('sso_required', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();
    await db.schema
      .createTable('device_authorizations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id'))
      .addColumn('device_code_hash', 'text', (c) => c.notNull().unique())
      .addColumn('user_code_hash', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('client_name', 'text')
      .addColumn('client_ip', 'text')
      .addColumn('user_id', 'text')
      .addColumn('decided_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('interval_s', 'integer', (c) => c.notNull())
      .addColumn('last_poll_at', 'text')
      .execute();
    await db.schema
      .createIndex('device_authorizations_user_code')
      .on('device_authorizations')
      .columns(['workspace_id', 'user_code_hash'])
      .execute();
  },
};
