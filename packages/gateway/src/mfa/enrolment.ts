import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { MfaConfirmResponse, MfaEnrollRequest, MfaEnrollResponse, MfaStatus } from '@corral/protocol';
import type { Database } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { SignInGuard } from '../auth/rate-limit.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';
import { codeMatches, recoveryCode } from './codes.js';
import type { SecretBox } from '../auth/secret-box.js';
import { base32Encode, otpauthUri, verifyTotp } from './totp.js';
import { registrationOptions, verifyRegistration, type RelyingParty } from './webauthn.js';
import type { ClientMeta, MfaService } from './mfa-service.js';
import {
  CODE_TTL_MS,
  MAX_CHALLENGE_ATTEMPTS,
  RECOVERY_CODE_COUNT,
  factorView,
  notAllowed,
  storedCredential,
  totpAad,
  totpKey,
  userOf,
  type ChallengeRow,
  type FactorRow,
  type UserRef,
} from './factor-rows.js';

/** Pending (unconfirmed) factors are dropped after this long. */
const PENDING_FACTOR_MS = 30 * 60_000;

/**
 * A user's own second factors: enrol (pending until confirmed by a first code or the authenticator's
 * answer), confirm, remove, and recovery codes. The routes check for a fresh proof (step-up) first;
 * codes go out and challenges are used up through MfaService, which checks answers at sign-in.
 */
export class MfaEnrolment {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    private readonly guard: SignInGuard,
    private readonly mfa: MfaService,
  ) {}

  async status(p: Principal): Promise<MfaStatus> {
    const policy = await this.mfa.policy(p.workspaceId);
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
      recoveryCodesLeft: await this.mfa.recoveryCodesLeft(p.workspaceId, p.userId),
      policy: { enforced: policy.enforced, methods: policy.methods },
    };
  }

  /** Start enrolling a factor (pending until confirmed). The caller checked for a fresh proof. */
  async enroll(p: Principal, req: MfaEnrollRequest, meta: ClientMeta): Promise<MfaEnrollResponse> {
    const policy = await this.mfa.policy(p.workspaceId);
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
        .values({ ...base, label: req.label ?? 'authenticator app', secret_enc: this.box.seal(secret, totpAad(id)) })
        .execute();
      out = { secret, otpauthUri: otpauthUri(`Corral ${p.workspaceName}`, p.email, secret) };
    } else if (req.kind === 'webauthn') {
      const rp = this.mfa.rp(meta);
      if (!rp)
        throw new CorralError(
          'MFA_METHOD_NOT_ALLOWED',
          'WebAuthn needs the gateway opened by name (e.g. https://localhost:PORT or its DNS name), not by IP address.',
        );
      const existing = (await this.mfa.factorsOfKind(userOf(p), 'webauthn')).map(storedCredential);
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
      out = { sentTo: (await this.mfa.sendCode(userOf(p), challenge, req.kind, meta)).sentTo };
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
      const step = verifyTotp(totpKey(this.box, f), body.code.replace(/\s/g, ''), now, null);
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
        if (challenge.attempts + 1 >= MAX_CHALLENGE_ATTEMPTS) await this.mfa.burn(challenge.id);
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
    const hadFactor = (await this.mfa.usableFactors(p.workspaceId, p.userId)).length > 0;
    await this.db.updateTable('mfa_factors').set(set).where('id', '=', f.id).execute();
    if (challenge) await this.mfa.burn(challenge.id);
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
    const needCodes = !hadFactor && (await this.mfa.recoveryCodesLeft(p.workspaceId, p.userId)) === 0;
    return {
      factor: factorView(row),
      ...(needCodes ? { recoveryCodes: await this.makeRecoveryCodes(user, meta, 'first factor') } : {}),
    };
  }

  /** Remove a factor. With MFA enforced, the last one stays. The caller checked for a fresh proof. */
  async remove(p: Principal, factorId: string, meta: ClientMeta): Promise<void> {
    const f = await this.ownFactor(p, factorId);
    const policy = await this.mfa.policy(p.workspaceId);
    const others = (await this.mfa.usableFactors(p.workspaceId, p.userId, policy)).filter((x) => x.id !== f.id);
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
    if ((await this.mfa.usableFactors(p.workspaceId, p.userId)).length === 0) {
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
