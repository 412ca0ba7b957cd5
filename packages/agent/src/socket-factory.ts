import { WebSocket, type ClientOptions } from 'ws';
import { MAX_CONTROL_FRAME_BYTES, MAX_DATA_FRAME_BYTES } from '@corral/protocol';
import { ConnectProxyAgent, proxyFor } from './proxy.js';

/** Where the agent's proxy settings come from: --proxy / the config, else HTTPS_PROXY and NO_PROXY. */
export interface ProxySettings {
  explicit?: string | undefined;
  httpsProxy?: string | undefined;
  noProxy?: string | undefined;
}

/** An https.Agent tunnelling through the proxy that applies to `url`, or undefined for a direct connection. */
export function proxyAgentFor(url: string, proxy: ProxySettings | undefined): ConnectProxyAgent | undefined {
  const p = proxy ? proxyFor(url.replace(/^wss:/, 'https:'), proxy) : undefined;
  return p ? new ConnectProxyAgent(p) : undefined;
}

/**
 * The slice of a ws client socket the control connection uses; a fake implements it in tests.
 * Events follow ws: 'open', 'message' (data, isBinary), 'close' (code, reason), 'error'.
 */
export interface ControlSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

/** Opens the control socket for a wss:// URL. */
export type ControlSocketFactory = (url: string) => ControlSocket;
/** Opens a channel socket for a wss:// URL (a real ws client: channels need pause/resume and bufferedAmount). */
export type ChannelSocketFactory = (url: string) => WebSocket;

/** Give up on a WebSocket opening handshake after this long, in ms. */
const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * ws options shared by every agent socket:
 * - TLS 1.3 only, verified against the pinned CA (normal host-name checks stay on);
 * - no permessage-deflate (compression cost +1 ms p50 and collapsed throughput);
 * - an all-zero mask: `generateMask` that leaves ws's zeroed buffer alone lets ws skip masking
 *   (+80% pipe throughput). Masking defends browsers' intermediaries; the agent is not a browser.
 */
export function agentSocketOptions(caPem: string, maxPayload: number): ClientOptions {
  return {
    perMessageDeflate: false,
    maxPayload,
    ca: caPem,
    minVersion: 'TLSv1.3',
    generateMask: () => {},
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}

/**
 * Real socket factories trusting only `caPem`, through the proxy that applies to each URL (if any). Control sockets accept frames up to 64 KiB,
 * channel sockets up to 1 MiB (MAX_DATA_FRAME_BYTES).
 */
export function createSocketFactories(
  caPem: string,
  proxy?: ProxySettings,
): { control: ControlSocketFactory; channel: ChannelSocketFactory } {
  const withProxy = (url: string, o: ClientOptions): ClientOptions => {
    const agent = proxyAgentFor(url, proxy);
    return agent ? { ...o, agent } : o;
  };
  return {
    control: (url) => new WebSocket(url, withProxy(url, agentSocketOptions(caPem, MAX_CONTROL_FRAME_BYTES))),
    channel: (url) => {
      const ws = new WebSocket(url, withProxy(url, agentSocketOptions(caPem, MAX_DATA_FRAME_BYTES)));
      ws.binaryType = 'nodebuffer';
      return ws;
    },
  };
}
