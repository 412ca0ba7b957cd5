import { verify, type KeyObject } from 'node:crypto';
import { Grant, grantSigningString } from '@corral/protocol';
import { RejectCode } from './errors.js';

/** The codes a grant check can fail with. */
export type GrantRejectCode =
  | typeof RejectCode.GRANT_INVALID_SIGNATURE
  | typeof RejectCode.GRANT_EXPIRED
  | typeof RejectCode.GRANT_WRONG_SERVER
  | typeof RejectCode.GRANT_MALFORMED;

/** Outcome of {@link verifyGrant}. */
export type GrantCheck = { ok: true; grant: Grant } | { ok: false; code: GrantRejectCode; message: string };

/** What a grant is checked against. */
export interface GrantContext {
  /** The gateway's grant-signing key pinned at registration (Ed25519). */
  gatewayKey: KeyObject;
  /** This agent's server id. */
  serverId: string;
  /** Now, ms since the epoch. */
  now: number;
}

/** Ed25519 signatures are 64 bytes: 88 base64 characters with padding. */
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Check the gateway's signed permission carried by a `channel.open`, before anything runs:
 * 1. the grant parses (GRANT_MALFORMED) and names the channel it arrived with (GRANT_MALFORMED);
 * 2. the signature is base64 Ed25519 over grantSigningString(grant) by the pinned key (GRANT_INVALID_SIGNATURE);
 * 3. it is for this server (GRANT_WRONG_SERVER);
 * 4. it has not expired: `expiresAt > now` (GRANT_EXPIRED).
 * Never throws.
 */
export function verifyGrant(
  message: { channelId: string; grant: unknown; signature: string },
  ctx: GrantContext,
): GrantCheck {
  const parsed = Grant.safeParse(message.grant);
  if (!parsed.success)
    return { ok: false, code: RejectCode.GRANT_MALFORMED, message: 'grant does not match the grant schema' };
  const grant = parsed.data;
  if (grant.channelId !== message.channelId) {
    return {
      ok: false,
      code: RejectCode.GRANT_MALFORMED,
      message: 'grant is for another channel than the one being opened',
    };
  }
  const sig = message.signature;
  if (!sig || !BASE64_RE.test(sig)) {
    return { ok: false, code: RejectCode.GRANT_INVALID_SIGNATURE, message: 'grant is not signed' };
  }
  let valid: boolean;
  try {
    const bytes = Buffer.from(sig, 'base64');
    valid = bytes.length === 64 && verify(null, Buffer.from(grantSigningString(grant), 'utf8'), ctx.gatewayKey, bytes);
  } catch {
    valid = false;
  }
  if (!valid) {
    return {
      ok: false,
      code: RejectCode.GRANT_INVALID_SIGNATURE,
      message: 'grant signature does not verify with the pinned gateway key',
    };
  }
  if (grant.serverId !== ctx.serverId) {
    return { ok: false, code: RejectCode.GRANT_WRONG_SERVER, message: 'grant is for another server' };
  }
  if (!(grant.expiresAt > ctx.now)) {
    return {
      ok: false,
      code: RejectCode.GRANT_EXPIRED,
      message: `grant expired ${Math.max(0, Math.round((ctx.now - grant.expiresAt) / 1000))} s ago`,
    };
  }
  return { ok: true, grant };
}
