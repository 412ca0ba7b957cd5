import { describe, expect, it } from 'vitest';
import { detectLinux, detectWindows, parseSwVers } from './os-detect.js';

// Fixtures: the release files as these distributions ship them (trimmed to the keys that matter).
const OS_RELEASE = {
  ubuntu: `PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n`,
  debian: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n`,
  rhel: `NAME="Red Hat Enterprise Linux"\nVERSION="9.3 (Plow)"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"\n`,
  centos: `NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n`,
  rocky: `NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n`,
  alpine: `NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n`,
  amzn: `NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nID_LIKE="fedora"\nVERSION_ID="2023"\nPRETTY_NAME="Amazon Linux 2023.4.20240416"\n`,
};

describe('OS detection', () => {
  it.each([
    ['ubuntu', 'Ubuntu', '22.04'],
    ['debian', 'Debian', '12'],
    ['rhel', 'Red Hat Enterprise Linux', '9.3'],
    ['centos', 'CentOS', '7'],
    ['rocky', 'Rocky Linux', '9.3'],
    ['alpine', 'Alpine Linux', '3.19.1'],
    ['amzn', 'Amazon Linux', '2023'],
  ] as const)('reads %s from /etc/os-release', (id, name, version) => {
    expect(detectLinux({ osRelease: OS_RELEASE[id] })).toEqual({ id, name, version });
  });

  it('falls back to /etc/redhat-release on old RHEL and CentOS without os-release', () => {
    expect(detectLinux({ redhatRelease: 'CentOS release 6.10 (Final)\n' })).toEqual({
      id: 'centos',
      name: 'CentOS',
      version: '6.10',
    });
    expect(detectLinux({ redhatRelease: 'Red Hat Enterprise Linux Server release 6.9 (Santiago)\n' })).toEqual({
      id: 'rhel',
      name: 'Red Hat Enterprise Linux',
      version: '6.9',
    });
  });

  it('falls back to /etc/alpine-release and /etc/system-release (Amazon Linux AMI)', () => {
    expect(detectLinux({ alpineRelease: '3.12.0\n' })).toEqual({
      id: 'alpine',
      name: 'Alpine Linux',
      version: '3.12.0',
    });
    expect(detectLinux({ systemRelease: 'Amazon Linux AMI release 2018.03\n' })).toEqual({
      id: 'amzn',
      name: 'Amazon Linux',
      version: '2018.03',
    });
  });

  it('says "Linux" when nothing is known', () => {
    expect(detectLinux({})).toEqual({ id: 'linux', name: 'Linux', version: '' });
  });

  it('reads macOS from sw_vers, old "Mac OS X" included', () => {
    expect(parseSwVers('ProductName:\tmacOS\nProductVersion:\t14.4.1\nBuildVersion:\t23E224\n')).toEqual({
      id: 'macos',
      name: 'macOS',
      version: '14.4.1',
    });
    expect(parseSwVers('ProductName:\tMac OS X\nProductVersion:\t10.15.7\n').version).toBe('10.15.7');
  });

  it('names Windows 11 by its build (the registry still says Windows 10) and keeps server names', () => {
    expect(detectWindows('Windows 10 Pro', '10.0.22631')).toEqual({
      id: 'windows',
      name: 'Windows 11 Pro',
      version: '10.0.22631',
    });
    expect(detectWindows('Windows 10 Enterprise', '10.0.19045').name).toBe('Windows 10 Enterprise');
    expect(detectWindows('Windows Server 2022 Datacenter', '10.0.20348').name).toBe('Windows Server 2022 Datacenter');
  });
});
