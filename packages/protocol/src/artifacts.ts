/**
 * Agent artifacts (single executables per platform) and what their signatures cover. Pure: the gateway
 * signs, the agent and install.sh verify the same bytes.
 */

/** `<os>-<arch>` as Node names them: linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64. */
export const ARTIFACT_PLATFORM_RE = /^(linux|darwin|win32)-(x64|arm64)$/;
/** Semantic version, optionally with a pre-release part: 1.2.3, 1.2.3-rc.1. */
export const AGENT_VERSION_RE = /^\d{1,6}\.\d{1,6}\.\d{1,6}(-[0-9A-Za-z.-]{1,32})?$/;

/** What an artifact signature covers. */
export interface ArtifactFacts {
  platform: string;
  version: string;
  /** Lower-case hex SHA-256 of the executable. */
  sha256: string;
  /** Bytes. */
  size: number;
}

/**
 * The exact bytes an artifact signature is made over: four `key=value` lines after a fixed first line,
 * each ending in a newline, so a shell script can rebuild them with printf.
 */
export function artifactSigningString(a: ArtifactFacts): string {
  return `corral-agent-artifact-v1\nplatform=${a.platform}\nversion=${a.version}\nsha256=${a.sha256}\nsize=${a.size}\n`;
}

/**
 * Compare two versions like 1.2.3 and 1.10.0 numerically; a pre-release sorts before its release.
 * @returns negative, 0 or positive
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.split(/-(.*)/s);
    return [core.split('.').map((n) => Number(n) || 0), pre];
  };
  const [ca, pa] = split(a);
  const [cb, pb] = split(b);
  for (let i = 0; i < 3; i++) {
    const d = (ca[i] ?? 0) - (cb[i] ?? 0);
    if (d !== 0) return d;
  }
  if (pa === pb) return 0;
  if (!pa) return 1;
  if (!pb) return -1;
  return pa < pb ? -1 : 1;
}
