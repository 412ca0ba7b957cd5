import { WebSocket, type RawData } from 'ws';
import { FilesOpenResponse, FsClient, type FsTransport } from '@corral/protocol';
import { ApiClient } from '../api-client.js';
import type { CliContext } from '../context.js';
import { ApiError, sessionExpired } from '../errors.js';
import { requireLogin } from '../commands/common.js';

/** A file channel to one server, open and ready: the client, and how to close it. */
export interface OpenFiles {
  client: FsClient;
  osUser: string;
  close(): void;
}

function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** FsTransport over a ws WebSocket (Node). */
export function wsTransport(ws: WebSocket): FsTransport {
  // The send callback of the latest frame: once it fires, everything queued before it was written
  // (ws may not emit 'drain' while it queues).
  let flushed: Promise<void> = Promise.resolve();
  return {
    sendText: (t) => ws.send(t),
    sendBinary: (d) => {
      flushed = new Promise((resolve) => ws.send(d, { binary: true }, () => resolve()));
    },
    bufferedAmount: () => ws.bufferedAmount,
    drained: () => flushed,
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
}

/** Attach an FsClient to a socket. */
export function attachClient(ws: WebSocket): FsClient {
  const client = new FsClient(wsTransport(ws));
  ws.on('message', (data, isBinary) => {
    if (isBinary) client.handleBinary(toBytes(data));
    else client.handleText(toBytes(data).toString('utf8'));
  });
  ws.on('close', (code, reason) => client.handleClose(code, reason.toString()));
  ws.on('error', (err) => client.handleClose(1006, err.message));
  return client;
}

/**
 * Open a file channel on `server` as the signed-in user (IAM and a covering work session apply; the
 * gateway's refusal names the request command).
 */
export async function openFiles(
  ctx: CliContext,
  server: string,
  opts: { osUser?: string | undefined; purpose?: 'file_transfer' | 'code_editor'; workSession?: string | undefined },
): Promise<OpenFiles> {
  const config = requireLogin(ctx);
  const api = new ApiClient({ baseUrl: config.url, caPem: config.caPem, token: config.token });
  let open: FilesOpenResponse;
  try {
    open = await api.request('POST', `/api/v1/servers/${encodeURIComponent(server)}/files`, {
      body: {
        ...(opts.osUser ? { osUser: opts.osUser } : {}),
        ...(opts.purpose ? { purpose: opts.purpose } : {}),
        ...(opts.workSession ? { workSessionId: opts.workSession } : {}),
      },
      parse: (x) => FilesOpenResponse.parse(x),
    });
  } catch (err) {
    api.close();
    if (err instanceof ApiError && err.code === 'UNAUTHENTICATED') throw sessionExpired(config.url);
    throw err;
  }
  const ws = new WebSocket(config.url.replace(/^https:/, 'wss:') + open.path, {
    ca: config.caPem,
    minVersion: 'TLSv1.3',
    agent: api.agent,
    perMessageDeflate: false,
    maxPayload: 4 * 1024 * 1024,
    handshakeTimeout: 30_000,
    // An all-zero mask: ws then sends each frame as is instead of copying it into a masked buffer
    // (and the gateway skips unmasking). Masking protects proxies from a browser page's crafted
    // bytes; this is not a browser, and TLS hides the frames from anything in between anyway.
    generateMask: () => {},
  });
  const client = attachClient(ws);
  await client.ready();
  return {
    client,
    osUser: open.osUser,
    close: () => {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'done');
      else ws.terminate();
      api.close();
    },
  };
}
