import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import type { SystemInfo } from '@corral/protocol';

/** Set by the single-executable build (scripts/build-agent.mjs, `--version`); absent when run from sources. */
declare const __CORRAL_AGENT_VERSION__: string | undefined;

/**
 * This agent's version: packages/agent/package.json's (a test keeps them equal), or the version the
 * artifact was built with.
 */
export const AGENT_VERSION: string =
  typeof __CORRAL_AGENT_VERSION__ === 'string' ? __CORRAL_AGENT_VERSION__ : '0.1.0';

/** Parse /etc/os-release (KEY=value, optionally quoted) into a map. */
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

/** The outside world sysinfo reads, injectable for tests. */
export interface SysinfoSources {
  osRelease: () => string;
  hostname: () => string;
  release: () => string;
  arch: () => string;
  cpuCount: () => number;
  totalmem: () => number;
  networkInterfaces: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** The account the agent runs as. */
  username: () => string;
}

const realSources: SysinfoSources = {
  osRelease: () => {
    for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        /* try the next one */
      }
    }
    return '';
  },
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
 * Collect the facts reported in `hello`: host name, OS (from os-release: PRETTY_NAME or NAME, and
 * VERSION_ID), kernel, arch, CPUs, memory in bytes, non-internal IPv4/IPv6 addresses, agent version.
 * Strings are cut to the schema's limits so a strange host never fails validation.
 */
export function collectSystemInfo(sources: Partial<SysinfoSources> = {}): SystemInfo {
  const src = { ...realSources, ...sources };
  const rel = parseOsRelease(src.osRelease());
  const addresses: string[] = [];
  for (const list of Object.values(src.networkInterfaces())) {
    for (const a of list ?? []) {
      if (!a.internal && addresses.length < 64 && !addresses.includes(a.address)) addresses.push(cut(a.address, 64));
    }
  }
  return {
    hostname: cut(src.hostname(), 255),
    osName: cut(rel.get('PRETTY_NAME') ?? rel.get('NAME') ?? os.type(), 128),
    osVersion: cut(rel.get('VERSION_ID') ?? '', 128),
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
