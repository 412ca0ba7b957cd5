import type { Kysely } from 'kysely';
import type { LoginResponse, Role } from '@corral/protocol';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';
import { verifyPassword } from './passwords.js';
import { FailureLimiter } from './rate-limit.js';
import type { Principal } from './principal.js';
import { ApiTokens } from './api-tokens.js';

export interface AuthServiceOptions {
  /** Lifetime of a sign-in token, ms. Default 12 h. */
  tokenTtlMs: number;
  /** Failed logins allowed per account per 15 min. Default 5. */
  maxFailuresPerAccount: number;
  /** Failed logins allowed per source address per 15 min. Default 20. */
  maxFailuresPerAddress: number;
}

export const DEFAULT_AUTH_OPTIONS: AuthServiceOptions = {
  tokenTtlMs: 12 * 3600_000,
  maxFailuresPerAccount: 5,
  maxFailuresPerAddress: 20,
};

const WINDOW_MS = 15 * 60_000;

/** Password sign-in, bearer tokens, sign-out. */
export class AuthService {
  private readonly byAccount: FailureLimiter;
  private readonly byAddress: FailureLimiter;
  /**
   * Workspace policy on password sign-in (the SSO service sets it): a reason when this user must sign
   * in another way, or null. Asked only after the password proved right, so it reveals nothing.
   */
  passwordPolicy: (workspaceId: string, role: Role) => Promise<string | null> = async () => null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly opts: AuthServiceOptions = DEFAULT_AUTH_OPTIONS,
    /** API and service tokens (`crl_pat_`, `crl_svc_`), resolved by their own service. */
    private readonly apiTokens?: ApiTokens,
  ) {
    this.byAccount = new FailureLimiter({ max: opts.maxFailuresPerAccount, windowMs: WINDOW_MS }, clock);
    this.byAddress = new FailureLimiter({ max: opts.maxFailuresPerAddress, windowMs: WINDOW_MS }, clock);
  }

  async login(workspaceId: string, emailIn: string, password: string, sourceIp: string): Promise<LoginResponse> {
    const email = emailIn.trim().toLowerCase();
    const accountKey = `${workspaceId}\n${email}`;
    const wait = Math.max(this.byAccount.retryAfterMs(accountKey), this.byAddress.retryAfterMs(sourceIp));
    if (wait > 0) {
      await this.audit.append({
        workspaceId,
        action: 'auth.login',
        outcome: 'denied',
        actor: { type: 'anonymous', name: email },
        sourceIp,
        details: { reason: 'rate_limited' },
      });
      const seconds = Math.ceil(wait / 1000);
      throw new CorralError('RATE_LIMITED', `Too many failed sign-ins; try again in ${seconds} s.`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    const user = await this.db
      .selectFrom('users')
      .innerJoin('workspaces', 'workspaces.id', 'users.workspace_id')
      .select([
        'users.id',
        'users.email',
        'users.role',
        'users.password_hash',
        'users.deactivated_at',
        'workspaces.name as workspace_name',
      ])
      .where('users.workspace_id', '=', workspaceId)
      .where('users.email', '=', email)
      .executeTakeFirst();
    const ok = await verifyPassword(user?.password_hash ?? null, password);
    if (!user || !ok || user.deactivated_at) {
      this.byAccount.fail(accountKey);
      this.byAddress.fail(sourceIp);
      await this.audit.append({
        workspaceId,
        action: 'auth.login',
        outcome: 'failure',
        actor: { type: user ? 'user' : 'anonymous', id: user?.id ?? null, name: email },
        sourceIp,
        details: { reason: !user ? 'unknown_user' : user.deactivated_at ? 'deactivated' : 'wrong_password' },
      });
      throw new CorralError('INVALID_CREDENTIALS');
    }
    this.byAccount.succeed(accountKey);
    const refused = await this.passwordPolicy(workspaceId, user.role as Role);
    if (refused) {
      await this.audit.append({
        workspaceId,
        action: 'auth.login',
        outcome: 'denied',
        actor: { type: 'user', id: user.id, name: user.email },
        sourceIp,
        details: { method: 'password', reason: 'sso_required' },
      });
      throw new CorralError('SSO_REQUIRED', refused);
    }
    const token = newSecret('crl');
    const now = this.clock.now();
    const expiresAt = iso(now + this.opts.tokenTtlMs);
    const tokenId = newId('tok');
    await this.db
      .insertInto('auth_tokens')
      .values({
        id: tokenId,
        workspace_id: workspaceId,
        user_id: user.id,
        token_hash: hashSecret(token),
        created_at: iso(now),
        expires_at: expiresAt,
        revoked_at: null,
        last_used_at: null,
        source_ip: sourceIp,
      })
      .execute();
    await this.audit.append({
      workspaceId,
      action: 'auth.login',
      actor: { type: 'user', id: user.id, name: user.email },
      sourceIp,
      details: { method: 'password', tokenId },
    });
    return {
      token,
      expiresAt,
      user: { id: user.id, email: user.email, role: user.role as Role },
      workspace: { id: workspaceId, name: user.workspace_name },
    };
  }

  /**
   * Resolve a bearer token to its principal, or null when it is unknown, expired, revoked or its user
   * is deactivated. Lookup is by the token's SHA-256, an indexed equality on a digest of a 256-bit
   * secret, so timing reveals nothing useful.
   */
  async authenticate(bearer: string): Promise<Principal | null> {
    if (!bearer.startsWith('crl_') || bearer.length > 200) return null;
    if (this.apiTokens && ApiTokens.isApiToken(bearer)) {
      const p = await this.apiTokens.authenticate(bearer);
      if (p) return p;
    }
    const row = await this.db
      .selectFrom('auth_tokens')
      .innerJoin('users', 'users.id', 'auth_tokens.user_id')
      .innerJoin('workspaces', 'workspaces.id', 'auth_tokens.workspace_id')
      .select([
        'auth_tokens.id as token_id',
        'auth_tokens.expires_at',
        'auth_tokens.revoked_at',
        'auth_tokens.workspace_id',
        'users.id as user_id',
        'users.email',
        'users.role',
        'users.deactivated_at',
        'workspaces.name as workspace_name',
      ])
      .where('auth_tokens.token_hash', '=', hashSecret(bearer))
      .executeTakeFirst();
    if (!row || row.revoked_at || row.deactivated_at) return null;
    if (Date.parse(row.expires_at) <= this.clock.now()) return null;
    return {
      kind: 'user',
      userId: row.user_id,
      email: row.email,
      role: row.role as Role,
      workspaceId: row.workspace_id,
      workspaceName: row.workspace_name,
      tokenId: row.token_id,
      tokenExpiresAt: row.expires_at,
    };
  }

  /**
   * Step-up: the signed-in user proves themselves again (their password now; MFA with the authentication
   * issue) and the token may elevate for the grace window. Failures count toward the sign-in limits.
   */
  async stepUp(p: Principal, password: string, sourceIp: string, graceMs: number): Promise<{ validUntil: string }> {
    const accountKey = `${p.workspaceId}\n${p.email}`;
    const wait = Math.max(this.byAccount.retryAfterMs(accountKey), this.byAddress.retryAfterMs(sourceIp));
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new CorralError('RATE_LIMITED', `Too many failed attempts; try again in ${seconds} s.`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    const user = await this.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', p.userId)
      .executeTakeFirst();
    const ok = await verifyPassword(user?.password_hash ?? null, password);
    if (!ok) {
      this.byAccount.fail(accountKey);
      this.byAddress.fail(sourceIp);
      await this.audit.append({
        workspaceId: p.workspaceId,
        action: 'auth.step_up',
        outcome: 'failure',
        actor: { type: 'user', id: p.userId, name: p.email },
        sourceIp,
        details: { reason: 'wrong_password', tokenId: p.tokenId },
      });
      throw new CorralError('INVALID_CREDENTIALS', 'Wrong password: not stepped up.');
    }
    this.byAccount.succeed(accountKey);
    const now = this.clock.now();
    await this.db
      .updateTable('auth_tokens')
      .set({ stepped_up_at: iso(now) })
      .where('id', '=', p.tokenId)
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'auth.step_up',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { method: 'password', tokenId: p.tokenId, graceSeconds: Math.round(graceMs / 1000) },
    });
    return { validUntil: iso(now + graceMs) };
  }

  /** When the token last stepped up (ms), or null. */
  async steppedUpAt(p: Principal): Promise<number | null> {
    const r = await this.db
      .selectFrom('auth_tokens')
      .select('stepped_up_at')
      .where('id', '=', p.tokenId)
      .executeTakeFirst();
    return r?.stepped_up_at ? Date.parse(r.stepped_up_at) : null;
  }

  async logout(p: Principal, sourceIp: string): Promise<void> {
    await this.db
      .updateTable('auth_tokens')
      .set({ revoked_at: iso(this.clock.now()) })
      .where('id', '=', p.tokenId)
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'auth.logout',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { tokenId: p.tokenId },
    });
  }

  /**
   * Start a session for a user who proved themselves another way (SSO, device approval): a new token,
   * audited as `auth.login` with the method and its details. The caller has checked the user is active.
   */
  async issueSession(
    workspaceId: string,
    user: { id: string; email: string; role: Role },
    sourceIp: string,
    method: string,
    details: Record<string, unknown> = {},
  ): Promise<LoginResponse> {
    const ws = await this.db.selectFrom('workspaces').select('name').where('id', '=', workspaceId).executeTakeFirst();
    if (!ws) throw new CorralError('WORKSPACE_NOT_FOUND');
    const token = newSecret('crl');
    const now = this.clock.now();
    const expiresAt = iso(now + this.opts.tokenTtlMs);
    const tokenId = newId('tok');
    await this.db
      .insertInto('auth_tokens')
      .values({
        id: tokenId,
        workspace_id: workspaceId,
        user_id: user.id,
        token_hash: hashSecret(token),
        created_at: iso(now),
        expires_at: expiresAt,
        revoked_at: null,
        last_used_at: null,
        source_ip: sourceIp,
      })
      .execute();
    await this.audit.append({
      workspaceId,
      action: 'auth.login',
      actor: { type: 'user', id: user.id, name: user.email },
      sourceIp,
      details: { method, tokenId, ...details },
    });
    return {
      token,
      expiresAt,
      user: { id: user.id, email: user.email, role: user.role },
      workspace: { id: workspaceId, name: ws.name },
    };
  }
}
