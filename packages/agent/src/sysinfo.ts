import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { SystemInfo } from '@corral/protocol';
import { artifactPlatform, detectLinux, detectWindows, parseSwVers, type OsFacts } from './os-detect.js';

export { parseOsRelease } from './os-detect.js';

/** Set by the single-executable build (scripts/build-agent.mjs, `--version`); absent when run from sources. */
declare const __CORRAL_AGENT_VERSION__: string | undefined;

/**
 * This agent's version: packages/agent/package.json's (a test keeps them equal), or the version the
 * artifact was built with.
 */
export const AGENT_VERSION: string = typeof __CORRAL_AGENT_VERSION__ === 'string' ? __CORRAL_AGENT_VERSION__ : '0.1.0';

/** The outside world sysinfo reads, injectable for tests. */
export interface SysinfoSources {
  /** The OS as detected (see os-detect.ts). */
  os: () => OsFacts;
  hostname: () => string;
  release: () => string;
  arch: () => string;
  cpuCount: () => number;
  totalmem: () => number;
  networkInterfaces: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** The account the agent runs as. */
  username: () => string;
}

const readOr = (...paths: string[]): string => {
  for (const path of paths) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      /* try the next one */
    }
  }
  return '';
};

/** Detect the real OS (sw_vers runs once on macOS; the answer is cached). */
let osCache: OsFacts | undefined;
function realOs(): OsFacts {
  if (osCache) return osCache;
  if (process.platform === 'darwin') {
    let text = '';
    try {
      text = execFileSync('sw_vers', { encoding: 'utf8', timeout: 5000 });
    } catch {
      /* no sw_vers: name only */
    }
    osCache = parseSwVers(text);
  } else if (process.platform === 'win32') {
    osCache = detectWindows(os.version(), os.release());
  } else {
    osCache = detectLinux({
      osRelease: readOr('/etc/os-release', '/usr/lib/os-release'),
      redhatRelease: readOr('/etc/redhat-release'),
      alpineRelease: readOr('/etc/alpine-release'),
      systemRelease: readOr('/etc/system-release'),
    });
  }
  return osCache;
}

const realSources: SysinfoSources = {
  os: realOs,
  hostname: () => os.hostname(),
  release: () => os.release(),
  arch: () => os.arch(),
  cpuCount: () => os.availableParallelism?.() ?? os.cpus().length,
  totalmem: () => os.totalmem(),
  networkInterfaces: () => os.networkInterfaces(),
  username: () => {
    try {
      return os.userInfo().username;
    } catch {
      return '';
    }
  },
};

const cut = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);

/**
 * Collect the facts reported in `hello`: host name, OS (name, version and id, see os-detect.ts), kernel, arch, CPUs, memory in bytes, non-internal IPv4/IPv6 addresses, agent version.
 * Strings are cut to the schema's limits so a strange host never fails validation.
 */
export function collectSystemInfo(sources: Partial<SysinfoSources> = {}): SystemInfo {
  const src = { ...realSources, ...sources };
  const facts = src.os();
  const addresses: string[] = [];
  for (const list of Object.values(src.networkInterfaces())) {
    for (const a of list ?? []) {
      if (!a.internal && addresses.length < 64 && !addresses.includes(a.address)) addresses.push(cut(a.address, 64));
    }
  }
  return {
    hostname: cut(src.hostname(), 255),
    osName: cut(facts.name, 128),
    osVersion: cut(facts.version, 128),
    osId: cut(facts.id, 32),
    platform: artifactPlatform(process.platform, src.arch()),
    kernel: cut(src.release(), 255),
    arch: cut(src.arch(), 32),
    cpuCount: Math.max(0, Math.floor(src.cpuCount())),
    memoryBytes: Math.max(0, src.totalmem()),
    addresses,
    agentVersion: AGENT_VERSION,
    // The default OS account for websh when the user names none: the agent's own.
    ...(src.username() ? { agentUser: cut(src.username(), 64) } : {}),
  };
}
