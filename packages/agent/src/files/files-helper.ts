import { createHash, randomBytes } from 'node:crypto';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createReadStream, readFileSync, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import {
  FsFromUser,
  typesOf,
  decodeFrame,
  type FsEntry,
  type FsErrorCode,
  type FsFromUser as FsMsg,
} from '@corral/protocol';
import { encodeStdioFrame, FRAME_BINARY, FRAME_JSON, StdioFrameDecoder } from './stdio-frames.js';
import { resolveUserPath, splitPath } from './paths.js';

/**
 * The file helper: a short-lived process the agent starts for each file channel, already running as
 * the channel's OS user (uid, gid and supplementary groups). It reads requests from stdin and answers on
 * stdout (stdio-frames.ts); the kernel decides what the user may do. It never holds a whole file in
 * memory: reads and writes stream in 256 KiB pieces with backpressure both ways.
 */

const CHUNK = 256 * 1024;
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
  const what: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EEXIST: 'already exists',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    ENOTEMPTY: 'directory not empty',
    ENOSPC: 'no space left on the device',
  };
  return new FsFail(code, `${path}: ${what[code] ?? e.message}`);
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
  temp: string | null;
  sink: Writable;
  tar: ChildProcessWithoutNullStreams | null;
  tarErr: string;
  hash: ReturnType<typeof createHash>;
  bytes: number;
  size: number | undefined;
  overwrite: boolean;
  ifMatch: string | undefined;
  done: Promise<void>;
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
    const [h, p] = encodeStdioFrame(FRAME_JSON, Buffer.from(JSON.stringify(msg)));
    io.output.write(h);
    return io.output.write(p);
  };
  const sendBytes = (data: Buffer): boolean => {
    const [h, p] = encodeStdioFrame(FRAME_BINARY, data);
    io.output.write(h);
    return io.output.write(p);
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
        for await (const chunk of handle.createReadStream({ highWaterMark: CHUNK, autoClose: false })) {
          const b = chunk as Buffer;
          hash.update(b);
          bytes += b.length;
          if (!sendBytes(b)) await waitDrain();
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
        sink: tar.stdin,
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
    const handle = await fsp.open(temp, 'wx', mode).catch((err: unknown) => Promise.reject(asFail(err, path)));
    const sink = handle.createWriteStream({ highWaterMark: CHUNK });
    sink.on('error', () => {});
    upload = {
      id: m.id,
      target: path,
      temp,
      sink,
      tar: null,
      tarErr: '',
      hash,
      bytes: 0,
      size: m.size,
      overwrite: Boolean(m.overwrite) || m.ifMatch !== undefined,
      ifMatch: m.ifMatch,
      done: new Promise((r) => sink.once('close', () => r())),
    };
    send({ type: 'fs.ready', id: m.id });
  }

  async function discard(u: Upload): Promise<void> {
    if (u.tar) u.tar.kill('SIGTERM');
    u.sink.destroy();
    await u.done.catch(() => {});
    if (u.temp) await fsp.unlink(u.temp).catch(() => {});
  }

  async function commit(u: Upload): Promise<void> {
    u.sink.end();
    await u.done;
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
        const u = upload;
        if (!u) continue; // bytes for an upload that already failed: dropped
        u.hash.update(f.data);
        u.bytes += f.data.length;
        if (!u.sink.write(f.data)) {
          io.input.pause();
          u.sink.once('drain', () => io.input.resume());
        }
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
