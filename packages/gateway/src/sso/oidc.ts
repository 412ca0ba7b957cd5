import type * as OpenIdClient from 'openid-client';

/** openid-client, loaded on first use (a gateway without OIDC providers never pays for it). */
let lib: Promise<typeof OpenIdClient> | undefined;
const openid = (): Promise<typeof OpenIdClient> => (lib ??= import('openid-client'));
import type { Clock } from '../clock.js';
import type { SsoProvider } from './sso-store.js';

/** What the OIDC side hands back after a successful code exchange. */
export interface OidcResult {
  subject: string;
  email: string | null;
  emailVerified: boolean | null;
  groups: string[];
  /** The ID token's issuer (for the audit trail). */
  issuer: string;
}

/** Read a claim that may be a list, a single string, or absent. */
export function claimList(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (typeof v === 'string' && v !== '') return [v];
  return [];
}

/**
 * The OpenID Connect relying party (openid-client): discovery (cached 10 minutes per provider version),
 * the authorization URL with PKCE (S256), state and nonce, and the code exchange, which checks the
 * state, the `iss` response parameter when the IdP sends it, and the ID token (signature against the
 * IdP's JWKS, issuer, audience, expiry, nonce). Groups come from the ID token, else from userinfo.
 */
export class OidcClient {
  private readonly configs = new Map<string, { config: OpenIdClient.Configuration; at: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly secretOf: (p: SsoProvider) => string,
  ) {}

  private async configuration(p: SsoProvider): Promise<OpenIdClient.Configuration> {
    const key = `${p.id}@${p.updatedAt}`;
    const hit = this.configs.get(key);
    if (hit && this.clock.now() - hit.at < 10 * 60_000) return hit.config;
    const s = p.oidc!;
    const issuer = new URL(s.issuer);
    const client = await openid();
    const config = await client.discovery(
      issuer,
      s.clientId,
      undefined,
      client.ClientSecretBasic(this.secretOf(p)),
      // http:// is accepted only for loopback issuers (checked when the provider was saved).
      issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests], timeout: 10 } : { timeout: 10 },
    );
    if (this.configs.size > 500) this.configs.clear();
    this.configs.set(key, { config, at: this.clock.now() });
    return config;
  }

  /** The IdP URL to send the browser to, and the secrets to keep for the callback. */
  async start(
    p: SsoProvider,
    redirectUri: string,
    state: string,
  ): Promise<{ url: string; nonce: string; codeVerifier: string }> {
    const config = await this.configuration(p);
    const client = await openid();
    const codeVerifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: p.oidc!.scopes,
      response_type: 'code',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, nonce, codeVerifier };
  }

  /** Exchange the code; throws (with openid-client's reason) on any check that fails. */
  async finish(
    p: SsoProvider,
    callbackUrl: URL,
    checks: { state: string; nonce: string; codeVerifier: string },
  ): Promise<OidcResult> {
    const config = await this.configuration(p);
    const client = await openid();
    const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: checks.codeVerifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims) throw new Error('no ID token');
    const merged: Record<string, unknown> = { ...claims };
    const groupsClaim = p.oidc!.groupsClaim;
    if (
      (merged[groupsClaim] === undefined || merged.email === undefined) &&
      config.serverMetadata().userinfo_endpoint
    ) {
      const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      for (const [k, v] of Object.entries(info)) if (merged[k] === undefined) merged[k] = v;
    }
    return {
      subject: claims.sub,
      email: typeof merged.email === 'string' ? merged.email : null,
      emailVerified: typeof merged.email_verified === 'boolean' ? merged.email_verified : null,
      groups: claimList(merged[groupsClaim]),
      issuer: claims.iss,
    };
  }
}
