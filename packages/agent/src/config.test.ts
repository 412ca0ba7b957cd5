import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { defaultConfigPath, loadAgentConfig, parseAgentConfig, writeAgentConfig, type AgentConfig } from './config.js';
import { generateAgentKeyPair } from './agent-keys.js';
import { certFingerprint } from './fingerprint.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-agent-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const CA = readFileSync(new URL('../test/fixtures/test-ca.pem', import.meta.url), 'utf8');

function validConfig(over: Partial<AgentConfig> = {}): AgentConfig {
  return {
    version: 1,
    gatewayUrl: 'https://gw.example:8443/',
    agentId: 'agt_1',
    serverId: 'srv_1',
    serverName: 'web-01',
    privateKeyPem: generateAgentKeyPair().privateKeyPem,
    caPem: CA,
    caFingerprint: certFingerprint(CA),
    gatewaySigningKeyPem: generateAgentKeyPair().publicKeyPem,
    ...over,
  };
}

describe('agent config', () => {
  it('accepts a valid config, normalises the URL and freezes it', () => {
    const c = parseAgentConfig(validConfig());
    expect(c.gatewayUrl).toBe('https://gw.example:8443');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names the bad field', () => {
    expect(() => parseAgentConfig({ ...validConfig(), agentId: '' })).toThrow(/config agentId/);
    expect(() => parseAgentConfig({ ...validConfig(), extra: 1 })).toThrow(/CONFIG|config/);
    expect(() => parseAgentConfig({ ...validConfig(), version: 2 })).toThrow(/version/);
  });

  it('security: refuses a plain http gateway URL', () => {
    expect(() => parseAgentConfig(validConfig({ gatewayUrl: 'http://gw.example' }))).toThrow(/https/);
  });

  it('security: refuses a CA fingerprint that does not match the pinned CA', () => {
    expect(() => parseAgentConfig(validConfig({ caFingerprint: 'AB'.repeat(32) }))).toThrow(
      /caFingerprint does not match/,
    );
  });

  it('refuses keys that are not Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => parseAgentConfig(validConfig({ gatewaySigningKeyPem: pem }))).toThrow(/not an Ed25519 key/);
    expect(() => parseAgentConfig(validConfig({ privateKeyPem: 'nope' }))).toThrow(/privateKeyPem/);
  });

  it('writes 0600 in a 0700 directory and reads it back', () => {
    const dir = tempDir();
    const path = join(dir, 'nested', 'agent.json');
    const config = validConfig();
    writeAgentConfig(path, config);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'nested')).mode & 0o777).toBe(0o700);
    expect(loadAgentConfig(path).agentId).toBe('agt_1');
  });

  it('security: refuses to load a config others can read (it holds the private key)', () => {
    const dir = tempDir();
    const path = join(dir, 'agent.json');
    writeFileSync(path, JSON.stringify(validConfig()));
    chmodSync(path, 0o644);
    expect(() => loadAgentConfig(path)).toThrow(/chmod 600/);
  });

  it('says how to fix a missing config', () => {
    expect(() => loadAgentConfig('/nonexistent/corral/agent.json')).toThrow(/corral-agent register/);
  });

  it('defaults to /etc/corral for root and ~/.config/corral otherwise', () => {
    expect(defaultConfigPath(0, '/root')).toBe('/etc/corral/agent.json');
    expect(defaultConfigPath(1000, '/home/alice')).toBe('/home/alice/.config/corral/agent.json');
  });
});
