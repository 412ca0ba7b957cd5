import { requireRole } from './require-role.js';
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  DeviceAuthorizationRequest,
  DeviceAuthorizationResponse,
  DeviceTokenRequest,
  LoginSession,
  SsoPolicy,
  SsoProviderCreateRequest,
  SsoProviderList,
  SsoProviderUpdateRequest,
  SsoProviderView,
  SsoPublicList,
} from '@corral/protocol';
import { route, type AnyRoute } from './routes.js';
import type { Services } from '../services.js';
import { parseCookies, setSessionCookies } from '../auth/browser-session.js';
import { CorralError } from '../errors.js';
import { sendContinuePage, sendErrorPage } from '../sso/pages.js';
import { SsoFailure, SsoService, type Assertion } from '../sso/sso-service.js';
import type { SsoProvider } from '../sso/sso-store.js';

/** Cookie binding an SSO sign-in to the browser that started it (its SHA-256 is in the flow record). */
export const SSO_BINDING_COOKIE = '__Host-corral_sso';

/** The workspace origin the client reached (the gateway is HTTPS only). */
export function originOf(req: FastifyRequest): string {
  return `https://${req.headers.host ?? '127.0.0.1'}`;
}

/**
 * SAML's answer arrives as a cross-site POST, which SameSite=Lax cookies do not ride along with, so
 * that provider's binding cookie is SameSite=None (still Secure, HttpOnly, host-only, 10 minutes).
 */
function setBindingCookie(reply: FastifyReply, value: string, kind: 'oidc' | 'saml'): void {
  const site = kind === 'saml' ? 'None' : 'Lax';
  reply.header('set-cookie', `${SSO_BINDING_COOKIE}=${value}; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=${site}`);
}

function clearBindingCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${SSO_BINDING_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`);
}

export function bindingCookieOf(req: FastifyRequest): string | null {
  return parseCookies(req.headers.cookie).get(SSO_BINDING_COOKIE) ?? null;
}

/**
 * End an SSO sign-in for the browser: on success the session cookie and a redirect to `next`; on
 * failure an audited error page (401 SSO_FAILED with the reason). Shared by the OIDC callback and
 * the SAML ACS.
 */
export async function completeSso(
  s: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  providerName: string,
  finish: (p: SsoProvider) => Promise<{ a: Assertion; next: string }>,
): Promise<FastifyReply> {
  let p: SsoProvider | null = null;
  try {
    p = await s.sso.provider(req.workspaceId, providerName);
    const { a, next } = await finish(p);
    const session = await s.sso.signIn(p, a, req.ip);
    clearBindingCookie(reply);
    setSessionCookies(reply, session.token, session.expiresAt);
    return sendContinuePage(reply, next);
  } catch (err) {
    clearBindingCookie(reply);
    if (err instanceof SsoFailure) {
      await s.sso.failed(req.workspaceId, p, err.reason, err.message, req.ip, err.who);
      return sendErrorPage(reply, 401, 'SSO_FAILED', err.message);
    }
    if (err instanceof CorralError) {
      await s.sso.failed(req.workspaceId, p, err.code.toLowerCase(), err.message, req.ip);
      return sendErrorPage(reply, err.status, err.code, err.message);
    }
    throw err;
  }
}

const NextQuery = z.object({ next: z.string().max(2000).optional() });
const PolicyView = z.object({ required: z.boolean() });

/** SSO sign-in, SSO configuration (superusers) and device authorization routes. */
export function ssoRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/v1/auth/sso/providers',
      summary: 'The enabled SSO providers of this workspace and whether SSO is required (for the sign-in page)',
      tag: 'sso',
      auth: false,
      response: SsoPublicList,
      handler: async ({ req }) => {
        const origin = originOf(req);
        return {
          items: (await s.sso.publicList(req.workspaceId)).map((p) => ({
            ...p,
            startUrl: `${origin}/api/v1/auth/sso/${p.name}/start`,
          })),
          ssoRequired: await s.sso.store.ssoRequired(req.workspaceId),
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/auth/sso/:provider/start',
      summary: 'Start a browser sign-in with this provider (redirects to the IdP); `next` is where to land after',
      tag: 'sso',
      auth: false,
      query: NextQuery,
      errors: ['SSO_PROVIDER_NOT_FOUND', 'SSO_FAILED', 'RATE_LIMITED'],
      handler: async ({ req, reply, params, query }) => {
        try {
          const p = await s.sso.provider(req.workspaceId, params.provider ?? '');
          const flow = await s.sso.start(p, originOf(req), String(query.next ?? '/'), req.ip);
          setBindingCookie(reply, flow.binding, p.kind);
          return reply.header('cache-control', 'no-store').redirect(flow.url, 302);
        } catch (err) {
          if (!(err instanceof CorralError)) throw err;
          if (err.code === 'SSO_FAILED') {
            await s.sso.failed(
              req.workspaceId,
              { name: params.provider ?? '', kind: 'oidc' },
              'idp_unreachable',
              err.message,
              req.ip,
            );
          }
          for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
          return sendErrorPage(reply, err.status, err.code, err.message);
        }
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/auth/sso/:provider/callback',
      summary: 'OIDC redirect URI: checks state, browser and ID token, sets the session cookie, redirects to `next`',
      tag: 'sso',
      auth: false,
      errors: ['SSO_FAILED', 'SSO_PROVIDER_NOT_FOUND'],
      handler: async ({ req, reply, params }) =>
        completeSso(s, req, reply, params.provider ?? '', async (p) => {
          if (p.kind !== 'oidc') throw new SsoFailure('wrong_kind', `"${p.name}" is not an OIDC provider.`);
          return s.sso.finishOidc(p, new URL(req.url, originOf(req)), bindingCookieOf(req));
        }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/auth/sso/:provider/metadata',
      summary: 'SAML service provider metadata (entity ID, ACS URL) to give the IdP',
      tag: 'sso',
      auth: false,
      errors: ['SSO_PROVIDER_NOT_FOUND'],
      handler: async ({ req, reply, params }) => {
        const p = await s.sso.store.find(req.workspaceId, params.provider ?? '');
        if (p.kind !== 'saml') throw new CorralError('SSO_PROVIDER_NOT_FOUND', `"${p.name}" is not a SAML provider.`);
        const urls = SsoService.urls(originOf(req), p);
        return reply.type('application/samlmetadata+xml').send(s.sso.saml.metadata(p, urls.acs, urls.spEntityId));
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/device',
      summary:
        'Start a device sign-in (corral login --browser): a device code to poll with and a user code to approve in the browser',
      tag: 'auth',
      auth: false,
      body: DeviceAuthorizationRequest,
      response: DeviceAuthorizationResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'RATE_LIMITED'],
      handler: async ({ req, body }) => s.devices.create(req.workspaceId, body.clientName, req.ip, originOf(req)),
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/device/token',
      summary: 'Poll a device sign-in: the session once approved in the browser',
      tag: 'auth',
      auth: false,
      body: DeviceTokenRequest,
      response: LoginSession,
      errors: ['AUTHORIZATION_PENDING', 'SLOW_DOWN', 'DEVICE_CODE_EXPIRED', 'DEVICE_DENIED'],
      handler: async ({ req, body }) => s.devices.poll(req.workspaceId, body.deviceCode, req.ip),
    }),
    route({
      method: 'GET',
      url: '/api/v1/sso/providers',
      summary: 'SSO providers of the workspace, never their secrets (superusers)',
      tag: 'sso',
      response: SsoProviderList,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'superuser', 'sso.provider.list', req);
        const origin = originOf(req);
        return {
          items: (await s.sso.store.list(p.workspaceId)).map((x) => s.sso.store.view(x, origin)),
          ssoRequired: await s.sso.store.ssoRequired(p.workspaceId),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/sso/providers',
      summary: 'Add an OIDC or SAML provider (superusers); the client secret is encrypted at rest',
      tag: 'sso',
      body: SsoProviderCreateRequest,
      response: SsoProviderView,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'SSO_PROVIDER_EXISTS'],
      handler: async ({ principal: p, req, body }) => {
        await requireRole(s, p, 'superuser', 'sso.provider.create', req);
        return s.sso.store.view(await s.sso.store.create(p, body, req.ip), originOf(req));
      },
    }),
    route({
      method: 'PATCH',
      url: '/api/v1/sso/providers/:name',
      summary: 'Change a provider: enable/disable, group map, JIT, settings, client secret (superusers)',
      tag: 'sso',
      body: SsoProviderUpdateRequest,
      response: SsoProviderView,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'SSO_PROVIDER_NOT_FOUND'],
      handler: async ({ principal: p, req, body, params }) => {
        await requireRole(s, p, 'superuser', 'sso.provider.update', req);
        return s.sso.store.view(await s.sso.store.update(p, params.name ?? '', body, req.ip), originOf(req));
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/sso/providers/:name',
      summary: 'Remove a provider and its identity links (superusers); users stay',
      tag: 'sso',
      status: 204,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'SSO_PROVIDER_NOT_FOUND'],
      handler: async ({ principal: p, req, params }) => {
        await requireRole(s, p, 'superuser', 'sso.provider.delete', req);
        await s.sso.store.remove(p, params.name ?? '', req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/sso/policy',
      summary: 'The "SSO required" policy (superusers)',
      tag: 'sso',
      response: PolicyView,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'superuser', 'sso.policy.read', req);
        return { required: await s.sso.store.ssoRequired(p.workspaceId) };
      },
    }),
    route({
      method: 'PUT',
      url: '/api/v1/sso/policy',
      summary: 'Require SSO: password sign-in refused for members and staff; superusers keep it as break-glass',
      tag: 'sso',
      body: SsoPolicy,
      response: PolicyView,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
      handler: async ({ principal: p, req, body }) => {
        await requireRole(s, p, 'superuser', 'sso.policy.update', req);
        return s.sso.store.setPolicy(p, body.required, req.ip);
      },
    }),
  ];
}
