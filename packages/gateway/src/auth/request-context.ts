import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from './principal.js';

/**
 * The principal of the HTTP request being handled, for the few places that must know how the caller
 * authenticated without every service passing it along: the audit log (every event an API or service
 * token causes names the token) and the channel hub (live channels remember the token that opened them,
 * so revoking it ends them). Set by registerRoutes around each authenticated handler.
 */
export const requestContext = new AsyncLocalStorage<{ principal: Principal }>();

/** The principal of the request in progress, if any. */
export function currentPrincipal(): Principal | undefined {
  return requestContext.getStore()?.principal;
}
