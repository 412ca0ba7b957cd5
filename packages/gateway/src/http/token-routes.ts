import { requireRole } from './require-role.js';
import { z } from 'zod';
import {
  ApiTokenActivityList,
  ApiTokenCreateRequest,
  ApiTokenCreateResponse,
  ApiTokenList,
  ApplicationCreateRequest,
  ApplicationList,
  ApplicationView,
  ServiceTokenCreateRequest,
} from '@corral/protocol';
import { route, type AnyRoute } from './routes.js';
import type { Services } from '../services.js';
import type { ApiTokenGrant } from '../auth/principal.js';
import { formatScopes } from '../auth/token-scopes.js';

/** What whoami tells a caller about the token it used. */
export function apiTokenSummary(t: ApiTokenGrant): {
  id: string;
  kind: 'personal' | 'service';
  name: string;
  scopes: string[];
  servers: string[] | null;
} {
  return {
    id: t.id,
    kind: t.kind,
    name: t.name,
    scopes: formatScopes(t.scopes),
    servers: t.servers ? [...t.servers] : null,
  };
}

const ActivityQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).optional() });

/** API tokens (the caller's own), applications and their service tokens. */
export function tokenRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'POST',
      url: '/api/v1/tokens',
      summary: 'Create a personal API token (crl_pat_...) with scopes and optional server / command ACLs; shown once',
      tag: 'tokens',
      body: ApiTokenCreateRequest,
      response: ApiTokenCreateResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'TOKEN_SCOPE', 'STEP_UP_REQUIRED'],
      handler: async ({ principal: p, body, req }) => {
        await s.auth.requireStepUp(p, 'token_create', req.ip);
        return s.tokens.createPersonal(p, body, req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/tokens',
      summary: 'My API tokens, newest first (never their secrets)',
      tag: 'tokens',
      response: ApiTokenList,
      handler: async ({ principal: p }) => ({ items: await s.tokens.listPersonal(p) }),
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/tokens/:id',
      summary: 'Revoke an API token at once: its next request is refused and its live channels end',
      tag: 'tokens',
      status: 204,
      errors: ['TOKEN_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await s.tokens.revokePersonal(p, params.id ?? '', req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/tokens/:id/activity',
      summary: 'The last requests made with a token (time, method, route, status, source IP)',
      tag: 'tokens',
      query: ActivityQuery,
      response: ApiTokenActivityList,
      errors: ['TOKEN_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ principal: p, params, query }) => ({
        items: await s.tokens.activity(p, params.id ?? '', (query as { limit?: number }).limit ?? 100),
      }),
    }),
    // --- applications --------------------------------------------------------------------------------
    route({
      method: 'GET',
      url: '/api/v1/applications',
      summary: 'Applications (non-human identities) of the workspace (staff and superusers)',
      tag: 'tokens',
      response: ApplicationList,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'application.list', req);
        return { items: await s.tokens.listApps(p.workspaceId) };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/applications',
      summary: 'Create an application with a role (member or staff) and scopes (staff and superusers)',
      tag: 'tokens',
      body: ApplicationCreateRequest,
      response: ApplicationView,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'APPLICATION_EXISTS', 'TOKEN_SCOPE'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'staff', 'application.create', req);
        return s.tokens.createApp(p, body, req.ip);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/applications/:app',
      summary: 'Delete an application: its service tokens stop working and its live channels end',
      tag: 'tokens',
      status: 204,
      errors: ['FORBIDDEN', 'APPLICATION_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'application.delete', req);
        await s.tokens.deleteApp(p, params.app ?? '', req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/applications/:app/tokens',
      summary: "Issue a service token (crl_svc_...) for an application; scopes default to the application's",
      tag: 'tokens',
      body: ServiceTokenCreateRequest,
      response: ApiTokenCreateResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'APPLICATION_NOT_FOUND', 'TOKEN_SCOPE', 'STEP_UP_REQUIRED'],
      handler: async ({ principal: p, params, body, req }) => {
        await requireRole(s, p, 'staff', 'application.token.create', req);
        await s.auth.requireStepUp(p, 'token_create', req.ip);
        return s.tokens.createServiceToken(p, params.app ?? '', body, req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/applications/:app/tokens',
      summary: "An application's service tokens (staff and superusers)",
      tag: 'tokens',
      response: ApiTokenList,
      errors: ['FORBIDDEN', 'APPLICATION_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'application.token.list', req);
        return { items: await s.tokens.listServiceTokens(p, params.app ?? '') };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/applications/:app/tokens/:id',
      summary: 'Revoke a service token at once',
      tag: 'tokens',
      status: 204,
      errors: ['FORBIDDEN', 'APPLICATION_NOT_FOUND', 'TOKEN_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'application.token.revoke', req);
        await s.tokens.revokeServiceToken(p, params.app ?? '', params.id ?? '', req.ip);
      },
    }),
  ];
}
