import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { DeviceAuthorizationResponse, LoginSession } from '@corral/protocol';
import { ApiClient } from '../api-client.js';
import { ConfigStore } from '../config-store.js';
import { ApiError, CliError } from '../errors.js';
import { println, type CliContext } from '../context.js';
import { isValidFingerprint, normalizeGatewayUrl } from '../tls-pin.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { sanitize } from '../format/text.js';
import { pinGatewayCa, saveSession } from './auth.js';

export interface BrowserLoginOptions {
  caFingerprint?: string;
  /** Do not try to open a browser; only print the URL. */
  open?: boolean;
}

/** Try to open `url` in the person's browser; false when there is no opener (no display, no xdg-open). */
function openBrowser(opener: string | undefined, url: string): Promise<boolean> {
  if (!opener) return Promise.resolve(false);
  return new Promise((resolve) => {
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `corral login URL --browser`: sign in in the browser (password, SSO, and whatever the workspace
 * asks for there), then approve this terminal with the code it shows. The CLI polls the gateway at
 * the interval it was given (longer when told SLOW_DOWN) until the sign-in is approved, denied or
 * expired, and saves the session like `corral login`.
 */
export async function loginBrowser(ctx: CliContext, urlInput: string, opts: BrowserLoginOptions): Promise<void> {
  const url = normalizeGatewayUrl(urlInput);
  if (opts.caFingerprint !== undefined && !isValidFingerprint(opts.caFingerprint)) {
    throw new CliError(
      '--ca-fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons allowed (the gateway prints it at start)',
    );
  }
  const store = new ConfigStore(ctx.configDir);
  const existing = store.load();
  const { caPem, served } = await pinGatewayCa(ctx, url, {
    flag: opts.caFingerprint,
    pinned: existing?.url === url ? existing.caFingerprint : undefined,
    interactive: Boolean(ctx.stdin.isTTY),
  });

  const api = new ApiClient({ baseUrl: url, caPem });
  let res: LoginSession;
  try {
    const dev = await api.request('POST', '/api/v1/auth/device', {
      body: { clientName: `corral CLI on ${hostname()}`.slice(0, 100) },
      parse: (v) => DeviceAuthorizationResponse.parse(v),
    });
    println(ctx.stderr, 'To sign in, open this page in a browser, sign in there, and approve the code:');
    println(ctx.stderr, `  ${dev.verificationUrlComplete}`);
    println(ctx.stderr, `  code: ${dev.userCode}`);
    if (opts.open !== false && (await openBrowser(ctx.browserOpener, dev.verificationUrlComplete))) {
      println(ctx.stderr, '(opened in your browser)');
    }
    println(ctx.stderr, `Waiting for approval (the code expires in ${Math.round(dev.expiresIn / 60)} minutes)...`);
    const deadline = ctx.now() + dev.expiresIn * 1000;
    let interval = dev.interval;
    for (;;) {
      await sleep(interval * 1000);
      try {
        res = await api.request('POST', '/api/v1/auth/device/token', {
          body: { deviceCode: dev.deviceCode },
          parse: (v) => LoginSession.parse(v),
        });
        break;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.code === 'AUTHORIZATION_PENDING') {
          if (ctx.now() > deadline) throw expired();
          continue;
        }
        if (err.code === 'SLOW_DOWN') {
          interval += 5;
          continue;
        }
        if (err.code === 'DEVICE_CODE_EXPIRED') throw expired();
        if (err.code === 'DEVICE_DENIED') {
          throw new CliError(
            'the sign-in was denied in the browser: nothing was saved (run corral login --browser again to retry)',
          );
        }
        throw err;
      }
    }
  } finally {
    api.close();
  }
  saveSession(store, url, caPem, served, res);
  println(
    ctx.stdout,
    `Logged in to ${url} as ${sanitize(res.user.email)} (workspace ${sanitize(res.workspace.name)}); ` +
      `the session expires ${relativeTime(res.expiresAt, ctx.now())} (${formatTimestamp(res.expiresAt)}).`,
  );
}

function expired(): CliError {
  return new CliError('the code expired before it was approved: run corral login --browser again');
}
