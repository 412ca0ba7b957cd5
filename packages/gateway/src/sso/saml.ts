import { SAML, ValidateInResponseTo, type CacheProvider, type Profile } from '@node-saml/node-saml';
import type { SsoProvider } from './sso-store.js';
import { claimList } from './oidc.js';

/** How long an AuthnRequest may wait for its answer (the flow record lives as long). */
export const SAML_REQUEST_TTL_MS = 10 * 60_000;
/** Clock skew tolerated on NotBefore / NotOnOrAfter. */
const CLOCK_SKEW_MS = 60_000;

export interface SamlResult {
  subject: string;
  email: string | null;
  groups: string[];
  issuer: string | null;
}

/** Where SAML keeps the expected InResponseTo: the flow record (single use is enforced by the caller). */
export interface SamlRequestStore {
  /** The AuthnRequest ID node-saml just made (start). */
  saved?: string;
  /** Is `id` the unconsumed, unexpired request of this flow? Answers its creation time (ISO) or null. */
  lookup(id: string): Promise<string | null>;
}

const EMAIL_ATTRIBUTES = [
  'email',
  'mail',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  'urn:oid:0.9.2342.19200300.100.1.3',
];

/**
 * The SAML 2.0 service provider (@node-saml/node-saml): SP-initiated, AuthnRequest over HTTP-Redirect,
 * Response over HTTP-POST to the ACS. node-saml verifies the XML signatures against the IdP certificate
 * (assertion always; the whole Response too unless the provider says otherwise), the time conditions,
 * the Audience (our entity ID) and InResponseTo (a request we made, looked up in the flow record). We add
 * what it leaves out: the SubjectConfirmationData Recipient and the Response Destination must be our ACS.
 */
export class SamlServiceProvider {
  private saml(p: SsoProvider, acsUrl: string, spEntityId: string, store: SamlRequestStore): SAML {
    const s = p.saml!;
    const cacheProvider: CacheProvider = {
      saveAsync: async (key, value) => {
        store.saved = key;
        return { value, createdAt: Date.now() };
      },
      getAsync: (key) => store.lookup(key),
      // Single use is enforced by the caller's atomic consume of the flow record.
      removeAsync: async () => null,
    };
    return new SAML({
      callbackUrl: acsUrl,
      entryPoint: s.entryPoint,
      issuer: spEntityId,
      audience: spEntityId,
      idpCert: s.idpCert,
      ...(s.idpIssuer ? { idpIssuer: s.idpIssuer } : {}),
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: s.wantResponseSigned,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: SAML_REQUEST_TTL_MS,
      acceptedClockSkewMs: CLOCK_SKEW_MS,
      cacheProvider,
      identifierFormat: null,
      disableRequestedAuthnContext: true,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
    });
  }

  /** The IdP URL (HTTP-Redirect binding) and the AuthnRequest ID to expect back. */
  async start(
    p: SsoProvider,
    acsUrl: string,
    spEntityId: string,
    relayState: string,
  ): Promise<{ url: string; requestId: string }> {
    const store: SamlRequestStore = { lookup: async () => null };
    const url = await this.saml(p, acsUrl, spEntityId, store).getAuthorizeUrlAsync(relayState, undefined, {});
    if (!store.saved) throw new Error('node-saml made no request ID');
    return { url, requestId: store.saved };
  }

  /** Validate a posted SAMLResponse; throws with the reason on any failed check. */
  async finish(
    p: SsoProvider,
    acsUrl: string,
    spEntityId: string,
    samlResponse: string,
    lookup: SamlRequestStore['lookup'],
  ): Promise<SamlResult> {
    const { profile } = await this.saml(p, acsUrl, spEntityId, { lookup }).validatePostResponseAsync({
      SAMLResponse: samlResponse,
    });
    if (!profile) throw new Error('no assertion in the response');
    checkRecipient(profile, acsUrl);
    const s = p.saml!;
    const attrs = (profile.attributes ?? {}) as Record<string, unknown>;
    const emailKeys = s.emailAttribute ? [s.emailAttribute] : EMAIL_ATTRIBUTES;
    let email: string | null = null;
    for (const k of emailKeys) {
      const v = claimList(attrs[k])[0];
      if (v) {
        email = v;
        break;
      }
    }
    if (!email && !s.emailAttribute && /^[^@\s]+@[^@\s]+$/.test(profile.nameID)) email = profile.nameID;
    return {
      subject: profile.nameID,
      email,
      groups: claimList(attrs[s.groupsAttribute]),
      issuer: profile.issuer ?? null,
    };
  }

  metadata(p: SsoProvider, acsUrl: string, spEntityId: string): string {
    return this.saml(p, acsUrl, spEntityId, { lookup: async () => null }).generateServiceProviderMetadata(null, null);
  }
}

type XmlJs = Record<string, unknown> & { $?: Record<string, string> };

/** Every bearer SubjectConfirmationData must name our ACS as Recipient, and a Destination must too. */
function checkRecipient(profile: Profile, acsUrl: string): void {
  const assertion = (profile.getAssertion?.() as { Assertion?: XmlJs } | undefined)?.Assertion;
  const subject = (assertion?.Subject as XmlJs[] | undefined)?.[0];
  const confirmations = (subject?.SubjectConfirmation as XmlJs[] | undefined) ?? [];
  const recipients = confirmations.flatMap((c) =>
    ((c.SubjectConfirmationData as XmlJs[] | undefined) ?? []).map((d) => d.$?.Recipient),
  );
  if (recipients.length === 0 || recipients.some((r) => r !== acsUrl)) {
    throw new Error(`SubjectConfirmationData Recipient is not this ACS (${recipients.join(', ') || 'none'})`);
  }
  const destination = /<(?:\w+:)?Response\b[^>]*\sDestination="([^"]*)"/.exec(profile.getSamlResponseXml?.() ?? '');
  if (destination && destination[1] !== acsUrl) {
    throw new Error(`Response Destination is not this ACS (${destination[1]})`);
  }
}
