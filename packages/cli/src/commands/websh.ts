import { createRequire } from 'node:module';
import type * as WsModule from 'ws';
import type { ClientOptions, WebSocket } from 'ws';
import { ApiClient } from '../api-client.js';
import { println, type CliContext } from '../context.js';
import { ApiError, CliError, describeError, sessionExpired } from '../errors.js';
import { requireLogin } from './common.js';
import { describeClose, EXIT_UNKNOWN, exitStatus } from '../websh/exit-code.js';
import { runSession, type SessionEnd, type StdinMode } from '../websh/session.js';
import { RawTerminal, refreshTerminalSize, terminalSize, watchResize } from '../websh/terminal.js';
import { MAX_DATA_FRAME_BYTES, OS_USER_RE, parseWebshOpen } from '../websh/wire.js';

/**
 * `corral websh SERVER [-u USER] [-t] [-- CMD ...]`: a terminal or a command on a server, like ssh.
 *
 * The hot path is kept short on purpose (`corral websh HOST -- true` is benchmarked against ssh):
 * read config.json, one POST, one WebSocket upgrade over the same keep-alive agent (so the TLS
 * connection is reused when the gateway keeps it open), and no zod anywhere on the way.
 * Every failure exits with 255, as ssh does, so that scripts can tell it from the command's own status.
 */

export interface WebshOptions {
  user?: string;
  tty?: boolean;
  workSession?: string;
  /** Run as root (privilege elevation: the feature in a work session and a fresh step-up). */
  root?: boolean;
  /** Without a covering work session, request one (reason, duration) and wait for approval. */
  request?: boolean;
  reason?: string;
  duration?: string;
}

/** Largest message accepted from the gateway: a 1 MiB data frame plus room (2 MiB). */
export const WS_MAX_PAYLOAD = 2 * MAX_DATA_FRAME_BYTES;

/** How a websh call uses the terminal, from the arguments and what stdin is. */
export function planSession(
  command: string[],
  tty: boolean,
  stdinIsTty: boolean,
): { pty: boolean; stdinMode: StdinMode } {
  if (command.length === 0) return { pty: true, stdinMode: 'raw' };
  if (stdinIsTty) return { pty: tty, stdinMode: tty ? 'raw' : 'none' };
  return { pty: tty, stdinMode: 'pipe' };
}

/** The ws module, loaded only here (it costs ~30 ms; CommonJS require is quicker than its ESM wrapper). */
function loadWs(): typeof WsModule {
  return createRequire(import.meta.url)('ws') as typeof WsModule;
}

/** Run websh; resolves with the exit status for the process. Prints its own errors. */
export async function websh(ctx: CliContext, server: string, command: string[], opts: WebshOptions): Promise<number> {
  try {
    return await webshInner(ctx, server, command, opts);
  } catch (err) {
    println(ctx.stderr, `corral: ${describeError(err).message}`);
    return EXIT_UNKNOWN;
  }
}

async function webshInner(ctx: CliContext, server: string, command: string[], opts: WebshOptions): Promise<number> {
  if (command.length === 0 && !ctx.stdin.isTTY) {
    throw new CliError(
      'an interactive websh needs a terminal on stdin: to run a command, use `corral websh SERVER -- COMMAND`',
    );
  }
  if (opts.user !== undefined && !OS_USER_RE.test(opts.user)) {
    throw new CliError(`"${opts.user}" is not a valid OS user name`);
  }
  const plan = planSession(command, Boolean(opts.tty), Boolean(ctx.stdin.isTTY));
  const config = requireLogin(ctx);

  if (opts.root && opts.user !== undefined && opts.user !== 'root') {
    throw new CliError('--root and -u name different accounts: give one of them');
  }
  const body: Record<string, unknown> = { pty: plan.pty };
  if (opts.user !== undefined) body.osUser = opts.user;
  if (opts.root) body.osUser = 'root';
  if (opts.workSession !== undefined) body.workSessionId = opts.workSession;
  if (command.length > 0) body.command = command;
  const initialSize = terminalSize(ctx.stdout);
  if (plan.pty) {
    Object.assign(body, initialSize);
    if (ctx.term) body.term = ctx.term.slice(0, 64);
  }

  const api = new ApiClient({ baseUrl: config.url, caPem: config.caPem, token: config.token });
  const terminal = new RawTerminal(ctx.stdin);
  let ws: WebSocket | undefined;
  try {
    // Load ws (~20 ms) while the gateway works on the request, not before sending it.
    let wsModule: typeof WsModule | undefined;
    let wsLoadError: unknown;
    const preloadWs = (): void => {
      try {
        wsModule ??= loadWs();
      } catch (err) {
        wsLoadError = err;
      }
    };
    let open;
    try {
      open = await api.request('POST', `/api/v1/servers/${encodeURIComponent(server)}/websh`, {
        body,
        parse: parseWebshOpen,
        onSent: preloadWs,
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') throw sessionExpired(config.url);
      if (err instanceof ApiError && err.code === 'STEP_UP_REQUIRED' && ctx.stdin.isTTY) {
        // Ask for the second factor (or the password) here, step up, and try once more.
        const { stepUpWithFactor } = await import('./second-factor.js');
        println(ctx.stderr, 'Root needs a fresh proof that it is you (step-up).');
        await stepUpWithFactor(ctx, api, { email: config.email, url: config.url }, {});
        open = await api.request('POST', `/api/v1/servers/${encodeURIComponent(server)}/websh`, {
          body,
          parse: parseWebshOpen,
          onSent: preloadWs,
        });
      } else if (err instanceof ApiError && err.code === 'WORK_SESSION_REQUIRED' && !opts.request) {
        throw new ApiError(
          err.status,
          err.code,
          `${err.message}\n  or file it and wait from here: corral websh ${server} --request --reason "..."`,
        );
      } else if (err instanceof ApiError && err.code === 'WORK_SESSION_REQUIRED') {
        // --request: file the request, wait for the decision, then open under the approved session.
        const { requestAndWait } = await import('./work-session-flow.js');
        body.workSessionId = await requestAndWait(ctx, api, server, opts);
        open = await api.request('POST', `/api/v1/servers/${encodeURIComponent(server)}/websh`, {
          body,
          parse: parseWebshOpen,
          onSent: preloadWs,
        });
      } else throw err;
    }
    preloadWs();
    if (!wsModule) throw wsLoadError;
    const WebSocketCtor = wsModule.WebSocket;

    const url = config.url.replace(/^https:/, 'wss:') + open.path;
    const wsOptions: ClientOptions = {
      ca: config.caPem,
      minVersion: 'TLSv1.3',
      agent: api.agent,
      perMessageDeflate: false,
      maxPayload: WS_MAX_PAYLOAD,
      handshakeTimeout: 30_000,
    };
    ws = new WebSocketCtor(url, wsOptions);

    const end: SessionEnd = await runSession(ws, ctx, {
      stdinMode: plan.stdinMode,
      ...(plan.pty && ctx.stdout.isTTY
        ? {
            resize: {
              subscribe: (cb: () => void) => watchResize(ctx.stdout, cb),
              size: () => {
                refreshTerminalSize(ctx.stdout); // may emit 'resize' and so send it right here
                return terminalSize(ctx.stdout);
              },
              initial: initialSize,
            },
          }
        : {}),
      onStart: () => {
        if (plan.stdinMode === 'raw') terminal.enter();
      },
    });
    terminal.restore();
    return reportEnd(ctx, server, end);
  } finally {
    terminal.restore();
    if (ws && ws.readyState !== ws.CLOSED) ws.terminate();
    api.close();
  }
}

/** Print what the user needs to know about how the session ended; return the exit status. */
export function reportEnd(ctx: Pick<CliContext, 'stderr'>, server: string, end: SessionEnd): number {
  switch (end.kind) {
    case 'exit':
      return exitStatus(end.code, end.signal);
    case 'closed':
      // An error frame was already printed; the close code adds nothing then.
      if (!end.error) {
        println(
          ctx.stderr,
          `corral: connection to ${server} closed without an exit status: ${describeClose(end.code, end.reason)}`,
        );
      }
      return EXIT_UNKNOWN;
    case 'failed':
      println(ctx.stderr, `corral: ${end.message}`);
      return EXIT_UNKNOWN;
  }
}
