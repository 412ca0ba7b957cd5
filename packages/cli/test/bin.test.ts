import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** The built `corral` binary as a user runs it (needs `npx tsc -b packages/cli` first, as `npm test` does). */
const PKG = resolve(import.meta.dirname, '..');
const BIN = join(PKG, 'bin/corral.js');
const built = existsSync(join(PKG, 'dist/main.js'));
const configDir = mkdtempSync(join(tmpdir(), 'corral-cli-bin-'));
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

function corral(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, CORRAL_CONFIG_DIR: configDir },
    input: '',
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!built)('corral binary', () => {
  it('prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as { version: string };
    expect(corral(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('says how to log in, exit 1 (commander path) and 255 (websh fast path, like ssh)', () => {
    expect(corral(['server', 'ls'])).toMatchObject({
      code: 1,
      stderr: 'corral: not logged in: run `corral login URL`\n',
    });
    expect(corral(['websh', 'web-01', '--', 'true'])).toMatchObject({
      code: 255,
      stderr: 'corral: not logged in: run `corral login URL`\n',
    });
  });

  it('shows help with examples for websh, and rejects unknown options with exit 1', () => {
    const help = corral(['websh', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('corral websh web-01 -- uptime');
    expect(corral(['websh', 'web-01', '--bogus']).code).toBe(1);
  });
});
