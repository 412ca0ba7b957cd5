import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import * as sea from 'node:sea';

/**
 * Native modules inside the single executable. The build embeds node-pty's `pty.node` (and on macOS its
 * `spawn-helper`) as SEA assets; at first use they are written to a directory beside the executable,
 * named by their content hash, and loaded with `process.dlopen`. A file already there is used only
 * when its bytes equal the embedded asset, so a stale or planted file is never loaded.
 *
 *   /opt/corral/bin/corral-agent
 *   /opt/corral/bin/corral-agent.native/<sha256[0..16]>/pty.node
 */

/** The asset names the build embeds (scripts/build-agent.mjs keeps the same list). */
export const NATIVE_ASSETS = ['pty.node', 'spawn-helper'] as const;

/** Where native files go for the executable at `execPath`: beside it, else in the user's cache. */
export function nativeDirCandidates(execPath: string, home: string): string[] {
  return [`${execPath}.native`, join(home, '.cache', 'corral-agent', 'native')];
}

/** Write `bytes` to `dir/<hash>/name` unless an identical file is there; returns the file's directory. */
export function materialise(baseDir: string, files: ReadonlyMap<string, Buffer>): string {
  const h = createHash('sha256');
  for (const [name, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    h.update(name).update('\0').update(bytes);
  }
  const digest = h.digest('hex').slice(0, 16);
  const dir = join(baseDir, digest);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [name, bytes] of files) {
    const path = join(dir, name);
    if (existsSync(path) && readFileSync(path).equals(bytes)) continue;
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o755 });
    chmodSync(tmp, 0o755);
    renameSync(tmp, path);
  }
  // Older versions' directories are no longer needed.
  for (const other of readdirSync(baseDir)) {
    if (other !== digest && /^[0-9a-f]{16}$/.test(other))
      rmSync(join(baseDir, other), { recursive: true, force: true });
  }
  return dir;
}

let cached: string | undefined;

/** Extract the embedded native files once per process; returns their directory. */
function extracted(): string {
  if (cached) return cached;
  const files = new Map<string, Buffer>();
  for (const name of NATIVE_ASSETS) {
    try {
      files.set(name, Buffer.from(sea.getAsset(name)));
    } catch {
      /* not embedded for this platform (spawn-helper exists on macOS only) */
    }
  }
  let lastError: unknown;
  for (const base of nativeDirCandidates(process.execPath, homedir())) {
    try {
      cached = materialise(base, files);
      return cached;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`cannot write the agent's native modules beside ${process.execPath}: ${String(lastError)}`);
}

/**
 * node-pty's `loadNativeModule(name)` for the bundled agent (the build swaps node-pty's own, which
 * looks for `build/Release/` next to its sources). Outside a single executable, loads from `fallbackDir`.
 */
export function loadNativeModule(name: string, fallbackDir?: string): { dir: string; module: unknown } {
  const dir = sea.isSea() ? extracted() : (fallbackDir ?? dirname(process.execPath));
  const mod = { exports: {} as unknown };
  process.dlopen(mod, join(dir, `${name}.node`));
  return { dir, module: mod.exports };
}
