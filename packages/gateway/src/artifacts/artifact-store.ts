import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  closeSync,
  openSync,
  readSync,
  createReadStream,
  existsSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  type ReadStream,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  AGENT_VERSION_RE,
  ARTIFACT_PLATFORM_RE,
  artifactSigningString,
  compareVersions,
  type AgentArtifactView,
} from '@corral/protocol';
import type { Logger } from '../log.js';

/** The manifest the build writes beside each executable (scripts/build-agent.mjs). */
const Manifest = z.object({
  platform: z.string().regex(ARTIFACT_PLATFORM_RE),
  version: z.string().regex(AGENT_VERSION_RE),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
});

/** One servable artifact. */
export interface Artifact extends AgentArtifactView {
  /** Absolute path of the executable. */
  file: string;
}

/**
 * SHA-256 and size of a file, read 1 MiB at a time: an agent executable is ~100 MB, and holding it in
 * one Buffer would leave the gateway's RSS that much higher until the next full GC.
 */
function hashFile(path: string): { sha256: string; size: number } {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  const fd = openSync(path, 'r');
  let size = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      size += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest('hex'), size };
}

/** Load the Ed25519 artifact-signing key from `path`, creating it (mode 0600) on first use. */
export function loadOrCreateSigningKey(path: string): KeyObject {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return createPrivateKey(readFileSync(path, 'utf8'));
}

/**
 * The agent executables this gateway serves, one per platform, from one or more directories:
 *
 *   DIR/corral-agent-linux-x64        the executable
 *   DIR/corral-agent-linux-x64.json   {platform, version, sha256, size}   (written by the build)
 *
 * An artifact is served only when the file's SHA-256 and size match its manifest; the gateway then signs
 * (platform, version, sha256, size) with its artifact-signing key. The directories are looked at again
 * on each request (a readdir and a stat per file; files are hashed again only when they change), so a
 * new build is picked up without a restart. The first directory wins when two hold the same platform.
 */
export class ArtifactStore {
  readonly publicKeyPem: string;
  #cache = new Map<string, { stamp: string; artifact: Artifact | null }>();

  constructor(
    private readonly dirs: readonly string[],
    private readonly key: KeyObject,
    private readonly log: Logger,
  ) {
    this.publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
  }

  /** base64 Ed25519 signature over the artifact's facts. */
  sign(facts: { platform: string; version: string; sha256: string; size: number }): string {
    return sign(null, Buffer.from(artifactSigningString(facts)), this.key).toString('base64');
  }

  /** Every valid artifact, one per platform, sorted by platform. */
  list(): Artifact[] {
    const byPlatform = new Map<string, Artifact>();
    for (const dir of this.dirs) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue; // a directory that does not exist (yet) holds nothing
      }
      for (const name of names) {
        const m = /^corral-agent-([a-z0-9]+-[a-z0-9]+)(\.exe)?\.json$/.exec(name);
        if (!m?.[1] || byPlatform.has(m[1])) continue;
        const a = this.#load(join(dir, name), join(dir, name.slice(0, -'.json'.length)), m[1]);
        if (a) byPlatform.set(a.platform, a);
      }
    }
    return [...byPlatform.values()].sort((a, b) => a.platform.localeCompare(b.platform));
  }

  /** The artifact for a platform, or undefined. */
  get(platform: string): Artifact | undefined {
    return this.list().find((a) => a.platform === platform);
  }

  /** The newest version among the artifacts, or null when there are none. */
  currentVersion(): string | null {
    return this.list().reduce<string | null>(
      (v, a) => (v === null || compareVersions(a.version, v) > 0 ? a.version : v),
      null,
    );
  }

  /** Open the executable for streaming. */
  open(a: Artifact): ReadStream {
    return createReadStream(a.file);
  }

  #load(manifestPath: string, file: string, platform: string): Artifact | null {
    let stamp: string;
    try {
      const ms = statSync(manifestPath);
      const fs = statSync(file);
      stamp = `${ms.mtimeMs}:${ms.size}:${fs.mtimeMs}:${fs.size}`;
    } catch {
      return null;
    }
    const key = manifestPath;
    const hit = this.#cache.get(key);
    if (hit?.stamp === stamp) return hit.artifact;
    let artifact: Artifact | null = null;
    try {
      const manifest = Manifest.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
      if (manifest.platform !== platform) throw new Error(`manifest names platform ${manifest.platform}`);
      const { sha256, size } = hashFile(file);
      if (size !== manifest.size || sha256 !== manifest.sha256) {
        throw new Error('the file does not match its manifest (size or SHA-256); rebuild it or copy both again');
      }
      const facts = { platform, version: manifest.version, sha256, size };
      artifact = { ...facts, signature: this.sign(facts), path: `/api/v1/agent/artifacts/${platform}`, file };
      this.log.info('agent artifact loaded', { platform, version: manifest.version, file });
    } catch (err) {
      this.log.warn('agent artifact ignored', { file, err: (err as Error).message });
    }
    this.#cache.set(key, { stamp, artifact });
    return artifact;
  }
}
