import { RegisterRequest, RegisterResponse, SERVER_NAME_RE, TAG_KEY_RE, type SystemInfo } from '@corral/protocol';
import type { AgentConfig } from './config.js';
import { AgentError, AgentErrorCode } from './errors.js';
import { certFingerprint, fingerprintsEqual, normaliseFingerprint } from './fingerprint.js';
import { generateAgentKeyPair, loadEd25519Key } from './agent-keys.js';
import type { GatewayHttp } from './gateway-http.js';
import { httpUrl, normaliseGatewayUrl } from './urls.js';

/** What `corral-agent register` needs; the outside world (HTTP, prompt) comes in as functions. */
export interface RegisterOptions {
  /** Gateway base URL, https. */
  gatewayUrl: string;
  /** More gateway URLs (other nodes of a cluster), kept in the config for failover. */
  extraGatewayUrls?: string[];
  /** The join token (secret). */
  token: string;
  /** Server name; default: the host name made to fit SERVER_NAME_RE. */
  name?: string;
  tags?: Record<string, string>;
  /** Expected CA fingerprint (64 hex digits, colons optional). When absent, `confirmFingerprint` decides. */
  caFingerprint?: string;
  /** Ask a person whether to trust a CA with this fingerprint; absent without a TTY (then: refuse). */
  confirmFingerprint?: (fingerprint: string) => Promise<boolean>;
  /** Host name for the default server name. */
  hostname: string;
  system: SystemInfo;
  http: GatewayHttp;
  /** Progress lines for the person at the terminal. */
  print?: (line: string) => void;
  /** --proxy, stored in the config (the `http` given must already use it). */
  proxy?: string;
}

/** Turn a host name into a valid server name ("My Host!" -> "My-Host"), or "server" if nothing is left. */
export function sanitiseServerName(hostname: string): string {
  let name = hostname
    .replace(/[^a-zA-Z0-9._-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  if (!SERVER_NAME_RE.test(name)) name = 'server';
  return name;
}

/**
 * Parse repeated `--tag k=v` options into a record.
 * @throws AgentError USAGE on a malformed tag
 */
export function parseTags(items: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    if (!TAG_KEY_RE.test(key))
      throw new AgentError(AgentErrorCode.USAGE, `bad tag key "${key}" (letters, digits, ".", "_", "/", "-")`);
    if (value.length > 256)
      throw new AgentError(AgentErrorCode.USAGE, `tag "${key}" value is longer than 256 characters`);
    tags[key] = value;
  }
  return tags;
}

/**
 * Fetch the gateway CA without verification and decide whether to trust it: it must match
 * `caFingerprint` when given, else a person must confirm it. Returns the PEM and its fingerprint.
 * @throws AgentError CA_FINGERPRINT_MISMATCH, CA_NOT_TRUSTED or CA_INVALID
 */
export async function fetchAndPinCa(
  opts: Pick<RegisterOptions, 'caFingerprint' | 'confirmFingerprint' | 'http' | 'print'> & { gatewayUrl: string },
): Promise<{ caPem: string; caFingerprint: string }> {
  const caPem = await opts.http.getText(httpUrl(opts.gatewayUrl, '/api/v1/ca'), { insecure: true });
  let fp: string;
  try {
    fp = certFingerprint(caPem);
  } catch {
    throw new AgentError(
      AgentErrorCode.CA_INVALID,
      'the gateway answered /api/v1/ca with something that is not a PEM certificate',
    );
  }
  if (opts.caFingerprint !== undefined) {
    if (normaliseFingerprint(opts.caFingerprint).length !== 64) {
      throw new AgentError(
        AgentErrorCode.USAGE,
        '--ca-fingerprint must be a SHA-256 fingerprint (64 hex digits, colons optional)',
      );
    }
    if (!fingerprintsEqual(fp, opts.caFingerprint)) {
      throw new AgentError(
        AgentErrorCode.CA_FINGERPRINT_MISMATCH,
        `the gateway's CA has fingerprint ${fp}, not the expected ${opts.caFingerprint}; refusing to register ` +
          '(wrong gateway, or someone is intercepting the connection)',
      );
    }
    return { caPem, caFingerprint: fp };
  }
  if (!opts.confirmFingerprint) {
    throw new AgentError(
      AgentErrorCode.CA_NOT_TRUSTED,
      `the gateway's CA has fingerprint ${fp}; compare it with the one the gateway printed and pass --ca-fingerprint`,
    );
  }
  opts.print?.(`gateway CA SHA-256 fingerprint: ${fp}`);
  if (!(await opts.confirmFingerprint(fp))) {
    throw new AgentError(AgentErrorCode.CA_NOT_TRUSTED, 'CA not trusted; nothing registered');
  }
  return { caPem, caFingerprint: fp };
}

/**
 * Register this machine with the gateway: pin the CA, make an Ed25519 key pair, consume the join token,
 * and return the config to store. Every request after the CA fetch verifies TLS against the pinned CA.
 * @throws AgentError (gateway error codes such as JOIN_TOKEN_INVALID pass through with their message)
 */
export async function registerAgent(opts: RegisterOptions): Promise<AgentConfig> {
  let gatewayUrl: string;
  try {
    gatewayUrl = normaliseGatewayUrl(opts.gatewayUrl);
  } catch (err) {
    throw new AgentError(AgentErrorCode.USAGE, (err as Error).message);
  }
  const name = opts.name ?? sanitiseServerName(opts.hostname);
  if (!SERVER_NAME_RE.test(name)) {
    throw new AgentError(AgentErrorCode.USAGE, `bad server name "${name}" (letters, digits, ".", "_", "-", up to 63)`);
  }
  const { caPem, caFingerprint } = await fetchAndPinCa({ ...opts, gatewayUrl });

  const keys = generateAgentKeyPair();
  const body = RegisterRequest.safeParse({
    token: opts.token,
    name,
    ...(opts.tags && Object.keys(opts.tags).length > 0 ? { tags: opts.tags } : {}),
    publicKey: keys.publicKeyPem,
    system: opts.system,
  });
  if (!body.success) {
    const issue = body.error.issues[0];
    throw new AgentError(
      AgentErrorCode.USAGE,
      `cannot register: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid request'}`,
    );
  }
  const answer = await opts.http.postJson(httpUrl(gatewayUrl, '/api/v1/agent/register'), body.data, { caPem });
  const parsed = RegisterResponse.safeParse(answer);
  if (!parsed.success) {
    throw new AgentError(
      AgentErrorCode.GATEWAY_BAD_RESPONSE,
      'the gateway answered the registration with an unexpected body',
    );
  }
  const res = parsed.data;
  try {
    loadEd25519Key(res.gatewaySigningKey, 'public', 'the gateway signing key');
    if (res.artifactSigningKey) loadEd25519Key(res.artifactSigningKey, 'public', 'the artifact signing key');
  } catch (err) {
    throw new AgentError(AgentErrorCode.GATEWAY_BAD_RESPONSE, (err as Error).message);
  }
  let extra: string[];
  try {
    extra = (opts.extraGatewayUrls ?? []).map((u) => normaliseGatewayUrl(u)).filter((u) => u !== gatewayUrl);
  } catch (err) {
    throw new AgentError(AgentErrorCode.USAGE, (err as Error).message);
  }
  return {
    version: 1,
    gatewayUrl,
    ...(extra.length > 0 ? { gatewayUrls: extra } : {}),
    agentId: res.agentId,
    serverId: res.serverId,
    serverName: res.serverName,
    privateKeyPem: keys.privateKeyPem,
    caPem,
    caFingerprint,
    gatewaySigningKeyPem: res.gatewaySigningKey,
    ...(res.artifactSigningKey ? { artifactSigningKeyPem: res.artifactSigningKey } : {}),
    ...(opts.proxy ? { proxy: opts.proxy } : {}),
  };
}
