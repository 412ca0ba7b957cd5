import type { Kysely } from 'kysely';
import type {
  ApiTokenActivity,
  ApiTokenCreateRequest,
  ApiTokenCreateResponse,
  ApiTokenView,
  ApplicationCreateRequest,
  ApplicationView,
  CommandAcl,
  Role,
  ServiceTokenCreateRequest,
  TokenLevel,
  TokenResource,
} from '@corral/protocol';
import type { ApiTokensTable, Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChannelHub } from '../channels/channel-hub.js';
import type { Logger } from '../log.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';
import { formatSelector, parseSelector } from '../iam/selectors.js';
import { checkCommand } from '../exec/command-acl.js';
import { roleAtLeast, type ApiTokenGrant, type Principal } from './principal.js';
import { formatScopes, intersectScopes, parseScopes, scopesBeyond } from './token-scopes.js';

const INTERACTIVE_RULE = 'interactive terminals are refused to tokens with a command ACL';
const INTERACTIVE_MESSAGE =
  'This token has a command ACL, which cannot be enforced on an interactive terminal: run a command without a tty (corral websh SERVER -- CMD, or corral exec)';

/** Prefix of personal access tokens; secret scanners look for it. */
export const PAT_PREFIX = 'crl_pat_';
/** Prefix of applications' service tokens. */
export const SVC_PREFIX = 'crl_svc_';
/** Default lifetime of a new token when none is given: 30 days. */
export const DEFAULT_TOKEN_TTL_S = 30 * 86400;
/** Requests kept in each token's activity log (older ones are pruned). */
export const ACTIVITY_KEEP = 1000;
/** Prune a token's activity log every this many requests. */
const PRUNE_EVERY = 100;

/** Activity ids sort in insertion order within a millisecond (ts, then id). */
let activitySeq = 0;
function activityId(now: number): string {
  activitySeq = (activitySeq + 1) % 1_000_000;
  return `act_${now.toString(36).padStart(9, '0')}${activitySeq.toString(36).padStart(4, '0')}_${newId('r').slice(2, 8)}`;
}

type Scopes = Partial<Record<TokenResource, TokenLevel>>;

/** Identity shown for an application: what grants, groups and audit events name. */
export function appPrincipalName(name: string): string {
  return `app:${name}`;
}

function statusOf(r: ApiTokensTable, now: number): ApiTokenView['status'] {
  if (r.revoked_at) return 'revoked';
  if (r.expires_at && Date.parse(r.expires_at) <= now) return 'expired';
  return 'active';
}

/**
 * API tokens (personal, `crl_pat_`), applications and their service tokens (`crl_svc_`): issuing,
 * resolving a bearer to a principal, revocation (live channels opened with the token end at once),
 * and the per-token activity log.
 *
 * Only the SHA-256 of a secret is stored; the secret is shown once. What a token may do is the
 * intersection of its scopes and ACLs with its owner's current role and grants: the principal carries
 * the owner's role as it is now, so the usual checks apply on top of the token's ceiling.
 */
export class ApiTokens {
  private readonly writes = new Map<string, number>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly channels: ChannelHub,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** True when `bearer` has one of the API token prefixes. */
  static isApiToken(bearer: string): boolean {
    return bearer.startsWith(PAT_PREFIX) || bearer.startsWith(SVC_PREFIX);
  }

  /**
   * Resolve an API or service token to its principal, or null when unknown, expired, revoked, or its
   * owner is deactivated (or its application deleted). Lookup by SHA-256, as for session tokens.
   */
  async authenticate(bearer: string): Promise<Principal | null> {
    if (!ApiTokens.isApiToken(bearer) || bearer.length > 200) return null;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .innerJoin('workspaces', 'workspaces.id', 'api_tokens.workspace_id')
      .leftJoin('applications', 'applications.user_id', 'api_tokens.user_id')
      .select([
        'api_tokens.id',
        'api_tokens.kind',
        'api_tokens.name',
        'api_tokens.scopes',
        'api_tokens.servers',
        'api_tokens.commands',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'api_tokens.workspace_id',
        'users.id as user_id',
        'users.email',
        'users.role',
        'users.kind as user_kind',
        'users.deactivated_at',
        'workspaces.name as workspace_name',
        'applications.scopes as app_scopes',
        'applications.deleted_at as app_deleted_at',
      ])
      .where('api_tokens.token_hash', '=', hashSecret(bearer))
      .executeTakeFirst();
    if (!row || row.revoked_at || row.deactivated_at || row.app_deleted_at) return null;
    if (row.expires_at && Date.parse(row.expires_at) <= this.clock.now()) return null;
    // The prefix must match the kind, so a token cannot pass for the other sort.
    if (bearer.startsWith(PAT_PREFIX) !== (row.kind === 'personal')) return null;
    const isApp = row.user_kind === 'application';
    if (isApp !== (row.kind === 'service')) return null;
    let scopes = parseScopes(JSON.parse(row.scopes) as string[]);
    if (isApp) scopes = intersectScopes(scopes, parseScopes(JSON.parse(row.app_scopes ?? '[]') as string[]));
    const apiToken: ApiTokenGrant = {
      id: row.id,
      kind: row.kind,
      name: row.name,
      scopes,
      servers: row.servers ? (JSON.parse(row.servers) as string[]) : null,
      commands: row.commands ? (JSON.parse(row.commands) as CommandAcl) : null,
      expiresAt: row.expires_at,
    };
    return {
      kind: isApp ? 'application' : 'user',
      userId: row.user_id,
      email: row.email,
      role: row.role as Role,
      workspaceId: row.workspace_id,
      workspaceName: row.workspace_name,
      tokenId: row.id,
      tokenExpiresAt: row.expires_at,
      apiToken,
    };
  }

  // --- personal tokens ----------------------------------------------------------------------------

  /** Issue a personal access token to the caller (a human). The secret is in the answer, once. */
  async createPersonal(p: Principal, body: ApiTokenCreateRequest, sourceIp: string): Promise<ApiTokenCreateResponse> {
    if (p.kind !== 'user') {
      throw new CorralError(
        'FORBIDDEN',
        'Applications do not have personal tokens; a staff member issues service tokens (corral app token create).',
      );
    }
    return this.issue(p, p.userId, p.email, 'personal', body, sourceIp);
  }

  /** The caller's own personal tokens, newest first. */
  async listPersonal(p: Principal): Promise<ApiTokenView[]> {
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .where('kind', '=', 'personal')
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => this.view(r, p.email));
  }

  /** Revoke one of the caller's tokens (staff and superusers: anyone's in the workspace). */
  async revokePersonal(p: Principal, id: string, sourceIp: string): Promise<void> {
    const row = await this.find(p.workspaceId, id);
    if (!row || row.kind !== 'personal' || (row.user_id !== p.userId && !this.isStaff(p))) {
      throw new CorralError('TOKEN_NOT_FOUND', `No API token "${id}" of yours.`);
    }
    await this.revoke(p, row, sourceIp);
  }

  /** The last requests made with a token (its owner, or staff). */
  async activity(p: Principal, id: string, limit: number): Promise<ApiTokenActivity[]> {
    const row = await this.find(p.workspaceId, id);
    if (!row || (row.user_id !== p.userId && !this.isStaff(p))) {
      throw new CorralError('TOKEN_NOT_FOUND', `No API token "${id}" of yours.`);
    }
    const rows = await this.db
      .selectFrom('api_token_activity')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('token_id', '=', row.id)
      .orderBy('ts', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      ts: r.ts,
      method: r.method,
      route: r.route,
      status: Number(r.status),
      sourceIp: r.source_ip,
    }));
  }

  /** Record one request made with a token and its last use; never throws (logs instead). */
  async recordActivity(p: Principal, method: string, route: string, status: number, sourceIp: string): Promise<void> {
    if (!p.apiToken) return;
    const tokenId = p.apiToken.id;
    const now = this.clock.now();
    const ts = iso(now);
    try {
      await this.db
        .insertInto('api_token_activity')
        .values({
          id: activityId(now),
          workspace_id: p.workspaceId,
          token_id: tokenId,
          ts,
          method,
          route,
          status,
          source_ip: sourceIp,
        })
        .execute();
      await this.db
        .updateTable('api_tokens')
        .set({ last_used_at: ts, last_used_ip: sourceIp })
        .where('id', '=', tokenId)
        .execute();
      const n = (this.writes.get(tokenId) ?? 0) + 1;
      this.writes.set(tokenId, n % PRUNE_EVERY);
      if (n >= PRUNE_EVERY) await this.prune(tokenId);
    } catch (err) {
      this.log.error('token activity not recorded', { err: String(err), tokenId });
    }
  }

  /** Keep only the newest ACTIVITY_KEEP requests of a token. */
  async prune(tokenId: string): Promise<void> {
    const cut = await this.db
      .selectFrom('api_token_activity')
      .select('ts')
      .where('token_id', '=', tokenId)
      .orderBy('ts', 'desc')
      .orderBy('id', 'desc')
      .offset(ACTIVITY_KEEP - 1)
      .limit(1)
      .executeTakeFirst();
    if (cut)
      await this.db.deleteFrom('api_token_activity').where('token_id', '=', tokenId).where('ts', '<', cut.ts).execute();
  }

  // --- applications -------------------------------------------------------------------------------

  async createApp(p: Principal, body: ApplicationCreateRequest, sourceIp: string): Promise<ApplicationView> {
    const scopes = parseScopes(body.scopes);
    await this.notBeyondCaller(p, scopes, sourceIp);
    const email = appPrincipalName(body.name);
    const taken = await this.db
      .selectFrom('users')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .where('email', '=', email)
      .executeTakeFirst();
    if (taken) throw new CorralError('APPLICATION_EXISTS', `An application "${body.name}" already exists.`);
    const id = newId('app');
    const now = iso(this.clock.now());
    const role = body.role ?? 'member';
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('users')
        .values({
          id,
          workspace_id: p.workspaceId,
          email,
          // Not a PHC string: no password ever verifies against it.
          password_hash: '!application',
          role,
          created_at: now,
          deactivated_at: null,
          kind: 'application',
        })
        .execute();
      await trx
        .insertInto('applications')
        .values({
          user_id: id,
          workspace_id: p.workspaceId,
          name: body.name,
          description: body.description ?? null,
          scopes: JSON.stringify(formatScopes(scopes)),
          created_by: p.email,
          created_at: now,
          deleted_at: null,
        })
        .execute();
    });
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'application.create',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'application', id, name: email },
      sourceIp,
      details: {
        after: { name: body.name, role, scopes: formatScopes(scopes), description: body.description ?? null },
      },
    });
    return (await this.listApps(p.workspaceId)).find((a) => a.id === id)!;
  }

  async listApps(workspaceId: string): Promise<ApplicationView[]> {
    const rows = await this.db
      .selectFrom('applications')
      .innerJoin('users', 'users.id', 'applications.user_id')
      .select([
        'applications.user_id',
        'applications.name',
        'applications.description',
        'applications.scopes',
        'applications.created_by',
        'applications.created_at',
        'users.role',
        'users.email',
      ])
      .where('applications.workspace_id', '=', workspaceId)
      .where('applications.deleted_at', 'is', null)
      .orderBy('applications.name')
      .execute();
    const counts = await this.db
      .selectFrom('api_tokens')
      .select(['user_id', (eb) => eb.fn.countAll<string | number>().as('n')])
      .where('workspace_id', '=', workspaceId)
      .where('kind', '=', 'service')
      .where('revoked_at', 'is', null)
      .groupBy('user_id')
      .execute();
    return rows.map((r) => ({
      id: r.user_id,
      name: r.name,
      principal: r.email,
      description: r.description,
      role: r.role as 'member' | 'staff',
      scopes: JSON.parse(r.scopes) as string[],
      createdAt: r.created_at,
      createdBy: r.created_by,
      tokens: Number(counts.find((c) => c.user_id === r.user_id)?.n ?? 0),
    }));
  }

  /** Delete an application: its tokens stop working, its live channels end, its grants and memberships go. */
  async deleteApp(p: Principal, ref: string, sourceIp: string): Promise<void> {
    const app = await this.app(p.workspaceId, ref);
    const now = iso(this.clock.now());
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('applications').set({ deleted_at: now }).where('user_id', '=', app.id).execute();
      // Free the name for a new application; the row stays for the foreign keys of history.
      await trx
        .updateTable('users')
        .set({ deactivated_at: now, email: `deleted:${app.email}:${app.id}` })
        .where('id', '=', app.id)
        .execute();
      await trx
        .updateTable('api_tokens')
        .set({ revoked_at: now })
        .where('user_id', '=', app.id)
        .where('revoked_at', 'is', null)
        .execute();
      await trx.deleteFrom('user_group_members').where('user_id', '=', app.id).execute();
      await trx
        .deleteFrom('grants')
        .where('workspace_id', '=', p.workspaceId)
        .where('subject_kind', '=', 'user')
        .where('subject_id', '=', app.id)
        .execute();
    });
    this.channels.terminate({
      workspaceId: p.workspaceId,
      userId: app.id,
      code: 'TOKEN_REVOKED',
      reason: `application ${app.name} was deleted`,
    });
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'application.delete',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'application', id: app.id, name: app.email },
      sourceIp,
      details: { before: { name: app.name, role: app.role, scopes: app.scopes } },
    });
  }

  async createServiceToken(
    p: Principal,
    appRef: string,
    body: ServiceTokenCreateRequest,
    sourceIp: string,
  ): Promise<ApiTokenCreateResponse> {
    const app = await this.app(p.workspaceId, appRef);
    const appScopes = parseScopes(app.scopes);
    const scopes = body.scopes ? parseScopes(body.scopes) : appScopes;
    const beyond = scopesBeyond(scopes, appScopes);
    if (beyond.length > 0) {
      throw new CorralError(
        'VALIDATION_FAILED',
        `Application ${app.name} does not have ${beyond.join(', ')}; its scopes are ${app.scopes.join(', ')}.`,
      );
    }
    return this.issue(p, app.id, app.email, 'service', { ...body, scopes: formatScopes(scopes) }, sourceIp, app.name);
  }

  async listServiceTokens(p: Principal, appRef: string): Promise<ApiTokenView[]> {
    const app = await this.app(p.workspaceId, appRef);
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', app.id)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => this.view(r, app.email));
  }

  async revokeServiceToken(p: Principal, appRef: string, id: string, sourceIp: string): Promise<void> {
    const app = await this.app(p.workspaceId, appRef);
    const row = await this.find(p.workspaceId, id);
    if (!row || row.user_id !== app.id) throw new CorralError('TOKEN_NOT_FOUND', `No token "${id}" of ${app.name}.`);
    await this.revoke(p, row, sourceIp);
  }

  // --- enforcement helpers ------------------------------------------------------------------------

  /**
   * Refuse a route the token's scopes do not cover: 403 TOKEN_SCOPE and an `access.denied` event
   * naming the token and the missing scope.
   */
  async refuseScope(p: Principal, route: string, missing: string, reason: string, sourceIp: string): Promise<never> {
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: p.kind === 'application' ? 'application' : 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { attempted: route, reason, missingScope: missing },
    });
    throw new CorralError(
      'TOKEN_SCOPE',
      `${reason}. Create a token with that scope (corral token create --scope ...).`,
      {
        details: { missingScope: missing, tokenId: p.apiToken?.id },
      },
    );
  }

  /** A token with a command ACL asked for a terminal someone types into (attach, join): refused, audited. */
  async refuseInteractive(p: Principal, route: string, sourceIp: string): Promise<never> {
    const rule = INTERACTIVE_RULE;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: p.kind === 'application' ? 'application' : 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { attempted: route, rule },
    });
    throw new CorralError('COMMAND_DENIED', `${INTERACTIVE_MESSAGE}.`, { details: { rule, tokenId: p.apiToken?.id } });
  }

  // --- internals ----------------------------------------------------------------------------------

  private isStaff(p: Principal): boolean {
    return roleAtLeast(p.role, 'staff');
  }

  /** A token cannot hand out more than it has itself. */
  private async notBeyondCaller(p: Principal, scopes: Scopes, sourceIp: string): Promise<void> {
    if (!p.apiToken) return;
    const beyond = scopesBeyond(scopes, p.apiToken.scopes);
    if (beyond.length > 0) {
      await this.refuseBeyond(p, `it lacks ${beyond.join(', ')}`, beyond[0]!, sourceIp);
    }
  }

  /** Refuse (and audit) a token trying to make a token or application with more than it has. */
  private async refuseBeyond(p: Principal, why: string, missing: string, sourceIp: string): Promise<never> {
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: p.kind === 'application' ? 'application' : 'user', id: p.userId, name: p.email },
      sourceIp,
      details: {
        attempted: 'token.create',
        reason: `a token cannot give more than it has: ${why}`,
        missingScope: missing,
      },
    });
    throw new CorralError('TOKEN_SCOPE', `This token cannot give more than it has: ${why}.`, {
      details: { missingScope: missing, tokenId: p.apiToken?.id },
    });
  }

  private async issue(
    p: Principal,
    ownerId: string,
    ownerName: string,
    kind: 'personal' | 'service',
    body: ApiTokenCreateRequest,
    sourceIp: string,
    appName?: string,
  ): Promise<ApiTokenCreateResponse> {
    let scopes: Scopes;
    let servers: string[] | null;
    try {
      scopes = parseScopes(body.scopes);
      servers = body.servers ? [...new Set(body.servers.map((t) => formatSelector(parseSelector(t))))] : null;
    } catch (err) {
      throw new CorralError('VALIDATION_FAILED', (err as Error).message);
    }
    let commands: CommandAcl | null =
      body.commands && (body.commands.allow?.length || body.commands.deny?.length)
        ? {
            ...(body.commands.allow?.length ? { allow: body.commands.allow } : {}),
            ...(body.commands.deny?.length ? { deny: body.commands.deny } : {}),
          }
        : null;
    const now = this.clock.now();
    let expiresAt =
      body.expiresInSeconds === null ? null : iso(now + (body.expiresInSeconds ?? DEFAULT_TOKEN_TTL_S) * 1000);
    // Made with a token: never more than that token (scopes, servers, commands, lifetime).
    const parent = p.apiToken;
    if (parent) {
      await this.notBeyondCaller(p, scopes, sourceIp);
      if (parent.servers) {
        if (!servers) servers = [...parent.servers];
        const extra = servers.filter((x) => !parent.servers!.includes(x));
        if (extra.length > 0) {
          await this.refuseBeyond(
            p,
            `it cannot reach ${extra.join(', ')} (it is limited to ${parent.servers.join(', ')})`,
            'servers',
            sourceIp,
          );
        }
      }
      if (parent.commands) {
        const deny = [...new Set([...(parent.commands.deny ?? []), ...(commands?.deny ?? [])])];
        let allow = commands?.allow ?? parent.commands.allow;
        if (parent.commands.allow?.length) {
          const extra = (allow ?? []).filter((a) => !parent.commands!.allow!.includes(a));
          if (extra.length > 0) {
            await this.refuseBeyond(p, `it may only allow ${parent.commands.allow.join(', ')}`, 'commands', sourceIp);
          }
          allow = allow?.length ? allow : parent.commands.allow;
        }
        commands = { ...(allow?.length ? { allow } : {}), ...(deny.length ? { deny } : {}) };
      }
      if (parent.expiresAt && (expiresAt === null || expiresAt > parent.expiresAt)) expiresAt = parent.expiresAt;
    }
    const secret = newSecret(kind === 'personal' ? 'crl_pat' : 'crl_svc');
    const row: ApiTokensTable = {
      id: newId(kind === 'personal' ? 'pat' : 'svc'),
      workspace_id: p.workspaceId,
      user_id: ownerId,
      kind,
      name: body.name,
      token_hash: hashSecret(secret),
      prefix: secret.slice(0, 12),
      scopes: JSON.stringify(formatScopes(scopes)),
      servers: servers ? JSON.stringify(servers) : null,
      commands: commands ? JSON.stringify(commands) : null,
      created_by: p.email,
      created_at: iso(now),
      expires_at: expiresAt,
      revoked_at: null,
      last_used_at: null,
      last_used_ip: null,
    };
    await this.db.insertInto('api_tokens').values(row).execute();
    const view = this.view(row, ownerName);
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: kind === 'personal' ? 'token.create' : 'application.token.create',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: kind === 'personal' ? 'api_token' : 'service_token', id: row.id, name: body.name },
      sourceIp,
      details: {
        ...(appName ? { application: appName } : {}),
        prefix: row.prefix,
        scopes: view.scopes,
        servers: view.servers,
        commands: view.commands,
        expiresAt,
      },
    });
    return { ...view, token: secret };
  }

  private async revoke(p: Principal, row: ApiTokensTable, sourceIp: string): Promise<void> {
    if (!row.revoked_at) {
      await this.db
        .updateTable('api_tokens')
        .set({ revoked_at: iso(this.clock.now()) })
        .where('id', '=', row.id)
        .execute();
    }
    // Every live channel opened with the token ends now, on every node (one bus hop).
    this.channels.terminate({
      workspaceId: p.workspaceId,
      apiTokenId: row.id,
      code: 'TOKEN_REVOKED',
      reason: `API token ${row.name} was revoked`,
    });
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: row.kind === 'personal' ? 'token.revoke' : 'application.token.revoke',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: row.kind === 'personal' ? 'api_token' : 'service_token', id: row.id, name: row.name },
      sourceIp,
      details: { owner: row.user_id, prefix: row.prefix, alreadyRevoked: row.revoked_at !== null },
    });
  }

  private async find(workspaceId: string, id: string): Promise<ApiTokensTable | undefined> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  private async app(
    workspaceId: string,
    ref: string,
  ): Promise<{ id: string; name: string; email: string; role: string; scopes: string[] }> {
    const r = await this.db
      .selectFrom('applications')
      .innerJoin('users', 'users.id', 'applications.user_id')
      .select(['applications.user_id', 'applications.name', 'applications.scopes', 'users.email', 'users.role'])
      .where('applications.workspace_id', '=', workspaceId)
      .where('applications.deleted_at', 'is', null)
      .where((eb) =>
        eb.or([eb('applications.user_id', '=', ref), eb('applications.name', '=', ref.replace(/^app:/, ''))]),
      )
      .executeTakeFirst();
    if (!r) throw new CorralError('APPLICATION_NOT_FOUND', `No application "${ref}".`);
    return { id: r.user_id, name: r.name, email: r.email, role: r.role, scopes: JSON.parse(r.scopes) as string[] };
  }

  private view(r: ApiTokensTable, owner: string): ApiTokenView {
    return {
      id: r.id,
      kind: r.kind,
      name: r.name,
      prefix: r.prefix,
      owner,
      ownerId: r.user_id,
      scopes: JSON.parse(r.scopes) as string[],
      servers: r.servers ? (JSON.parse(r.servers) as string[]) : null,
      commands: r.commands ? (JSON.parse(r.commands) as CommandAcl) : null,
      createdAt: r.created_at,
      createdBy: r.created_by,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      lastUsedAt: r.last_used_at,
      lastUsedIp: r.last_used_ip,
      status: statusOf(r, this.clock.now()),
    };
  }
}

/**
 * Check a command against the caller's token command ACL before it is dispatched. A refusal is an
 * `access.denied` event naming the rule and a 403 COMMAND_DENIED. Sessions and tokens without a command
 * ACL pass.
 */
export async function enforceTokenCommand(
  audit: AuditLog,
  p: Principal,
  command: readonly string[],
  sourceIp: string,
  target?: { type: string; id: string; name: string },
): Promise<void> {
  const acl = p.apiToken?.commands;
  if (!acl) return;
  const verdict = checkCommand(acl, command);
  if (verdict.allow) return;
  await audit.append({
    workspaceId: p.workspaceId,
    action: 'access.denied',
    outcome: 'denied',
    actor: { type: p.kind === 'application' ? 'application' : 'user', id: p.userId, name: p.email },
    ...(target ? { target } : {}),
    sourceIp,
    details: { attempted: 'command', command: command.join(' '), rule: verdict.rule, reason: verdict.reason },
  });
  throw new CorralError('COMMAND_DENIED', `Refused by the token's command ACL: ${verdict.reason}.`, {
    details: { rule: verdict.rule, tokenId: p.apiToken?.id },
  });
}

/**
 * Terminals opened with a token that has a command ACL: an interactive terminal (a shell, or any pty)
 * is refused, since what is typed into it cannot be checked against the ACL; a command without a pty
 * is checked like exec.
 */
export async function enforceTokenTerminal(
  audit: AuditLog,
  p: Principal,
  req: { command?: string[] | undefined; pty?: boolean | undefined },
  server: { id: string; name: string },
  sourceIp: string,
): Promise<void> {
  const acl = p.apiToken?.commands;
  if (!acl) return;
  const target = { type: 'server', id: server.id, name: server.name };
  const pty = req.pty ?? req.command === undefined;
  if (!req.command || pty) {
    const rule = INTERACTIVE_RULE;
    await audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: p.kind === 'application' ? 'application' : 'user', id: p.userId, name: p.email },
      target,
      sourceIp,
      details: { attempted: 'websh.open', rule, command: req.command?.join(' ') ?? null, pty },
    });
    throw new CorralError('COMMAND_DENIED', `${INTERACTIVE_MESSAGE}.`, { details: { rule, tokenId: p.apiToken?.id } });
  }
  await enforceTokenCommand(audit, p, req.command, sourceIp, target);
}
