import { describe, expect, it } from 'vitest';
import { policyFromSettings } from './policy.js';
import { SignInGuard } from '../auth/rate-limit.js';

describe('MFA policy', () => {
  it('defaults to optional MFA, every method, root behind a 5-minute step-up', () => {
    expect(policyFromSettings({})).toEqual({
      enforced: false,
      methods: ['totp', 'webauthn', 'email', 'sms'],
      stepUpActions: ['privilege_elevation'],
      graceSeconds: 300,
    });
  });

  it('always keeps privilege elevation among the step-up actions', () => {
    const p = policyFromSettings({ mfaEnforced: true, mfaMethods: ['totp'], stepUpActions: ['role_change'] });
    expect(p.enforced).toBe(true);
    expect(p.methods).toEqual(['totp']);
    expect(p.stepUpActions.sort()).toEqual(['privilege_elevation', 'role_change']);
  });
});

describe('SignInGuard', () => {
  it('shares one budget between passwords and codes, per account and per address', () => {
    let now = 0;
    const g = new SignInGuard(
      { maxFailuresPerAccount: 2, maxFailuresPerAddress: 3, windowMs: 1000 },
      { now: () => now },
    );
    g.fail('ws', 'a@x', '10.0.0.1');
    expect(g.retryAfterMs('ws', 'a@x', '10.0.0.1')).toBe(0);
    g.fail('ws', 'a@x', '10.0.0.1');
    expect(g.retryAfterMs('ws', 'a@x', '10.0.0.2')).toBe(1000);
    expect(g.retryAfterMs('ws', 'b@x', '10.0.0.2')).toBe(0);
    g.fail('ws', 'b@x', '10.0.0.1');
    expect(g.retryAfterMs('ws', 'c@x', '10.0.0.1')).toBe(1000);
    g.succeed('ws', 'a@x');
    expect(g.retryAfterMs('ws', 'a@x', '10.0.0.2')).toBe(0);
    now = 1000;
    expect(g.retryAfterMs('ws', 'c@x', '10.0.0.1')).toBe(0);
  });
});
