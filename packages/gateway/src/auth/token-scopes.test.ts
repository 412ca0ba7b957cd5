import { describe, expect, it } from 'vitest';
import { apiRoutes } from '../http/api-routes.js';
import type { Services } from '../services.js';
import {
  checkRouteScope,
  formatScopes,
  intersectScopes,
  parseScopes,
  ROUTE_SCOPES,
  scopesBeyond,
} from './token-scopes.js';

// Route specs only reference services inside their handlers, so an empty object is enough to list them.
const routes = apiRoutes({} as Services);
const authenticated = routes.filter((r) => r.auth !== false).map((r) => `${r.method} ${r.url}`);

describe('ROUTE_SCOPES (deny by default)', () => {
  it('maps every authenticated route, so a new route cannot reach API tokens without a decision', () => {
    const unmapped = authenticated.filter((k) => !Object.prototype.hasOwnProperty.call(ROUTE_SCOPES, k));
    expect(unmapped).toEqual([]);
  });

  it('names no route that does not exist (a stale entry would hide a typo)', () => {
    const stale = Object.keys(ROUTE_SCOPES).filter((k) => !authenticated.includes(k));
    expect(stale).toEqual([]);
  });

  it('refuses an unmapped route to every token, even one with every scope at owner', () => {
    const all = parseScopes(['*:owner']);
    expect(checkRouteScope('POST', '/api/v1/not-in-the-table', all)?.missing).toBe('unmapped');
  });

  it('refuses session-only routes (logout, step-up) to tokens', () => {
    expect(checkRouteScope('POST', '/api/v1/auth/step-up', parseScopes(['*:owner']))?.missing).toBe('session');
  });
});

describe('scope levels', () => {
  it('a level includes the ones below it', () => {
    const s = parseScopes(['servers:write']);
    expect(checkRouteScope('GET', '/api/v1/servers', s)).toBeNull();
    expect(checkRouteScope('PATCH', '/api/v1/servers/:name', s)).toBeNull();
    expect(checkRouteScope('DELETE', '/api/v1/servers/:name', s)?.missing).toBe('servers:owner');
  });

  it('servers:read cannot run commands, open terminals or manage users', () => {
    const s = parseScopes(['servers:read']);
    expect(checkRouteScope('POST', '/api/v1/exec', s)?.missing).toBe('exec:write');
    expect(checkRouteScope('POST', '/api/v1/servers/:name/websh', s)?.missing).toBe('websh:write');
    expect(checkRouteScope('POST', '/api/v1/users/invitations', s)?.missing).toBe('users:write');
  });

  it('*:LEVEL expands to every resource; formatScopes keeps the highest level once', () => {
    expect(formatScopes(parseScopes(['*:read', 'exec:write', 'exec:read']))).toContain('exec:write');
    expect(formatScopes(parseScopes(['*:read'])).length).toBeGreaterThan(10);
  });

  it('rejects unknown resources and levels', () => {
    expect(() => parseScopes(['ships:read'])).toThrow(/resource/);
    expect(() => parseScopes(['servers:admin'])).toThrow(/level/);
  });

  it('intersection takes the lower level per resource and drops what either lacks', () => {
    const i = intersectScopes(
      parseScopes(['servers:owner', 'exec:write']),
      parseScopes(['servers:read', 'audit:read']),
    );
    expect(formatScopes(i)).toEqual(['servers:read']);
  });

  it('scopesBeyond lists what a token would hand out beyond its own', () => {
    expect(
      scopesBeyond(parseScopes(['servers:write', 'audit:read']), parseScopes(['servers:read', 'audit:read'])),
    ).toEqual(['servers:write']);
  });
});
