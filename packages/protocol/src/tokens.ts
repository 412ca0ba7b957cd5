import { z } from 'zod';
import { CommandAcl } from './work-sessions.js';

/**
 * API tokens (personal access tokens, `crl_pat_...`) and service tokens of applications (`crl_svc_...`).
 *
 * A token carries scopes, one level per resource: `servers:read`, `exec:write`, `iam:owner`. A level
 * includes the ones below it (owner > write > read). What a request made with the token may do is the
 * intersection of the token's scopes and ACLs with what its owner (user or application) may do now.
 */
export const TOKEN_RESOURCES = [
  'servers',
  'websh',
  'files',
  'exec',
  'tunnels',
  'work_sessions',
  'recordings',
  'audit',
  'users',
  'iam',
  'workspace',
  'tokens',
  'applications',
] as const;
export type TokenResource = (typeof TOKEN_RESOURCES)[number];

export const TOKEN_LEVELS = ['read', 'write', 'owner'] as const;
export type TokenLevel = (typeof TOKEN_LEVELS)[number];

/** One scope as text: `RESOURCE:LEVEL`, or `*:LEVEL` for every resource at that level. */
export const ScopeText = z
  .string()
  .regex(
    new RegExp(`^(\\*|${TOKEN_RESOURCES.join('|')}):(${TOKEN_LEVELS.join('|')})$`),
    `a scope is RESOURCE:LEVEL with RESOURCE one of ${TOKEN_RESOURCES.join(', ')} (or *) and LEVEL read, write or owner`,
  );

/** Token lifetime in seconds; null: never expires. */
const ExpiresIn = z
  .number()
  .int()
  .min(60)
  .max(5 * 365 * 86400)
  .nullable();

export const ApiTokenCreateRequest = z.strictObject({
  name: z.string().trim().min(1).max(128),
  /** Seconds until expiry; null for a token that never expires. Default 30 days. */
  expiresInSeconds: ExpiresIn.optional(),
  scopes: z.array(ScopeText).min(1).max(64),
  /** Server selectors (as for grants): the token reaches only matching servers. Omitted: no server limit. */
  servers: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
  /** Allow / deny patterns checked against every command run with the token (exec, websh -- CMD). */
  commands: CommandAcl.optional(),
});
export type ApiTokenCreateRequest = z.infer<typeof ApiTokenCreateRequest>;

export const ApiTokenView = z.object({
  id: z.string(),
  kind: z.enum(['personal', 'service']),
  name: z.string(),
  /** The first characters of the secret (`crl_pat_AbCd`), to recognise it. */
  prefix: z.string(),
  /** Owner: the user's email, or `app:NAME` for an application. */
  owner: z.string(),
  ownerId: z.string(),
  scopes: z.array(z.string()),
  servers: z.array(z.string()).nullable(),
  commands: CommandAcl.nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  lastUsedIp: z.string().nullable(),
  status: z.enum(['active', 'expired', 'revoked']),
});
export type ApiTokenView = z.infer<typeof ApiTokenView>;

/** Answer to create: the view plus the secret, shown this once. */
export const ApiTokenCreateResponse = ApiTokenView.extend({ token: z.string() });
export type ApiTokenCreateResponse = z.infer<typeof ApiTokenCreateResponse>;

export const ApiTokenList = z.object({ items: z.array(ApiTokenView) });
export type ApiTokenList = z.infer<typeof ApiTokenList>;

export const ApiTokenActivity = z.object({
  ts: z.string(),
  method: z.string(),
  route: z.string(),
  status: z.number(),
  sourceIp: z.string().nullable(),
});
export type ApiTokenActivity = z.infer<typeof ApiTokenActivity>;
export const ApiTokenActivityList = z.object({ items: z.array(ApiTokenActivity) });
export type ApiTokenActivityList = z.infer<typeof ApiTokenActivityList>;

// --- applications ----------------------------------------------------------------------------------

export const APP_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const ApplicationCreateRequest = z.strictObject({
  name: z.string().regex(APP_NAME_RE, 'lower-case letters, digits and dashes, 1-63 characters'),
  description: z.string().max(500).optional(),
  role: z.enum(['member', 'staff']).optional(),
  /** The most any service token of the application may do. */
  scopes: z.array(ScopeText).min(1).max(64),
});
export type ApplicationCreateRequest = z.infer<typeof ApplicationCreateRequest>;

export const ApplicationView = z.object({
  id: z.string(),
  name: z.string(),
  /** The identity grants and groups name: `app:NAME`. */
  principal: z.string(),
  description: z.string().nullable(),
  role: z.enum(['member', 'staff']),
  scopes: z.array(z.string()),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  tokens: z.number(),
});
export type ApplicationView = z.infer<typeof ApplicationView>;
export const ApplicationList = z.object({ items: z.array(ApplicationView) });
export type ApplicationList = z.infer<typeof ApplicationList>;

/** Service tokens: as API tokens, scopes default to the application's. */
export const ServiceTokenCreateRequest = ApiTokenCreateRequest.extend({
  scopes: z.array(ScopeText).min(1).max(64).optional(),
});
export type ServiceTokenCreateRequest = z.infer<typeof ServiceTokenCreateRequest>;
