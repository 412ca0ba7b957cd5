import { Terminal, type ITheme } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { api, ApiError } from '../api/client';
import { effectiveTheme } from '../theme';

/**
 * One browser terminal: an xterm.js Terminal bridged to a channel socket.
 *
 *   POST /api/v1/servers/N/websh {cols, rows} -> {path}
 *   WSS path:  binary frames = terminal bytes (both ways), text frames = JSON control
 *              (ready, exit, error, notice, resize, ping/pong)
 *
 * States: opening -> (needs-work-session | needs-step-up -> opening) -> connecting -> live -> ended.
 * A dropped connection (live -> reconnecting) re-attaches by itself: the agent keeps the terminal for a
 * while (`sessionPersistSeconds`, 10 min by default) and replays its screen.
 *
 * How a tab begins: `open` (a new shell), `attach` (my terminal kept on the server), `join` (a terminal
 * shared with me, maybe by a link) or `watch` (staff, read-only).
 * It lives outside React (a store keeps the tabs) so that leaving the terminal page keeps it running.
 */
export type TermState =
  | { kind: 'opening' }
  | { kind: 'needs-work-session'; message: string }
  | { kind: 'needs-step-up'; message: string }
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; attempt: number; message: string }
  | { kind: 'ended'; reason: string; tone: 'info' | 'error' };

const LIGHT: ITheme = {
  background: '#fbfbfd',
  foreground: '#1d2030',
  cursor: '#1d2030',
  selectionBackground: '#b5d0ff',
  black: '#1d2030',
  brightBlack: '#5c6370',
  white: '#d0d4de',
  brightWhite: '#ffffff',
  blue: '#1f5bd1',
  green: '#1d7a33',
  red: '#c22f2f',
  yellow: '#8a6100',
  magenta: '#8c3fb3',
  cyan: '#0f7a8a',
};
const DARK: ITheme = {
  background: '#11131a',
  foreground: '#d8dbe4',
  cursor: '#d8dbe4',
  selectionBackground: '#3a4a6b',
};

export function xtermTheme(): ITheme {
  return effectiveTheme() === 'dark' ? DARK : LIGHT;
}

/** What the end of a session means for its user, from the error code or close code. */
export function endReason(code: string | null, message: string | null, closeCode?: number): string {
  switch (code) {
    case 'WORK_SESSION_EXPIRED':
      return `Your work session expired, so the terminal was closed. Request a new work session to go on. ${message ?? ''}`.trim();
    case 'WORK_SESSION_REVOKED':
      return `Your work session was revoked. ${message ?? ''}`.trim();
    case 'WORK_SESSION_ENDED':
      return `The work session no longer covers this server. ${message ?? ''}`.trim();
    case 'SESSION_TERMINATED':
      return `The session was terminated by an administrator. ${message ?? ''}`.trim();
    case 'ACCESS_REVOKED':
      return `Your access to this server was removed. ${message ?? ''}`.trim();
    case 'SERVER_OFFLINE':
      return 'The server went offline.';
  }
  if (code) return `${message ?? 'The session ended'} (${code})`;
  if (closeCode === 1006) return 'The connection to the gateway was lost.';
  if (closeCode === 1001) return 'The gateway is restarting; open a new terminal in a moment.';
  return message ?? 'The session ended.';
}

let nextId = 1;

export type TerminalStart =
  | { kind: 'open' }
  | { kind: 'attach'; sessionId: string }
  | { kind: 'join'; sessionId: string; link?: string }
  | { kind: 'watch'; sessionId: string };

/** Delays before each re-attach attempt after a dropped connection (then it gives up). */
const RECONNECT_DELAYS_MS = [250, 1000, 2000, 4000, 8000, 15000, 30000, 30000];

export class TerminalSession {
  readonly id = `t${nextId++}`;
  readonly term: Terminal;
  readonly element: HTMLDivElement;
  state: TermState = { kind: 'opening' };
  /** Round trip of the last ping, in milliseconds. */
  latencyMs: number | null = null;
  sessionId: string | null = null;
  /** Work session to open under (set after the prompt created one). */
  workSessionId: string | undefined;
  #fit = new FitAddon();
  #ws: WebSocket | null = null;
  #pinger: ReturnType<typeof setInterval> | null = null;
  #listeners = new Set<() => void>();
  #disposers: (() => void)[] = [];
  #encoder = new TextEncoder();
  #endCode: string | null = null;
  #endMessage: string | null = null;

  /** Read-only tabs (watching, or a read-only share) send no keystrokes. */
  readOnly = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #disposed = false;

  constructor(
    readonly server: string,
    readonly osUser: string | undefined,
    readonly start: TerminalStart = { kind: 'open' },
  ) {
    if (start.kind !== 'open') this.sessionId = start.sessionId;
    this.element = document.createElement('div');
    this.element.className = 'xterm-host';
    this.term = new Terminal({
      cursorBlink: true,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      scrollback: 5000,
      theme: xtermTheme(),
      screenReaderMode: false,
    });
    this.term.loadAddon(this.#fit);
    // Tab belongs to the shell, so keyboard users leave the terminal with F6 (the browsers' "next pane").
    this.term.attachCustomKeyEventHandler((e) => {
      if (e.key !== 'F6') return true;
      if (e.type === 'keydown') {
        e.preventDefault();
        document.querySelector<HTMLElement>('[role="tab"][aria-selected="true"]')?.focus();
      }
      return false;
    });
    this.term.open(this.element);
    const data = this.term.onData((d) => this.#send(this.#encoder.encode(d)));
    const bin = this.term.onBinary((d) => this.#send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
    const resize = this.term.onResize(({ cols, rows }) => {
      if (!this.readOnly) this.#control({ type: 'resize', cols, rows });
    });
    const theme = () => (this.term.options.theme = xtermTheme());
    window.addEventListener('corral-theme', theme);
    this.#disposers.push(
      () => data.dispose(),
      () => bin.dispose(),
      () => resize.dispose(),
      () => window.removeEventListener('corral-theme', theme),
    );
  }

  get label(): string {
    const base = this.osUser ? `${this.osUser}@${this.server}` : this.server;
    return this.start.kind === 'watch' ? `${base} (watching)` : this.readOnly ? `${base} (read-only)` : base;
  }

  subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };
  #changed(): void {
    for (const fn of this.#listeners) fn();
  }
  #setState(s: TermState): void {
    this.state = s;
    this.#changed();
  }

  /** Fit the terminal to its element (call when it is visible and its size changed). */
  fit(): void {
    if (this.element.isConnected && this.element.clientWidth > 0) {
      try {
        this.#fit.fit();
      } catch {
        /* not rendered yet */
      }
    }
  }

  /** Start over after the end: a new shell for a tab that opened one, the same call for the others. */
  restart(): Promise<void> {
    if (this.start.kind === 'open') this.sessionId = null;
    this.term.reset();
    return this.open();
  }

  /** Ask for a channel and connect; a needed work session or step-up becomes a state the page prompts for. */
  async open(): Promise<void> {
    this.#setState({ kind: 'opening' });
    this.fit();
    try {
      const r = await this.#request();
      this.sessionId = r.sessionId;
      if (r.mode === 'read') this.readOnly = true;
      this.#connect(r.path);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'WORK_SESSION_REQUIRED')
        return this.#setState({ kind: 'needs-work-session', message: err.message });
      if (err instanceof ApiError && err.code === 'STEP_UP_REQUIRED')
        return this.#setState({ kind: 'needs-step-up', message: err.message });
      this.#setState({
        kind: 'ended',
        tone: 'error',
        reason: err instanceof ApiError ? `${err.message} (${err.code})` : String(err),
      });
    }
  }

  /** The call that hands out a channel for this tab's kind. */
  #request(): Promise<{ sessionId: string; path: string; mode?: 'read' | 'write' }> {
    const size = { cols: this.term.cols, rows: this.term.rows };
    const id = this.sessionId ? encodeURIComponent(this.sessionId) : '';
    switch (this.start.kind) {
      case 'attach':
        return api.post(`/api/v1/websh/sessions/${id}/attach`, size);
      case 'join':
        return api.post(`/api/v1/websh/sessions/${id}/join`, this.start.link ? { link: this.start.link } : {});
      case 'watch':
        this.readOnly = true;
        return api.post(`/api/v1/websh/sessions/${id}/watch`);
      default:
        return api.post(`/api/v1/servers/${encodeURIComponent(this.server)}/websh`, {
          ...size,
          term: 'xterm-256color',
          ...(this.osUser ? { osUser: this.osUser } : {}),
          ...(this.workSessionId ? { workSessionId: this.workSessionId } : {}),
        });
    }
  }

  /** Re-attach after a dropped connection, with growing delays; gives up when the terminal is gone. */
  #reconnect(attempt: number, why: string): void {
    if (this.#disposed) return;
    const canReattach = this.start.kind === 'open' || this.start.kind === 'attach';
    const delay = RECONNECT_DELAYS_MS[attempt];
    if (!canReattach || !this.sessionId || delay === undefined) {
      const reason = canReattach ? `${why} Re-attaching failed; open a new terminal.` : why;
      this.term.write(`\r\n\x1b[2m[${reason}]\x1b[0m\r\n`);
      return this.#setState({ kind: 'ended', reason, tone: 'error' });
    }
    this.#setState({ kind: 'reconnecting', attempt: attempt + 1, message: why });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      const id = encodeURIComponent(this.sessionId!);
      api
        .post<{ sessionId: string; path: string }>(`/api/v1/websh/sessions/${id}/attach`, {
          cols: this.term.cols,
          rows: this.term.rows,
        })
        .then((r) => this.#connect(r.path))
        .catch((err: unknown) => {
          if (err instanceof ApiError && err.status > 0 && err.status < 500) {
            const reason =
              err.code === 'SESSION_NOT_PERSISTENT'
                ? 'The connection was lost, and this terminal does not outlive a dropped connection.'
                : err.code === 'SESSION_ENDED' || err.code === 'SESSION_NOT_FOUND'
                  ? 'The connection was lost and the terminal has ended meanwhile.'
                  : `Could not re-attach: ${err.message} (${err.code})`;
            this.term.write(`\r\n\x1b[2m[${reason}]\x1b[0m\r\n`);
            return this.#setState({ kind: 'ended', reason, tone: 'error' });
          }
          this.#reconnect(attempt + 1, why);
        });
    }, delay);
  }

  #connect(path: string): void {
    this.#setState({ kind: 'connecting' });
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${window.location.host}${path}`);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#endCode = null;
    this.#endMessage = null;
    let exited = false;
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        this.term.write(new Uint8Array(ev.data as ArrayBuffer));
        return;
      }
      let msg: { type?: string; [k: string]: unknown };
      try {
        msg = JSON.parse(ev.data) as typeof msg;
      } catch {
        return;
      }
      switch (msg.type) {
        case 'ready':
          this.#setState({ kind: 'live' });
          this.fit();
          if (!this.readOnly) this.#control({ type: 'resize', cols: this.term.cols, rows: this.term.rows });
          this.#ping();
          this.#pinger = setInterval(() => this.#ping(), 5000);
          if (this.readOnly) this.term.options.disableStdin = true;
          this.term.focus();
          break;
        case 'pong':
          if (typeof msg.ts === 'number') {
            this.latencyMs = Math.max(0, Date.now() - msg.ts);
            this.#changed();
          }
          break;
        case 'ping':
          this.#control({ type: 'pong', ts: msg.ts });
          break;
        case 'notice':
          this.term.write(`\r\n\x1b[33m[corral] ${String(msg.message)}\x1b[0m\r\n`);
          break;
        case 'exit':
          exited = true;
          this.#endCode = null;
          this.#endMessage =
            msg.signal != null
              ? `The shell ended (signal ${String(msg.signal)}).`
              : `The shell exited with code ${String(msg.code)}.`;
          break;
        case 'error':
          this.#endCode = String(msg.code);
          this.#endMessage = String(msg.message);
          break;
      }
    };
    ws.onclose = (ev) => {
      this.#stopPinging();
      this.#ws = null;
      // A drop (no close frame: 1006) or the gateway going away (1001) without an exit or error first:
      // the terminal is still there on the server, re-attach to it.
      if (!exited && !this.#endCode && (ev.code === 1006 || ev.code === 1001) && this.state.kind === 'live') {
        return this.#reconnect(0, 'The connection to the gateway was lost.');
      }
      if (ev.code === 4412 && !this.#endCode) {
        const reason = 'This terminal was attached somewhere else (another tab or the CLI). It goes on there.';
        this.term.write(`\r\n\x1b[2m[${reason}]\x1b[0m\r\n`);
        return this.#setState({ kind: 'ended', reason, tone: 'info' });
      }
      const reason = endReason(this.#endCode, this.#endMessage ?? (ev.reason || null), ev.code);
      const tone = this.#endCode ? 'error' : ev.code === 1000 ? 'info' : 'error';
      this.term.write(`\r\n\x1b[2m[${reason}]\x1b[0m\r\n`);
      this.#setState({ kind: 'ended', reason, tone });
    };
  }

  #ping(): void {
    this.#control({ type: 'ping', ts: Date.now() });
  }
  #stopPinging(): void {
    if (this.#pinger) clearInterval(this.#pinger);
    this.#pinger = null;
  }
  #send(bytes: Uint8Array): void {
    if (this.#ws?.readyState === WebSocket.OPEN && this.state.kind === 'live' && !this.readOnly) this.#ws.send(bytes);
  }
  #control(msg: unknown): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(msg));
  }

  /** Close the socket (the shell gets a hangup) and free the terminal. */
  dispose(): void {
    this.#disposed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#stopPinging();
    if (this.#ws) {
      this.#ws.onclose = null;
      this.#ws.close(1000);
    }
    for (const d of this.#disposers.splice(0)) d();
    this.term.dispose();
    this.element.remove();
    this.#listeners.clear();
  }
}
