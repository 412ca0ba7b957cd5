import { z } from 'zod';

/**
 * Second factors, their enrolment and the workspace's MFA policy (HTTP bodies and answers).
 * The sign-in schemas that use them (LoginResponse's `mfaRequired` branch, LoginMfaRequest) are in api.ts.
 */

/** The kinds of second factor a user can enrol. */
export const MfaFactorKind = z.enum(['totp', 'webauthn', 'email', 'sms']);
export type MfaFactorKind = z.infer<typeof MfaFactorKind>;
/** What a second step can be answered with: a factor, or one of the user's recovery codes. */
export const MfaMethod = z.enum(['totp', 'webauthn', 'email', 'sms', 'recovery']);
export type MfaMethod = z.infer<typeof MfaMethod>;

/**
 * Actions a workspace can put behind a fresh step-up (within the step-up grace window). Privilege
 * elevation (root) always needs one, listed or not.
 */
export const StepUpAction = z.enum([
  'privilege_elevation',
  'token_create',
  'role_change',
  'policy_change',
  'user_deactivate',
  'password_change',
]);
export type StepUpAction = z.infer<typeof StepUpAction>;

/** E.164-ish: a plus, then 6 to 15 digits (spaces and dashes dropped by clients). */
export const PHONE_RE = /^\+[1-9]\d{5,14}$/;

export const MfaFactorView = z.object({
  id: z.string(),
  kind: MfaFactorKind,
  /** A name the user chose, or the phone number / email / authenticator it stands for. */
  label: z.string(),
  /** sms factors: `sms` or `voice`. */
  channel: z.enum(['sms', 'voice']).nullable(),
  /** Pending until confirmed with a first code (or the authenticator's answer). */
  confirmed: z.boolean(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type MfaFactorView = z.infer<typeof MfaFactorView>;

export const MfaStatus = z.object({
  factors: z.array(MfaFactorView),
  /** Unused recovery codes left (0 when none were made). */
  recoveryCodesLeft: z.number().int(),
  /** The workspace's policy, as it applies to this user. */
  policy: z.object({ enforced: z.boolean(), methods: z.array(MfaFactorKind) }),
});
export type MfaStatus = z.infer<typeof MfaStatus>;

/** Enrol a factor. The email factor uses the account's email; sms needs a phone number. */
export const MfaEnrollRequest = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('totp'), label: z.string().trim().min(1).max(64).optional() }),
  z.strictObject({ kind: z.literal('webauthn'), label: z.string().trim().min(1).max(64).optional() }),
  z.strictObject({ kind: z.literal('email') }),
  z.strictObject({
    kind: z.literal('sms'),
    phone: z.string().regex(PHONE_RE, 'a phone number like +15551234567'),
    channel: z.enum(['sms', 'voice']).optional(),
  }),
]);
export type MfaEnrollRequest = z.infer<typeof MfaEnrollRequest>;

export const MfaEnrollResponse = z.object({
  factor: MfaFactorView,
  /** totp: the shared secret (base32) and the otpauth:// URI for authenticator apps; shown once. */
  secret: z.string().optional(),
  otpauthUri: z.string().optional(),
  /** webauthn: PublicKeyCredentialCreationOptionsJSON for navigator.credentials.create (@simplewebauthn/browser). */
  webauthn: z.unknown().optional(),
  /** email/sms: where the confirmation code went (masked). */
  sentTo: z.string().optional(),
});
export type MfaEnrollResponse = z.infer<typeof MfaEnrollResponse>;

/** Confirm a pending factor: the first code (totp, email, sms) or the authenticator's answer (webauthn). */
export const MfaConfirmRequest = z.strictObject({
  code: z.string().trim().min(4).max(64).optional(),
  /** RegistrationResponseJSON from @simplewebauthn/browser's startRegistration. */
  webauthn: z.record(z.string(), z.unknown()).optional(),
});
export const MfaConfirmResponse = z.object({
  factor: MfaFactorView,
  /** Made with the user's first factor: ten single-use codes, shown once. */
  recoveryCodes: z.array(z.string()).optional(),
});
export type MfaConfirmResponse = z.infer<typeof MfaConfirmResponse>;

export const RecoveryCodesResponse = z.object({ recoveryCodes: z.array(z.string()) });

/**
 * A proof of identity: the password (only for users without factors), or a factor. `challenge` comes from
 * /auth/step-up/begin for email, sms and webauthn.
 */
export const StepUpRequest = z.strictObject({
  password: z.string().min(1).max(1024).optional(),
  method: MfaMethod.optional(),
  code: z.string().trim().min(4).max(64).optional(),
  challenge: z.string().min(1).max(200).optional(),
  webauthn: z.record(z.string(), z.unknown()).optional(),
});
export type StepUpRequest = z.infer<typeof StepUpRequest>;
export const StepUpBeginRequest = z.strictObject({ method: MfaMethod.optional() });
export const StepUpBeginResponse = z.object({
  /** False: the user has no factor and steps up with the password. */
  mfa: z.boolean(),
  methods: z.array(MfaMethod),
  challenge: z.string().optional(),
  webauthn: z.unknown().optional(),
  sentTo: z.string().optional(),
});
export type StepUpBeginResponse = z.infer<typeof StepUpBeginResponse>;
export const StepUpResponse = z.object({ validUntil: z.string() });

// --- sign-in sessions and passwords ----------------------------------------------------------------
export const AuthSessionView = z.object({
  id: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  lastUsedAt: z.string().nullable(),
  sourceIp: z.string().nullable(),
  userAgent: z.string().nullable(),
  /** How it signed in, e.g. `password`, `password+totp`. */
  method: z.string().nullable(),
  /** The session making this request. */
  current: z.boolean(),
});
export type AuthSessionView = z.infer<typeof AuthSessionView>;
export const AuthSessionList = z.object({ items: z.array(AuthSessionView) });

export const PasswordChangeRequest = z.strictObject({
  current: z.string().min(1).max(1024),
  new: z.string().min(12, 'at least 12 characters').max(1024),
});
export const PasswordChangeResponse = z.object({ revokedSessions: z.number().int() });
