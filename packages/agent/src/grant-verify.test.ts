import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { grantSigningString, type Grant } from '@corral/protocol';
import { verifyGrant } from './grant-verify.js';

const gateway = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const NOW = 1_700_000_000_000;
const SERVER = 'srv_1';

function grant(over: Partial<Grant> = {}): Grant {
  return { v: 1, channelId: 'ch_1', serverId: SERVER, kind: 'pty', osUser: 'root', expiresAt: NOW + 30_000, ...over };
}
function signed(g: Grant, key = gateway.privateKey): { channelId: string; grant: Grant; signature: string } {
  return {
    channelId: g.channelId,
    grant: g,
    signature: sign(null, Buffer.from(grantSigningString(g)), key).toString('base64'),
  };
}
const ctx = { gatewayKey: gateway.publicKey, serverId: SERVER, now: NOW };

describe('grant verification', () => {
  it('accepts a grant signed by the pinned gateway key, for this server and channel, not expired', () => {
    const r = verifyGrant(signed(grant({ command: ['uptime'] })), ctx);
    expect(r).toEqual({ ok: true, grant: grant({ command: ['uptime'] }) });
  });

  it('security: agent rejects an unsigned grant', () => {
    const msg = { ...signed(grant()), signature: '' };
    expect(verifyGrant(msg, ctx)).toMatchObject({ ok: false, code: 'GRANT_INVALID_SIGNATURE' });
    expect(verifyGrant({ ...msg, signature: 'not base64!' }, ctx)).toMatchObject({
      ok: false,
      code: 'GRANT_INVALID_SIGNATURE',
    });
    expect(verifyGrant({ ...msg, signature: Buffer.alloc(64).toString('base64') }, ctx)).toMatchObject({
      ok: false,
      code: 'GRANT_INVALID_SIGNATURE',
    });
  });

  it('security: agent rejects a grant signed by another key', () => {
    expect(verifyGrant(signed(grant(), stranger.privateKey), ctx)).toMatchObject({
      ok: false,
      code: 'GRANT_INVALID_SIGNATURE',
    });
  });

  it('security: agent rejects a grant whose signed fields were changed (osUser, command, expiry)', () => {
    const good = signed(grant({ osUser: 'alice' }));
    expect(verifyGrant({ ...good, grant: { ...good.grant, osUser: 'root' } }, ctx)).toMatchObject({
      code: 'GRANT_INVALID_SIGNATURE',
    });
    expect(verifyGrant({ ...good, grant: { ...good.grant, command: ['rm', '-rf', '/'] } }, ctx)).toMatchObject({
      code: 'GRANT_INVALID_SIGNATURE',
    });
    expect(verifyGrant({ ...good, grant: { ...good.grant, expiresAt: NOW + 3_600_000 } }, ctx)).toMatchObject({
      code: 'GRANT_INVALID_SIGNATURE',
    });
  });

  it('security: agent rejects an expired grant', () => {
    expect(verifyGrant(signed(grant({ expiresAt: NOW - 1 })), ctx)).toMatchObject({ ok: false, code: 'GRANT_EXPIRED' });
    // expiresAt is exclusive: at the instant itself the grant is already dead.
    expect(verifyGrant(signed(grant({ expiresAt: NOW })), ctx)).toMatchObject({ ok: false, code: 'GRANT_EXPIRED' });
  });

  it('security: agent rejects a grant for another server', () => {
    expect(verifyGrant(signed(grant({ serverId: 'srv_other' })), ctx)).toMatchObject({
      ok: false,
      code: 'GRANT_WRONG_SERVER',
    });
  });

  it('security: agent rejects a grant for another channel than the one being opened', () => {
    const msg = { ...signed(grant()), channelId: 'ch_2' };
    expect(verifyGrant(msg, ctx)).toMatchObject({ ok: false, code: 'GRANT_MALFORMED' });
  });

  it('security: agent rejects a grant that does not match the schema', () => {
    const msg = { channelId: 'ch_1', grant: { ...grant(), v: 2 }, signature: 'AAAA' };
    expect(verifyGrant(msg, ctx)).toMatchObject({ ok: false, code: 'GRANT_MALFORMED' });
    expect(verifyGrant({ channelId: 'ch_1', grant: null, signature: 'AAAA' }, ctx)).toMatchObject({
      ok: false,
      code: 'GRANT_MALFORMED',
    });
  });
});
