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
import { MAX_DATA_FRAME_BYTES, OS_USER_RE, parseWebshOpen, type WebshOpen } from '../websh/wire.js';

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
        // Ask for the password here, step up, and try once more.
        const { promptHidden } = await import('../prompt.js');
        const password = await promptHidden(ctx, `Password for ${config.email ?? 'your account'} (step-up for root): `);
        await api.request('POST', '/api/v1/auth/step-up', { body: { password }, parse: (x) => x });
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
    const persistent = plan.pty && command.length === 0;
    return await drive(ctx, api, config, server, open, {
      ws: wsModule,
      stdinMode: plan.stdinMode,
      pty: plan.pty,
      initialSize,
      terminal,
      reattach: persistent,
    });
  } finally {
    terminal.restore();
    api.close();
  }
}

/** How drive() runs the terminal. */
interface DriveOptions {
  ws: typeof WsModule;
  stdinMode: StdinMode;
  pty: boolean;
  initialSize: { cols: number; rows: number };
  terminal: RawTerminal;
  /** Re-attach by itself when the connection drops (persistent terminals). */
  reattach: boolean;
  inputFilter?: (chunk: Buffer) => Buffer | null | 'leave';
}

/** Close codes after which the terminal is still on the server and worth re-attaching to. */
const REATTACH_ON_CLOSE = new Set([1001, 1006, 1011, 4410]);
/** Errors after which re-attaching cannot work: say why and stop. */
const FINAL_ATTACH_ERRORS = new Set([
  'SESSION_ENDED',
  'SESSION_NOT_FOUND',
  'SESSION_NOT_PERSISTENT',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'WORK_SESSION_REQUIRED',
]);
/** Give up re-attaching after this long (the server keeps a detached terminal 10 minutes by default). */
const REATTACH_GIVE_UP_MS = 10 * 60_000;

function wantsReattach(end: SessionEnd): boolean {
  if (end.kind === 'failed') return end.network === true;
  if (end.kind !== 'closed') return false;
  if (
    end.error &&
    ['SESSION_TERMINATED', 'ACCESS_REVOKED', 'WORK_SESSION_ENDED', 'SESSION_GONE'].includes(end.error.code)
  )
    return false;
  return REATTACH_ON_CLOSE.has(end.code);
}

/**
 * Connect to a channel and run the terminal until it ends. With `reattach`, a dropped connection is
 * followed by re-attaching (backoff with full jitter, 0.5 s doubling to 15 s) until the session comes
 * back, ends, or 10 minutes pass; the agent replays the screen.
 */
export async function drive(
  ctx: CliContext,
  api: ApiClient,
  config: { url: string; caPem: string },
  server: string,
  first: { sessionId: string; path: string },
  o: DriveOptions,
): Promise<number> {
  let open = first;
  for (;;) {
    const url = config.url.replace(/^https:/, 'wss:') + open.path;
    const wsOptions: ClientOptions = {
      ca: config.caPem,
      minVersion: 'TLSv1.3',
      agent: api.agent,
      perMessageDeflate: false,
      maxPayload: WS_MAX_PAYLOAD,
      handshakeTimeout: 30_000,
    };
    const ws: WebSocket = new o.ws.WebSocket(url, wsOptions);
    let end: SessionEnd;
    try {
      end = await runSession(ws, ctx, {
        stdinMode: o.stdinMode,
        ...(o.inputFilter ? { inputFilter: o.inputFilter } : {}),
        ...(o.pty && ctx.stdout.isTTY
          ? {
              resize: {
                subscribe: (cb: () => void) => watchResize(ctx.stdout, cb),
                size: () => {
                  refreshTerminalSize(ctx.stdout); // may emit 'resize' and so send it right here
                  return terminalSize(ctx.stdout);
                },
                initial: o.initialSize,
              },
            }
          : {}),
        onStart: () => {
          if (o.stdinMode === 'raw') o.terminal.enter();
        },
      });
    } finally {
      if (ws.readyState !== ws.CLOSED) ws.terminate();
    }
    o.terminal.restore();
    if (!o.reattach || !wantsReattach(end)) return reportEnd(ctx, server, end);
    const why = end.kind === 'closed' ? describeClose(end.code, end.reason) : end.kind === 'failed' ? end.message : '';
    println(
      ctx.stderr,
      `\r\ncorral: connection lost (${why}); re-attaching session ${open.sessionId}... (Ctrl-C gives up)`,
    );
    const next = await reattachWithBackoff(ctx, api, open.sessionId);
    if (!next) return EXIT_UNKNOWN;
    open = next;
  }
}

async function reattachWithBackoff(ctx: CliContext, api: ApiClient, sessionId: string): Promise<WebshOpen | null> {
  const started = Date.now();
  let ceiling = 500;
  for (let attempt = 1; ; attempt++) {
    await new Promise((r) => setTimeout(r, Math.random() * ceiling));
    ceiling = Math.min(ceiling * 2, 15_000);
    try {
      const size = terminalSize(ctx.stdout);
      return await api.request('POST', `/api/v1/websh/sessions/${encodeURIComponent(sessionId)}/attach`, {
        body: size,
        parse: parseWebshOpen,
      });
    } catch (err) {
      if (err instanceof ApiError && FINAL_ATTACH_ERRORS.has(err.code)) {
        println(ctx.stderr, `corral: cannot re-attach: ${describeError(err).message}`);
        return null;
      }
      if (Date.now() - started > REATTACH_GIVE_UP_MS) {
        println(ctx.stderr, `corral: gave up re-attaching after ${attempt} attempts: ${describeError(err).message}`);
        println(ctx.stderr, `corral: if the server still keeps it: corral websh attach ${sessionId}`);
        return null;
      }
      if (attempt === 1 || attempt % 5 === 0) {
        println(ctx.stderr, `corral: still re-attaching (attempt ${attempt}): ${describeError(err).message}`);
      }
    }
  }
}

/** Load ws and a client for the saved login; shared by attach, join and watch. */
function sessionClient(
  ctx: CliContext,
  needTty: boolean,
): {
  api: ApiClient;
  config: ReturnType<typeof requireLogin>;
  wsModule: typeof WsModule;
} {
  if (needTty && !ctx.stdin.isTTY) throw new CliError('this needs a terminal on stdin');
  const config = requireLogin(ctx);
  const api = new ApiClient({ baseUrl: config.url, caPem: config.caPem, token: config.token });
  return { api, config, wsModule: loadWs() };
}

/** `corral websh attach ID`: my detached (or attached elsewhere) terminal, here. */
export async function webshAttach(ctx: CliContext, sessionId: string): Promise<number> {
  try {
    const { api, config, wsModule } = sessionClient(ctx, true);
    const terminal = new RawTerminal(ctx.stdin);
    try {
      const initialSize = terminalSize(ctx.stdout);
      const open = await api.request('POST', `/api/v1/websh/sessions/${encodeURIComponent(sessionId)}/attach`, {
        body: initialSize,
        parse: parseWebshOpen,
      });
      return await drive(ctx, api, config, sessionId, open, {
        ws: wsModule,
        stdinMode: 'raw',
        pty: true,
        initialSize,
        terminal,
        reattach: true,
      });
    } finally {
      terminal.restore();
      api.close();
    }
  } catch (err) {
    println(ctx.stderr, `corral: ${describeError(err).message}`);
    return EXIT_UNKNOWN;
  }
}

/** Ctrl-] leaves a joined or watched session (as in telnet); the session goes on. */
const LEAVE_KEY = 0x1d;

/** `corral websh join ID [--link TOKEN]` and `corral websh watch ID`: someone else's terminal. */
export async function webshJoin(
  ctx: CliContext,
  sessionId: string,
  opts: { link?: string; watch?: boolean },
): Promise<number> {
  try {
    // Without a terminal, the session is just printed (a read-only transcript, e.g. into a file).
    const { api, config, wsModule } = sessionClient(ctx, false);
    const terminal = new RawTerminal(ctx.stdin);
    try {
      const path = `/api/v1/websh/sessions/${encodeURIComponent(sessionId)}/${opts.watch ? 'watch' : 'join'}`;
      const joined = await api.request('POST', path, {
        body: opts.watch ? {} : opts.link ? { link: opts.link } : {},
        parse: (v) => {
          const o = parseWebshOpen(v);
          const mode = (v as { mode?: unknown }).mode === 'write' ? 'write' : 'read';
          return { ...o, mode } as WebshOpen & { mode: 'read' | 'write' };
        },
      });
      println(
        ctx.stderr,
        `corral: ${opts.watch ? 'watching' : 'joined'} ${sessionId} ${joined.mode === 'write' ? 'read-write' : 'read-only'}; Ctrl-] leaves (the session goes on)`,
      );
      return await drive(ctx, api, config, sessionId, joined, {
        ws: wsModule,
        stdinMode: ctx.stdin.isTTY ? 'raw' : 'none',
        pty: false, // the owner's window size rules
        initialSize: terminalSize(ctx.stdout),
        terminal,
        reattach: false,
        inputFilter: (chunk) => {
          if (chunk.includes(LEAVE_KEY)) return 'leave';
          return joined.mode === 'write' ? chunk : null;
        },
      });
    } finally {
      terminal.restore();
      api.close();
    }
  } catch (err) {
    println(ctx.stderr, `corral: ${describeError(err).message}`);
    return EXIT_UNKNOWN;
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
    case 'left':
      println(ctx.stderr, '\r\ncorral: left the session (it goes on).');
      return 0;
  }
}
