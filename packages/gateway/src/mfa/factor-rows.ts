import type { Selectable } from 'kysely';
import type { MfaFactorKind, MfaFactorView } from '@corral/protocol';
import type { MfaChallengesTable, MfaFactorsTable } from '../db/schema.js';
import type { Principal } from '../auth/principal.js';
import { CorralError } from '../errors.js';
import type { SecretBox } from '../auth/secret-box.js';
import { base32Decode } from './totp.js';
import type { StoredCredential } from './webauthn.js';

/** Rows, limits and small helpers shared by sign-in checks (mfa-service.ts) and enrolment (enrolment.ts). */

export type FactorRow = Selectable<MfaFactorsTable>;
export type ChallengeRow = Selectable<MfaChallengesTable>;

export interface UserRef {
  id: string;
  email: string;
  workspaceId: string;
}

/** A sign-in challenge lives 5 minutes; once an email/SMS code was sent, 10 minutes from the send. */
export const LOGIN_CHALLENGE_MS = 5 * 60_000;
export const CODE_TTL_MS = 10 * 60_000;
/** Wrong answers (and code sends) one challenge allows before it is burnt. */
export const MAX_CHALLENGE_ATTEMPTS = 5;
export const RECOVERY_CODE_COUNT = 10;

export function userOf(p: Principal): UserRef {
  return { id: p.userId, email: p.email, workspaceId: p.workspaceId };
}

export function notAllowed(method: string, allowed: readonly string[]): CorralError {
  return new CorralError(
    'MFA_METHOD_NOT_ALLOWED',
    allowed.length
      ? `${method} is not one of your usable second factors here (${allowed.join(', ')}).`
      : `${method} is not one of your second factors: enrol it first (corral mfa add ${method}).`,
  );
}

export function storedCredential(f: FactorRow): StoredCredential {
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

/** The associated data that binds a sealed TOTP secret to its factor row. */
export function totpAad(factorId: string): string {
  return `mfa-totp:${factorId}`;
}

/** A TOTP factor's key, decrypted from the gateway's secret box (stored sealed, as base32). */
export function totpKey(box: SecretBox, f: FactorRow): Buffer {
  return base32Decode(box.open(f.secret_enc ?? '', totpAad(f.id)));
}
