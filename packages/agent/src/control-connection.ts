import type { KeyObject } from 'node:crypto';
import {
  CLOSE_CODE_DESCRIPTIONS,
  CloseCode,
  DEFAULT_BACKOFF,
  GatewayToAgent,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  initialBackoff,
  nextBackoff,
  resetBackoff,
  typesOf,
  type AgentToGateway,
  type BackoffOptions,
  type BackoffState,
  type SystemInfo,
} from '@corral/protocol';
import { signChallenge } from './agent-keys.js';
import type { Clock, TimerHandle } from './clock.js';
import { controlTransition, type ControlEvent, type ControlState } from './control-state.js';
import type { Logger } from './logger.js';
import type { ControlSocket, ControlSocketFactory } from './socket-factory.js';

/** A decoded `channel.open` frame. */
export type ChannelOpenMessage = Extract<GatewayToAgent, { type: 'channel.open' }>;
/** A decoded `upgrade` frame. */
export type UpgradeFrame = Extract<GatewayToAgent, { type: 'upgrade' }>;
/** A decoded `welcome` frame. */
export type WelcomeMessage = Extract<GatewayToAgent, { type: 'welcome' }>;

const GATEWAY_TYPES = typesOf(GatewayToAgent);

/** Silence after which the connection is declared dead, in ms (PROTOCOL.md: 30 s on both sides). */
export const DEAD_AFTER_MS = 30_000;
/** How long stop() waits for the gateway to answer the close frame, in ms. */
const STOP_TIMEOUT_MS = 2_000;
/** Lower bound for the gateway-chosen ping interval, in ms (a zero interval would spin). */
const MIN_PING_INTERVAL_MS = 1_000;

/** Everything the control connection touches, injected so tests drive it with a fake clock and socket. */
export interface ControlConnectionOptions {
  /** wss URL of `/api/v1/agent/connect`. */
  url: string;
  /**
   * More wss URLs (other gateway nodes). After each lost connection the next URL is tried, so an agent of
   * a killed node lands on another one.
   */
  fallbackUrls?: readonly string[];
  agentId: string;
  /** The agent's Ed25519 private key; signs the challenge. */
  privateKey: KeyObject;
  /** Called for each `hello`, so address changes show up after a reconnect. */
  systemInfo: () => SystemInfo;
  connect: ControlSocketFactory;
  clock: Clock;
  /** Uniform in [0, 1); drives the backoff jitter. */
  random: () => number;
  logger: Logger;
  /** A `channel.open` arrived on an authenticated connection. */
  onChannelOpen: (message: ChannelOpenMessage) => void;
  /** session.close: hang up a kept (persistent) terminal. */
  onSessionClose?: (sessionId: string, reason: string) => void;
  /** exec.start / exec.cancel / exec.ack (multi-server commands). */
  onExec?: (message: Extract<GatewayToAgent, { type: 'exec.start' | 'exec.cancel' | 'exec.ack' }>) => void;
  /** After a successful `welcome`. */
  onWelcome?: (message: WelcomeMessage) => void;
  /** An `upgrade` arrived; announced in hello as the `upgrade` capability only when set. */
  onUpgrade?: (message: UpgradeFrame) => void;
  /** More capabilities to announce in each hello (e.g. `shell-marks`), asked at each connect. */
  capabilities?: () => readonly string[];
  onStateChange?: (state: ControlState) => void;
  /** Default: 1 s doubling to 60 s. */
  backoff?: BackoffOptions;
  /** Default: 30 000 ms. */
  deadAfterMs?: number;
}

/** Human hint for close codes a person can act on. */
function closeHint(code: number | null): string | undefined {
  switch (code) {
    case CloseCode.UNAUTHORIZED:
      return 'agent not known to gateway; re-register?';
    case CloseCode.VERSION_MISMATCH:
      return 'the gateway does not speak this agent protocol version; upgrade the agent';
    case CloseCode.REPLACED:
      return 'another connection of this agent replaced this one; is the agent running twice with one config?';
    case CloseCode.FORBIDDEN:
      return 'the gateway refused this agent (server revoked?)';
    default:
      return code === null ? undefined : CLOSE_CODE_DESCRIPTIONS[code];
  }
}

/** ws requires close reasons of at most 123 bytes. */
function closeReason(reason: string): string {
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

function frameText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/**
 * The agent's one outbound connection to the gateway. Runs the handshake
 * (hello -> challenge -> auth -> welcome), keeps the link alive with pings, hands `channel.open`
 * frames to its owner, and reconnects after any failure with full-jitter backoff (1 s doubling to
 * 60 s, reset after a welcome). Lifecycle: see control-state.ts.
 */
export class ControlConnection {
  readonly #o: ControlConnectionOptions;
  readonly #deadAfterMs: number;
  #state: ControlState = 'idle';
  #socket: ControlSocket | undefined;
  /** Handshake step inside `authenticating`. */
  #awaiting: 'challenge' | 'welcome' | undefined;
  #backoff: BackoffState = initialBackoff;
  #urlIndex = 0;

  /** The URL of the current (or next) attempt. */
  get currentUrl(): string {
    return this.#urlIndex === 0 ? this.#o.url : (this.#o.fallbackUrls?.[this.#urlIndex - 1] ?? this.#o.url);
  }

  /** Index of the current URL: 0 for `url`, i for `fallbackUrls[i-1]`. */
  get urlIndex(): number {
    return this.#urlIndex;
  }
  #lastHeard = 0;
  #pingIntervalMs = 10_000;
  #watchdog: TimerHandle | undefined;
  #pingTimer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: ControlConnectionOptions) {
    this.#o = options;
    this.#deadAfterMs = options.deadAfterMs ?? DEAD_AFTER_MS;
  }

  /** Current lifecycle state. */
  get state(): ControlState {
    return this.#state;
  }

  /** Dial the gateway; from here on the connection keeps itself up until stop(). */
  start(): void {
    this.#move('start');
    this.#connect();
  }

  /**
   * Send a frame on the authenticated connection (e.g. `channel.reject`).
   * @returns false when not connected (the frame is dropped)
   */
  send(message: AgentToGateway): boolean {
    if (this.#state !== 'connected' || !this.#socket) return false;
    return this.#sendRaw(message);
  }

  /** Close with 1001 and stop reconnecting. Resolves once the socket closed (at most ~2 s). Idempotent. */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    const socket = this.#socket;
    this.#detach();
    this.#clear('retry');
    this.#move('stop');
    this.#stopped = new Promise<void>((resolve) => {
      if (!socket) return resolve();
      const timer = this.#o.clock.setTimeout(() => {
        socket.terminate();
        resolve();
      }, STOP_TIMEOUT_MS);
      socket.on('close', () => {
        this.#o.clock.clearTimeout(timer);
        resolve();
      });
      try {
        socket.close(CloseCode.GOING_AWAY, 'agent shutting down');
      } catch {
        socket.terminate();
      }
    });
    return this.#stopped;
  }

  #move(event: ControlEvent): void {
    const next = controlTransition(this.#state, event);
    if (!next.ok) throw new Error(next.error);
    this.#state = next.state;
    this.#o.onStateChange?.(next.state);
  }

  #connect(): void {
    let socket: ControlSocket;
    try {
      socket = this.#o.connect(this.currentUrl);
    } catch (err) {
      this.#lost(null, `cannot open socket: ${(err as Error).message}`);
      return;
    }
    this.#socket = socket;
    this.#awaiting = 'challenge';
    this.#lastHeard = this.#o.clock.now();
    this.#armWatchdog();
    // Every handler ignores events from a socket we already gave up on (terminated, replaced).
    socket.on('open', () => {
      if (socket !== this.#socket) return;
      this.#move('open');
      this.#sendRaw({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentId: this.#o.agentId,
        system: this.#o.systemInfo(),
        ...this.#capabilities(),
      });
    });
    socket.on('message', (data, isBinary) => {
      if (socket === this.#socket) this.#onFrame(data, isBinary);
    });
    socket.on('close', (code, reason) => {
      if (socket === this.#socket) this.#lost(code, reason.toString('utf8'));
    });
    socket.on('error', (err) => {
      // ws follows every 'error' with 'close'; that is where we reconnect.
      if (socket === this.#socket) this.#o.logger.warn('control socket error', { error: err.message });
    });
  }

  /** The hello's `capabilities`: `upgrade` (with onUpgrade), `persist`, and the options' own. */
  #capabilities(): { capabilities: string[] } {
    return {
      capabilities: [...(this.#o.onUpgrade ? ['upgrade'] : []), 'persist', ...(this.#o.capabilities?.() ?? [])],
    };
  }

  #onFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    this.#lastHeard = this.#o.clock.now();
    if (isBinary) return this.#fail(CloseCode.UNSUPPORTED_DATA, 'binary frame on the control connection');
    const decoded = decodeFrame(GatewayToAgent, frameText(data), GATEWAY_TYPES);
    if (!decoded.ok) return this.#fail(decoded.closeCode, decoded.reason);
    const m = decoded.message;
    switch (m.type) {
      case 'challenge':
        if (this.#state !== 'authenticating' || this.#awaiting !== 'challenge') {
          return this.#fail(CloseCode.PROTOCOL_ERROR, 'unexpected challenge');
        }
        this.#awaiting = 'welcome';
        this.#sendRaw({ type: 'auth', signature: signChallenge(this.#o.privateKey, this.#o.agentId, m.nonce) });
        return;
      case 'welcome':
        if (this.#state !== 'authenticating' || this.#awaiting !== 'welcome') {
          return this.#fail(CloseCode.PROTOCOL_ERROR, 'unexpected welcome');
        }
        this.#awaiting = undefined;
        this.#move('welcome');
        this.#backoff = resetBackoff();
        this.#pingIntervalMs = Math.min(
          Math.max(m.pingIntervalMs, MIN_PING_INTERVAL_MS),
          Math.floor(this.#deadAfterMs / 3),
        );
        this.#o.logger.info('connected', { server: m.serverName, serverId: m.serverId, protocol: m.protocolVersion });
        this.#schedulePing();
        this.#o.onWelcome?.(m);
        return;
      case 'ping':
        this.#sendRaw({ type: 'pong', ts: m.ts });
        return;
      case 'pong':
        return; // being heard is all a pong is for
      case 'upgrade':
        if (this.#state !== 'connected' || !this.#o.onUpgrade) {
          return this.#fail(CloseCode.PROTOCOL_ERROR, 'upgrade not announced or before welcome');
        }
        this.#o.onUpgrade(m);
        return;
      case 'channel.open':
        if (this.#state !== 'connected') return this.#fail(CloseCode.PROTOCOL_ERROR, 'channel.open before welcome');
        try {
          this.#o.onChannelOpen(m);
        } catch (err) {
          this.#o.logger.error('channel.open handler failed', { channel: m.channelId, error: (err as Error).message });
        }
        return;
      case 'session.close':
        if (this.#state !== 'connected') return this.#fail(CloseCode.PROTOCOL_ERROR, 'session.close before welcome');
        this.#o.onSessionClose?.(m.sessionId, m.reason);
        return;
      case 'exec.start':
      case 'exec.cancel':
      case 'exec.ack':
        if (this.#state !== 'connected') return this.#fail(CloseCode.PROTOCOL_ERROR, `${m.type} before welcome`);
        try {
          this.#o.onExec?.(m);
        } catch (err) {
          this.#o.logger.error('exec handler failed', { exec: m.execId, error: (err as Error).message });
        }
        return;
    }
  }

  #sendRaw(message: AgentToGateway): boolean {
    try {
      this.#socket?.send(encodeFrame(message));
      return this.#socket !== undefined;
    } catch (err) {
      this.#o.logger.warn('control send failed', { type: message.type, error: (err as Error).message });
      return false;
    }
  }

  /** Close the socket for a protocol violation by the gateway, then reconnect. */
  #fail(code: number, reason: string): void {
    const socket = this.#socket;
    this.#lost(code, reason); // detaches first: the socket's own close event is ignored
    try {
      socket?.close(code, closeReason(reason));
    } catch {
      socket?.terminate();
    }
  }

  /** The current attempt is over (closed by either side, or dead): wait, then dial again. */
  #lost(code: number | null, reason: string): void {
    this.#detach();
    this.#urlIndex = (this.#urlIndex + 1) % (1 + (this.#o.fallbackUrls?.length ?? 0));
    const hint = closeHint(code);
    const level = code === CloseCode.UNAUTHORIZED ? 'error' : 'warn';
    this.#o.logger[level]('disconnected', { code: code ?? undefined, reason: reason || undefined, hint });
    this.#move('lost');
    const { delayMs, state } = nextBackoff(this.#backoff, this.#o.random(), this.#o.backoff ?? DEFAULT_BACKOFF);
    this.#backoff = state;
    this.#o.logger.info('retry', { in_ms: delayMs, attempt: state.attempt });
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#move('retry');
      this.#connect();
    }, delayMs);
  }

  /** Forget the current socket and its timers (its late events are ignored). */
  #detach(): void {
    this.#socket = undefined;
    this.#awaiting = undefined;
    this.#clear('watchdog');
    this.#clear('ping');
  }

  #clear(which: 'watchdog' | 'ping' | 'retry'): void {
    const handle = which === 'watchdog' ? this.#watchdog : which === 'ping' ? this.#pingTimer : this.#retryTimer;
    if (handle !== undefined) this.#o.clock.clearTimeout(handle);
    if (which === 'watchdog') this.#watchdog = undefined;
    else if (which === 'ping') this.#pingTimer = undefined;
    else this.#retryTimer = undefined;
  }

  #schedulePing(): void {
    this.#pingTimer = this.#o.clock.setTimeout(() => {
      this.#pingTimer = undefined;
      this.#sendRaw({ type: 'ping', ts: this.#o.clock.now() });
      this.#schedulePing();
    }, this.#pingIntervalMs);
  }

  /** One timer per connection, re-armed lazily: frames only update #lastHeard. */
  #armWatchdog(): void {
    const due = this.#lastHeard + this.#deadAfterMs - this.#o.clock.now();
    this.#watchdog = this.#o.clock.setTimeout(
      () => {
        this.#watchdog = undefined;
        const silentMs = this.#o.clock.now() - this.#lastHeard;
        if (silentMs < this.#deadAfterMs) return this.#armWatchdog();
        const socket = this.#socket;
        this.#lost(CloseCode.TIMEOUT, `nothing heard from the gateway for ${Math.round(silentMs / 1000)} s`);
        socket?.terminate();
      },
      Math.max(due, 0),
    );
  }
}
