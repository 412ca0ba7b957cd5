import type { Kysely } from 'kysely';
import type {
  AuthSessionView,
  LoginResponse,
  LoginSession,
  MfaMethod,
  Role,
  StepUpAction,
  StepUpRequest,
} from '@corral/protocol';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';
import type { ClientMeta, MfaService } from '../mfa/mfa-service.js';
import { policyFromSettings } from '../mfa/policy.js';
import { hashPassword, verifyPassword } from './passwords.js';
import type { SignInGuard } from './rate-limit.js';
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

export const SIGN_IN_WINDOW_MS = 15 * 60_000;

/** last_used_at is written at most this often per session (not on every request). */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Who a sign-in session is issued to. */
export interface SignInUser {
  id: string;
  email: string;
  role: string;
  workspaceId: string;
  workspaceName: string;
}

/**
 * Sign-in (password, then a second factor when the user has one), bearer tokens, step-up, sign-in
 * sessions and password changes. Every proof of identity draws on the same failure limits (SignInGuard).
 */
export class AuthService {
  /**
   * Workspace policy on password sign-in (the SSO service sets it): a reason when this user must sign
   * in another way, or null. Asked only after the password proved right, so it reveals nothing.
   */
  passwordPolicy: (workspaceId: string, role: Role) => Promise<string | null> = async () => null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly opts: AuthServiceOptions,
    private readonly guard: SignInGuard,
    private readonly mfa: MfaService,
    /** API and service tokens (`crl_pat_`, `crl_svc_`), resolved by their own service. */
    private readonly apiTokens?: ApiTokens,
  ) {}

  /**
   * Step one: email and password. Answers a session, or (when the user has a usable factor) a challenge
   * for step two, or (when the workspace enforces MFA and the user has none) a session limited to enrolment.
   */
  async login(workspaceId: string, emailIn: string, password: string, meta: ClientMeta): Promise<LoginResponse> {
    const email = emailIn.trim().toLowerCase();
    await this.refuseWhenLimited(workspaceId, email, meta.sourceIp, 'auth.login');
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
      this.guard.fail(workspaceId, email, meta.sourceIp);
      await this.audit.append({
        workspaceId,
        action: 'auth.login',
        outcome: 'failure',
        actor: { type: user ? 'user' : 'anonymous', id: user?.id ?? null, name: email },
        sourceIp: meta.sourceIp,
        details: { reason: !user ? 'unknown_user' : user.deactivated_at ? 'deactivated' : 'wrong_password' },
      });
      throw new CorralError('INVALID_CREDENTIALS');
    }
    const refused = await this.passwordPolicy(workspaceId, user.role as Role);
    if (refused) {
      await this.audit.append({
        workspaceId,
        action: 'auth.login',
        outcome: 'denied',
        actor: { type: 'user', id: user.id, name: user.email },
        sourceIp: meta.sourceIp,
        details: { method: 'password', reason: 'sso_required' },
      });
      throw new CorralError('SSO_REQUIRED', refused);
    }
    const u: SignInUser = {
      id: user.id,
      email: user.email,
      role: user.role,
      workspaceId,
      workspaceName: user.workspace_name,
    };
    const policy = await this.mfa.policy(workspaceId);
    const factors = await this.mfa.usableFactors(workspaceId, user.id, policy);
    if (factors.length > 0) {
      // The account's failure count is cleared only when the second step succeeds too: a known
      // password must not buy fresh guesses at the code.
      const challenge = await this.mfa.startLogin(u, factors, meta);
      await this.audit.append({
        workspaceId,
        action: 'auth.login',
        outcome: 'success',
        actor: { type: 'user', id: user.id, name: user.email },
        sourceIp: meta.sourceIp,
        details: { method: 'password', step: 'mfa_required', methods: challenge.methods },
      });
      return challenge;
    }
    this.guard.succeed(workspaceId, email);
    return this.startSession(u, meta, { method: 'password', mfaMethod: null, enrollmentOnly: policy.enforced });
  }

  /** Step two: the challenge from login() and a second factor. */
  async loginMfa(
    workspaceId: string,
    challenge: string,
    answer: { method: MfaMethod; code?: string | undefined; webauthn?: Record<string, unknown> | undefined },
    meta: ClientMeta,
  ): Promise<LoginSession> {
    const { user } = await this.mfa.finishLogin(workspaceId, challenge, answer, meta);
    this.guard.succeed(workspaceId, user.email);
    const row = await this.db
      .selectFrom('users')
      .innerJoin('workspaces', 'workspaces.id', 'users.workspace_id')
      .select(['users.role', 'workspaces.name as workspace_name'])
      .where('users.id', '=', user.id)
      .executeTakeFirstOrThrow();
    return this.startSession({ ...user, role: row.role, workspaceName: row.workspace_name }, meta, {
      method: `password+${answer.method}`,
      mfaMethod: answer.method,
      enrollmentOnly: false,
    });
  }

  /**
   * Start a session for a user who proved themselves another way (SSO, device approval): a new token,
   * audited as `auth.login` with the method and its details. The caller has checked the user is active.
   * Such a session counts as having passed MFA (`mfa_method` = the method): the identity provider, or
   * the approving browser session, stands for the second factor.
   */
  async issueSession(
    workspaceId: string,
    user: { id: string; email: string; role: Role },
    sourceIp: string,
    method: string,
    details: Record<string, unknown> = {},
  ): Promise<LoginSession> {
    const ws = await this.db.selectFrom('workspaces').select('name').where('id', '=', workspaceId).executeTakeFirst();
    if (!ws) throw new CorralError('WORKSPACE_NOT_FOUND');
    return this.startSession(
      { ...user, workspaceId, workspaceName: ws.name },
      { sourceIp, userAgent: null, host: undefined },
      { method, mfaMethod: method, enrollmentOnly: false, details },
    );
  }

  /**
   * Create a sign-in session (bearer token) for a user who has proved who they are, and audit
   * `auth.login` with the method.
   */
  private async startSession(
    user: SignInUser,
    meta: ClientMeta,
    how: { method: string; mfaMethod: string | null; enrollmentOnly: boolean; details?: Record<string, unknown> },
  ): Promise<LoginSession> {
    const token = newSecret('crl');
    const now = this.clock.now();
    const expiresAt = iso(now + this.opts.tokenTtlMs);
    const tokenId = newId('tok');
    await this.db
      .insertInto('auth_tokens')
      .values({
        id: tokenId,
        workspace_id: user.workspaceId,
        user_id: user.id,
        token_hash: hashSecret(token),
        created_at: iso(now),
        expires_at: expiresAt,
        revoked_at: null,
        last_used_at: iso(now),
        source_ip: meta.sourceIp,
        user_agent: meta.userAgent?.slice(0, 256) ?? null,
        mfa_method: how.mfaMethod,
      })
      .execute();
    await this.audit.append({
      workspaceId: user.workspaceId,
      action: 'auth.login',
      actor: { type: 'user', id: user.id, name: user.email },
      sourceIp: meta.sourceIp,
      details: {
        method: how.method,
        tokenId,
        ...how.details,
        ...(how.enrollmentOnly ? { enrollmentOnly: true } : {}),
      },
    });
    return {
      token,
      expiresAt,
      user: { id: user.id, email: user.email, role: user.role as Role },
      workspace: { id: user.workspaceId, name: user.workspaceName },
      ...(how.enrollmentOnly ? { enrollmentRequired: true } : {}),
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
        'auth_tokens.last_used_at',
        'auth_tokens.mfa_method',
        'users.id as user_id',
        'users.email',
        'users.role',
        'users.deactivated_at',
        'workspaces.name as workspace_name',
        'workspaces.settings',
      ])
      .where('auth_tokens.token_hash', '=', hashSecret(bearer))
      .executeTakeFirst();
    if (!row || row.revoked_at || row.deactivated_at) return null;
    const now = this.clock.now();
    if (Date.parse(row.expires_at) <= now) return null;
    if (!row.last_used_at || now - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      await this.db
        .updateTable('auth_tokens')
        .set({ last_used_at: iso(now) })
        .where('id', '=', row.token_id)
        .execute();
    }
    return {
      kind: 'user',
      userId: row.user_id,
      email: row.email,
      role: row.role as Role,
      workspaceId: row.workspace_id,
      workspaceName: row.workspace_name,
      tokenId: row.token_id,
      tokenExpiresAt: row.expires_at,
      mfaMethod: row.mfa_method,
      enrollmentOnly: row.mfa_method === null && enforcesMfa(row.settings),
    };
  }

  /**
   * Step-up: the signed-in user proves themselves again, and for the grace window the session may do
   * what needs a fresh proof (root, and the actions the workspace lists). A user with a second factor
   * must use it; one without uses the password. Failures count toward the sign-in limits.
   */
  async stepUp(p: Principal, body: StepUpRequest, meta: ClientMeta): Promise<{ validUntil: string }> {
    await this.refuseWhenLimited(p.workspaceId, p.email, meta.sourceIp, 'auth.step_up', p);
    const policy = await this.mfa.policy(p.workspaceId);
    const hasFactors = (await this.mfa.usableFactors(p.workspaceId, p.userId, policy)).length > 0;
    let method: string;
    if (hasFactors) {
      if (!body.method) {
        throw new CorralError('MFA_REQUIRED', 'Your account has a second factor: step up with it (corral step-up).');
      }
      try {
        await this.mfa.verifyStepUp(
          p,
          { method: body.method, code: body.code, webauthn: body.webauthn },
          body.challenge,
          meta,
        );
      } catch (err) {
        await this.auditStepUpFailure(p, meta, body.method, (err as { code?: string }).code ?? 'error');
        throw err;
      }
      method = body.method;
    } else {
      if (!body.password) throw new CorralError('VALIDATION_FAILED', 'password: required (you have no second factor)');
      const user = await this.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', p.userId)
        .executeTakeFirst();
      if (!(await verifyPassword(user?.password_hash ?? null, body.password))) {
        this.guard.fail(p.workspaceId, p.email, meta.sourceIp);
        await this.auditStepUpFailure(p, meta, 'password', 'wrong_password');
        throw new CorralError('INVALID_CREDENTIALS', 'Wrong password: not stepped up.');
      }
      method = 'password';
    }
    this.guard.succeed(p.workspaceId, p.email);
    const now = this.clock.now();
    await this.db
      .updateTable('auth_tokens')
      .set({ stepped_up_at: iso(now) })
      .where('id', '=', p.tokenId)
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    // A session that signed in with the password only (before its user enrolled, or before MFA was
    // enforced) has now proved a factor: it counts as an MFA session from here on.
    if (method !== 'password') {
      await this.db
        .updateTable('auth_tokens')
        .set({ mfa_method: method })
        .where('id', '=', p.tokenId)
        .where('mfa_method', 'is', null)
        .execute();
    }
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'auth.step_up',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp: meta.sourceIp,
      details: { method, tokenId: p.tokenId, graceSeconds: policy.graceSeconds },
    });
    return { validUntil: iso(now + policy.graceSeconds * 1000) };
  }

  private async auditStepUpFailure(p: Principal, meta: ClientMeta, method: string, reason: string): Promise<void> {
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'auth.step_up',
      outcome: 'failure',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp: meta.sourceIp,
      details: { method, reason, tokenId: p.tokenId },
    });
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

  /**
   * Refuse `action` with 403 STEP_UP_REQUIRED (audited) when the workspace lists it among the actions
   * that need a fresh step-up and the session has none within the grace window. Call it before doing
   * the action: `await s.auth.requireStepUp(p, 'role_change', req.ip)`.
   */
  async requireStepUp(p: Principal, action: StepUpAction, sourceIp: string): Promise<void> {
    const policy = await this.mfa.policy(p.workspaceId);
    if (!policy.stepUpActions.includes(action)) return;
    await this.requireFreshProof(p, action, sourceIp);
  }

  /**
   * Refuse unless the session stepped up within the grace window. A user without any factor yet may use
   * a session signed in within the window (its password is the fresh proof): that is how an enrolment-only
   * session enrols its first factor.
   */
  async requireFreshProof(p: Principal, action: string, sourceIp: string): Promise<void> {
    const policy = await this.mfa.policy(p.workspaceId);
    const graceMs = policy.graceSeconds * 1000;
    const now = this.clock.now();
    const tok = await this.db
      .selectFrom('auth_tokens')
      .select(['stepped_up_at', 'created_at'])
      .where('id', '=', p.tokenId)
      .executeTakeFirst();
    if (tok?.stepped_up_at && now - Date.parse(tok.stepped_up_at) <= graceMs) return;
    if (tok && now - Date.parse(tok.created_at) <= graceMs) {
      const factors = await this.mfa.usableFactors(p.workspaceId, p.userId, policy);
      if (factors.length === 0) return;
    }
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { attempted: action, reason: 'no step-up within the grace window' },
    });
    throw new CorralError(
      'STEP_UP_REQUIRED',
      `${action.replace(/_/g, ' ')} needs a fresh proof that it is you: run \`corral step-up\` (valid ${Math.round(policy.graceSeconds / 60)} min), then try again.`,
      { details: { action } },
    );
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

  /** The caller's live sign-in sessions, newest first. */
  async sessions(p: Principal): Promise<AuthSessionView[]> {
    const rows = await this.db
      .selectFrom('auth_tokens')
      .select(['id', 'created_at', 'expires_at', 'last_used_at', 'source_ip', 'user_agent', 'mfa_method'])
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', iso(this.clock.now()))
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      lastUsedAt: r.last_used_at,
      sourceIp: r.source_ip,
      userAgent: r.user_agent,
      method: r.mfa_method ? `password+${r.mfa_method}` : 'password',
      current: r.id === p.tokenId,
    }));
  }

  /** Revoke one of the caller's own sessions (any other id is AUTH_SESSION_NOT_FOUND). */
  async revokeSession(p: Principal, id: string, sourceIp: string): Promise<void> {
    const r = await this.db
      .updateTable('auth_tokens')
      .set({ revoked_at: iso(this.clock.now()) })
      .where('id', '=', id)
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      throw new CorralError('AUTH_SESSION_NOT_FOUND', `You have no live sign-in session ${id}: see corral signins ls.`);
    }
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'auth.session.revoke',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { tokenId: id, current: id === p.tokenId },
    });
  }

  /** Change the caller's password (the current one again, plus a step-up when the workspace asks); ends their other sessions. */
  async changePassword(
    p: Principal,
    current: string,
    next: string,
    meta: ClientMeta,
  ): Promise<{ revokedSessions: number }> {
    await this.refuseWhenLimited(p.workspaceId, p.email, meta.sourceIp, 'auth.password.change', p);
    const user = await this.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', p.userId)
      .executeTakeFirst();
    if (!(await verifyPassword(user?.password_hash ?? null, current))) {
      this.guard.fail(p.workspaceId, p.email, meta.sourceIp);
      await this.audit.append({
        workspaceId: p.workspaceId,
        action: 'auth.password.change',
        outcome: 'failure',
        actor: { type: 'user', id: p.userId, name: p.email },
        sourceIp: meta.sourceIp,
        details: { reason: 'wrong_password' },
      });
      throw new CorralError('INVALID_CREDENTIALS', 'The current password is wrong: nothing changed.');
    }
    await this.requireStepUp(p, 'password_change', meta.sourceIp);
    if (current === next) throw new CorralError('VALIDATION_FAILED', 'new: must differ from the current password');
    const hash = await hashPassword(next);
    const now = iso(this.clock.now());
    const revoked = await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', p.userId).execute();
      const r = await trx
        .updateTable('auth_tokens')
        .set({ revoked_at: now })
        .where('workspace_id', '=', p.workspaceId)
        .where('user_id', '=', p.userId)
        .where('id', '!=', p.tokenId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    });
    this.guard.succeed(p.workspaceId, p.email);
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'auth.password.change',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'user', id: p.userId, name: p.email },
      sourceIp: meta.sourceIp,
      details: { revokedSessions: revoked },
    });
    return { revokedSessions: revoked };
  }

  /** Throw RATE_LIMITED (audited) while this account or address is over its failure budget. */
  private async refuseWhenLimited(
    workspaceId: string,
    email: string,
    sourceIp: string,
    action: string,
    p?: Principal,
  ): Promise<void> {
    const wait = this.guard.retryAfterMs(workspaceId, email, sourceIp);
    if (wait <= 0) return;
    await this.audit.append({
      workspaceId,
      action,
      outcome: 'denied',
      actor: p ? { type: 'user', id: p.userId, name: p.email } : { type: 'anonymous', name: email },
      sourceIp,
      details: { reason: 'rate_limited' },
    });
    const seconds = Math.ceil(wait / 1000);
    throw new CorralError('RATE_LIMITED', `Too many failed attempts; try again in ${seconds} s.`, {
      headers: { 'retry-after': String(seconds) },
    });
  }
}

/** Settings JSON parsed once per distinct string (it is read on every authenticated request). */
let lastSettings: { text: string; enforced: boolean } | null = null;
function enforcesMfa(settingsJson: string): boolean {
  if (lastSettings?.text === settingsJson) return lastSettings.enforced;
  let enforced: boolean;
  try {
    enforced = policyFromSettings(JSON.parse(settingsJson) as object).enforced;
  } catch {
    enforced = false;
  }
  lastSettings = { text: settingsJson, enforced };
  return enforced;
}
