/**
 * The gateway's error catalogue (fastify lib/errors.js idea). Every error that leaves the process has
 * a code from here; the HTTP status is chosen here too. docs/API.md lists them; a test keeps them in step.
 */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid.' },
  UNAUTHENTICATED: { status: 401, message: 'Sign in first: the token is missing, expired or revoked.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong email or password.' },
  JOIN_TOKEN_INVALID: { status: 401, message: 'The join token is unknown, expired, revoked or used up.' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this.' },
  CSRF_FAILED: { status: 403, message: 'Missing or wrong X-CSRF-Token header for a cookie session.' },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  SERVER_NOT_FOUND: { status: 404, message: 'No such server.' },
  JOIN_TOKEN_NOT_FOUND: { status: 404, message: 'No such join token.' },
  SESSION_NOT_FOUND: { status: 404, message: 'No such live session.' },
  SESSION_ENDED: { status: 409, message: 'The terminal session has ended.' },
  SESSION_NOT_PERSISTENT: { status: 409, message: 'The terminal session does not survive a dropped connection.' },
  SESSION_DETACHED: { status: 409, message: 'Nobody is attached to the terminal session right now.' },
  SHARE_NOT_FOUND: { status: 404, message: 'No such share of this session.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user in this workspace.' },
  GROUP_NOT_FOUND: { status: 404, message: 'No such user group.' },
  GROUP_EXISTS: { status: 409, message: 'A user group with this name already exists.' },
  GRANT_NOT_FOUND: { status: 404, message: 'No such grant.' },
  USER_EXISTS: { status: 409, message: 'That email is already a user of this workspace.' },
  INVITATION_INVALID: { status: 401, message: 'The invitation is unknown, expired or already used.' },
  WORKSPACE_NOT_FOUND: { status: 404, message: 'No workspace is served at this host name.' },
  WORKSPACE_IN_OTHER_REGION: { status: 421, message: 'This workspace lives in another region; use its URL.' },
  SERVER_NAME_TAKEN: { status: 409, message: 'A server with this name is already registered.' },
  SERVER_OFFLINE: { status: 409, message: 'The server is offline: its agent is not connected.' },
  WORK_SESSION_NOT_FOUND: { status: 404, message: 'No such work session.' },
  WORK_SESSION_REQUIRED: { status: 403, message: 'This needs an approved work session that covers it.' },
  WORK_SESSION_STATE: { status: 409, message: 'The work session is not in a state that allows this.' },
  RECORDING_NOT_FOUND: { status: 404, message: 'No such recording.' },
  STEP_UP_REQUIRED: { status: 403, message: 'This needs a fresh step-up (corral step-up).' },
  MFA_REQUIRED: { status: 401, message: 'This account has a second factor: prove it with one.' },
  MFA_INVALID: { status: 401, message: 'The code or authenticator answer is wrong, expired or already used.' },
  MFA_CHALLENGE_INVALID: { status: 401, message: 'The sign-in challenge is unknown, expired or used: sign in again.' },
  MFA_METHOD_NOT_ALLOWED: { status: 403, message: 'This second factor is not allowed or not enrolled.' },
  MFA_ENROLLMENT_REQUIRED: {
    status: 403,
    message: 'This workspace requires a second factor: enrol one first (corral mfa add totp).',
  },
  MFA_FACTOR_NOT_FOUND: { status: 404, message: 'No such second factor.' },
  MFA_LAST_FACTOR: { status: 409, message: 'The workspace enforces MFA: your last factor cannot be removed.' },
  MFA_DELIVERY_FAILED: { status: 502, message: 'The code could not be sent.' },
  AUTH_SESSION_NOT_FOUND: { status: 404, message: 'No such sign-in session of yours.' },
  EXEC_JOB_NOT_FOUND: { status: 404, message: 'No such exec job.' },
  FILE_NOT_FOUND: { status: 404, message: 'No such file or directory on the server.' },
  FILE_PERMISSION_DENIED: { status: 403, message: "The OS user's permissions do not allow this." },
  FILE_EXISTS: { status: 409, message: 'The target already exists (ask to overwrite).' },
  FILE_CHANGED: { status: 412, message: 'The file changed on the server since it was read.' },
  FILE_TOO_LARGE: { status: 413, message: 'The file is over the size limit.' },
  FILE_NOT_TEXT: { status: 415, message: 'The file is not UTF-8 text.' },
  FILE_OPERATION_FAILED: { status: 400, message: 'The file operation failed.' },
  ARTIFACT_NOT_FOUND: { status: 404, message: 'This gateway has no agent build for that platform.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send JSON (Content-Type: application/json).' },
  TOKEN_SCOPE: { status: 403, message: "The API token's scopes or server ACL do not cover this." },
  COMMAND_DENIED: { status: 403, message: "The API token's command ACL refuses this command." },
  TOKEN_NOT_FOUND: { status: 404, message: 'No such API token.' },
  APPLICATION_NOT_FOUND: { status: 404, message: 'No such application.' },
  APPLICATION_EXISTS: { status: 409, message: 'An application with this name already exists.' },
  SSO_REQUIRED: {
    status: 403,
    message: 'This workspace requires single sign-on: sign in with your identity provider (corral login --browser).',
  },
  SSO_PROVIDER_NOT_FOUND: { status: 404, message: 'No such SSO provider in this workspace.' },
  SSO_PROVIDER_EXISTS: { status: 409, message: 'An SSO provider with this name already exists.' },
  SSO_FAILED: { status: 401, message: 'Single sign-on failed.' },
  AUTHORIZATION_PENDING: { status: 400, message: 'Not approved yet: keep polling at the interval.' },
  SLOW_DOWN: { status: 400, message: 'Polling too fast: wait longer between polls.' },
  DEVICE_CODE_EXPIRED: { status: 400, message: 'The device code is unknown, used or expired: start again.' },
  DEVICE_DENIED: { status: 403, message: 'The sign-in was denied in the browser.' },
  RATE_LIMITED: { status: 429, message: 'Too many attempts; wait and try again.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a catalogue code, turned into `{"error":{code,message}}` by the error handler. */
export class CorralError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, opts: { details?: unknown; headers?: Record<string, string> } = {}) {
    super(message ?? ERRORS[code].message);
    this.name = 'CorralError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = opts.details;
    this.headers = opts.headers ?? {};
  }
}
