import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { artifactSigningString } from '@corral/protocol';
import { checkArtifact } from './upgrader.js';

describe('upgrade artifact check', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const facts = { platform: 'linux-x64', version: '0.2.0', sha256: 'a'.repeat(64), size: 1234 };
  const signature = sign(null, Buffer.from(artifactSigningString(facts)), privateKey).toString('base64');
  const msg = { ...facts, signature };

  it('accepts the announced size and SHA-256 with a signature by the pinned key', () => {
    expect(checkArtifact(msg, { sha256: facts.sha256, size: facts.size }, publicKey)).toBeUndefined();
  });

  it('rejects a truncated or altered download', () => {
    expect(checkArtifact(msg, { sha256: facts.sha256, size: 1000 }, publicKey)).toMatch(/size 1000/);
    expect(checkArtifact(msg, { sha256: 'b'.repeat(64), size: facts.size }, publicKey)).toMatch(/SHA-256/);
  });

  it('rejects a signature by another key, and one over another version (no downgrade by relabelling)', () => {
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(checkArtifact(msg, facts, other)).toMatch(/not by the artifact key/);
    expect(checkArtifact({ ...msg, version: '0.1.0' }, facts, publicKey)).toMatch(/not by the artifact key/);
    expect(checkArtifact({ ...msg, signature: 'garbage' }, facts, publicKey)).toMatch(/not by the artifact key/);
  });
});
