import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { AgentError, AgentErrorCode } from './errors.js';
import { certFingerprint, fingerprintsEqual } from './fingerprint.js';
import { loadEd25519Key } from './agent-keys.js';
import { normaliseGatewayUrl } from './urls.js';
import { parseProxyUrl } from './proxy.js';

/**
 * The agent's identity and trust anchors, written by `register` (mode 0600) and read by `run`.
 * Checked once at load (schema, key types, CA fingerprint) and deep-frozen.
 */
export const AgentConfig = z.strictObject({
  version: z.literal(1),
  /** Gateway base URL, https only. */
  gatewayUrl: z.string().min(1).max(2048),
  /** More gateway URLs (other cluster nodes); the agent rotates through all of them on failure. */
  gatewayUrls: z.array(z.string().min(1).max(2048)).max(16).optional(),
  agentId: z.string().min(1).max(64),
  serverId: z.string().min(1).max(64),
  serverName: z.string().min(1).max(255),
  /** The agent's Ed25519 private key, PKCS#8 PEM. Never leaves this file. */
  privateKeyPem: z.string().min(1).max(4096),
  /** The gateway CA, pinned at registration; every connection is verified against it. */
  caPem: z.string().min(1).max(65536),
  /** SHA-256 of the CA's DER, `AA:BB:...`. */
  caFingerprint: z.string().min(64).max(95),
  /** The gateway's Ed25519 grant-signing public key, SPKI PEM. */
  gatewaySigningKeyPem: z.string().min(1).max(4096),
  /** The gateway's Ed25519 artifact-signing public key, SPKI PEM; upgrades must be signed by it. */
  artifactSigningKeyPem: z.string().min(1).max(4096).optional(),
  /** HTTP CONNECT proxy, http://[user:pass@]host:port (from --proxy); else HTTPS_PROXY applies. */
  proxy: z.string().min(1).max(2048).optional(),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

/**
 * Validate a config object: schema, https URL, Ed25519 keys, and that `caFingerprint` is really the
 * fingerprint of `caPem`. Returns a frozen copy.
 * @param allowInsecure admit an http:// gateway URL (in-process tests only)
 * @throws AgentError CONFIG_INVALID naming the bad field
 */
export function parseAgentConfig(value: unknown, allowInsecure = false): Readonly<AgentConfig> {
  const parsed = AgentConfig.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
    throw new AgentError(AgentErrorCode.CONFIG_INVALID, `config ${where}`);
  }
  const c = parsed.data;
  try {
    c.gatewayUrl = normaliseGatewayUrl(c.gatewayUrl, allowInsecure);
    if (c.gatewayUrls) c.gatewayUrls = c.gatewayUrls.map((u) => normaliseGatewayUrl(u, allowInsecure));
    loadEd25519Key(c.privateKeyPem, 'private', 'privateKeyPem');
    loadEd25519Key(c.gatewaySigningKeyPem, 'public', 'gatewaySigningKeyPem');
    if (c.artifactSigningKeyPem) loadEd25519Key(c.artifactSigningKeyPem, 'public', 'artifactSigningKeyPem');
    if (c.proxy) parseProxyUrl(c.proxy);
    let fp: string;
    try {
      fp = certFingerprint(c.caPem);
    } catch {
      throw new Error('caPem is not a certificate');
    }
    if (!fingerprintsEqual(fp, c.caFingerprint)) throw new Error('caFingerprint does not match caPem');
  } catch (err) {
    throw new AgentError(AgentErrorCode.CONFIG_INVALID, `config ${(err as Error).message}`);
  }
  return Object.freeze(c);
}

/**
 * Where the config lives by default: `/etc/corral/agent.json` for root, else
 * `~/.config/corral/agent.json`.
 */
export function defaultConfigPath(uid: number, homeDir: string): string {
  return uid === 0 ? '/etc/corral/agent.json' : join(homeDir, '.config', 'corral', 'agent.json');
}

/**
 * Read and validate the config file. Like ssh with private keys, a file that others may read is
 * refused: it holds the agent's private key.
 * @throws AgentError CONFIG_NOT_FOUND, CONFIG_PERMISSIONS or CONFIG_INVALID
 */
export function loadAgentConfig(path: string): Readonly<AgentConfig> {
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) {
      throw new AgentError(
        AgentErrorCode.CONFIG_PERMISSIONS,
        `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof AgentError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AgentError(AgentErrorCode.CONFIG_NOT_FOUND, `no config at ${path}; run "corral-agent register" first`);
    }
    throw new AgentError(AgentErrorCode.CONFIG_INVALID, `cannot read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AgentError(AgentErrorCode.CONFIG_INVALID, `${path} is not valid JSON`);
  }
  return parseAgentConfig(json);
}

/** Whether a file exists at `path`. */
export function configExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Write the config atomically (temp file + rename), file mode 0600, missing directories 0700.
 */
export function writeAgentConfig(path: string, config: AgentConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(config, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600); // in case umask or an old temp file widened it
  renameSync(tmp, path);
}
