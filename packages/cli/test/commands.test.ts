import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { login, logout, whoami } from '../src/commands/auth.js';
import { serverLs, serverShow } from '../src/commands/server.js';
import { websh } from '../src/commands/websh.js';
import { ConfigStore } from '../src/config-store.js';
import type { CliContext, InputStream } from '../src/context.js';
import { describeError } from '../src/errors.js';
import { fingerprintOf } from '../src/tls-pin.js';
import { makeTls, startFakeGateway, USER, type FakeGateway } from './fake-gateway.js';

/**
 * The commands end to end against a fake gateway over real TLS 1.3 with a private CA: CA pinning at
 * login, the saved config, error messages, and websh through POST + WebSocket upgrade.
 */

class Sink extends Writable {
  chunks: Buffer[] = [];
  /** Called with the whole text so far after each write (to answer prompts). */
  onText?: (text: string) => void;
  isTTY = false;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
    this.onText?.(this.text());
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

let gw: FakeGateway;
let dir: string;

function context(stdin: InputStream = Object.assign(new PassThrough(), { isTTY: false })) {
  const stdout = new Sink();
  const stderr = new Sink();
  const ctx: CliContext = { stdin, stdout, stderr, configDir: dir, color: false, term: 'xterm', now: () => Date.now() };
  return { ctx, stdout, stderr };
}

/** Log in the way a script would: fingerprint and password given, no terminal. */
async function scriptedLogin(url = gw.url, fp = fingerprintOf(gw.tls.caPem), password = USER.password) {
  const stdin = new PassThrough();
  stdin.end(password + '\n');
  const c = context(stdin);
  await login(c.ctx, url, { email: USER.email, passwordStdin: true, caFingerprint: fp });
  return c;
}

/** Run a command and return what the user would see on failure (`corral: ...`). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return describeError(err).message;
  }
  throw new Error('expected the command to fail');
}

beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(() => gw.close());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'corral-cli-cmd-'));
  gw.requests.length = 0;
  gw.revoked.clear();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('corral login', () => {
  it('pins the CA given by --ca-fingerprint and saves the session in a 0600 file', async () => {
    const { stdout } = await scriptedLogin();
    expect(stdout.text()).toMatch(/^Logged in to https:\/\/127\.0\.0\.1:\d+ as ada@example\.com \(workspace default\)/);
    const store = new ConfigStore(dir);
    const saved = store.load()!;
    expect(saved).toMatchObject({
      url: gw.url,
      token: USER.token,
      email: USER.email,
      workspace: { id: 'w_1', name: 'default' },
    });
    expect(saved.caPem).toBe(gw.tls.caPem);
    expect(saved.caFingerprint).toBe(fingerprintOf(gw.tls.caPem));
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
  });

  it('security: refuses when --ca-fingerprint does not match the served CA, and saves nothing', async () => {
    const msg = await failure(scriptedLogin(gw.url, 'AB'.repeat(32)));
    expect(msg).toMatch(/CA FINGERPRINT MISMATCH/);
    expect(new ConfigStore(dir).load()).toBeUndefined();
    expect(gw.requests).not.toContain('POST /api/v1/auth/login');
  });

  it('security: without a terminal and without --ca-fingerprint, refuses and says to pass it', async () => {
    const stdin = new PassThrough();
    stdin.end('pw\n');
    const msg = await failure(login(context(stdin).ctx, gw.url, { email: USER.email, passwordStdin: true }));
    expect(msg).toMatch(/pass --ca-fingerprint/);
  });

  it('reuses the CA pinned for the same URL silently on the next login', async () => {
    await scriptedLogin();
    const stdin = new PassThrough();
    stdin.end(USER.password);
    await login(context(stdin).ctx, gw.url, { email: USER.email, passwordStdin: true });
    expect(new ConfigStore(dir).load()!.token).toBe(USER.token);
  });

  it('security: refuses when the gateway at a pinned URL serves a different CA', async () => {
    await scriptedLogin();
    const impostor = await startFakeGateway(makeTls('Impostor CA'));
    try {
      // Pretend the impostor answers at the pinned URL.
      const store = new ConfigStore(dir);
      store.save({ ...store.load()!, url: impostor.url });
      const stdin = new PassThrough();
      stdin.end(USER.password);
      const msg = await failure(login(context(stdin).ctx, impostor.url, { email: USER.email, passwordStdin: true }));
      expect(msg).toMatch(/CA HAS CHANGED/);
      expect(impostor.requests).toEqual(['GET /api/v1/ca']);
    } finally {
      await impostor.close();
    }
  });

  it('asks "Trust this CA? [y/N]" on a terminal and reads a hidden password', async () => {
    const stdin = Object.assign(new PassThrough(), {
      isTTY: true,
      isRaw: false,
      setRawMode(m: boolean) {
        stdin.isRaw = m;
        return stdin;
      },
    });
    const c = context(stdin);
    const answered = new Set<string>();
    c.stderr.onText = (text) => {
      const answer = (prompt: string, reply: string) => {
        if (text.includes(prompt) && !answered.has(prompt)) {
          answered.add(prompt);
          setImmediate(() => stdin.write(reply));
        }
      };
      answer('Trust this CA? [y/N]', 'y\r');
      answer('Email: ', `${USER.email}\r`);
      answer('Password: ', `${USER.password}\r`);
    };
    await login(c.ctx, gw.url, {});
    expect(c.stderr.text()).toContain(fingerprintOf(gw.tls.caPem));
    expect(c.stderr.text()).not.toContain(USER.password); // not echoed
    expect(stdin.isRaw).toBe(false); // terminal restored
    expect(new ConfigStore(dir).load()!.token).toBe(USER.token);
  });

  it('explains wrong credentials with the gateway code', async () => {
    const msg = await failure(scriptedLogin(gw.url, fingerprintOf(gw.tls.caPem), 'wrong'));
    expect(msg).toMatch(/^INVALID_CREDENTIALS: Wrong email or password\./);
  });
});

describe('logged-in commands', () => {
  it('says how to log in when there is no session', async () => {
    expect(await failure(serverLs(context().ctx, { output: 'table' }))).toBe('not logged in: run `corral login URL`');
  });

  it('server ls prints an aligned table, and JSON with --output json', async () => {
    await scriptedLogin();
    const t = context();
    await serverLs(t.ctx, { output: 'table' });
    expect(t.stdout.text()).toBe(
      'NAME    STATUS   HEALTH   PLATFORM   ADDRESS   LAST SEEN  TAGS\n' +
        'db-01   offline  unknown  linux/x64  10.0.0.7  12s ago    env=prod,role=web\n' +
        'web-01  online   warning  linux/x64  10.0.0.7  now        env=prod,role=web\n',
    );
    const j = context();
    await serverLs(j.ctx, { output: 'json' });
    expect(JSON.parse(j.stdout.text()).items).toHaveLength(2);
  });

  it('server show prints health, each metric with its current value and a sparkline, and every mount', async () => {
    await scriptedLogin();
    const t = context();
    await serverShow(t.ctx, 'web-01', { output: 'table' });
    const out = t.stdout.text();
    expect(out).toMatch(/^Health: +warning$/m);
    expect(out).toContain('Metrics (last hour, 160 samples; one character per 90 s, newest right):');
    const spark = (label: string) => new RegExp(`^  ${label} .*│(.{40})│$`, 'm').exec(out)?.[1];
    // CPU rose from 0 to 100 %: low on the left, high on the right, blank where the agent was away.
    const cpu = spark('CPU')!;
    expect(cpu[0]).toBe('▁');
    expect(cpu.at(-1)).toBe('█');
    expect(cpu.slice(14, 26)).toMatch(/^ +$/);
    expect(spark('Memory')).toMatch(/^▇+ +▇+$/);
    expect(out).toMatch(/^ {2}CPU +12\.5 %/m);
    expect(out).toMatch(/^ {2}Memory +91\.3 % {2}7\.3 GiB of 8\.0 GiB/m);
    expect(out).toMatch(/^ {2}Disk +45\.0 % {2}\/ \(fullest\)/m);
    expect(out).toMatch(/^ {2}Load +0\.50 0\.40 0\.30/m);
    expect(out).toMatch(/^ {2}Net rx +1\.2 KiB\/s/m);
    expect(out).toMatch(/^ {2}Net tx +310 B\/s/m);
    expect(out).toMatch(/^ {2}\/ +45\.0 % {2}9\.0 GiB of 20\.0 GiB {2}ext4$/m);
    // An agent cannot write escape sequences into the user's terminal through a mount point.
    expect(out).not.toContain('\x1b');
    expect(out).toContain('/srv/\uFFFD[31mdata');

    const j = context();
    await serverShow(j.ctx, 'web-01', { output: 'json' });
    const parsed = JSON.parse(j.stdout.text());
    expect(parsed).toMatchObject({ name: 'web-01', health: 'warning', metrics: { range: '1h', step: 'raw' } });
    expect(gw.requests).toContain('GET /api/v1/servers/web-01/metrics');
  });

  it('server show still works against a gateway without metrics', async () => {
    await scriptedLogin();
    const t = context();
    await serverShow(t.ctx, 'db-01', { output: 'table' });
    expect(t.stdout.text()).toMatch(/^Health: +-$/m);
    expect(t.stdout.text()).toContain('Metrics: this gateway does not report metrics');
  });

  it('server show explains an unknown name with what to do next', async () => {
    await scriptedLogin();
    const msg = await failure(serverShow(context().ctx, 'nope', { output: 'table' }));
    expect(msg).toBe('SERVER_NOT_FOUND: No such server. (run `corral server ls` to see the server names)');
  });

  it('a revoked token reads as "session expired or revoked: run `corral login URL` again"', async () => {
    await scriptedLogin();
    gw.revoked.add(USER.token);
    const msg = await failure(whoami(context().ctx, { output: 'table' }));
    expect(msg).toBe(`session expired or revoked: run \`corral login ${gw.url}\` again`);
  });

  it('logout tells the gateway and forgets the token, keeping the pinned CA', async () => {
    await scriptedLogin();
    await logout(context().ctx);
    expect(gw.requests).toContain('POST /api/v1/auth/logout');
    const saved = new ConfigStore(dir).load()!;
    expect(saved.token).toBeNull();
    expect(saved.caPem).toBe(gw.tls.caPem);
  });

  it('logout forgets the token even when the gateway cannot be reached', async () => {
    await scriptedLogin();
    const store = new ConfigStore(dir);
    store.save({ ...store.load()!, url: 'https://127.0.0.1:1' });
    const c = context();
    await logout(c.ctx);
    expect(store.load()!.token).toBeNull();
    expect(c.stderr.text()).toMatch(/did not confirm the logout/);
  });
});

describe('corral websh through the fake gateway (TLS, POST, WebSocket upgrade)', () => {
  it("runs a command: output to stdout, exit code back, the upgrade reuses the POST's TLS connection", async () => {
    await scriptedLogin();
    gw.connections = 0;
    const stdin = new PassThrough();
    stdin.end();
    const c = context(stdin);
    gw.channel = (sock) => {
      sock.send(JSON.stringify({ type: 'ready', sessionId: 'ws_1' }));
      sock.on('message', (d, isBinary) => {
        if (!isBinary && JSON.parse(d.toString()).type === 'eof') {
          sock.send(Buffer.from('done\n'), { binary: true });
          sock.send(JSON.stringify({ type: 'exit', code: 7, signal: null }));
          sock.close(1000);
        }
      });
    };
    const code = await websh(c.ctx, 'web-01', ['echo', 'hi'], {});
    expect(c.stderr.text()).toBe('');
    expect(c.stdout.text()).toBe('done\n');
    expect(code).toBe(7);
    expect(gw.requests.slice(-2)).toEqual(['POST /api/v1/servers/web-01/websh', 'UPGRADE /api/v1/channels/ch_1']);
    // The keep-alive agent hands the POST's connection to the upgrade when it is free in time.
    expect(gw.connections).toBeGreaterThanOrEqual(1);
    expect(gw.connections).toBeLessThanOrEqual(2);
  });

  it('exits 255 with the gateway reason when the server is offline', async () => {
    await scriptedLogin();
    const c = context();
    expect(await websh(c.ctx, 'db-01', ['true'], {})).toBe(255);
    expect(c.stderr.text()).toMatch(/SERVER_OFFLINE: The server is offline/);
  });

  it('exits 255 and says why when the channel closes without an exit status', async () => {
    await scriptedLogin();
    gw.channel = (sock) => sock.close(4410, 'agent disconnected');
    const stdin = new PassThrough();
    stdin.end();
    const c = context(stdin);
    expect(await websh(c.ctx, 'web-01', ['sleep', '9'], {})).toBe(255);
    expect(c.stderr.text()).toBe(
      'corral: connection to web-01 closed without an exit status: 4410 peer went away (agent disconnected)\n',
    );
  });

  it('refuses an interactive session without a terminal', async () => {
    await scriptedLogin();
    const c = context();
    expect(await websh(c.ctx, 'web-01', [], {})).toBe(255);
    expect(c.stderr.text()).toMatch(/needs a terminal/);
  });
});
