import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigStore, type CorralConfig } from './config-store.js';

const sample: CorralConfig = {
  url: 'https://gw:8443',
  caPem: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n',
  caFingerprint: 'AA:BB',
  token: 'secret-token',
  expiresAt: '2030-01-01T00:00:00Z',
  email: 'me@example.com',
  workspace: { id: 'ws_1', name: 'default' },
};

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'corral-cli-config-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('ConfigStore', () => {
  it('returns undefined when nothing was saved yet', () => {
    expect(new ConfigStore(join(root, 'none')).load()).toBeUndefined();
  });

  it('security: writes the token file with mode 0600 in a directory with mode 0700', () => {
    const dir = join(root, 'a', 'corral');
    const store = new ConfigStore(dir);
    store.save(sample);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(store.load()).toEqual(sample);
  });

  it('replaces the file atomically (a new file renamed over the old one) and leaves no temporary files', () => {
    const store = new ConfigStore(root);
    store.save(sample);
    const before = statSync(store.path).ino;
    store.save({ ...sample, token: null });
    // rename() puts a different inode in place; an in-place rewrite would keep the inode (and could be read half-written).
    expect(statSync(store.path).ino).not.toBe(before);
    expect(readdirSync(root)).toEqual(['config.json']);
    expect(JSON.parse(readFileSync(store.path, 'utf8')).token).toBeNull();
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
  });

  it('says how to recover from a damaged file', () => {
    const store = new ConfigStore(root);
    writeFileSync(store.path, '{"url": 5}');
    expect(() => store.load()).toThrow(/damaged.*corral login/);
    writeFileSync(store.path, 'not json');
    expect(() => store.load()).toThrow(/not valid JSON/);
  });
});
