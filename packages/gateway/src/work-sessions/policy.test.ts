import { describe, expect, it } from 'vitest';
import { DEFAULT_APPROVAL_POLICY, type ApprovalPolicy, type Feature, type Role } from '@corral/protocol';
import { canApprove, covers, evaluatePolicy, pickCovering, statusAt, transition, type Requester } from './policy.js';
import type { ServerFacts } from '../iam/selectors.js';

const web: ServerFacts = { name: 'web-01', groups: ['web'], tags: { env: 'prod' } };
const db: ServerFacts = { name: 'db-01', groups: ['production'], tags: { env: 'prod' } };
const dev: ServerFacts = { name: 'dev-01', groups: [], tags: { env: 'dev' } };
const who = (role: Role, groups: string[] = []): Requester => ({ userId: `u-${role}`, role, groups });

describe('default approval policy', () => {
  // role x features -> action, approvals
  const table: Array<[Role, Feature[], string, number]> = [
    ['member', ['terminal'], 'require_approval', 1],
    ['member', ['terminal', 'file_transfer', 'exec'], 'require_approval', 1],
    ['member', ['privilege_elevation'], 'require_approval', 1],
    ['staff', ['terminal'], 'auto_approve', 0],
    ['staff', ['terminal', 'exec', 'code_editor', 'port_forward', 'file_transfer'], 'auto_approve', 0],
    ['staff', ['privilege_elevation'], 'require_approval', 1],
    ['staff', ['terminal', 'privilege_elevation'], 'require_approval', 1],
    ['superuser', ['terminal'], 'auto_approve', 0],
    ['superuser', ['privilege_elevation'], 'require_approval', 1],
  ];
  it.each(table)('%s asking for %j -> %s (%d)', (role, features, action, approvals) => {
    const d = evaluatePolicy(DEFAULT_APPROVAL_POLICY, who(role), [web, db], features);
    expect(d.action).toBe(action);
    expect(d.approvals).toBe(approvals);
    if (action === 'require_approval') expect(d.approvers.roles).toEqual(['staff', 'superuser']);
  });

  it('takes the shortest maximum duration of the rules involved', () => {
    expect(evaluatePolicy(DEFAULT_APPROVAL_POLICY, who('staff'), [web], ['terminal']).maxDurationSeconds).toBe(
      12 * 3600,
    );
    expect(
      evaluatePolicy(DEFAULT_APPROVAL_POLICY, who('staff'), [web], ['terminal', 'privilege_elevation'])
        .maxDurationSeconds,
    ).toBe(4 * 3600);
  });
});

describe('custom policies', () => {
  const policy: ApprovalPolicy = {
    rules: [
      { name: 'no-prod-editing', servers: ['tag:env=prod'], features: ['code_editor'], action: 'deny' },
      {
        name: 'prod-two-approvers',
        servers: ['group:production'],
        action: 'require_approval',
        approvals: 2,
        approvers: { groups: ['sre'] },
        maxDurationSeconds: 3600,
      },
      { name: 'oncall-auto', requester: { groups: ['oncall'] }, action: 'auto_approve' },
      { name: 'dev-auto', servers: ['dev-*'], action: 'auto_approve', maxDurationSeconds: 86400 },
    ],
  };
  const cases: Array<[string, Requester, ServerFacts[], Feature[], string, string, number]> = [
    ['deny wins over everything', who('staff', ['oncall']), [web], ['code_editor'], 'deny', 'no-prod-editing', 0],
    ['deny for one pair denies the request', who('member'), [dev, web], ['code_editor'], 'deny', 'no-prod-editing', 0],
    [
      'production needs two sre approvals',
      who('member', ['oncall']),
      [db],
      ['terminal'],
      'require_approval',
      'prod-two-approvers',
      2,
    ],
    [
      'strictest of several servers',
      who('member', ['oncall']),
      [web, db],
      ['terminal'],
      'require_approval',
      'prod-two-approvers',
      2,
    ],
    [
      'oncall auto-approved elsewhere',
      who('member', ['oncall']),
      [web],
      ['terminal'],
      'auto_approve',
      'oncall-auto',
      0,
    ],
    ['dev servers auto for anyone', who('member'), [dev], ['terminal', 'code_editor'], 'auto_approve', 'dev-auto', 0],
    ['no rule: denied by default', who('member'), [web], ['terminal'], 'deny', '(no rule)', 0],
  ];
  it.each(cases)('%s', (_name, r, servers, features, action, rule, approvals) => {
    const d = evaluatePolicy(policy, r, servers, features);
    expect([d.action, d.rule, d.approvals]).toEqual([action, rule, approvals]);
  });

  it('names the approvers of the deciding rule', () => {
    const d = evaluatePolicy(policy, who('member'), [db], ['terminal']);
    expect(d.approvers).toEqual({ roles: [], groups: ['sre'] });
    expect(d.maxDurationSeconds).toBe(3600);
  });

  it('an empty request is denied', () => {
    expect(evaluatePolicy(policy, who('staff'), [], ['terminal']).action).toBe('deny');
  });
});

describe('canApprove', () => {
  const approvers = { roles: ['staff', 'superuser'] as Role[], groups: ['sre'] };
  it.each([
    [who('staff'), 'u-member', true],
    [who('superuser'), 'u-member', true],
    [who('member'), 'u-staff', false],
    [who('member', ['sre']), 'u-staff', true],
    [who('staff'), 'u-staff', false],
    [who('superuser'), 'u-superuser', false],
  ])('%j approving %s -> %s', (approver, requester, ok) => {
    expect(canApprove(approver, requester, approvers).ok).toBe(ok);
  });
  it('says why not', () => {
    expect(canApprove(who('staff'), 'u-staff', approvers).reason).toBe('nobody approves their own request');
    expect(canApprove(who('member'), 'x', approvers).reason).toBe(
      'approving needs role staff or role superuser or group sre',
    );
  });
});

describe('state machine', () => {
  it.each([
    ['pending', 'approve', 'approved'],
    ['pending', 'deny', 'denied'],
    ['pending', 'cancel', 'cancelled'],
    ['approved', 'activate', 'active'],
    ['approved', 'expire', 'expired'],
    ['approved', 'revoke', 'revoked'],
    ['approved', 'complete', 'completed'],
    ['active', 'expire', 'expired'],
    ['active', 'revoke', 'revoked'],
    ['active', 'complete', 'completed'],
  ] as const)('%s --%s--> %s', (from, ev, to) => {
    expect(transition(from, ev)).toEqual({ ok: true, status: to });
  });
  it.each([
    ['pending', 'activate'],
    ['pending', 'expire'],
    ['approved', 'approve'],
    ['active', 'cancel'],
    ['denied', 'approve'],
    ['expired', 'revoke'],
    ['revoked', 'complete'],
    ['completed', 'activate'],
    ['cancelled', 'approve'],
  ] as const)('%s cannot %s', (from, ev) => {
    const t = transition(from, ev);
    expect(t.ok).toBe(false);
    if (!t.ok) expect(t.error).toMatch(new RegExp(`that is ${from} cannot be`));
  });

  const T = 1_000_000;
  const ws = { status: 'active' as const, expiresAt: T, serverIds: ['s1'], features: ['terminal'] as Feature[] };
  it('expires at the exact instant', () => {
    expect(statusAt(ws, T - 1)).toBe('active');
    expect(statusAt(ws, T)).toBe('expired');
    expect(covers(ws, 's1', 'terminal', T - 1)).toBe(true);
    expect(covers(ws, 's1', 'terminal', T)).toBe(false);
  });
  it('covers only its servers and features', () => {
    expect(covers(ws, 's2', 'terminal', 0)).toBe(false);
    expect(covers(ws, 's1', 'exec', 0)).toBe(false);
    expect(covers({ ...ws, status: 'pending' }, 's1', 'terminal', 0)).toBe(false);
  });
  it('picks the covering session that lasts longest among overlapping ones', () => {
    const a = { ...ws, id: 'a', expiresAt: T };
    const b = { ...ws, id: 'b', expiresAt: T + 500 };
    const c = { ...ws, id: 'c', expiresAt: T + 900, features: ['exec'] as Feature[] };
    expect(pickCovering([a, b, c], 's1', 'terminal', T - 10)?.id).toBe('b');
    expect(pickCovering([a, b, c], 's1', 'terminal', T + 499)?.id).toBe('b');
    expect(pickCovering([a, b, c], 's1', 'terminal', T + 500)).toBeNull();
  });
});
