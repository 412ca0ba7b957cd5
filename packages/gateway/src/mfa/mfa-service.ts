import type { Kysely } from 'kysely';
import type { MfaChallengeResponse, MfaFactorKind, MfaMethod, StepUpBeginResponse } from '@corral/protocol';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Mailer } from '../users/mailer.js';
import type { Principal } from '../auth/principal.js';
import type { SignInGuard } from '../auth/rate-limit.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { digestsEqual, hashSecret, newId, newSecret } from '../ids.js';
import { codeDigest, codeMatches, maskDestination, normalizeRecoveryCode, numericCode } from './codes.js';
import { mfaPolicy, type MfaPolicy } from './policy.js';
import { MfaEnrolment } from './enrolment.js';
import {
  CODE_TTL_MS,
  LOGIN_CHALLENGE_MS,
  MAX_CHALLENGE_ATTEMPTS,
  notAllowed,
  storedCredential,
  totpKey,
  userOf,
  type ChallengeRow,
  type FactorRow,
  type UserRef,
} from './factor-rows.js';
import type { SecretBox } from '../auth/secret-box.js';
import type { PhoneSender } from './sms.js';
import { verifyTotp } from './totp.js';
import { authenticationOptions, relyingPartyFor, verifyAuthentication, type RelyingParty } from './webauthn.js';

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

/**
 * Second factors at sign-in and step-up: the challenge, sending email/SMS codes, and checking an answer
 * (TOTP, WebAuthn, email or SMS code, recovery code); enrolment is `enrolment` (enrolment.ts). Every check is audited as
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
  ) {
    this.enrolment = new MfaEnrolment(db, audit, clock, box, guard, this);
  }

  /** The user's own factors: enrol, confirm, remove, recovery codes. */
  readonly enrolment: MfaEnrolment;

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
          const key = totpKey(this.box, f);
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

  /** Use a challenge up (also when its attempts run out). */
  async burn(challengeId: string): Promise<void> {
    await this.db
      .updateTable('mfa_challenges')
      .set({ used_at: iso(this.clock.now()) })
      .where('id', '=', challengeId)
      .where('used_at', 'is', null)
      .execute();
  }

  /** The user's confirmed factors of one kind. */
  async factorsOfKind(user: UserRef, kind: MfaFactorKind): Promise<FactorRow[]> {
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
  async sendCode(
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
}
