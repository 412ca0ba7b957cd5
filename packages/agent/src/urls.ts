/**
 * Normalise a gateway base URL: `https:` only (TLS 1.3 everywhere), no query or fragment, no trailing
 * slash. `allowInsecure` admits `http:` for in-process tests against a plain server.
 * @throws Error with a readable message when the URL is unusable
 */
export function normaliseGatewayUrl(raw: string, allowInsecure = false): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`not a URL: ${raw}`);
  }
  if (u.protocol !== 'https:' && !(allowInsecure && u.protocol === 'http:')) {
    throw new Error(`gateway URL must start with https:// (got ${u.protocol}//)`);
  }
  if (u.username || u.password) throw new Error('gateway URL must not carry credentials');
  u.search = '';
  u.hash = '';
  return u.toString().replace(/\/+$/, '');
}

/** `https://gw/prefix` + `/api/v1/x` -> `https://gw/prefix/api/v1/x`. */
export function httpUrl(gatewayUrl: string, path: string): string {
  const u = new URL(gatewayUrl);
  u.pathname = u.pathname.replace(/\/+$/, '') + path;
  return u.toString();
}

/** The WebSocket URL for a path on the gateway: https -> wss, http -> ws; `query` values are encoded. */
export function wsUrl(gatewayUrl: string, path: string, query: Record<string, string> = {}): string {
  const u = new URL(httpUrl(gatewayUrl, path));
  u.protocol = u.protocol === 'http:' ? 'ws:' : 'wss:';
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.toString();
}
