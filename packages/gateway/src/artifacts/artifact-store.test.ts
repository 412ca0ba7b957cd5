import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { artifactSigningString } from '@corral/protocol';
import { ArtifactStore } from './artifact-store.js';
import { renderInstallScript, installCommand } from './artifact-routes.js';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

describe('artifact store', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'corral-artifacts-'));
    dirs.push(d);
    return d;
  };
  const put = (d: string, platform: string, version: string, bytes: Buffer, manifest: Record<string, unknown> = {}) => {
    writeFileSync(join(d, `corral-agent-${platform}`), bytes);
    writeFileSync(
      join(d, `corral-agent-${platform}.json`),
      JSON.stringify({
        platform,
        version,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        ...manifest,
      }),
    );
  };

  it('serves artifacts whose file matches the manifest, signed over platform, version, sha256, size', () => {
    const d = dir();
    put(d, 'linux-x64', '1.2.3', Buffer.from('agent bytes'));
    const { privateKey } = generateKeyPairSync('ed25519');
    const store = new ArtifactStore([d], privateKey, silent as never);
    const [a] = store.list();
    expect(a).toMatchObject({
      platform: 'linux-x64',
      version: '1.2.3',
      size: 11,
      path: '/api/v1/agent/artifacts/linux-x64',
    });
    expect(
      verify(null, Buffer.from(artifactSigningString(a!)), store.publicKeyPem, Buffer.from(a!.signature, 'base64')),
    ).toBe(true);
    expect(store.currentVersion()).toBe('1.2.3');
  });

  it('ignores a file that does not match its manifest, and picks up a new build without a restart', () => {
    const d = dir();
    put(d, 'linux-x64', '1.0.0', Buffer.from('one'), { sha256: '0'.repeat(64) });
    const store = new ArtifactStore([d], generateKeyPairSync('ed25519').privateKey, silent as never);
    expect(store.list()).toEqual([]);
    put(d, 'linux-x64', '1.0.1', Buffer.from('two, longer'));
    expect(store.get('linux-x64')?.version).toBe('1.0.1');
  });

  it('the first directory wins for a platform (--artifacts before the build output)', () => {
    const a = dir();
    const b = dir();
    put(a, 'linux-x64', '2.0.0', Buffer.from('a'));
    put(b, 'linux-x64', '1.0.0', Buffer.from('b'));
    put(b, 'linux-arm64', '1.0.0', Buffer.from('c'));
    const store = new ArtifactStore([a, b], generateKeyPairSync('ed25519').privateKey, silent as never);
    expect(store.list().map((x) => `${x.platform}@${x.version}`)).toEqual(['linux-arm64@1.0.0', 'linux-x64@2.0.0']);
  });
});

describe('install script and line', () => {
  it('fills in the gateway URL and refuses one that would break out of the shell string', () => {
    expect(renderInstallScript('https://gw.example.com:8443')).toContain('GATEWAY="https://gw.example.com:8443"');
    expect(() => renderInstallScript('https://gw"; rm -rf /; "')).toThrow(/not usable/);
  });
  it('the install line checks the CA fingerprint before fetching install.sh over the pinned CA', () => {
    const line = installCommand('https://gw:8443', 'cjt_x', 'AB:CD');
    expect(line.indexOf("grep -qi '=AB:CD$'")).toBeLessThan(
      line.indexOf('--cacert corral-ca.pem https://gw:8443/install.sh'),
    );
    expect(line).toMatch(/sudo sh -s -- --token cjt_x --ca-fingerprint AB:CD$/);
  });
});
