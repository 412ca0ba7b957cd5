import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SystemInfo } from '@corral/protocol';
import { AGENT_VERSION, collectSystemInfo, parseOsRelease } from './sysinfo.js';
import { detectLinux } from './os-detect.js';

describe('system info', () => {
  it('AGENT_VERSION matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(AGENT_VERSION).toBe(pkg.version);
  });

  it('parses os-release with quotes and comments', () => {
    const m = parseOsRelease(
      '# c\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME=Debian\nVERSION_ID=\'12\'\n\nBAD\n',
    );
    expect(m.get('PRETTY_NAME')).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(m.get('VERSION_ID')).toBe('12');
    expect(m.get('NAME')).toBe('Debian');
  });

  it('reports non-internal addresses and OS facts, within the schema limits', () => {
    const info = collectSystemInfo({
      os: () => detectLinux({ osRelease: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\n' }),
      hostname: () => 'h'.repeat(300),
      networkInterfaces: () => ({
        lo: [{ address: '127.0.0.1', internal: true, family: 'IPv4', netmask: '', mac: '', cidr: null }],
        eth0: [
          { address: '10.0.0.5', internal: false, family: 'IPv4', netmask: '', mac: '', cidr: null },
          { address: 'fe80::1', internal: false, family: 'IPv6', netmask: '', mac: '', cidr: null, scopeid: 2 },
        ],
      }),
    });
    expect(info.osName).toBe('Alpine Linux');
    expect(info.osVersion).toBe('3.20.0');
    expect(info.addresses).toEqual(['10.0.0.5', 'fe80::1']);
    expect(info.hostname).toHaveLength(255);
    expect(SystemInfo.safeParse(info).success).toBe(true);
  });

  it("reports the agent's own account, the default OS user for websh", () => {
    expect(collectSystemInfo({ username: () => 'deploy' }).agentUser).toBe('deploy');
    expect(collectSystemInfo({ username: () => '' }).agentUser).toBeUndefined();
  });

  it('the real machine passes the schema', () => {
    expect(SystemInfo.safeParse(collectSystemInfo()).success).toBe(true);
  });
});
