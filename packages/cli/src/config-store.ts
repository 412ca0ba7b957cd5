import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CliError } from './errors.js';

/**
 * The CLI's saved state: which gateway, its pinned CA, and the session token.
 * Kept in `<configDir>/config.json`, mode 0600 in a 0700 directory, replaced atomically.
 * Checked by hand rather than with zod so that `corral websh` does not pay for loading zod.
 */
export interface CorralConfig {
  /** Gateway base URL, e.g. `https://gw.example.com:8443` (no trailing slash). */
  url: string;
  /** The pinned CA certificate, PEM. Every request verifies the gateway against it. */
  caPem: string;
  /** SHA-256 of the CA, as shown by `openssl x509 -fingerprint -sha256` (AA:BB:...). */
  caFingerprint: string;
  /** Session token; null after logout. */
  token: string | null;
  /** When the token expires (ISO 8601), if known. */
  expiresAt: string | null;
  email: string | null;
  workspace: { id: string; name: string } | null;
}

export const CONFIG_FILE = 'config.json';

function isStringOrNull(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}

/** Check a parsed config file; returns a reason when it is not valid. */
export function checkConfig(value: unknown): { ok: true; config: CorralConfig } | { ok: false; reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, reason: 'not an object' };
  const v = value as Record<string, unknown>;
  for (const key of ['url', 'caPem', 'caFingerprint'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '')
      return { ok: false, reason: `"${key}" must be a non-empty string` };
  }
  for (const key of ['token', 'expiresAt', 'email'] as const) {
    if (!isStringOrNull(v[key] ?? null)) return { ok: false, reason: `"${key}" must be a string or null` };
  }
  const ws = v.workspace ?? null;
  if (
    ws !== null &&
    (typeof ws !== 'object' ||
      typeof (ws as Record<string, unknown>).id !== 'string' ||
      typeof (ws as Record<string, unknown>).name !== 'string')
  ) {
    return { ok: false, reason: '"workspace" must be {id, name} or null' };
  }
  return {
    ok: true,
    config: {
      url: v.url as string,
      caPem: v.caPem as string,
      caFingerprint: v.caFingerprint as string,
      token: (v.token as string | null | undefined) ?? null,
      expiresAt: (v.expiresAt as string | null | undefined) ?? null,
      email: (v.email as string | null | undefined) ?? null,
      workspace: ws === null ? null : { id: (ws as { id: string }).id, name: (ws as { name: string }).name },
    },
  };
}

export class ConfigStore {
  /** Full path of config.json. */
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, CONFIG_FILE);
  }

  /** The saved config, or undefined when there is none yet. Throws CliError when the file is damaged. */
  load(): CorralConfig | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CliError(`cannot read ${this.path}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`${this.path} is not valid JSON: delete it and run \`corral login URL\``);
    }
    const checked = checkConfig(parsed);
    if (!checked.ok) {
      throw new CliError(`${this.path} is damaged (${checked.reason}): delete it and run \`corral login URL\``);
    }
    return checked.config;
  }

  /**
   * Save atomically: write a temporary file (mode 0600) beside the target, fsync it, rename it over
   * config.json. A crash leaves either the old file or the new one, never half of one.
   */
  save(config: CorralConfig): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, `.${CONFIG_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify(config, null, 2) + '\n');
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    closeSync(fd);
    try {
      renameSync(tmp, this.path);
    } catch (err) {
      unlinkSync(tmp);
      throw err;
    }
  }
}
