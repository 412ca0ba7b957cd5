import { describe, it, expect } from 'vitest';
import type { Role } from '@corral/protocol';
import {
  authorize,
  SERVER_ACTION_LEVEL,
  WORKSPACE_ACTION_ROLE,
  type Principal,
  type ScopeGrant,
  type ScopeLevel,
  type ServerAction,
  type WorkspaceAction,
} from './authorize.js';
import { parseSelector } from './selectors.js';

const server = {
  kind: 'server' as const,
  id: 'srv_1',
  name: 'production-web-1',
  groups: ['production'],
  tags: { env: 'prod' },
};
const ROLES: Role[] = ['member', 'staff', 'superuser'];
const LEVELS: Array<ScopeLevel | null> = [null, 'read', 'write', 'owner'];
const RANK = { read: 1, write: 2, owner: 3 } as const;

function grant(
  level: ScopeLevel,
  selector = 'production-*',
  subject: ScopeGrant['subject'] = { kind: 'user', id: 'usr_1' },
): ScopeGrant {
  return { id: `g_${level}`, subject, selector: parseSelector(selector), level };
}

describe('authorize: the decision table (role x scope x action)', () => {
  // Every combination, computed from the rules stated in the docs, then compared with authorize().
  for (const role of ROLES) {
    for (const level of LEVELS) {
      for (const action of Object.keys(SERVER_ACTION_LEVEL) as ServerAction[]) {
        const expected = role !== 'member' || (level !== null && RANK[level] >= RANK[SERVER_ACTION_LEVEL[action]]);
        it(`${role} holding ${level ?? 'no scope'}: ${action} -> ${expected ? 'allow' : 'deny'}`, () => {
          const p: Principal = { userId: 'usr_1', role, groupIds: [] };
          const d = authorize(p, action, server, { grants: level ? [grant(level)] : [] });
          expect(d.allow).toBe(expected);
          expect(d.reason.length).toBeGreaterThan(5);
        });
      }
    }
    for (const action of Object.keys(WORKSPACE_ACTION_ROLE) as WorkspaceAction[]) {
      const need = WORKSPACE_ACTION_ROLE[action];
      const expected = ROLES.indexOf(role) >= ROLES.indexOf(need);
      it(`${role}: ${action} -> ${expected ? 'allow' : 'deny'}`, () => {
        expect(
          authorize({ userId: 'u', role, groupIds: [] }, action, { kind: 'workspace' }, { grants: [] }).allow,
        ).toBe(expected);
      });
    }
  }
});

describe('authorize: scopes', () => {
  const member: Principal = { userId: 'usr_1', role: 'member', groupIds: ['grp_web'] };

  it('applies a grant to a group to its members, and only to them', () => {
    const g = grant('write', 'group:production', { kind: 'group', id: 'grp_web' });
    expect(authorize(member, 'websh.open', server, { grants: [g] }).allow).toBe(true);
    expect(authorize({ ...member, groupIds: [] }, 'websh.open', server, { grants: [g] }).allow).toBe(false);
  });

  it('covers a server registered later that matches a glob, with no other change', () => {
    const grants = [grant('write', 'production-*', { kind: 'group', id: 'grp_web' })];
    const later = { ...server, id: 'srv_9', name: 'production-web-9' };
    expect(authorize(member, 'websh.open', later, { grants }).allow).toBe(true);
    expect(authorize(member, 'websh.open', { ...later, name: 'staging-web-9' }, { grants }).allow).toBe(false);
  });

  it('takes the highest of several matching grants, and says which', () => {
    const d = authorize(member, 'server.delete', server, { grants: [grant('read'), grant('owner', 'tag:env=prod')] });
    expect(d).toEqual({ allow: true, reason: 'owner scope on production-web-1 (grant g_owner)' });
  });

  it('denies by default, naming what is missing', () => {
    expect(authorize(member, 'websh.open', server, { grants: [] })).toEqual({
      allow: false,
      reason: 'no scope on server production-web-1 (websh.open needs write)',
    });
    expect(authorize(member, 'websh.open', server, { grants: [grant('read')] }).reason).toMatch(
      /needs write scope.*you hold read/,
    );
  });

  it("caps a token's principal at the token's own scope", () => {
    const viaToken: Principal = { userId: 'usr_1', role: 'superuser', groupIds: [], tokenMaxLevel: 'read' };
    expect(authorize(viaToken, 'server.read', server, { grants: [] }).allow).toBe(true);
    expect(authorize(viaToken, 'websh.open', server, { grants: [] }).allow).toBe(false);
    expect(authorize(viaToken, 'workspace.settings', { kind: 'workspace' }, { grants: [] }).allow).toBe(false);
  });

  it("a token's server ACL narrows even a superuser to the servers it names (security negative)", () => {
    const viaToken: Principal = {
      userId: 'usr_1',
      role: 'superuser',
      groupIds: [],
      tokenServers: [parseSelector('db-*')],
    };
    const d = authorize(viaToken, 'server.read', server, { grants: [] });
    expect(d.allow).toBe(false);
    expect(d.reason).toMatch(/server ACL \(db-\*\) does not include/);
    const onDb = { ...server, name: 'db-01' };
    expect(authorize(viaToken, 'exec.run', onDb, { grants: [] }).allow).toBe(true);
  });
});
