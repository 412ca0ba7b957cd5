import { describe, expect, it } from 'vitest';
import { AGENT_VERSION_RE, ARTIFACT_PLATFORM_RE, artifactSigningString, compareVersions } from './artifacts.js';

describe('agent artifacts', () => {
  it('signs four newline-terminated key=value lines after a fixed first line (install.sh rebuilds them)', () => {
    const text = artifactSigningString({ platform: 'linux-x64', version: '1.2.3', sha256: 'ab'.repeat(32), size: 42 });
    expect(text).toBe(
      `corral-agent-artifact-v1\nplatform=linux-x64\nversion=1.2.3\nsha256=${'ab'.repeat(32)}\nsize=42\n`,
    );
  });

  it('orders versions numerically, pre-releases before their release', () => {
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
    expect(compareVersions('0.1.0', '0.1.0')).toBe(0);
    expect(compareVersions('0.1.1', '0.1.0')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '1.0.0-rc.1')).toBeGreaterThan(0);
  });

  it('accepts only known platforms and plain versions (they end up in paths and shell scripts)', () => {
    expect(ARTIFACT_PLATFORM_RE.test('linux-x64')).toBe(true);
    expect(ARTIFACT_PLATFORM_RE.test('win32-arm64')).toBe(true);
    expect(ARTIFACT_PLATFORM_RE.test('linux-x64/../x')).toBe(false);
    expect(AGENT_VERSION_RE.test('1.2.3-rc.1')).toBe(true);
    expect(AGENT_VERSION_RE.test('1.2.3; rm -rf /')).toBe(false);
  });
});
