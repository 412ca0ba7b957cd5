import http from 'node:http';
import { randomBytes, webcrypto } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { SignedXml } from 'xml-crypto';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
x509.cryptoProvider.set(webcrypto as any);

const ALG = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};

/** An RSA key and a self-signed certificate, PEM. */
export async function makeKeyPair(cn: string): Promise<{ keyPem: string; certPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 86400_000),
    keys,
    signingAlgorithm: ALG,
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { keyPem, certPem: cert.toString('pem') };
}

/** What the test IdP gets wrong on purpose in its next answer. */
export type IdpMode =
  'valid' | 'wrong-signature' | 'wrong-audience' | 'expired' | 'wrong-recipient' | 'tampered' | 'unsigned-response';

export interface SamlUser {
  nameId: string;
  email: string;
  groups: string[];
}

const xmlEsc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/**
 * A minimal SAML 2.0 identity provider for tests, independent of the gateway's SP code: it reads the
 * AuthnRequest from the HTTP-Redirect binding (raw DEFLATE + base64), builds a Response with one
 * assertion, signs the assertion and then the Response with its own key (xml-crypto, RSA-SHA256,
 * exclusive C14N), and answers with the auto-posting form that real IdPs send (HTTP-POST binding).
 */
export async function startSamlIdp(opts: { spEntityId: string; user: SamlUser }) {
  const own = await makeKeyPair('Test SAML IdP');
  const attacker = await makeKeyPair('Attacker');
  const state = { mode: 'valid' as IdpMode, user: opts.user, lastRequest: null as null | { id: string; acs: string } };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://idp');
    if (u.pathname !== '/sso') {
      res.writeHead(404).end();
      return;
    }
    const xml = inflateRawSync(Buffer.from(u.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
    const id = /\sID="([^"]+)"/.exec(xml)?.[1] ?? '';
    const acs = /AssertionConsumerServiceURL="([^"]+)"/.exec(xml)?.[1] ?? '';
    state.lastRequest = { id, acs };
    const response = buildResponse({ ...state.lastRequest, mode: state.mode, user: state.user });
    const relay = u.searchParams.get('RelayState') ?? '';
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(
        `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${xmlEsc(acs)}">` +
          `<input type="hidden" name="SAMLResponse" value="${Buffer.from(response).toString('base64')}">` +
          `<input type="hidden" name="RelayState" value="${xmlEsc(relay)}"><noscript><button>Continue</button></noscript></form></body></html>`,
      );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = `${base}/metadata`;

  function buildResponse(o: { id: string; acs: string; mode: IdpMode; user: SamlUser }): string {
    const now = Date.now();
    const t = (ms: number) => new Date(now + ms).toISOString();
    const expired = o.mode === 'expired';
    const issued = expired ? t(-20 * 60_000) : t(0);
    const notBefore = expired ? t(-21 * 60_000) : t(-60_000);
    const notAfter = expired ? t(-10 * 60_000) : t(5 * 60_000);
    const audience = o.mode === 'wrong-audience' ? 'https://some-other-sp.example/metadata' : opts.spEntityId;
    const recipient = o.mode === 'wrong-recipient' ? 'https://evil.example/acs' : o.acs;
    const rid = `_r${randomBytes(16).toString('hex')}`;
    const aid = `_a${randomBytes(16).toString('hex')}`;
    const attrs = [
      `<saml:Attribute Name="email"><saml:AttributeValue>${xmlEsc(o.user.email)}</saml:AttributeValue></saml:Attribute>`,
      `<saml:Attribute Name="groups">${o.user.groups.map((g) => `<saml:AttributeValue>${xmlEsc(g)}</saml:AttributeValue>`).join('')}</saml:Attribute>`,
    ].join('');
    const assertion =
      `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${aid}" Version="2.0" IssueInstant="${issued}">` +
      `<saml:Issuer>${entityId}</saml:Issuer>` +
      `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${xmlEsc(o.user.nameId)}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
      `<saml:SubjectConfirmationData InResponseTo="${o.id}" NotOnOrAfter="${notAfter}" Recipient="${xmlEsc(recipient)}"/>` +
      `</saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notAfter}"><saml:AudienceRestriction><saml:Audience>${xmlEsc(audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${issued}" SessionIndex="_s${randomBytes(8).toString('hex')}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` +
      `</saml:Assertion>`;
    let xml =
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${rid}" Version="2.0" IssueInstant="${issued}" Destination="${xmlEsc(recipient)}" InResponseTo="${o.id}">` +
      `<saml:Issuer>${entityId}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      assertion +
      `</samlp:Response>`;
    const key = o.mode === 'wrong-signature' ? attacker : own;
    xml = sign(xml, key, "//*[local-name(.)='Assertion']", "//*[local-name(.)='Assertion']/*[local-name(.)='Issuer']");
    if (o.mode !== 'unsigned-response') {
      xml = sign(xml, key, "/*[local-name(.)='Response']", "/*[local-name(.)='Response']/*[local-name(.)='Issuer']");
    }
    // Changed after signing: the signatures no longer cover what is said.
    if (o.mode === 'tampered') xml = xml.replace(xmlEsc(o.user.email), 'ceo@corp.test');
    return xml;
  }

  return {
    url: `${base}/sso`,
    entityId,
    certPem: own.certPem,
    state,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function sign(xml: string, key: { keyPem: string; certPem: string }, ref: string, after: string): string {
  const sig = new SignedXml({
    privateKey: key.keyPem,
    publicCert: key.certPem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: ref,
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: after, action: 'after' } });
  return sig.getSignedXml();
}
