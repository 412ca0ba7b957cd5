import { localhostLookup } from './localhost-lookup.js';
import { X509Certificate } from 'node:crypto';
import { errorFromResponse, rawRequest } from './api-client.js';
import { CliError } from './errors.js';

/**
 * Trust on first use, checked: the CLI fetches the gateway's CA once without verification, shows or
 * compares its SHA-256 fingerprint, and from then on verifies every connection against that CA.
 */

/** SHA-256 fingerprint of the first certificate in a PEM, `AA:BB:...` (64 hex digits). */
export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** Hex digits only, upper case: "aa:bb cc" -> "AABBCC". */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[\s:]/g, '').toUpperCase();
}

/** Whether a user-typed fingerprint is a SHA-256 one (64 hex digits, colons and spaces allowed). */
export function isValidFingerprint(fp: string): boolean {
  return /^[0-9A-F]{64}$/.test(normalizeFingerprint(fp));
}

/** Compare two fingerprints case-insensitively, ignoring colons and spaces. */
export function fingerprintsEqual(a: string, b: string): boolean {
  const na = normalizeFingerprint(a);
  return na.length > 0 && na === normalizeFingerprint(b);
}

/** "AABB..." -> "AA:BB:..." for display. */
export function formatFingerprint(fp: string): string {
  return (normalizeFingerprint(fp).match(/.{1,2}/g) ?? []).join(':');
}

/** What login does with the CA the gateway served. */
export type PinDecision =
  { action: 'trust'; why: 'flag' | 'pinned' } | { action: 'ask' } | { action: 'refuse'; message: string };

/**
 * Decide whether to trust the served CA (pure, so every branch is tested).
 * @param served fingerprint of the CA the gateway just served
 * @param flag the --ca-fingerprint value, if given
 * @param pinned the fingerprint pinned earlier for this same URL, if any
 * @param interactive whether a person can answer a question on a terminal
 */
export function decidePin(args: {
  url: string;
  served: string;
  flag?: string | undefined;
  pinned?: string | undefined;
  interactive: boolean;
}): PinDecision {
  const { url, served, flag, pinned, interactive } = args;
  if (flag !== undefined) {
    if (fingerprintsEqual(flag, served)) return { action: 'trust', why: 'flag' };
    return {
      action: 'refuse',
      message:
        `CA FINGERPRINT MISMATCH for ${url}: refusing to log in.\n` +
        `  expected (--ca-fingerprint): ${formatFingerprint(flag)}\n` +
        `  served by the gateway:       ${formatFingerprint(served)}\n` +
        'Someone may be intercepting the connection, or the fingerprint was mistyped. ' +
        'Check the fingerprint the gateway printed at start (or ask its operator) and try again.',
    };
  }
  if (pinned !== undefined) {
    if (fingerprintsEqual(pinned, served)) return { action: 'trust', why: 'pinned' };
    return {
      action: 'refuse',
      message:
        `THE GATEWAY'S CA HAS CHANGED for ${url}: refusing to log in.\n` +
        `  pinned: ${formatFingerprint(pinned)}\n` +
        `  served: ${formatFingerprint(served)}\n` +
        'Someone may be intercepting the connection. If the CA was replaced on purpose, confirm the new ' +
        `fingerprint with the gateway's operator and run \`corral login ${url} --ca-fingerprint NEW_FINGERPRINT\`.`,
    };
  }
  if (interactive) return { action: 'ask' };
  return {
    action: 'refuse',
    message:
      `cannot confirm the gateway's CA without a terminal: pass --ca-fingerprint ` +
      `(the gateway prints it at start; ${url} serves ${formatFingerprint(served)})`,
  };
}

/**
 * Fetch `GET <url>/api/v1/ca` WITHOUT verifying the server (we do not know its CA yet; the fingerprint
 * check that follows is what makes this safe). Still TLS 1.3 only. Returns the PEM.
 */
export async function fetchCaUnverified(baseUrl: string, timeoutMs?: number): Promise<string> {
  const url = new URL(baseUrl + '/api/v1/ca');
  const res = await rawRequest({
    method: 'GET',
    url,
    tls: { rejectUnauthorized: false, minVersion: 'TLSv1.3', lookup: localhostLookup as never },
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
  if (res.status !== 200) throw errorFromResponse(res);
  const pem = res.body.toString('utf8');
  try {
    fingerprintOf(pem);
  } catch {
    throw new CliError(`${url.href} did not return a certificate: is ${baseUrl} a Corral gateway?`);
  }
  return pem;
}

/**
 * Normalise what the user typed as the gateway URL: https only (http is refused: the token would travel
 * in clear), no trailing slash, no query. "gw.example.com:8443" gets https:// in front.
 */
export function normalizeGatewayUrl(input: string): string {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `https://${input}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new CliError(`"${input}" is not a URL: use e.g. https://gateway.example.com:8443`);
  }
  if (u.protocol !== 'https:') throw new CliError(`the gateway URL must start with https:// (got ${u.protocol}//)`);
  if (u.username || u.password) throw new CliError('put no user name or password in the gateway URL');
  return (u.origin + u.pathname).replace(/\/+$/, '');
}
