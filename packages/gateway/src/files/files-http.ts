import { PassThrough } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { FsClient, FsClientError, type FsTransport } from '@corral/protocol';
import type { Principal } from '../auth/principal.js';
import type { Services } from '../services.js';
import { CorralError, type ErrorCode } from '../errors.js';
import type { FilePurpose } from './files-service.js';

/**
 * The browser's file API runs on the same file channels as the CLI: the gateway opens a channel for
 * the request (IAM and work session checked), connects to it over loopback as the user side, and
 * translates between HTTP and the channel. Bytes stream through; nothing is held whole in memory.
 */

function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function transport(ws: WebSocket): FsTransport {
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

const HTTP_OF: Record<string, ErrorCode> = {
  ENOENT: 'FILE_NOT_FOUND',
  ENOTDIR: 'FILE_NOT_FOUND',
  EACCES: 'FILE_PERMISSION_DENIED',
  EPERM: 'FILE_PERMISSION_DENIED',
  EROFS: 'FILE_PERMISSION_DENIED',
  EEXIST: 'FILE_EXISTS',
  ENOTEMPTY: 'FILE_EXISTS',
  ETAG_MISMATCH: 'FILE_CHANGED',
  TOO_LARGE: 'FILE_TOO_LARGE',
};

/** An FsClientError as the API's error. */
export function httpError(err: unknown): Error {
  if (err instanceof FsClientError) {
    const code = HTTP_OF[err.code] ?? (err.code === 'SERVER_OFFLINE' ? 'SERVER_OFFLINE' : 'FILE_OPERATION_FAILED');
    return new CorralError(code, `${err.message} (${err.code})`, { details: { fsCode: err.code } });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export interface FilesCall {
  client: FsClient;
  osUser: string;
  close(): void;
}

/** Open a file channel for `p` on `serverName` and connect to it as the user side. */
export async function openForHttp(
  s: Services,
  localUrl: string,
  caPem: string,
  p: Principal,
  serverName: string,
  osUser: string | undefined,
  purpose: FilePurpose,
  sourceIp: string,
): Promise<FilesCall> {
  const server = await s.servers.getByName(p.workspaceId, serverName);
  await s.iam.require(p, 'files.use', server, sourceIp);
  const ws0 = await s.workSessions.cover(p, server, purpose, undefined, sourceIp);
  const open = await s.files.open(p, server, { osUser, purpose, workSessionId: ws0.id }, sourceIp);
  const tlsOptions: ConnectionOptions = {
    ca: caPem,
    servername: 'localhost',
    // Our own port on loopback: the chain is verified, the name need not match (operator certificates).
    checkServerIdentity: () => undefined,
    minVersion: 'TLSv1.3',
  };
  const ws = new WebSocket(localUrl.replace(/^https:/, 'wss:') + open.path, {
    ...(tlsOptions as ClientOptions),
    perMessageDeflate: false,
    maxPayload: 4 * 1024 * 1024,
    // An all-zero mask: frames go out as they are, uncopied (the gateway talking to itself on
    // loopback, not a browser; masking only protects proxies from a browser page's crafted bytes).
    generateMask: () => {},
  });
  const client = new FsClient(transport(ws));
  ws.on('message', (data, isBinary) => {
    if (isBinary) client.handleBinary(toBytes(data));
    else client.handleText(toBytes(data).toString('utf8'));
  });
  ws.on('close', (code, reason) => client.handleClose(code, reason.toString()));
  ws.on('error', (err) => client.handleClose(1006, err.message));
  try {
    await client.ready();
  } catch (err) {
    ws.terminate();
    throw httpError(err);
  }
  return {
    client,
    osUser: open.osUser,
    close: () => {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'done');
      else ws.terminate();
    },
  };
}

/**
 * Start a download and answer once its first byte (or its failure) is known, so that errors become
 * proper HTTP statuses. The stream then carries the rest.
 */
export async function startDownload(
  call: FilesCall,
  path: string,
  archive: boolean,
  maxBytes?: number,
): Promise<{ name: string; size: number | null; stream: PassThrough; done: Promise<unknown> }> {
  const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  let began!: (info: { name: string; size: number | null }) => void;
  const beginP = new Promise<{ name: string; size: number | null }>((r) => (began = r));
  const done = call.client
    .read(
      path,
      { ...(archive ? { archive: 'tar.gz' as const } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) },
      (info) => began({ name: info.name, size: info.size }),
      (chunk) => {
        if (!stream.write(chunk)) return new Promise<void>((r) => stream.once('drain', () => r()));
      },
    )
    .then(
      (r) => {
        stream.end();
        return r;
      },
      (err: unknown) => {
        stream.destroy(err instanceof Error ? err : new Error(String(err)));
        throw err;
      },
    )
    .finally(() => call.close());
  const first = await Promise.race([beginP, done.then(() => null)]).catch((err: unknown) => {
    throw httpError(err);
  });
  if (!first) throw new CorralError('FILE_OPERATION_FAILED', 'the download ended before it began');
  done.catch(() => {});
  return { ...first, stream, done };
}

/** `attachment; filename="..."; filename*=UTF-8''...` for any name. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
