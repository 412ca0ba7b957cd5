import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AnyRoute } from '../http/routes.js';
import type { ApiTokens } from './api-tokens.js';
import type { Principal } from './principal.js';
import { checkRouteScope, INTERACTIVE_ROUTES } from './token-scopes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated principal, once authenticate() ran (for the token activity log). */
    principal?: Principal;
  }
}

/**
 * The central scope check for API and service tokens, run by registerRoutes before every authenticated
 * handler: the route's `METHOD URL` is looked up in ROUTE_SCOPES (deny by default) and a token without
 * the scope is refused with 403 TOKEN_SCOPE and an `access.denied` event. Sessions pass untouched.
 */
export function tokenGuard(tokens: ApiTokens) {
  return async (r: AnyRoute, p: Principal, req: FastifyRequest): Promise<void> => {
    if (!p.apiToken) return;
    const miss = checkRouteScope(r.method, r.url, p.apiToken.scopes);
    if (miss) await tokens.refuseScope(p, `${r.method} ${r.url}`, miss.missing, miss.reason, req.ip);
    if (p.apiToken.commands && INTERACTIVE_ROUTES.has(`${r.method} ${r.url}`)) {
      await tokens.refuseInteractive(p, `${r.method} ${r.url}`, req.ip);
    }
  };
}

/** Every response to a request made with an API token goes into that token's activity log. */
export function registerTokenActivity(app: FastifyInstance, tokens: ApiTokens): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onResponse', async (req, reply) => {
    const p = req.principal;
    if (!p?.apiToken) return;
    await tokens.recordActivity(
      p,
      req.method,
      req.routeOptions.url ?? req.url.split('?')[0] ?? '',
      reply.statusCode,
      req.ip,
    );
  });
}
