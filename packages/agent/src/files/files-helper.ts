import { createHash, randomBytes } from 'node:crypto';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createReadStream, readFileSync, readSync, writeSync, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import {
  FS_ERROR_TEXT,
  FsFromUser,
  typesOf,
  decodeFrame,
  type FsEntry,
  type FsErrorCode,
  type FsFromUser as FsMsg,
} from '@corral/protocol';
import { FRAME_BINARY, FRAME_HEADER_BYTES, FRAME_JSON, StdioFrameDecoder, writeStdioHeader } from './stdio-frames.js';
import { resolveUserPath, splitPath } from './paths.js';

/**
 * The file helper: a short-lived process the agent starts for each file channel, already running as
 * the channel's OS user (uid, gid and supplementary groups). It reads requests from stdin and answers on
 * stdout (stdio-frames.ts); the kernel decides what the user may do. It never holds a whole file in
 * memory: reads and writes stream in pieces of at most 1 MiB with backpressure both ways.
 *
 * The file itself is read and written with synchronous calls. The helper serves one operation at a
 * time and has nothing else to do meanwhile, so a thread-pool round trip per piece (what fs streams
 * do) buys nothing and costs CPU; a write that blocks (a full disk cache) simply stops the helper
 * reading stdin, which is the backpressure the agent's socket then feels.
 */

/** Download frames: file bytes read per frame. */
const CHUNK = 1024 * 1024;
const TYPES = typesOf(FsFromUser);
const MAX_LIST = 50_000;

class FsFail extends Error {
  constructor(
    readonly code: FsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const KNOWN = new Set<string>([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EEXIST',
  'ENOTDIR',
  'EISDIR',
  'ENOTEMPTY',
  'ENOSPC',
  'EINVAL',
  'ELOOP',
  'ENAMETOOLONG',
  'EXDEV',
  'EROFS',
]);

function asFail(err: unknown, path: string): FsFail {
  if (err instanceof FsFail) return err;
  const e = err as NodeJS.ErrnoException;
  const code = (e.code && KNOWN.has(e.code) ? e.code : 'EIO') as FsErrorCode;
  return new FsFail(code, `${path}: ${code === 'EIO' ? e.message : FS_ERROR_TEXT[code]}`);
}

function idNames(file: string): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && /^\d+$/.test(f[2]!) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]!);
    }
  } catch {
    /* numeric ids then */
  }
  return m;
}

function typeOf(s: Stats): FsEntry['type'] {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  return 'other';
}

interface Upload {
  id: number;
  target: string;
  /** A plain upload: the temporary file (renamed into place at commit) and its open handle. */
  temp: string | null;
  file: fsp.FileHandle | null;
  /** An unpacking upload: tar reading the bytes on its stdin. */
  tar: ChildProcessWithoutNullStreams | null;
  tarErr: string;
  hash: ReturnType<typeof createHash>;
  bytes: number;
  size: number | undefined;
  overwrite: boolean;
  ifMatch: string | undefined;
  /** tar has exited (resolved at once for a plain upload). */
  done: Promise<void>;
}

/** Write all of `data` at the file's current offset (write(2) may take less than asked). */
function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
}

export interface HelperIo {
  input: Readable;
  output: Writable;
  home: string;
  /** Called when the helper has nothing more to do. */
  exit(code: number): void;
}

/** Run the helper on the given streams (the real process passes stdin/stdout). */
export function runFilesHelper(io: HelperIo): void {
  const users = idNames('/etc/passwd');
  const groups = idNames('/etc/group');
  const decoder = new StdioFrameDecoder();
  let busy = false;
  const queue: FsMsg[] = [];
  let upload: Upload | null = null;
  let closing = false;

  const send = (msg: object): boolean => {
    const text = JSON.stringify(msg);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + Buffer.byteLength(text));
    frame.write(text, FRAME_HEADER_BYTES, 'utf8');
    return io.output.write(writeStdioHeader(FRAME_JSON, frame.length - FRAME_HEADER_BYTES, frame));
  };
  /** Header and bytes in one write (one syscall). */
  const sendBytes = (data: Buffer): boolean => {
    io.output.cork();
    io.output.write(writeStdioHeader(FRAME_BINARY, data.length));
    const ok = io.output.write(data);
    io.output.uncork();
    return ok;
  };
  const waitDrain = (): Promise<void> => new Promise((r) => io.output.once('drain', () => r()));
  const fail = (id: number, err: unknown, path: string): void => {
    const f = asFail(err, path);
    send({ type: 'fs.error', id, code: f.code, message: f.message.slice(0, 4000) });
  };

  const entry = (name: string, s: Stats, target?: string): FsEntry => ({
    name,
    type: typeOf(s),
    size: s.size,
    mode: s.mode & 0o7777,
    owner: users.get(s.uid) ?? String(s.uid),
    group: groups.get(s.gid) ?? String(s.gid),
    mtime: s.mtime.toISOString(),
    ...(target !== undefined ? { target } : {}),
  });

  async function fileHash(path: string): Promise<string> {
    const h = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) h.update(chunk as Buffer);
    return h.digest('hex');
  }

  async function list(id: number, path: string): Promise<void> {
    const dir = await fsp.opendir(path, { bufferSize: 256 });
    const entries: FsEntry[] = [];
    for await (const d of dir) {
      if (entries.length >= MAX_LIST) break;
      const full = path === '/' ? `/${d.name}` : `${path}/${d.name}`;
      try {
        const s = await fsp.lstat(full);
        const target = s.isSymbolicLink() ? await fsp.readlink(full).catch(() => '?') : undefined;
        entries.push(entry(d.name, s, target));
      } catch {
        /* vanished meanwhile */
      }
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    send({ type: 'fs.result', id, path, entries });
  }

  async function read(m: Extract<FsMsg, { type: 'fs.read' }>, path: string): Promise<void> {
    const s = await fsp.stat(path);
    const { dir, base } = splitPath(path);
    const hash = createHash('sha256');
    let bytes = 0;
    if (s.isDirectory()) {
      if (m.archive !== 'tar.gz') throw new FsFail('EISDIR', `${path}: is a directory (download it as an archive)`);
      // Probe readability first: tar would otherwise half-succeed with warnings.
      await fsp.access(path, fsp.constants.R_OK | fsp.constants.X_OK).catch((err: unknown) => {
        throw asFail(err, path);
      });
      send({
        type: 'fs.begin',
        id: m.id,
        size: null,
        name: `${base || 'root'}.tar.gz`,
        mode: s.mode & 0o7777,
        mtime: s.mtime.toISOString(),
      });
      const tar = spawn('tar', ['-czf', '-', '-C', dir, '--', base || '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      tar.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
      for await (const chunk of tar.stdout) {
        const b = chunk as Buffer;
        hash.update(b);
        bytes += b.length;
        if (!sendBytes(b)) await waitDrain();
      }
      const code: number = await new Promise((r) =>
        tar.exitCode !== null ? r(tar.exitCode) : tar.once('close', (c) => r(c ?? 1)),
      );
      if (code !== 0) throw new FsFail('ARCHIVE_FAILED', `tar failed: ${err.trim() || `exit ${code}`}`);
    } else {
      if (!s.isFile()) throw new FsFail('EINVAL', `${path}: not a regular file`);
      if (m.maxBytes !== undefined && s.size > m.maxBytes) {
        throw new FsFail('TOO_LARGE', `${path}: ${s.size} bytes, over the ${m.maxBytes}-byte limit`);
      }
      const handle = await fsp.open(path, 'r');
      try {
        send({
          type: 'fs.begin',
          id: m.id,
          size: s.size,
          name: base,
          mode: s.mode & 0o7777,
          mtime: s.mtime.toISOString(),
        });
        // Each frame is read straight into its own buffer behind a header: one allocation, one write.
        for (;;) {
          const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + CHUNK);
          const n = readSync(handle.fd, frame, FRAME_HEADER_BYTES, CHUNK, null);
          if (n === 0) break;
          hash.update(frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + n));
          bytes += n;
          writeStdioHeader(FRAME_BINARY, n, frame);
          if (!io.output.write(n === CHUNK ? frame : frame.subarray(0, FRAME_HEADER_BYTES + n))) await waitDrain();
        }
      } finally {
        await handle.close();
      }
    }
    send({ type: 'fs.end', id: m.id, bytes, sha256: hash.digest('hex') });
  }

  async function startWrite(m: Extract<FsMsg, { type: 'fs.write' }>, path: string): Promise<void> {
    const hash = createHash('sha256');
    if (m.unpack === 'tar.gz') {
      const s = await fsp.stat(path);
      if (!s.isDirectory()) throw new FsFail('ENOTDIR', `${path}: unpacking needs a directory`);
      await fsp.access(path, fsp.constants.W_OK).catch((err: unknown) => {
        throw asFail(err, path);
      });
      const args = ['-xzf', '-', '-C', path, '--no-same-owner', ...(m.overwrite ? [] : ['--keep-old-files'])];
      const tar = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'] });
      const u: Upload = {
        id: m.id,
        target: path,
        temp: null,
        file: null,
        tar: tar as unknown as ChildProcessWithoutNullStreams,
        tarErr: '',
        hash,
        bytes: 0,
        size: m.size,
        overwrite: Boolean(m.overwrite),
        ifMatch: undefined,
        done: new Promise((r) => tar.once('close', () => r())),
      };
      tar.stderr.on('data', (d: Buffer) => (u.tarErr = (u.tarErr + d.toString()).slice(-2000)));
      tar.stdin.on('error', () => {});
      upload = u;
      send({ type: 'fs.ready', id: m.id });
      return;
    }
    const existing = await fsp.lstat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw asFail(err, path);
    });
    if (existing?.isDirectory()) throw new FsFail('EISDIR', `${path}: is a directory`);
    if (existing && !m.overwrite && m.ifMatch === undefined) {
      throw new FsFail('EEXIST', `${path}: already exists`);
    }
    if (m.ifMatch !== undefined) {
      const current = existing ? await fileHash(path).catch((err: unknown) => Promise.reject(asFail(err, path))) : '';
      if (current !== m.ifMatch) throw new FsFail('ETAG_MISMATCH', `${path}: changed on the server since it was read`);
    }
    const { dir, base } = splitPath(path);
    const temp = `${dir === '/' ? '' : dir}/.${base}.corral-upload-${randomBytes(6).toString('hex')}`;
    const mode = m.mode ?? (existing ? existing.mode & 0o7777 : 0o644);
    const file = await fsp.open(temp, 'wx', mode).catch((err: unknown) => Promise.reject(asFail(err, path)));
    upload = {
      id: m.id,
      target: path,
      temp,
      file,
      tar: null,
      tarErr: '',
      hash,
      bytes: 0,
      size: m.size,
      overwrite: Boolean(m.overwrite) || m.ifMatch !== undefined,
      ifMatch: m.ifMatch,
      done: Promise.resolve(),
    };
    send({ type: 'fs.ready', id: m.id });
  }

  async function discard(u: Upload): Promise<void> {
    if (u.tar) {
      u.tar.kill('SIGTERM');
      u.tar.stdin.destroy();
    }
    await u.done.catch(() => {});
    const file = u.file;
    u.file = null;
    await file?.close().catch(() => {});
    if (u.temp) await fsp.unlink(u.temp).catch(() => {});
  }

  /** Bytes of the upload in progress: hashed, counted and written (the file synchronously, see above). */
  function uploadBytes(u: Upload, data: Buffer): void {
    u.hash.update(data);
    u.bytes += data.length;
    if (u.file) {
      try {
        writeAll(u.file.fd, data);
      } catch (err) {
        // A full disk, a quota, an I/O error: the upload ends here; the rest of its bytes are dropped.
        upload = null;
        fail(u.id, err, u.target);
        void discard(u);
      }
      return;
    }
    if (!u.tar!.stdin.write(data)) {
      io.input.pause();
      u.tar!.stdin.once('drain', () => io.input.resume());
    }
  }

  async function commit(u: Upload): Promise<void> {
    if (u.tar) u.tar.stdin.end();
    await u.done;
    const file = u.file;
    u.file = null;
    try {
      await file?.close();
    } catch (err) {
      await fsp.unlink(u.temp!).catch(() => {});
      throw asFail(err, u.target);
    }
    const sha256 = u.hash.digest('hex');
    if (u.size !== undefined && u.bytes !== u.size) {
      await discard(u);
      throw new FsFail('SIZE_MISMATCH', `${u.target}: announced ${u.size} bytes, received ${u.bytes}`);
    }
    if (u.tar) {
      const code = u.tar.exitCode;
      if (code !== 0) {
        throw new FsFail(
          'ARCHIVE_FAILED',
          `unpacking into ${u.target} failed: ${u.tarErr.trim() || `tar exit ${code}`}`,
        );
      }
      send({ type: 'fs.result', id: u.id, path: u.target, bytes: u.bytes, sha256 });
      return;
    }
    const temp = u.temp!;
    try {
      if (u.ifMatch !== undefined) {
        const current = await fileHash(u.target).catch(() => '');
        if (current !== u.ifMatch) throw new FsFail('ETAG_MISMATCH', `${u.target}: changed on the server meanwhile`);
      }
      if (u.overwrite) {
        await fsp.rename(temp, u.target);
      } else {
        // link(2) refuses an existing name: no clobbering even if one appeared during the upload.
        await fsp.link(temp, u.target);
        await fsp.unlink(temp);
      }
    } catch (err) {
      await fsp.unlink(temp).catch(() => {});
      throw asFail(err, u.target);
    }
    send({ type: 'fs.result', id: u.id, path: u.target, bytes: u.bytes, sha256, etag: sha256 });
  }

  async function handle(m: FsMsg): Promise<void> {
    if (m.type === 'ping') {
      send({ type: 'pong', ts: m.ts });
      return;
    }
    if (m.type === 'pong') return;
    if (m.type === 'fs.commit' || m.type === 'fs.abort') {
      const u = upload;
      if (!u || u.id !== m.id)
        return void send({ type: 'fs.error', id: m.id, code: 'PROTOCOL', message: 'no upload in progress' });
      upload = null;
      if (m.type === 'fs.abort') {
        await discard(u);
        return void send({ type: 'fs.error', id: m.id, code: 'EIO', message: 'upload abandoned' });
      }
      try {
        await commit(u);
      } catch (err) {
        fail(m.id, err, u.target);
      }
      return;
    }
    if (upload) return void send({ type: 'fs.error', id: m.id, code: 'PROTOCOL', message: 'an upload is in progress' });
    const raw = m.type === 'fs.rename' ? m.from : m.path;
    let path = raw;
    try {
      path = resolveUserPath(io.home, raw);
      switch (m.type) {
        case 'fs.list':
          return await list(m.id, path);
        case 'fs.stat': {
          const s = await fsp.lstat(path);
          const target = s.isSymbolicLink() ? await fsp.readlink(path) : undefined;
          return void send({ type: 'fs.result', id: m.id, path, entry: entry(splitPath(path).base || '/', s, target) });
        }
        case 'fs.mkdir':
          await fsp.mkdir(path, { recursive: Boolean(m.parents), ...(m.mode !== undefined ? { mode: m.mode } : {}) });
          return void send({ type: 'fs.result', id: m.id, path });
        case 'fs.rename': {
          const to = resolveUserPath(io.home, m.to);
          if (!m.overwrite) {
            const there = await fsp.lstat(to).then(
              () => true,
              () => false,
            );
            if (there) throw new FsFail('EEXIST', `${to}: already exists`);
          }
          await fsp.rename(path, to).catch((err: unknown) => Promise.reject(asFail(err, `${path} -> ${to}`)));
          return void send({ type: 'fs.result', id: m.id, path: to });
        }
        case 'fs.delete': {
          const s = await fsp.lstat(path);
          if (s.isDirectory()) {
            if (m.recursive) await fsp.rm(path, { recursive: true });
            else await fsp.rmdir(path);
          } else {
            await fsp.unlink(path);
          }
          return void send({ type: 'fs.result', id: m.id, path });
        }
        case 'fs.chmod':
          await fsp.chmod(path, m.mode);
          return void send({ type: 'fs.result', id: m.id, path });
        case 'fs.read':
          return await read(m, path);
        case 'fs.write':
          return await startWrite(m, path);
      }
    } catch (err) {
      fail(m.id, err, path);
    }
  }

  const pump = (): void => {
    if (busy) return;
    const next = queue.shift();
    if (!next) {
      if (closing && !upload) io.exit(0);
      return;
    }
    busy = true;
    handle(next)
      .catch((err: unknown) => fail((next as { id?: number }).id ?? 0, err, '?'))
      .finally(() => {
        busy = false;
        pump();
      });
  };

  io.input.on('data', (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      send({ type: 'fs.error', id: 0, code: 'PROTOCOL', message: (err as Error).message });
      io.exit(2);
      return;
    }
    for (const f of frames) {
      if (f.kind === 'binary') {
        // Bytes for an upload that already failed (or none) are dropped.
        if (upload) uploadBytes(upload, f.data);
        continue;
      }
      const r = decodeFrame(FsFromUser, f.text, TYPES, 64 * 1024);
      if (!r.ok) {
        send({ type: 'fs.error', id: 0, code: 'PROTOCOL', message: r.reason });
        continue;
      }
      queue.push(r.message);
    }
    pump();
  });
  io.input.on('end', () => {
    closing = true;
    // The channel went away: an unfinished upload leaves nothing behind.
    const u = upload;
    upload = null;
    if (u) void discard(u).then(() => io.exit(0));
    else pump();
  });
}
