import 'reflect-metadata';
import { webcrypto, KeyObject, X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
// @peculiar/x509 is typed against the DOM's Crypto; node's webcrypto is the same API.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
x509.cryptoProvider.set(webcrypto as any);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** What the HTTPS server needs, and what clients pin. */
export interface TlsMaterial {
  keyPem: string;
  certPem: string;
  /** The CA served at GET /api/v1/ca and pinned by clients. */
  caPem: string;
  /** SHA-256 of the CA certificate's DER, upper-case hex with colons (as `openssl x509 -fingerprint -sha256`). */
  caFingerprint: string;
  /**
   * Local CA only: a certificate for one more host name, made on demand (TLS SNI). Serves
   * `<workspace>.localhost`, which no wildcard can cover (`*.localhost` is refused by TLS clients).
   */
  issueFor?: (name: string) => Promise<{ keyPem: string; certPem: string }>;
}

/** SHA-256 fingerprint of a PEM certificate, `AA:BB:...`. */
export function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Normalise a fingerprint for comparison: hex only, upper case. */
export function normaliseFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function importKeyPair(pem: string): Promise<CryptoKeyPair> {
  const { createPrivateKey, createPublicKey } = await import('node:crypto');
  const priv = createPrivateKey(pem);
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  const privateKey = (await webcrypto.subtle.importKey('pkcs8', pkcs8, ALG, true, ['sign'])) as unknown as CryptoKey;
  const publicKey = (await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify'])) as unknown as CryptoKey;
  return { privateKey, publicKey };
}

function sanList(names: string[]): { type: 'dns' | 'ip'; value: string }[] {
  return [...new Set(names)].map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n }));
}

/** The SANs a certificate file covers, as plain names. */
function certSans(pem: string): Set<string> {
  const alt = new X509Certificate(pem).subjectAltName ?? '';
  return new Set(
    alt
      .split(',')
      .map((s) => s.trim().replace(/^(DNS|IP Address):/, ''))
      .filter(Boolean),
  );
}

/**
 * Ensure a local CA and a server certificate exist in `dir` (created 0600 on first start).
 * The CA (10 years) persists; the server certificate (1 year) is re-issued when it lacks a wanted
 * name or expires within 30 days. Returns the material for the HTTPS server.
 */
export async function ensureLocalTls(dir: string, names: string[], now = new Date()): Promise<TlsMaterial> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKeyPath = join(dir, 'ca.key');
  const caCertPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'server.key');
  const certPath = join(dir, 'server.crt');

  let caKeys: CryptoKeyPair;
  let caCert: x509.X509Certificate;
  if (existsSync(caKeyPath) && existsSync(caCertPath)) {
    caKeys = await importKeyPair(readFileSync(caKeyPath, 'utf8'));
    caCert = new x509.X509Certificate(readFileSync(caCertPath, 'utf8'));
  } else {
    caKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
    caCert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=Corral local CA, O=Corral',
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + 3650 * 86400_000),
      signingAlgorithm: ALG,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    writeFileSync(caKeyPath, await exportKeyPem(caKeys.privateKey), { mode: 0o600 });
    writeFileSync(caCertPath, caCert.toString('pem'), { mode: 0o644 });
    // A new CA invalidates any older server certificate.
    if (existsSync(certPath)) writeFileSync(certPath, '');
  }

  const wanted = [...new Set(names)];
  let certPem = existsSync(certPath) ? readFileSync(certPath, 'utf8') : '';
  const needsIssue =
    !certPem.includes('BEGIN CERTIFICATE') ||
    !existsSync(keyPath) ||
    (() => {
      const have = certSans(certPem);
      const valid = new Date(new X509Certificate(certPem).validTo).getTime();
      return wanted.some((n) => !have.has(n)) || valid - now.getTime() < 30 * 86400_000;
    })();

  if (needsIssue) {
    const issued = await issueServerCert(caKeys, caCert, wanted, now);
    certPem = issued.certPem;
    writeFileSync(keyPath, issued.keyPem, { mode: 0o600 });
    writeFileSync(certPath, certPem, { mode: 0o644 });
  }

  const caPem = caCert.toString('pem');
  const cache = new Map<string, Promise<{ keyPem: string; certPem: string }>>();
  return {
    keyPem: readFileSync(keyPath, 'utf8'),
    certPem,
    caPem,
    caFingerprint: certFingerprint(caPem),
    issueFor: (name: string) => {
      let p = cache.get(name);
      if (!p) {
        p = issueServerCert(caKeys, caCert, [name], new Date());
        cache.set(name, p);
        if (cache.size > 1000) cache.delete(cache.keys().next().value!);
      }
      return p;
    },
  };
}

/** A server certificate (1 year) for `names`, signed by the local CA. */
async function issueServerCert(
  caKeys: CryptoKeyPair,
  caCert: x509.X509Certificate,
  names: string[],
  now: Date,
): Promise<{ keyPem: string; certPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: 'CN=Corral gateway, O=Corral',
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 365 * 86400_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(sanList(names)),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return { keyPem: await exportKeyPem(keys.privateKey), certPem: cert.toString('pem') };
}

/**
 * Operator-supplied certificate: the key and certificate (chain) files. The CA clients pin is the last
 * certificate of the chain file (its root or intermediate), or the leaf itself when it stands alone.
 */
export function loadOperatorTls(certFile: string, keyFile: string): TlsMaterial {
  const certPem = readFileSync(certFile, 'utf8');
  const keyPem = readFileSync(keyFile, 'utf8');
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const caPem = (blocks[blocks.length - 1] ?? certPem) + '\n';
  return { keyPem, certPem, caPem, caFingerprint: certFingerprint(caPem) };
}

/** Hex SHA-256 of arbitrary bytes (used for audit-free places like recordings later). */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
