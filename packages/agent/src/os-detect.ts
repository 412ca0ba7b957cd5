/**
 * Which operating system and version a server runs, from the usual sources. Pure parsing functions
 * (tested with fixtures of each distribution); sysinfo.ts reads the files and runs the commands.
 *
 *   Linux:   /etc/os-release (ID, VERSION_ID, NAME), else /etc/redhat-release, /etc/alpine-release,
 *            /etc/system-release (old Amazon Linux)
 *   macOS:   `sw_vers` (ProductName, ProductVersion)
 *   Windows: os.version() (product name) and os.release() (10.0.BUILD)
 */

/** The detected OS: a short id, a display name without version, and the version. */
export interface OsFacts {
  /** ubuntu, debian, rhel, centos, rocky, almalinux, alpine, amzn, fedora, sles, macos, windows, linux */
  id: string;
  name: string;
  version: string;
}

/** Parse a shell-style KEY=value file (os-release) into a map; quotes and escapes removed. */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    out.set(line.slice(0, eq), value);
  }
  return out;
}

/** Display names by os-release ID, where NAME is long or varies between releases. */
const NAMES: Record<string, string> = {
  ubuntu: 'Ubuntu',
  debian: 'Debian',
  rhel: 'Red Hat Enterprise Linux',
  centos: 'CentOS',
  rocky: 'Rocky Linux',
  almalinux: 'AlmaLinux',
  alpine: 'Alpine Linux',
  amzn: 'Amazon Linux',
  fedora: 'Fedora',
  ol: 'Oracle Linux',
  sles: 'SUSE Linux Enterprise Server',
  opensuse: 'openSUSE',
  'opensuse-leap': 'openSUSE Leap',
  arch: 'Arch Linux',
};

/** The contents of the Linux release files that exist ('' or undefined for missing ones). */
export interface LinuxReleaseFiles {
  osRelease?: string;
  redhatRelease?: string;
  alpineRelease?: string;
  systemRelease?: string;
}

/** `Rocky Linux release 8.9 (Green Obsidian)` -> name and version. */
function parseReleaseLine(line: string): { name: string; version: string } | undefined {
  const m = /^(.*?)\s+release\s+([0-9][0-9.]*)/i.exec(line.trim());
  return m ? { name: m[1]!.trim(), version: m[2]! } : undefined;
}

function idFromName(name: string): string {
  const n = name.toLowerCase();
  if (n.includes('red hat')) return 'rhel';
  if (n.includes('centos')) return 'centos';
  if (n.includes('rocky')) return 'rocky';
  if (n.includes('alma')) return 'almalinux';
  if (n.includes('amazon')) return 'amzn';
  if (n.includes('fedora')) return 'fedora';
  if (n.includes('oracle')) return 'ol';
  return 'linux';
}

/** Detect a Linux distribution from its release files (os-release first). */
export function detectLinux(files: LinuxReleaseFiles): OsFacts {
  const rel = parseOsRelease(files.osRelease ?? '');
  const id = (rel.get('ID') ?? '').toLowerCase();
  if (id || rel.get('NAME')) {
    const version = rel.get('VERSION_ID') ?? files.alpineRelease?.trim() ?? '';
    return { id: id || 'linux', name: NAMES[id] ?? rel.get('NAME') ?? 'Linux', version };
  }
  for (const text of [files.redhatRelease, files.systemRelease]) {
    const line = text?.split('\n')[0];
    const parsed = line ? parseReleaseLine(line) : undefined;
    if (parsed) {
      const pid = idFromName(parsed.name);
      return { id: pid, name: NAMES[pid] ?? parsed.name, version: parsed.version };
    }
  }
  const alpine = files.alpineRelease?.trim();
  if (alpine) return { id: 'alpine', name: NAMES.alpine!, version: alpine };
  return { id: 'linux', name: 'Linux', version: '' };
}

/** Parse `sw_vers` output (ProductName / ProductVersion). */
export function parseSwVers(text: string): OsFacts {
  const get = (key: string): string => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const product = get('ProductName');
  const name = !product || /mac os x/i.test(product) ? 'macOS' : product;
  return { id: 'macos', name, version: get('ProductVersion') };
}

/**
 * Windows from os.version() ("Windows 10 Pro", "Windows Server 2022 Datacenter") and os.release()
 * ("10.0.22631"). Windows 11 still calls itself "Windows 10" in the registry; build 22000 and up is 11.
 */
export function detectWindows(productName: string, release: string): OsFacts {
  const build = Number(release.split('.')[2] ?? 0);
  let name = productName.trim() || 'Windows';
  if (build >= 22000 && /^Windows 10\b/.test(name)) name = name.replace(/^Windows 10/, 'Windows 11');
  return { id: 'windows', name, version: release };
}

/** `<os>-<arch>` as artifacts are named. */
export function artifactPlatform(platform: string, arch: string): string {
  return `${platform}-${arch}`;
}
