import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { BIN, eventually, run } from './processes.js';
import { tempDir } from './helpers.js';

// The real CLI (a child process, in a pseudo-terminal where it asks questions) against a gateway whose
// clock the test moves; TOTP codes come from Debian's oathtool told the same time.

const PW = 'admin-password-123';

function oathtool(secret: string, atMs: number): string {
  return execFileSync('oathtool', ['--totp', '-b', '-N', `@${Math.floor(atMs / 1000)}`, secret], {
    encoding: 'utf8',
  }).trim();
}

describe('corral CLI with a second factor', () => {
  const dir = tempDir();
  let gw: Gateway;
  let url: string;
  let fp: string;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  const env = () => ({ CORRAL_CONFIG_DIR: join(dir.path, 'cli'), NO_COLOR: '1' });
  const cli = (args: string[], input?: string) =>
    run(BIN.cli, args, { env: env(), ...(input !== undefined ? { input } : {}) });

  /**
   * Run the CLI in a pty and answer its questions: each [pattern, reply] waits for the pattern on the
   * screen, then types the reply (a function is called when the pattern appears). Resolves the exit code
   * and the whole screen.
   */
  async function dialog(
    args: string[],
    steps: Array<[RegExp, string | ((screen: string) => string)]>,
  ): Promise<{ code: number; screen: string }> {
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN.cli, ...args], {
      cols: 200,
      rows: 50,
      env: { ...process.env, ...env(), TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    term.onData((d) => (screen += d));
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    let from = 0;
    for (const [re, reply] of steps) {
      await eventually(async () => re.test(screen.slice(from)), 15_000, 50).catch((err: Error) => {
        throw new Error(`${err.message}: waiting for ${re} in:\n${screen}`);
      });
      from = screen.length;
      term.write(`${typeof reply === 'function' ? reply(screen) : reply}\r`);
    }
    const code = await exited;
    return { code, screen };
  }

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: '127.0.0.1:0' }), {
      log: silentLogger,
      clock,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    fp = gw.tls.caFingerprint;
    const login = await cli(
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      PW + '\n',
    );
    expect(login.code, login.stderr).toBe(0);
  });
  afterAll(async () => {
    await gw?.close();
    dir.remove();
  });

  let secret = '';

  it('adds an authenticator app: prints the secret, asks for the first code, shows ten recovery codes', async () => {
    const r = await dialog(
      ['mfa', 'add', 'totp'],
      [
        [
          /Code from the app: /,
          (screen) => {
            secret = /secret: ([A-Z2-7]+)/.exec(screen)![1]!;
            return oathtool(secret, clock.now());
          },
        ],
      ],
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/otpauth:\/\/totp\/Corral%20default%3Aadmin%40localhost\?secret=/);
    expect(r.screen).toMatch(/Second factor mfa_\S+ \(totp, authenticator app\) is active/);
    expect(r.screen.match(/^ {2}[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}\r?$/gm)).toHaveLength(10);
    const ls = await cli(['mfa', 'ls', '-o', 'json']);
    const st = JSON.parse(ls.stdout) as { factors: { kind: string; confirmed: boolean }[]; recoveryCodesLeft: number };
    expect(st.factors).toEqual([expect.objectContaining({ kind: 'totp', confirmed: true })]);
    expect(st.recoveryCodesLeft).toBe(10);
  });

  it('`corral login` asks for the password, then the second factor, on the terminal', async () => {
    offset += 30_000;
    const r = await dialog(
      ['login', url, '--email', 'admin@localhost', '--ca-fingerprint', fp],
      [
        [/Password: /, PW],
        [/Second factor: /, 'not a code'],
        [/Not understood[^\n]*\n[\s\S]*Second factor: /, '000000'],
        [/That did not work; try again[\s\S]*Second factor: /, () => oathtool(secret, clock.now())],
      ],
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/enter the 6-digit code from your authenticator app, or a recovery code/);
    expect(r.screen).toMatch(/Logged in to https:\/\/127\.0\.0\.1:\d+ as admin@localhost/);
    const who = await cli(['whoami', '-o', 'json']);
    expect(who.code, who.stderr).toBe(0);
  });

  it('takes --totp in scripts, and refuses the same code twice', async () => {
    offset += 30_000;
    const code = oathtool(secret, clock.now());
    const args = [
      'login',
      url,
      '--email',
      'admin@localhost',
      '--password-stdin',
      '--ca-fingerprint',
      fp,
      '--totp',
      code,
    ];
    const ok = await cli(args, PW + '\n');
    expect(ok.code, ok.stderr).toBe(0);
    const again = await cli(args, PW + '\n');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/MFA_INVALID/);
    const none = await cli(args.slice(0, -2), PW + '\n');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/pass --totp CODE or --recovery-code CODE/);
  });

  it('asks for a step-up when a command needs one, then carries on', async () => {
    // A login a moment ago is not a fresh proof for an account with a factor: regenerating recovery
    // codes asks for the second factor first, then finishes.
    offset += 30_000;
    const r = await dialog(['mfa', 'recovery-codes'], [[/Second factor: /, () => oathtool(secret, clock.now())]]);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toMatch(/Step-up needed: recovery codes needs a fresh proof that it is you/);
    expect(r.screen.match(/^ {2}[a-z2-9]{4}(-[a-z2-9]{4}){3}\r?$/gm)).toHaveLength(10);
    const code = /^ {2}([a-z2-9-]{19})\r?$/m.exec(r.screen)![1]!;
    // `corral step-up` with a recovery code (used up by it).
    const up = await cli(['step-up', '--recovery-code', code]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/Stepped up until/);
    const pw = await cli(['step-up', '--password-stdin'], PW + '\n');
    expect(pw.code).toBe(1);
    expect(pw.stderr).toMatch(/second factor: step up with --totp CODE or --recovery-code CODE/);
  });

  it('lists and revokes sign-in sessions, and `corral passwd` ends the others', async () => {
    const ls = await cli(['signins', 'ls', '-o', 'json']);
    const items = (
      JSON.parse(ls.stdout) as { items: { id: string; current: boolean; userAgent: string; method: string }[] }
    ).items;
    expect(items.length).toBeGreaterThanOrEqual(3);
    const current = items.find((s) => s.current)!;
    expect(current.userAgent).toMatch(/^corral-cli \(/);
    expect(current.method).toBe('password+totp');
    const other = items.find((s) => !s.current)!;
    const rv = await cli(['signins', 'revoke', other.id]);
    expect(rv.code, rv.stderr).toBe(0);
    const table = await cli(['signins', 'ls']);
    expect(table.stdout).toMatch(/^ID\s+SIGNED IN\s+LAST USED\s+FROM\s+METHOD\s+CLIENT/);
    expect(table.stdout).not.toContain(other.id);
    const pw = await cli(['passwd', '--stdin'], `${PW}\na brand new password 1\n`);
    expect(pw.code, pw.stderr).toBe(0);
    expect(pw.stdout).toMatch(/Password changed\. \d+ other sign-in sessions? (was|were) revoked/);
    const after = JSON.parse((await cli(['signins', 'ls', '-o', 'json'])).stdout) as { items: unknown[] };
    expect(after.items).toHaveLength(1);
  });

  it('explains where passkeys are added', async () => {
    const r = await cli(['mfa', 'add', 'webauthn']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/open https:\/\/localhost:\d+\/auth\/webauthn/);
  });
});
