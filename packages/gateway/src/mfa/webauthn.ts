import { isIP } from 'node:net';
import type * as SimpleWebAuthn from '@simplewebauthn/server';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/** @simplewebauthn/server, loaded on first use (about 17 MB of a gateway's memory that never sees a passkey). */
let lib: Promise<typeof SimpleWebAuthn> | undefined;
const webauthn = (): Promise<typeof SimpleWebAuthn> => (lib ??= import('@simplewebauthn/server'));

/**
 * WebAuthn (passkeys, security keys) through @simplewebauthn/server. The relying party is the host the
 * browser sees: the gateway's --public-url when set, else the Host of the request. An IP address cannot
 * be a WebAuthn RP ID, so on https://127.0.0.1 WebAuthn is not offered (use https://localhost:PORT).
 */

export interface RelyingParty {
  /** The RP ID: the host name. */
  id: string;
  /** The exact origin the browser reports, `https://host[:port]`. */
  origin: string;
}

/** The relying party for a request, or null when it is addressed by IP (WebAuthn cannot work there). */
export function relyingPartyFor(publicUrl: string | null, hostHeader: string | undefined): RelyingParty | null {
  let u: URL;
  try {
    u = new URL(publicUrl ?? `https://${hostHeader ?? ''}`);
  } catch {
    return null;
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host || isIP(host)) return null;
  return { id: host, origin: u.origin };
}

export interface StoredCredential {
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
}

export async function registrationOptions(
  rp: RelyingParty,
  user: { id: string; email: string },
  existing: StoredCredential[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return (await webauthn()).generateRegistrationOptions({
    rpName: 'Corral',
    rpID: rp.id,
    userName: user.email,
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    timeout: 120_000,
  });
}

/** Check an authenticator's registration answer; the credential to keep, or null when it does not verify. */
export async function verifyRegistration(
  rp: RelyingParty,
  expectedChallenge: string,
  response: Record<string, unknown>,
): Promise<StoredCredential | null> {
  try {
    const r = await (
      await webauthn()
    ).verifyRegistrationResponse({
      response: response as unknown as RegistrationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: false,
    });
    if (!r.verified) return null;
    const c = r.registrationInfo.credential;
    return {
      credentialId: c.id,
      publicKey: Buffer.from(c.publicKey).toString('base64url'),
      counter: c.counter,
      transports: c.transports ?? [],
    };
  } catch {
    return null;
  }
}

export async function authenticationOptions(
  rp: RelyingParty,
  credentials: StoredCredential[],
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return (await webauthn()).generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: credentials.map((c) => ({ id: c.credentialId, transports: c.transports })),
    userVerification: 'preferred',
    timeout: 120_000,
  });
}

/** Check an assertion against the stored credential; the new signature counter, or null. */
export async function verifyAuthentication(
  rp: RelyingParty,
  expectedChallenge: string,
  response: Record<string, unknown>,
  credential: StoredCredential,
): Promise<number | null> {
  try {
    const r = await (
      await webauthn()
    ).verifyAuthenticationResponse({
      response: response as unknown as AuthenticationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: credential.credentialId,
        publicKey: Buffer.from(credential.publicKey, 'base64url'),
        counter: credential.counter,
        transports: credential.transports as never,
      },
      requireUserVerification: false,
    });
    return r.verified ? r.authenticationInfo.newCounter : null;
  } catch {
    return null;
  }
}
