import { describe, it, expect } from 'vitest';
import { Grant, grantSigningString, agentAuthSigningString } from './grant.js';

describe('grant signing string', () => {
  const g: Grant = {
    v: 1,
    channelId: 'ch_1',
    serverId: 'srv_1',
    kind: 'pty',
    osUser: 'root',
    expiresAt: 1700000000000,
  };
  it('is fixed-order and independent of object key order', () => {
    const reordered = JSON.parse(
      '{"osUser":"root","expiresAt":1700000000000,"kind":"pty","serverId":"srv_1","channelId":"ch_1","v":1}',
    );
    expect(grantSigningString(reordered)).toBe(grantSigningString(g));
    expect(grantSigningString(g)).toBe('corral-grant-v1\n[1,"ch_1","srv_1","pty","root",1700000000000,null]');
  });
  it('covers the command', () => {
    expect(grantSigningString({ ...g, command: ['ls', '-l'] })).not.toBe(grantSigningString(g));
  });
  it('rejects unknown fields in a grant', () => {
    expect(Grant.safeParse({ ...g, admin: true }).success).toBe(false);
  });
  it('binds the agent auth string to the agent and nonce', () => {
    expect(agentAuthSigningString('a', 'n')).toBe('corral-agent-auth-v1\n["a","n"]');
  });
});
