import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type {
  MfaChallengeResponse,
  MfaConfirmResponse,
  MfaEnrollRequest,
  MfaEnrollResponse,
  MfaFactorKind,
  MfaFactorView,
  MfaMethod,
  MfaStatus,
  StepUpBeginResponse,
} from '@corral/protocol';
import type { Database, MfaChallengesTable, MfaFactorsTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Mailer } from '../users/mailer.js';
import type { Principal } from '../auth/principal.js';
import type { SignInGuard } from '../auth/rate-limit.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { digestsEqual, hashSecret, newId, newSecret } from '../ids.js';
import { codeDigest, codeMatches, maskDestination, normalizeRecoveryCode, numericCode, recoveryCode } from './codes.js';
import { mfaPolicy, type MfaPolicy } from './policy.js';
import type { SecretBox } from './secret-box.js';
import type { PhoneSender } from './sms.js';
import { base32Encode, otpauthUri, verifyTotp } from './totp.js';
import {
  authenticationOptions,
  registrationOptions,
  relyingPartyFor,
  verifyAuthentication,
  verifyRegistration,
  type RelyingParty,
  type StoredCredential,
} from './webauthn.js';

/** Where a request comes from: for audit, rate limits and the WebAuthn relying party. */
export interface ClientMeta {
  sourceIp: string;
  userAgent: string | null;
  /** The request's Host header (the WebAuthn RP when no --public-url is set). */
  host: string | undefined;
}

/** A second-step answer: the method and what goes with it. */
export interface FactorAnswer {
  method: MfaMethod;
  code?: string | undefined;
  webauthn?: Record<string, unknown> | undefined;
}

interface UserRef {
  id: string;
  email: string;
  workspaceId: string;
}

type FactorRow = Selectable<MfaFactorsTable>;
type ChallengeRow = Selectable<MfaChallengesTable>;

/** A sign-in challenge lives 5 minutes; once an email/SMS code was sent, 10 minutes from the send. */
export const LOGIN_CHALLENGE_MS = 5 * 60_000;
export const CODE_TTL_MS = 10 * 60_000;
/** Wrong answers (and code sends) one challenge allows before it is burnt. */
export const MAX_CHALLENGE_ATTEMPTS = 5;
export const RECOVERY_CODE_COUNT = 10;
/** Pending (unconfirmed) factors are dropped after this long. */
const PENDING_FACTOR_MS = 30 * 60_000;

/**
 * Second factors: enrolment, removal, recovery codes, and checking an answer (TOTP, WebAuthn, email or
 * SMS code, recovery code) for a sign-in, a step-up or an enrolment. Every check is audited as
 * `auth.mfa.verify`; failures count toward the sign-in limits (SignInGuard) and toward the challenge's
 * own few attempts.
 */
export class MfaService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    private readonly mailer: Mailer,
    private readonly phone: PhoneSender,
    private readonly guard: SignInGuard,
    /** --public-url: fixes the WebAuthn relying party; null: the request's Host. */
    private readonly publicUrl: string | null,
  ) {}

  policy(workspaceId: string): Promise<MfaPolicy> {
    return mfaPolicy(this.db, workspaceId);
  }

  rp(meta: ClientMeta): RelyingParty | null {
    return relyingPartyFor(this.publicUrl, meta.host);
  }

  /** The user's confirmed factors whose kind the policy allows. */
  async usableFactors(workspaceId: string, userId: string, policy?: MfaPolicy): Promise<FactorRow[]> {
    const pol = policy ?? (await this.policy(workspaceId));
    const rows = await this.db
      .selectFrom('mfa_factors')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('user_id', '=', userId)
      .where('confirmed_at', 'is not', null)
      .orderBy('created_at')
      .execute();
    return rows.filter((r) => pol.methods.includes(r.kind as MfaFactorKind));
  }

  /** Methods a second step can use with these factors (recovery codes when any are left). */
  private async methodsFor(user: UserRef, factors: FactorRow[], rp: RelyingParty | null): Promise<MfaMethod[]> {
    const kinds = new Set(factors.map((f) => f.kind as MfaFactorKind));
    if (!rp) kinds.delete('webauthn');
    const methods: MfaMethod[] = [...kinds];
    if ((await this.recoveryCodesLeft(user.workspaceId, user.id)) > 0) methods.push('recovery');
    return methods;
  }

  // --- sign-in --------------------------------------------------------------------------------------

  /** The password was right and the user has factors: make the single-use challenge for step two. */
  async startLogin(user: UserRef, factors: FactorRow[], meta: ClientMeta): Promise<MfaChallengeResponse> {
    const rp = this.rp(meta);
    const secret = newSecret('crl_mfa');
    const now = this.clock.now();
    const webauthn = rp ? await this.webauthnRequest(rp, factors) : undefined;
    await this.db
      .insertInto('mfa_challenges')
      .values({
        id: newId('mch'),
        workspace_id: user.workspaceId,
        user_id: user.id,
        purpose: 'login',
        secret_hash: hashSecret(secret),
        auth_token_id: null,
        factor_id: null,
        code_method: null,
        code_hash: null,
        code_expires_at: null,
        webauthn_challenge: webauthn?.challenge ?? null,
        webauthn_origin: webauthn && rp ? JSON.stringify(rp) : null,
        source_ip: meta.sourceIp,
        user_agent: meta.userAgent,
        created_at: iso(now),
        expires_at: iso(now + LOGIN_CHALLENGE_MS),
        used_at: null,
      })
      .execute();
    const methods = await this.methodsFor(user, factors, rp);
    return { mfaRequired: true, challenge: secret, methods, ...(webauthn ? { webauthn } : {}) };
  }

  /** Find a live login challenge by its secret, with its user; throws MFA_CHALLENGE_INVALID. */
  async loginChallenge(workspaceId: string, secret: string): Promise<{ challenge: ChallengeRow; user: UserRef }> {
    const c = await this.db
      .selectFrom('mfa_challenges')
      .selectAll()
      .where('secret_hash', '=', hashSecret(secret))
      .where('workspace_id', '=', workspaceId)
      .where('purpose', '=', 'login')
      .executeTakeFirst();
    if (!c || c.used_at || Date.parse(c.expires_at) <= this.clock.now()) throw new CorralError('MFA_CHALLENGE_INVALID');
    const u = await this.db
      .selectFrom('users')
      .select(['id', 'email', 'deactivated_at'])
      .where('id', '=', c.user_id)
      .executeTakeFirst();
    if (!u || u.deactivated_at) throw new CorralError('MFA_CHALLENGE_INVALID');
    return { challenge: c, user: { id: u.id, email: u.email, workspaceId } };
  }

  /** Send (or send again) an email or SMS code for a sign-in challenge. */
  async sendLoginCode(
    workspaceId: string,
    secret: string,
    method: 'email' | 'sms',
    meta: ClientMeta,
  ): Promise<{ sentTo: string; expiresAt: string }> {
    const { challenge, user } = await this.loginChallenge(workspaceId, secret);
    return this.sendCode(user, challenge, method, meta);
  }

  /**
   * Check step two of a sign-in and use the challenge up. Returns the user and the method; throws
   * MFA_INVALID (counted) or MFA_CHALLENGE_INVALID.
   */
  async finishLogin(
    workspaceId: string,
    secret: string,
    answer: FactorAnswer,
    meta: ClientMeta,
  ): Promise<{ user: UserRef; method: MfaMethod }> {
    const { challenge, user } = await this.loginChallenge(workspaceId, secret);
    await this.verify(user, answer, challenge, meta, 'login');
    const used = await this.db
      .updateTable('mfa_challenges')
      .set({ used_at: iso(this.clock.now()) })
      .where('id', '=', challenge.id)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(used.numUpdatedRows) !== 1) throw new CorralError('MFA_CHALLENGE_INVALID');
    return { user, method: answer.method };
  }

  // --- step-up -------------------------------------------------------------------------------------

  /**
   * Start a step-up: which methods the user has, and for email/sms a code sent now, for webauthn the
   * request options (both tied to a challenge bound to the calling session).
   */
  async beginStepUp(p: Principal, method: MfaMethod | undefined, meta: ClientMeta): Promise<StepUpBeginResponse> {
    const user = userOf(p);
    const factors = await this.usableFactors(p.workspaceId, p.userId);
    if (factors.length === 0) return { mfa: false, methods: [] };
    const rp = this.rp(meta);
    const methods = await this.methodsFor(user, factors, rp);
    if (method && !methods.includes(method)) throw notAllowed(method, methods);
    const wantsWebauthn = method === 'webauthn' || (method === undefined && methods.includes('webauthn'));
    if (method !== 'email' && method !== 'sms' && !wantsWebauthn) return { mfa: true, methods };
    const secret = newSecret('crl_mfa');
    const now = this.clock.now();
    const webauthn = wantsWebauthn && rp ? await this.webauthnRequest(rp, factors) : undefined;
    const id = newId('mch');
    await this.db
      .insertInto('mfa_challenges')
      .values({
        id,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        purpose: 'step_up',
        secret_hash: hashSecret(secret),
        auth_token_id: p.tokenId,
        factor_id: null,
        code_method: null,
        code_hash: null,
        code_expires_at: null,
        webauthn_challenge: webauthn?.challenge ?? null,
        webauthn_origin: webauthn && rp ? JSON.stringify(rp) : null,
        source_ip: meta.sourceIp,
        user_agent: meta.userAgent,
        created_at: iso(now),
        expires_at: iso(now + LOGIN_CHALLENGE_MS),
        used_at: null,
      })
      .execute();
    let sentTo: string | undefined;
    if (method === 'email' || method === 'sms') {
      const row = await this.db.selectFrom('mfa_challenges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      sentTo = (await this.sendCode(user, row, method, meta)).sentTo;
    }
    return { mfa: true, methods, challenge: secret, ...(webauthn ? { webauthn } : {}), ...(sentTo ? { sentTo } : {}) };
  }

  /** Check a step-up answer (for email/sms/webauthn with the challenge from beginStepUp). */
  async verifyStepUp(p: Principal, answer: FactorAnswer, secret: string | undefined, meta: ClientMeta): Promise<void> {
    let challenge: ChallengeRow | null = null;
    if (secret) {
      const c = await this.db
        .selectFrom('mfa_challenges')
        .selectAll()
        .where('secret_hash', '=', hashSecret(secret))
        .where('workspace_id', '=', p.workspaceId)
        .where('purpose', '=', 'step_up')
        .where('auth_token_id', '=', p.tokenId)
        .executeTakeFirst();
      if (!c || c.used_at || Date.parse(c.expires_at) <= this.clock.now())
        throw new CorralError('MFA_CHALLENGE_INVALID');
      challenge = c;
    }
    await this.verify(userOf(p), answer, challenge, meta, 'step_up');
    if (challenge)
      await this.db
        .updateTable('mfa_challenges')
        .set({ used_at: iso(this.clock.now()) })
        .where('id', '=', challenge.id)
        .execute();
  }

  // --- checking an answer -----------------------------------------------------------------------------

  /**
   * Check a second-factor answer for `user`. Success is audited and returns; failure is audited,
   * counted (sign-in limits, the challenge's attempts) and throws MFA_INVALID.
   */
  private async verify(
    user: UserRef,
    answer: FactorAnswer,
    challenge: ChallengeRow | null,
    meta: ClientMeta,
    purpose: 'login' | 'step_up',
  ): Promise<void> {
    const wait = this.guard.retryAfterMs(user.workspaceId, user.email, meta.sourceIp);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new CorralError('RATE_LIMITED', `Too many failed attempts; try again in ${seconds} s.`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    const policy = await this.policy(user.workspaceId);
    if (answer.method !== 'recovery' && !policy.methods.includes(answer.method)) {
      throw notAllowed(answer.method, policy.methods);
    }
    const factorId = await this.check(user, answer, challenge).catch(() => null);
    const details = { method: answer.method, purpose, ...(factorId ? { factorId } : {}) };
    if (!factorId) {
      this.guard.fail(user.workspaceId, user.email, meta.sourceIp);
      if (challenge) {
        await this.db
          .updateTable('mfa_challenges')
          .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
          .where('id', '=', challenge.id)
          .execute();
        if (challenge.attempts + 1 >= MAX_CHALLENGE_ATTEMPTS) await this.burn(challenge.id);
      }
      await this.audit.append({
        workspaceId: user.workspaceId,
        action: 'auth.mfa.verify',
        outcome: 'failure',
        actor: { type: 'user', id: user.id, name: user.email },
        sourceIp: meta.sourceIp,
        details,
      });
      throw new CorralError('MFA_INVALID');
    }
    const now = iso(this.clock.now());
    if (factorId !== 'recovery')
      await this.db.updateTable('mfa_factors').set({ last_used_at: now }).where('id', '=', factorId).execute();
    await this.audit.append({
      workspaceId: user.workspaceId,
      action: 'auth.mfa.verify',
      actor: { type: 'user', id: user.id, name: user.email },
      sourceIp: meta.sourceIp,
      details,
    });
  }

  /** The id of the factor that matched ('recovery' for a recovery code), or null. */
  private async check(user: UserRef, a: FactorAnswer, challenge: ChallengeRow | null): Promise<string | null> {
    const now = this.clock.now();
    switch (a.method) {
      case 'totp': {
        if (!a.code) return null;
        for (const f of await this.factorsOfKind(user, 'totp')) {
          const key = this.box.open(f.secret_enc ?? '', f.id);
          const last = f.last_step === null ? null : Number(f.last_step);
          const step = verifyTotp(key, a.code.replace(/\s/g, ''), now, last);
          if (step === null) continue;
          // Compare-and-set: of two requests racing with one code, only one wins.
          const r = await this.db
            .updateTable('mfa_factors')
            .set({ last_step: step })
            .where('id', '=', f.id)
            .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
            .executeTakeFirst();
          return Number(r.numUpdatedRows) === 1 ? f.id : null;
        }
        return null;
      }
      case 'email':
      case 'sms': {
        if (!a.code || !challenge || challenge.code_method !== a.method) return null;
        if (!challenge.code_expires_at || Date.parse(challenge.code_expires_at) <= now) return null;
        return codeMatches(challenge.id, a.code, challenge.code_hash) ? (challenge.factor_id ?? a.method) : null;
      }
      case 'recovery': {
        if (!a.code) return null;
        const digest = hashSecret(normalizeRecoveryCode(a.code));
        const rows = await this.db
          .selectFrom('mfa_recovery_codes')
          .select(['id', 'code_hash'])
          .where('workspace_id', '=', user.workspaceId)
          .where('user_id', '=', user.id)
          .where('used_at', 'is', null)
          .execute();
        const hit = rows.find((r) => digestsEqual(r.code_hash, digest));
        if (!hit) return null;
        const r = await this.db
          .updateTable('mfa_recovery_codes')
          .set({ used_at: iso(now) })
          .where('id', '=', hit.id)
          .where('used_at', 'is', null)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) !== 1) return null;
        await this.audit.append({
          workspaceId: user.workspaceId,
          action: 'mfa.recovery_code.use',
          actor: { type: 'user', id: user.id, name: user.email },
          details: { left: rows.length - 1 },
        });
        return 'recovery';
      }
      case 'webauthn': {
        if (!a.webauthn || !challenge?.webauthn_challenge || !challenge.webauthn_origin) return null;
        const rp = JSON.parse(challenge.webauthn_origin) as RelyingParty;
        const credId = typeof a.webauthn.id === 'string' ? a.webauthn.id : '';
        const f = (await this.factorsOfKind(user, 'webauthn')).find((x) => x.credential_id === credId);
        if (!f) return null;
        const counter = await verifyAuthentication(rp, challenge.webauthn_challenge, a.webauthn, storedCredential(f));
        if (counter === null) return null;
        await this.db.updateTable('mfa_factors').set({ sign_count: counter }).where('id', '=', f.id).execute();
        return f.id;
      }
    }
  }

  private async burn(challengeId: string): Promise<void> {
    await this.db
      .updateTable('mfa_challenges')
      .set({ used_at: iso(this.clock.now()) })
      .where('id', '=', challengeId)
      .where('used_at', 'is', null)
      .execute();
  }

  private async factorsOfKind(user: UserRef, kind: MfaFactorKind): Promise<FactorRow[]> {
    return this.db
      .selectFrom('mfa_factors')
      .selectAll()
      .where('workspace_id', '=', user.workspaceId)
      .where('user_id', '=', user.id)
      .where('kind', '=', kind)
      .where('confirmed_at', 'is not', null)
      .execute();
  }

  private async webauthnRequest(rp: RelyingParty, factors: FactorRow[]) {
    const creds = factors.filter((f) => f.kind === 'webauthn').map(storedCredential);
    return creds.length ? authenticationOptions(rp, creds) : undefined;
  }

  /**
   * Make a fresh six-digit code for `challenge` and deliver it by email or phone. Each send counts as an
   * attempt of the challenge (so a challenge cannot be used to flood someone's inbox or phone).
   */
  private async sendCode(
    user: UserRef,
    challenge: ChallengeRow,
    method: 'email' | 'sms',
    meta: ClientMeta,
  ): Promise<{ sentTo: string; expiresAt: string }> {
    const policy = await this.policy(user.workspaceId);
    if (!policy.methods.includes(method)) throw notAllowed(method, policy.methods);
    const factor = challenge.factor_id
      ? await this.db.selectFrom('mfa_factors').selectAll().where('id', '=', challenge.factor_id).executeTakeFirst()
      : (await this.factorsOfKind(user, method))[0];
    if (!factor || factor.kind !== method) throw notAllowed(method, []);
    if (challenge.attempts >= MAX_CHALLENGE_ATTEMPTS) {
      await this.burn(challenge.id);
      throw new CorralError('MFA_CHALLENGE_INVALID', 'Too many codes or attempts for this challenge: start again.');
    }
    const code = numericCode();
    const now = this.clock.now();
    const expiresAt = iso(now + CODE_TTL_MS);
    await this.db
      .updateTable('mfa_challenges')
      .set((eb) => ({
        code_method: method,
        code_hash: codeDigest(challenge.id, code),
        code_expires_at: expiresAt,
        factor_id: factor.id,
        expires_at: expiresAt,
        attempts: eb('attempts', '+', 1),
      }))
      .where('id', '=', challenge.id)
      .execute();
    const to = method === 'email' ? user.email : (factor.phone ?? '');
    const text = `Your Corral verification code is ${code}. It expires in 10 minutes. If you did not ask for it, change your password.`;
    try {
      if (method === 'email') await this.mailer.send(user.workspaceId, to, `Corral verification code: ${code}`, text);
      else await this.phone.send(user.workspaceId, to, text, factor.channel === 'voice' ? 'voice' : 'sms');
    } catch (err) {
      await this.audit.append({
        workspaceId: user.workspaceId,
        action: 'mfa.code.send',
        outcome: 'failure',
        actor: { type: 'user', id: user.id, name: user.email },
        sourceIp: meta.sourceIp,
        details: { method, purpose: challenge.purpose, error: String((err as Error).message ?? err).slice(0, 200) },
      });
      throw new CorralError('MFA_DELIVERY_FAILED', `The ${method === 'email' ? 'mail' : 'message'} could not be sent.`);
    }
    await this.audit.append({
      workspaceId: user.workspaceId,
      action: 'mfa.code.send',
      actor: { type: 'user', id: user.id, name: user.email },
      sourceIp: meta.sourceIp,
      details: { method, purpose: challenge.purpose, to: maskDestination(to) },
    });
    return { sentTo: maskDestination(to), expiresAt };
  }

  // --- enrolment --------------------------------------------------------------------------------------

  async status(p: Principal): Promise<MfaStatus> {
    const policy = await this.policy(p.workspaceId);
    await this.dropStalePending(p);
    const rows = await this.db
      .selectFrom('mfa_factors')
      .selectAll()
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .orderBy('created_at')
      .execute();
    return {
      factors: rows.map(factorView),
      recoveryCodesLeft: await this.recoveryCodesLeft(p.workspaceId, p.userId),
      policy: { enforced: policy.enforced, methods: policy.methods },
    };
  }

  /** Start enrolling a factor (pending until confirmed). The caller checked for a fresh proof. */
  async enroll(p: Principal, req: MfaEnrollRequest, meta: ClientMeta): Promise<MfaEnrollResponse> {
    const policy = await this.policy(p.workspaceId);
    if (!policy.methods.includes(req.kind)) throw notAllowed(req.kind, policy.methods);
    await this.dropStalePending(p);
    const id = newId('mfa');
    const now = iso(this.clock.now());
    const base = {
      id,
      workspace_id: p.workspaceId,
      user_id: p.userId,
      kind: req.kind,
      secret_enc: null,
      phone: null,
      channel: null,
      credential_id: null,
      public_key: null,
      sign_count: null,
      transports: null,
      last_step: null,
      confirmed_at: null,
      created_at: now,
      last_used_at: null,
    };
    let out: Omit<MfaEnrollResponse, 'factor'>;
    if (req.kind === 'totp') {
      const key = randomBytes(20);
      const secret = base32Encode(key);
      await this.db
        .insertInto('mfa_factors')
        .values({ ...base, label: req.label ?? 'authenticator app', secret_enc: this.box.seal(key, id) })
        .execute();
      out = { secret, otpauthUri: otpauthUri(`Corral ${p.workspaceName}`, p.email, secret) };
    } else if (req.kind === 'webauthn') {
      const rp = this.rp(meta);
      if (!rp)
        throw new CorralError(
          'MFA_METHOD_NOT_ALLOWED',
          'WebAuthn needs the gateway opened by name (e.g. https://localhost:PORT or its DNS name), not by IP address.',
        );
      const existing = (await this.factorsOfKind(userOf(p), 'webauthn')).map(storedCredential);
      const options = await registrationOptions(rp, { id: p.userId, email: p.email }, existing);
      await this.db
        .insertInto('mfa_factors')
        .values({ ...base, label: req.label ?? 'security key' })
        .execute();
      await this.insertEnrollChallenge(p, id, meta, { webauthn: options.challenge, rp });
      out = { webauthn: options };
    } else {
      const label = req.kind === 'email' ? p.email : req.phone;
      await this.db
        .insertInto('mfa_factors')
        .values({
          ...base,
          label,
          phone: req.kind === 'sms' ? req.phone : null,
          channel: req.kind === 'sms' ? (req.channel ?? 'sms') : null,
        })
        .execute();
      const challenge = await this.insertEnrollChallenge(p, id, meta, null);
      out = { sentTo: (await this.sendCode(userOf(p), challenge, req.kind, meta)).sentTo };
    }
    const row = await this.db.selectFrom('mfa_factors').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'mfa.factor.add',
      outcome: 'success',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'mfa_factor', id, name: row.label },
      sourceIp: meta.sourceIp,
      details: { kind: req.kind, state: 'pending' },
    });
    return { factor: factorView(row), ...out };
  }

  private async insertEnrollChallenge(
    p: Principal,
    factorId: string,
    meta: ClientMeta,
    webauthn: { webauthn: string; rp: RelyingParty } | null,
  ): Promise<ChallengeRow> {
    const now = this.clock.now();
    const id = newId('mch');
    await this.db
      .insertInto('mfa_challenges')
      .values({
        id,
        workspace_id: p.workspaceId,
        user_id: p.userId,
        purpose: 'enroll',
        secret_hash: hashSecret(newSecret('crl_mfa')),
        auth_token_id: p.tokenId,
        factor_id: factorId,
        code_method: null,
        code_hash: null,
        code_expires_at: null,
        webauthn_challenge: webauthn?.webauthn ?? null,
        webauthn_origin: webauthn ? JSON.stringify(webauthn.rp) : null,
        source_ip: meta.sourceIp,
        user_agent: meta.userAgent,
        created_at: iso(now),
        expires_at: iso(now + CODE_TTL_MS),
        used_at: null,
      })
      .execute();
    return this.db.selectFrom('mfa_challenges').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  /**
   * Confirm a pending factor with its first code or the authenticator's answer. The user's first factor
   * also makes their recovery codes (returned once), and the calling session counts as signed in with it.
   */
  async confirm(
    p: Principal,
    factorId: string,
    body: { code?: string | undefined; webauthn?: Record<string, unknown> | undefined },
    meta: ClientMeta,
  ): Promise<MfaConfirmResponse> {
    const f = await this.ownFactor(p, factorId);
    if (f.confirmed_at) return { factor: factorView(f) };
    const user = userOf(p);
    const wait = this.guard.retryAfterMs(p.workspaceId, p.email, meta.sourceIp);
    if (wait > 0)
      throw new CorralError('RATE_LIMITED', `Too many failed attempts; try again in ${Math.ceil(wait / 1000)} s.`);
    const challenge = await this.db
      .selectFrom('mfa_challenges')
      .selectAll()
      .where('factor_id', '=', f.id)
      .where('purpose', '=', 'enroll')
      .where('used_at', 'is', null)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    const now = this.clock.now();
    const set: Partial<FactorRow> = { confirmed_at: iso(now) };
    let ok = false;
    if (f.kind === 'totp' && body.code) {
      const step = verifyTotp(this.box.open(f.secret_enc ?? '', f.id), body.code.replace(/\s/g, ''), now, null);
      if (step !== null) {
        ok = true;
        set.last_step = step;
      }
    } else if (f.kind === 'webauthn' && body.webauthn && challenge?.webauthn_challenge && challenge.webauthn_origin) {
      const rp = JSON.parse(challenge.webauthn_origin) as RelyingParty;
      const cred = await verifyRegistration(rp, challenge.webauthn_challenge, body.webauthn);
      if (cred) {
        ok = true;
        Object.assign(set, {
          credential_id: cred.credentialId,
          public_key: cred.publicKey,
          sign_count: cred.counter,
          transports: JSON.stringify(cred.transports),
        });
      }
    } else if ((f.kind === 'email' || f.kind === 'sms') && body.code && challenge) {
      ok =
        challenge.code_expires_at !== null &&
        Date.parse(challenge.code_expires_at) > now &&
        codeMatches(challenge.id, body.code, challenge.code_hash);
    }
    if (!ok) {
      this.guard.fail(p.workspaceId, p.email, meta.sourceIp);
      if (challenge) {
        await this.db
          .updateTable('mfa_challenges')
          .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
          .where('id', '=', challenge.id)
          .execute();
        if (challenge.attempts + 1 >= MAX_CHALLENGE_ATTEMPTS) await this.burn(challenge.id);
      }
      await this.audit.append({
        workspaceId: p.workspaceId,
        action: 'auth.mfa.verify',
        outcome: 'failure',
        actor: { type: 'user', id: p.userId, name: p.email },
        sourceIp: meta.sourceIp,
        details: { method: f.kind, purpose: 'enroll', factorId: f.id },
      });
      throw new CorralError('MFA_INVALID');
    }
    const hadFactor = (await this.usableFactors(p.workspaceId, p.userId)).length > 0;
    await this.db.updateTable('mfa_factors').set(set).where('id', '=', f.id).execute();
    if (challenge) await this.burn(challenge.id);
    // This session has now proved the factor: it is no longer limited to enrolment.
    await this.db
      .updateTable('auth_tokens')
      .set({ mfa_method: f.kind })
      .where('id', '=', p.tokenId)
      .where('mfa_method', 'is', null)
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'mfa.factor.confirm',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'mfa_factor', id: f.id, name: f.label },
      sourceIp: meta.sourceIp,
      details: { kind: f.kind },
    });
    const row = await this.ownFactor(p, f.id);
    const needCodes = !hadFactor && (await this.recoveryCodesLeft(p.workspaceId, p.userId)) === 0;
    return {
      factor: factorView(row),
      ...(needCodes ? { recoveryCodes: await this.makeRecoveryCodes(user, meta, 'first factor') } : {}),
    };
  }

  /** Remove a factor. With MFA enforced, the last one stays. The caller checked for a fresh proof. */
  async remove(p: Principal, factorId: string, meta: ClientMeta): Promise<void> {
    const f = await this.ownFactor(p, factorId);
    const policy = await this.policy(p.workspaceId);
    const others = (await this.usableFactors(p.workspaceId, p.userId, policy)).filter((x) => x.id !== f.id);
    if (policy.enforced && f.confirmed_at && others.length === 0) {
      throw new CorralError(
        'MFA_LAST_FACTOR',
        'The workspace enforces MFA: enrol another factor before removing your last one.',
      );
    }
    await this.db.deleteFrom('mfa_challenges').where('factor_id', '=', f.id).execute();
    await this.db.deleteFrom('mfa_factors').where('id', '=', f.id).execute();
    const anyLeft = await this.db
      .selectFrom('mfa_factors')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .where('confirmed_at', 'is not', null)
      .executeTakeFirst();
    // Without a factor, recovery codes would be a second password: they go with the last one.
    if (!anyLeft)
      await this.db
        .deleteFrom('mfa_recovery_codes')
        .where('workspace_id', '=', p.workspaceId)
        .where('user_id', '=', p.userId)
        .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'mfa.factor.remove',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'mfa_factor', id: f.id, name: f.label },
      sourceIp: meta.sourceIp,
      details: { kind: f.kind, wasConfirmed: f.confirmed_at !== null, recoveryCodesDropped: !anyLeft },
    });
  }

  /** New recovery codes; the old ones stop working. The caller checked for a fresh proof. */
  async regenerateRecoveryCodes(p: Principal, meta: ClientMeta): Promise<string[]> {
    if ((await this.usableFactors(p.workspaceId, p.userId)).length === 0) {
      throw new CorralError('MFA_FACTOR_NOT_FOUND', 'Enrol a second factor first (corral mfa add totp).');
    }
    return this.makeRecoveryCodes(userOf(p), meta, 'regenerated');
  }

  private async makeRecoveryCodes(user: UserRef, meta: ClientMeta, why: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, recoveryCode);
    const now = iso(this.clock.now());
    await this.db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('mfa_recovery_codes')
        .where('workspace_id', '=', user.workspaceId)
        .where('user_id', '=', user.id)
        .execute();
      await trx
        .insertInto('mfa_recovery_codes')
        .values(
          codes.map((c) => ({
            id: newId('rc'),
            workspace_id: user.workspaceId,
            user_id: user.id,
            code_hash: hashSecret(c),
            created_at: now,
            used_at: null,
          })),
        )
        .execute();
    });
    await this.audit.append({
      workspaceId: user.workspaceId,
      action: 'mfa.recovery_codes.regenerate',
      actor: { type: 'user', id: user.id, name: user.email },
      sourceIp: meta.sourceIp,
      details: { count: codes.length, reason: why },
    });
    return codes;
  }

  async recoveryCodesLeft(workspaceId: string, userId: string): Promise<number> {
    const r = await this.db
      .selectFrom('mfa_recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Throw MFA_FACTOR_NOT_FOUND unless `id` is one of the caller's factors (pending or confirmed). */
  async assertOwnFactor(p: Principal, id: string): Promise<void> {
    await this.ownFactor(p, id);
  }

  private async ownFactor(p: Principal, id: string): Promise<FactorRow> {
    const f = await this.db
      .selectFrom('mfa_factors')
      .selectAll()
      .where('id', '=', id)
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .executeTakeFirst();
    if (!f) throw new CorralError('MFA_FACTOR_NOT_FOUND', `You have no second factor ${id}: see corral mfa ls.`);
    return f;
  }

  private async dropStalePending(p: Principal): Promise<void> {
    const stale = await this.db
      .selectFrom('mfa_factors')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .where('user_id', '=', p.userId)
      .where('confirmed_at', 'is', null)
      .where('created_at', '<', iso(this.clock.now() - PENDING_FACTOR_MS))
      .execute();
    if (stale.length === 0) return;
    const ids = stale.map((s) => s.id);
    await this.db.deleteFrom('mfa_challenges').where('factor_id', 'in', ids).execute();
    await this.db.deleteFrom('mfa_factors').where('id', 'in', ids).execute();
  }
}

function userOf(p: Principal): UserRef {
  return { id: p.userId, email: p.email, workspaceId: p.workspaceId };
}

function notAllowed(method: string, allowed: readonly string[]): CorralError {
  return new CorralError(
    'MFA_METHOD_NOT_ALLOWED',
    allowed.length
      ? `${method} is not one of your usable second factors here (${allowed.join(', ')}).`
      : `${method} is not one of your second factors: enrol it first (corral mfa add ${method}).`,
  );
}

function storedCredential(f: FactorRow): StoredCredential {
  return {
    credentialId: f.credential_id ?? '',
    publicKey: f.public_key ?? '',
    counter: Number(f.sign_count ?? 0),
    transports: f.transports ? (JSON.parse(f.transports) as string[]) : [],
  };
}

export function factorView(f: FactorRow): MfaFactorView {
  return {
    id: f.id,
    kind: f.kind as MfaFactorKind,
    label: f.label,
    channel: f.channel === 'sms' || f.channel === 'voice' ? f.channel : null,
    confirmed: f.confirmed_at !== null,
    createdAt: f.created_at,
    lastUsedAt: f.last_used_at,
  };
}
