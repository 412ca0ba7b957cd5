import { FsFromAgent, FS_ERROR_TEXT, type FsEntry, type FsErrorCode } from './files.js';
import { ChannelError, Notice, Ready } from './messages.js';
import { decodeFrame, typesOf } from './codec.js';
import { MAX_DATA_FRAME_BYTES } from './close-codes.js';
import { z } from 'zod';

/**
 * The user side of a file channel, for any runtime (the CLI, the gateway's HTTP API, the browser): the
 * socket is behind a small transport interface. One operation at a time, as the channel requires; calls
 * made while one runs wait their turn.
 */
export interface FsTransport {
  sendText(text: string): void;
  sendBinary(data: Uint8Array): void;
  /** Bytes queued but not yet sent. */
  bufferedAmount(): number;
  /** Resolve when queued output has gone down (called when bufferedAmount is high). */
  drained(): Promise<void>;
  /** Stop / start delivering incoming frames (download backpressure). */
  pause(): void;
  resume(): void;
}

export class FsClientError extends Error {
  constructor(
    readonly code: FsErrorCode | string,
    message: string,
  ) {
    super(message);
    this.name = 'FsClientError';
  }
}

export interface FsBeginInfo {
  size: number | null;
  name: string;
  mode: number;
  mtime: string;
}

export interface FsTransferResult {
  path?: string;
  bytes: number;
  sha256: string;
}

const Incoming = z.discriminatedUnion('type', [...FsFromAgent.options, Ready, ChannelError, Notice]);
const INCOMING_TYPES = typesOf(Incoming);
/** Keep at most this much unsent before waiting (uploads). */
const HIGH_WATER = 4 * 1024 * 1024;
/**
 * Upload pieces: the largest binary frame every hop accepts (MAX_DATA_FRAME_BYTES, 1 MiB). Each frame
 * costs every process on the path a fixed amount of work (a message event, a hash update, a write), so
 * fewer, larger frames move a file with less CPU.
 */
export const FS_CHUNK = MAX_DATA_FRAME_BYTES;

interface Pending {
  id: number;
  resolve: (msg: z.infer<typeof Incoming>) => void;
  reject: (err: Error) => void;
  onData?: (chunk: Uint8Array) => void | Promise<void>;
  onBegin?: (info: FsBeginInfo) => void;
  onReady?: () => void;
}

export class FsClient {
  #nextId = 1;
  #pending: Pending | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed: Error | null = null;
  #ready = false;
  #readyWaiters: Array<() => void> = [];

  constructor(private readonly t: FsTransport) {}

  /** Feed a text frame from the socket. */
  handleText(text: string): void {
    const r = decodeFrame(Incoming, text, INCOMING_TYPES, Infinity);
    if (!r.ok) return this.handleClose(1002, `bad frame from the gateway: ${r.reason}`);
    const msg = r.message;
    if (msg.type === 'ping' || msg.type === 'pong' || msg.type === 'notice') return;
    if (msg.type === 'ready') {
      this.#ready = true;
      for (const w of this.#readyWaiters.splice(0)) w();
      return;
    }
    if (msg.type === 'error') {
      this.#fail(new FsClientError(msg.code, msg.message));
      return;
    }
    const p = this.#pending;
    if (!p || msg.id !== p.id) return;
    switch (msg.type) {
      case 'fs.begin':
        p.onBegin?.({ size: msg.size, name: msg.name, mode: msg.mode, mtime: msg.mtime });
        return;
      case 'fs.ready':
        p.onReady?.();
        return;
      case 'fs.error':
        this.#pending = null;
        p.reject(new FsClientError(msg.code, msg.message || FS_ERROR_TEXT[msg.code]));
        return;
      default:
        this.#pending = null;
        p.resolve(msg);
    }
  }

  /** Feed a binary frame (download bytes). */
  handleBinary(data: Uint8Array): void {
    const p = this.#pending;
    if (!p?.onData) return;
    let r: void | Promise<void>;
    try {
      r = p.onData(data);
    } catch (err) {
      // The sink failed (a full disk, ...): the download fails with its error.
      this.#fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (r && typeof (r as Promise<void>).then === 'function') {
      this.t.pause();
      (r as Promise<void>).then(
        () => this.t.resume(),
        (err: unknown) => {
          this.t.resume();
          this.#fail(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }
  }

  /** The socket closed: everything pending fails with the reason. */
  handleClose(code: number, reason: string): void {
    this.#fail(new FsClientError('CLOSED', reason || `the file channel closed (code ${code})`));
  }

  #fail(err: Error): void {
    if (!this.#closed) this.#closed = err;
    for (const w of this.#readyWaiters.splice(0)) w();
    const p = this.#pending;
    this.#pending = null;
    p?.reject(err);
  }

  /** Resolves once the agent side joined (the gateway says `ready`); rejects if the channel failed. */
  async ready(): Promise<void> {
    if (this.#ready) return;
    if (this.#closed) throw this.#closed;
    await new Promise<void>((r) => this.#readyWaiters.push(r));
    if (!this.#ready && this.#closed) throw this.#closed;
  }

  /** Run `fn` after the operations before it (the channel carries one at a time). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #request(
    body: Record<string, unknown>,
    hooks: Omit<Pending, 'id' | 'resolve' | 'reject'> = {},
  ): { id: number; done: Promise<z.infer<typeof Incoming>> } {
    const id = this.#nextId++;
    const done = new Promise<z.infer<typeof Incoming>>((resolve, reject) => {
      if (this.#closed) return reject(this.#closed);
      this.#pending = { id, resolve, reject, ...hooks };
      this.t.sendText(JSON.stringify({ ...body, id }));
    });
    return { id, done };
  }

  #simple(body: Record<string, unknown>): Promise<Extract<z.infer<typeof Incoming>, { type: 'fs.result' }>> {
    return this.#serial(async () => {
      const msg = await this.#request(body).done;
      if (msg.type !== 'fs.result') throw new FsClientError('PROTOCOL', `unexpected ${msg.type}`);
      return msg;
    });
  }

  async list(path: string): Promise<{ path: string; entries: FsEntry[] }> {
    const r = await this.#simple({ type: 'fs.list', path });
    return { path: r.path, entries: r.entries ?? [] };
  }

  async stat(path: string): Promise<{ path: string; entry: FsEntry }> {
    const r = await this.#simple({ type: 'fs.stat', path });
    if (!r.entry) throw new FsClientError('PROTOCOL', 'stat without an entry');
    return { path: r.path, entry: r.entry };
  }

  async mkdir(path: string, opts: { parents?: boolean; mode?: number } = {}): Promise<string> {
    return (await this.#simple({ type: 'fs.mkdir', path, ...opts })).path;
  }

  async rename(from: string, to: string, opts: { overwrite?: boolean } = {}): Promise<string> {
    return (await this.#simple({ type: 'fs.rename', from, to, ...opts })).path;
  }

  async remove(path: string, opts: { recursive?: boolean } = {}): Promise<string> {
    return (await this.#simple({ type: 'fs.delete', path, ...opts })).path;
  }

  async chmod(path: string, mode: number): Promise<string> {
    return (await this.#simple({ type: 'fs.chmod', path, mode })).path;
  }

  /**
   * Download: `onBegin` gets the size and name, `onData` every chunk (return a promise to slow the
   * sender down). Resolves with the byte count and SHA-256 the agent computed.
   */
  read(
    path: string,
    opts: { archive?: 'tar.gz'; maxBytes?: number },
    onBegin: (info: FsBeginInfo) => void,
    onData: (chunk: Uint8Array) => void | Promise<void>,
  ): Promise<FsTransferResult> {
    return this.#serial(async () => {
      const msg = await this.#request({ type: 'fs.read', path, ...opts }, { onBegin, onData }).done;
      if (msg.type !== 'fs.end') throw new FsClientError('PROTOCOL', `unexpected ${msg.type}`);
      return { bytes: msg.bytes, sha256: msg.sha256 };
    });
  }

  /**
   * Upload from `source` (chunks of any size; cut to FS_CHUNK). The agent writes a temporary file and
   * renames it into place only at the end, so a failure leaves the target as it was.
   */
  write(
    path: string,
    opts: { size?: number; mode?: number; overwrite?: boolean; ifMatch?: string; unpack?: 'tar.gz' },
    source: AsyncIterable<Uint8Array>,
    onProgress?: (bytes: number) => void,
  ): Promise<FsTransferResult & { etag?: string }> {
    return this.#serial(async () => {
      let ready!: () => void;
      const readyP = new Promise<void>((r) => (ready = r));
      const req = this.#request({ type: 'fs.write', path, ...opts }, { onReady: () => ready() });
      // Either the agent is ready for bytes, or the request already failed (exists, no permission, ...).
      const first = await Promise.race([readyP.then(() => null), req.done]);
      if (first) {
        if (first.type === 'fs.result')
          return { bytes: first.bytes ?? 0, sha256: first.sha256 ?? '', path: first.path };
        throw new FsClientError('PROTOCOL', `unexpected ${first.type}`);
      }
      let sent = 0;
      let failed = false;
      req.done.catch(() => (failed = true));
      try {
        for await (const piece of source) {
          for (let off = 0; off < piece.length; off += FS_CHUNK) {
            if (failed || this.#closed) break;
            const chunk = piece.subarray(off, Math.min(piece.length, off + FS_CHUNK));
            this.t.sendBinary(chunk);
            sent += chunk.length;
            onProgress?.(sent);
            if (this.t.bufferedAmount() > HIGH_WATER) await this.t.drained();
          }
          if (failed || this.#closed) break;
        }
      } catch (err) {
        // The local side failed (unreadable file, ...): the agent drops the temporary file.
        if (!failed && !this.#closed) this.t.sendText(JSON.stringify({ type: 'fs.abort', id: req.id }));
        await req.done.catch(() => undefined);
        throw err;
      }
      if (!failed && !this.#closed) this.t.sendText(JSON.stringify({ type: 'fs.commit', id: req.id }));
      const msg = await req.done;
      if (msg.type !== 'fs.result') throw new FsClientError('PROTOCOL', `unexpected ${msg.type}`);
      return {
        bytes: msg.bytes ?? sent,
        sha256: msg.sha256 ?? '',
        ...(msg.path ? { path: msg.path } : {}),
        ...(msg.etag ? { etag: msg.etag } : {}),
      };
    });
  }
}
