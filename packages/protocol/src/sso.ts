import { z } from 'zod';

/**
 * Single sign-on (OIDC and SAML per workspace) and the device authorization that `corral login
 * --browser` uses. Request bodies are strict, like every other API body.
 */

/** Provider names: part of URLs (`/api/v1/auth/sso/<name>/...`), so a DNS-label-like slug. */
export const SSO_PROVIDER_NAME_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
export const SsoProviderName = z.string().regex(SSO_PROVIDER_NAME_RE, 'lower-case letters, digits and -, 1 to 40');

/** One IdP group mapped to one Corral user group. */
export const SsoGroupMapping = z.strictObject({
  idpGroup: z.string().min(1).max(256),
  group: z.string().min(1).max(64),
});
export type SsoGroupMapping = z.infer<typeof SsoGroupMapping>;

const Common = {
  name: SsoProviderName,
  displayName: z.string().min(1).max(100).optional(),
  enabled: z.boolean().optional(),
  /** Create a user at the first sign-in when no account has the email (default true). */
  jit: z.boolean().optional(),
  /** Role of users created just in time (default member; never superuser). */
  jitRole: z.enum(['member', 'staff']).optional(),
  groupMap: z.array(SsoGroupMapping).max(200).optional(),
};

export const OidcProviderFields = z.strictObject({
  ...Common,
  kind: z.literal('oidc'),
  /** Issuer URL; its /.well-known/openid-configuration is read. https, or http on loopback only. */
  issuer: z.string().url().max(500),
  clientId: z.string().min(1).max(500),
  clientSecret: z.string().min(1).max(2000),
  /** Space-separated; default "openid email profile". */
  scopes: z.string().min(1).max(500).optional(),
  /** Claim carrying the group names (ID token or userinfo); default "groups". */
  groupsClaim: z.string().min(1).max(200).optional(),
});

export const SamlProviderFields = z.strictObject({
  ...Common,
  kind: z.literal('saml'),
  /** The IdP's SSO URL (HTTP-Redirect binding). */
  entryPoint: z.string().url().max(1000),
  /** The IdP's signing certificate, PEM (or its base64 body). */
  idpCert: z.string().min(100).max(20_000),
  /** Expected Issuer of the IdP's responses (checked when given). */
  idpIssuer: z.string().min(1).max(500).optional(),
  /** Our entity ID as the IdP knows it (the expected Audience); default: the metadata URL. */
  spEntityId: z.string().min(1).max(500).optional(),
  /** Attribute carrying the group names; default "groups". */
  groupsAttribute: z.string().min(1).max(300).optional(),
  /** Attribute carrying the email; default: email, mail, the emailaddress claim URI, else the NameID. */
  emailAttribute: z.string().min(1).max(300).optional(),
  /** Require the whole Response to be signed too, not only the assertion (default true). */
  wantResponseSigned: z.boolean().optional(),
});

export const SsoProviderCreateRequest = z.discriminatedUnion('kind', [OidcProviderFields, SamlProviderFields]);
export type SsoProviderCreateRequest = z.infer<typeof SsoProviderCreateRequest>;

/** Change some fields of a provider (its kind and name stay). */
export const SsoProviderUpdateRequest = z.strictObject({
  displayName: z.string().min(1).max(100).optional(),
  enabled: z.boolean().optional(),
  jit: z.boolean().optional(),
  jitRole: z.enum(['member', 'staff']).optional(),
  groupMap: z.array(SsoGroupMapping).max(200).optional(),
  issuer: z.string().url().max(500).optional(),
  clientId: z.string().min(1).max(500).optional(),
  clientSecret: z.string().min(1).max(2000).optional(),
  scopes: z.string().min(1).max(500).optional(),
  groupsClaim: z.string().min(1).max(200).optional(),
  entryPoint: z.string().url().max(1000).optional(),
  idpCert: z.string().min(100).max(20_000).optional(),
  idpIssuer: z.string().min(1).max(500).optional(),
  spEntityId: z.string().min(1).max(500).optional(),
  groupsAttribute: z.string().min(1).max(300).optional(),
  emailAttribute: z.string().min(1).max(300).optional(),
  wantResponseSigned: z.boolean().optional(),
});
export type SsoProviderUpdateRequest = z.infer<typeof SsoProviderUpdateRequest>;

/** A provider as the API shows it: never the client secret. */
export const SsoProviderView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['oidc', 'saml']),
  displayName: z.string(),
  enabled: z.boolean(),
  jit: z.boolean(),
  jitRole: z.enum(['member', 'staff']),
  groupMap: z.array(z.object({ idpGroup: z.string(), group: z.string() })),
  /** Kind-specific settings (issuer, clientId, scopes, groupsClaim / entryPoint, spEntityId, ...). */
  settings: z.record(z.string(), z.unknown()),
  hasClientSecret: z.boolean(),
  /** Where the browser starts a sign-in. */
  startUrl: z.string(),
  /** What to register at the IdP: the OIDC redirect URI, or the SAML ACS URL. */
  callbackUrl: z.string(),
  /** SAML only: our metadata (entity ID, ACS). */
  metadataUrl: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SsoProviderView = z.infer<typeof SsoProviderView>;

export const SsoProviderList = z.object({ items: z.array(SsoProviderView), ssoRequired: z.boolean() });
export type SsoProviderList = z.infer<typeof SsoProviderList>;

/** For the sign-in page (no authentication): which buttons to show. */
export const SsoPublicList = z.object({
  items: z.array(
    z.object({ name: z.string(), kind: z.enum(['oidc', 'saml']), displayName: z.string(), startUrl: z.string() }),
  ),
  ssoRequired: z.boolean(),
});
export type SsoPublicList = z.infer<typeof SsoPublicList>;

export const SsoPolicy = z.strictObject({
  /** Refuse password sign-in for members and staff (superusers keep it as break-glass). */
  required: z.boolean(),
});
export type SsoPolicy = z.infer<typeof SsoPolicy>;

// --- device authorization (corral login --browser) ----------------------------------------------------

export const DeviceAuthorizationRequest = z.strictObject({
  /** What the browser page shows as the requesting client, e.g. "corral CLI on build-01". */
  clientName: z.string().min(1).max(100).optional(),
});

export const DeviceAuthorizationResponse = z.object({
  /** Secret the CLI polls with (never shown to the person). */
  deviceCode: z.string(),
  /** Short code the person checks in the browser, e.g. BCDF-GHJK. */
  userCode: z.string(),
  /** The page to open. */
  verificationUrl: z.string(),
  /** The page with the code filled in. */
  verificationUrlComplete: z.string(),
  /** Seconds until the codes expire (600). */
  expiresIn: z.number(),
  /** Seconds to wait between polls. */
  interval: z.number(),
});
export type DeviceAuthorizationResponse = z.infer<typeof DeviceAuthorizationResponse>;

export const DeviceTokenRequest = z.strictObject({ deviceCode: z.string().min(1).max(200) });

/** Device codes use these letters only (no vowels, no look-alikes: RFC 8628 section 6.1). */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** Upper-case a typed user code and drop everything that is not of the alphabet ("bcdf ghjk" -> "BCDFGHJK"). */
export function normalizeUserCode(input: string): string {
  return input
    .toUpperCase()
    .split('')
    .filter((c) => USER_CODE_ALPHABET.includes(c))
    .join('');
}
