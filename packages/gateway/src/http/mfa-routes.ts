import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  AuthSessionList,
  BrowserLoginResponse,
  LoginMfaRequest,
  LoginMfaSendRequest,
  LoginMfaSendResponse,
  LoginRequest,
  LoginResponse,
  LoginSession,
  MfaConfirmRequest,
  MfaConfirmResponse,
  MfaEnrollRequest,
  MfaEnrollResponse,
  MfaStatus,
  PasswordChangeRequest,
  PasswordChangeResponse,
  RecoveryCodesResponse,
  StepUpBeginRequest,
  StepUpBeginResponse,
  StepUpRequest,
  StepUpResponse,
  type WorkspaceUpdateRequest,
} from '@corral/protocol';
import { route, type AnyRoute } from './routes.js';
import type { Services } from '../services.js';
import type { Principal } from '../auth/principal.js';
import type { ClientMeta } from '../mfa/mfa-service.js';
import { CorralError } from '../errors.js';
import { csrfTokenFor, setSessionCookies } from '../auth/browser-session.js';

/**
 * Routes a session limited to MFA enrolment may call (the workspace enforces MFA and the session has not
 * proved a factor yet): who am I, step-up, enrolment, sign out. Everything else answers
 * MFA_ENROLLMENT_REQUIRED.
 */
export const ENROLLMENT_ROUTES: ReadonlySet<string> = new Set([
  '/api/v1/auth/whoami',
  '/api/v1/auth/logout',
  '/api/v1/auth/step-up',
  '/api/v1/auth/step-up/begin',
  '/api/v1/auth/mfa',
  '/api/v1/auth/mfa/factors',
  '/api/v1/auth/mfa/factors/:id/confirm',
  '/api/v1/auth/mfa/factors/:id',
]);

/** Finish a sign-in for a browser: the token goes into the HttpOnly cookie, the page gets the CSRF token. */
export function browserSession(reply: FastifyReply, res: LoginSession): BrowserLoginResponse {
  setSessionCookies(reply, res.token, res.expiresAt);
  return {
    cookie: true,
    csrfToken: csrfTokenFor(res.token),
    expiresAt: res.expiresAt,
    user: res.user,
    workspace: res.workspace,
    ...(res.enrollmentRequired ? { enrollmentRequired: true } : {}),
  };
}

/** Who is asking, for audit, limits and the WebAuthn relying party. */
export function clientMeta(req: FastifyRequest): ClientMeta {
  const ua = req.headers['user-agent'];
  return { sourceIp: req.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 256) : null, host: req.headers.host };
}

/**
 * Extra checks when a superuser changes workspace settings: a fresh step-up when the policy lists
 * policy changes, and nobody turns MFA enforcement on without a factor of their own (they would lock
 * their own session into enrolment).
 */
export async function checkPolicyChange(
  s: Services,
  p: Principal,
  body: z.infer<typeof WorkspaceUpdateRequest>,
  sourceIp: string,
): Promise<void> {
  await s.auth.requireStepUp(p, 'policy_change', sourceIp);
  const touchesMfa = body.mfaEnforced !== undefined || body.mfaMethods !== undefined;
  if (!touchesMfa) return;
  const before = await s.mfa.policy(p.workspaceId);
  const enforced = body.mfaEnforced ?? before.enforced;
  if (!enforced) return;
  const methods = body.mfaMethods ?? before.methods;
  const mine = (await s.mfa.usableFactors(p.workspaceId, p.userId)).filter((f) =>
    methods.includes(f.kind as (typeof methods)[number]),
  );
  if (mine.length === 0) {
    throw new CorralError(
      'MFA_REQUIRED',
      'Enrol an allowed second factor yourself (corral mfa add totp) before enforcing MFA for the workspace.',
    );
  }
}

/** Sign-in with a second factor, step-up, MFA enrolment, sign-in sessions and password changes. */
export function mfaRoutes(s: Services): AnyRoute[] {
  return [
    // --- sign-in --------------------------------------------------------------------------------------
    route({
      method: 'POST',
      url: '/api/v1/auth/login',
      summary:
        'Sign in with email and password: a bearer token (with `cookie: true` an HttpOnly session cookie and its CSRF token), or {mfaRequired, challenge, methods} when the user has a second factor',
      tag: 'auth',
      auth: false,
      body: LoginRequest,
      response: z.union([LoginResponse, BrowserLoginResponse]),
      errors: ['VALIDATION_FAILED', 'INVALID_CREDENTIALS', 'RATE_LIMITED', 'WORKSPACE_NOT_FOUND'],
      handler: async ({ body, req, reply }) => {
        const res = await s.auth.login(req.workspaceId, body.email, body.password, clientMeta(req));
        return body.cookie && !('mfaRequired' in res) ? browserSession(reply, res) : res;
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/login/mfa',
      summary: 'Second sign-in step: the challenge and a factor (totp, webauthn, email, sms or recovery code)',
      tag: 'auth',
      auth: false,
      body: LoginMfaRequest,
      response: z.union([LoginSession, BrowserLoginResponse]),
      errors: [
        'VALIDATION_FAILED',
        'MFA_CHALLENGE_INVALID',
        'MFA_INVALID',
        'MFA_METHOD_NOT_ALLOWED',
        'RATE_LIMITED',
        'WORKSPACE_NOT_FOUND',
      ],
      handler: async ({ body, req, reply }) => {
        const res = await s.auth.loginMfa(
          req.workspaceId,
          body.challenge,
          { method: body.method, code: body.code, webauthn: body.webauthn },
          clientMeta(req),
        );
        return body.cookie ? browserSession(reply, res) : res;
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/login/mfa/send',
      summary: 'Send a sign-in code by email or SMS/voice for a challenge (10 minutes; a new send replaces the code)',
      tag: 'auth',
      auth: false,
      body: LoginMfaSendRequest,
      response: LoginMfaSendResponse,
      errors: [
        'VALIDATION_FAILED',
        'MFA_CHALLENGE_INVALID',
        'MFA_METHOD_NOT_ALLOWED',
        'MFA_DELIVERY_FAILED',
        'WORKSPACE_NOT_FOUND',
      ],
      handler: async ({ body, req }) =>
        s.mfa.sendLoginCode(req.workspaceId, body.challenge, body.method, clientMeta(req)),
    }),
    // --- step-up ---------------------------------------------------------------------------------------
    route({
      method: 'POST',
      url: '/api/v1/auth/step-up/begin',
      summary:
        'Start a step-up: the methods you have; sends an email/SMS code or returns WebAuthn options with a challenge',
      tag: 'auth',
      body: StepUpBeginRequest,
      response: StepUpBeginResponse,
      errors: ['VALIDATION_FAILED', 'MFA_METHOD_NOT_ALLOWED', 'MFA_DELIVERY_FAILED'],
      handler: async ({ principal: p, body, req }) => s.mfa.beginStepUp(p, body.method, clientMeta(req)),
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/step-up',
      summary:
        'Prove it is you again before privileged actions: a second factor (the password when you have none); valid for the grace window (5 min)',
      tag: 'auth',
      body: StepUpRequest,
      response: StepUpResponse,
      errors: [
        'VALIDATION_FAILED',
        'INVALID_CREDENTIALS',
        'MFA_REQUIRED',
        'MFA_INVALID',
        'MFA_CHALLENGE_INVALID',
        'MFA_METHOD_NOT_ALLOWED',
        'RATE_LIMITED',
      ],
      handler: async ({ principal: p, body, req }) => s.auth.stepUp(p, body, clientMeta(req)),
    }),
    // --- enrolment ---------------------------------------------------------------------------------------
    route({
      method: 'GET',
      url: '/api/v1/auth/mfa',
      summary: 'My second factors, recovery codes left, and the workspace MFA policy',
      tag: 'mfa',
      response: MfaStatus,
      handler: async ({ principal: p }) => s.mfa.enrolment.status(p),
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/mfa/factors',
      summary:
        'Enrol a factor (fresh proof needed): totp answers the secret and otpauth URI, webauthn the creation options, email/sms send a code',
      tag: 'mfa',
      body: MfaEnrollRequest,
      response: MfaEnrollResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'STEP_UP_REQUIRED', 'MFA_METHOD_NOT_ALLOWED', 'MFA_DELIVERY_FAILED'],
      handler: async ({ principal: p, body, req }) => {
        await s.auth.requireFreshProof(p, 'mfa_enroll', req.ip);
        return s.mfa.enrolment.enroll(p, body, clientMeta(req));
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/mfa/factors/:id/confirm',
      summary:
        'Confirm a pending factor with its first code or the authenticator answer; the first factor also returns ten recovery codes',
      tag: 'mfa',
      body: MfaConfirmRequest,
      response: MfaConfirmResponse,
      errors: ['VALIDATION_FAILED', 'MFA_FACTOR_NOT_FOUND', 'MFA_INVALID', 'RATE_LIMITED'],
      handler: async ({ principal: p, params, body, req }) =>
        s.mfa.enrolment.confirm(p, params.id ?? '', body, clientMeta(req)),
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/auth/mfa/factors/:id',
      summary: 'Remove one of my factors (fresh proof needed; not the last one while MFA is enforced)',
      tag: 'mfa',
      status: 204,
      errors: ['STEP_UP_REQUIRED', 'MFA_FACTOR_NOT_FOUND', 'MFA_LAST_FACTOR'],
      handler: async ({ principal: p, params, req }) => {
        // Someone else's factor is 404 whatever the proof (the isolation matrix relies on it).
        await s.mfa.enrolment.assertOwnFactor(p, params.id ?? '');
        await s.auth.requireFreshProof(p, 'mfa_remove', req.ip);
        await s.mfa.enrolment.remove(p, params.id ?? '', clientMeta(req));
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/mfa/recovery-codes',
      summary: 'Make ten new recovery codes, shown once (fresh proof needed); the old ones stop working',
      tag: 'mfa',
      response: RecoveryCodesResponse,
      errors: ['STEP_UP_REQUIRED', 'MFA_FACTOR_NOT_FOUND'],
      handler: async ({ principal: p, req }) => {
        await s.auth.requireFreshProof(p, 'recovery_codes', req.ip);
        return { recoveryCodes: await s.mfa.enrolment.regenerateRecoveryCodes(p, clientMeta(req)) };
      },
    }),
    // --- sign-in sessions and password -------------------------------------------------------------------
    route({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      summary: 'My sign-in sessions: created, last used, source address, user agent, which one is this',
      tag: 'auth',
      response: AuthSessionList,
      handler: async ({ principal: p }) => ({ items: await s.auth.sessions(p) }),
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/auth/sessions/:id',
      summary: 'Revoke one of my sign-in sessions',
      tag: 'auth',
      status: 204,
      errors: ['AUTH_SESSION_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await s.auth.revokeSession(p, params.id ?? '', req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/password',
      summary: 'Change my password (the current one again); my other sign-in sessions are revoked',
      tag: 'auth',
      body: PasswordChangeRequest,
      response: PasswordChangeResponse,
      errors: ['VALIDATION_FAILED', 'INVALID_CREDENTIALS', 'STEP_UP_REQUIRED', 'RATE_LIMITED'],
      handler: async ({ principal: p, body, req }) => s.auth.changePassword(p, body.current, body.new, clientMeta(req)),
    }),
  ];
}
