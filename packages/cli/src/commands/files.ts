import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { FS_CHUNK, FsClientError, FS_ERROR_TEXT, type FsEntry, type FsErrorCode } from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, type Column } from '../format/table.js';
import { sanitize } from '../format/text.js';
import { formatBytes, Progress } from '../format/progress.js';
import { openFiles, type OpenFiles } from '../files/channel.js';
import { printJson, type OutputOptions } from './common.js';

/** `corral ls SERVER:PATH`, `corral cp [-r] SRC... DST`, `corral edit SERVER:PATH`. */

export interface Location {
  server: string | null;
  path: string;
}

/**
 * `web-01:/etc/hosts` is remote; `./a:b`, `/tmp/x:y` and names without a colon are local (as scp reads
 * them: a colon after something that looks like a server name).
 */
export function parseLocation(text: string): Location {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62}):(.*)$/s.exec(text);
  if (!m) return { server: null, path: text };
  return { server: m[1]!, path: m[2] === '' ? '.' : m[2]! };
}

function remoteName(l: Location): string {
  return `${l.server}:${l.path}`;
}

/** An FsClientError as a sentence with the next step. */
function explain(err: unknown, where: string): Error {
  if (err instanceof FsClientError) {
    const text = FS_ERROR_TEXT[err.code as FsErrorCode] ?? err.code;
    const hint =
      err.code === 'EEXIST'
        ? ' (add --overwrite to replace it)'
        : err.code === 'EACCES' || err.code === 'EPERM'
          ? ' (the OS user lacks the permission; try -u USER)'
          : '';
    // The agent's messages start with the path, which `where` already names.
    const detail = err.message.replace(/^\/[^:]*: /, '');
    const msg = detail.includes(text) ? detail : `${detail} (${text})`;
    return new CliError(`${where}: ${msg}${hint}`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

function modeString(e: FsEntry): string {
  const t = e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : e.type === 'other' ? '?' : '-';
  const bits = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += e.mode & (1 << (8 - i)) ? bits[i] : '-';
  if (e.mode & 0o4000) s = s.slice(0, 2) + (s[2] === 'x' ? 's' : 'S') + s.slice(3);
  if (e.mode & 0o2000) s = s.slice(0, 5) + (s[5] === 'x' ? 's' : 'S') + s.slice(6);
  if (e.mode & 0o1000) s = s.slice(0, 8) + (s[8] === 'x' ? 't' : 'T');
  return t + s;
}

export interface FilesOptions extends OutputOptions {
  user?: string;
  workSession?: string;
}

export async function ls(ctx: CliContext, target: string, opts: FilesOptions & { all?: boolean }): Promise<void> {
  const loc = parseLocation(target);
  if (!loc.server) throw new CliError(`give SERVER:PATH (for example web-01:/var/log); "${target}" is a local path`);
  const f = await openFiles(ctx, loc.server, { osUser: opts.user, workSession: opts.workSession });
  try {
    let listing: { path: string; entries: FsEntry[] };
    try {
      const st = await f.client.stat(loc.path);
      listing = st.entry.type === 'dir' ? await f.client.list(loc.path) : { path: st.path, entries: [st.entry] };
    } catch (err) {
      throw explain(err, remoteName(loc));
    }
    const entries = opts.all ? listing.entries : listing.entries.filter((e) => !e.name.startsWith('.'));
    if (opts.output === 'json') return printJson(ctx, { server: loc.server, osUser: f.osUser, ...listing, entries });
    const cols: Column<FsEntry>[] = [
      { header: 'MODE', value: modeString },
      { header: 'OWNER', value: (e) => sanitize(e.owner) },
      { header: 'GROUP', value: (e) => sanitize(e.group) },
      { header: 'SIZE', value: (e) => (e.type === 'dir' ? '-' : formatBytes(e.size)), align: 'right' },
      { header: 'MODIFIED', value: (e) => e.mtime.replace('T', ' ').replace(/\.\d+Z$/, 'Z') },
      {
        header: 'NAME',
        value: (e) => sanitize(e.name) + (e.type === 'dir' ? '/' : '') + (e.target ? ` -> ${sanitize(e.target)}` : ''),
      },
    ];
    ctx.stderr.write(`${sanitize(listing.path)} on ${loc.server} (as ${f.osUser})\n`);
    ctx.stdout.write(renderTable(cols, entries, { color: ctx.color }));
  } finally {
    f.close();
  }
}

export interface CpOptions extends FilesOptions {
  recursive?: boolean;
  overwrite?: boolean;
}

interface Copied {
  source: string;
  destination: string;
  direction: 'upload' | 'download';
  bytes: number;
  sha256: string;
  seconds: number;
}

/**
 * A local file in FS_CHUNK pieces, read synchronously: the CLI has nothing else to do meanwhile, and a
 * thread-pool round trip per piece (an fs stream) costs more CPU than the read. Each piece is a fresh
 * buffer, since the socket holds it until it is sent.
 */
async function* readFileChunks(path: string): AsyncIterable<Uint8Array> {
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(FS_CHUNK);
      const n = readSync(fd, buf, 0, FS_CHUNK, null);
      if (n === 0) return;
      yield n === FS_CHUNK ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** Write all of `data` at the file's current offset (write(2) may take less than asked). */
function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
}

/**
 * A local `tar` (Debian's GNU tar) producing or consuming a .tar.gz stream. A producer's output is piped
 * at once into `output` (a child's stdout first read after the child exited can come back empty).
 */
function localTar(args: string[], stdio: 'produce' | 'consume') {
  const child = spawn('tar', args, {
    stdio: stdio === 'produce' ? ['ignore', 'pipe', 'pipe'] : ['pipe', 'ignore', 'pipe'],
  });
  const output = stdio === 'produce' ? child.stdout!.pipe(new PassThrough({ highWaterMark: 1024 * 1024 })) : null;
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const done = new Promise<void>((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolvePromise() : reject(new CliError(`local tar failed: ${err.trim() || `exit ${code}`}`)),
    );
  });
  return { child, done, output };
}

export async function cp(ctx: CliContext, args: string[], opts: CpOptions): Promise<void> {
  if (args.length < 2) throw new CliError('give at least one source and a destination: corral cp SRC... DST');
  const locs = args.map(parseLocation);
  const dst = locs[locs.length - 1]!;
  const srcs = locs.slice(0, -1);
  const remoteSrc = srcs.filter((l) => l.server);
  if (dst.server && remoteSrc.length > 0) {
    throw new CliError('copying from server to server is not supported: copy to here first, then up');
  }
  if (!dst.server && remoteSrc.length !== srcs.length) {
    throw new CliError('one side must be SERVER:PATH (for example: corral cp app.tar web-01:/tmp/)');
  }
  const servers = new Set(srcs.map((l) => l.server).filter(Boolean));
  if (servers.size > 1) throw new CliError('download from one server at a time');
  const server = dst.server ?? [...servers][0]!;
  const f = await openFiles(ctx, server, { osUser: opts.user, workSession: opts.workSession });
  const copied: Copied[] = [];
  const t0 = Date.now();
  try {
    if (dst.server) for (const s of srcs) copied.push(await upload(ctx, f, s.path, dst, srcs.length > 1, opts));
    else for (const s of srcs) copied.push(await download(ctx, f, s, dst.path, srcs.length > 1, opts));
  } finally {
    f.close();
  }
  const total = copied.reduce((n, c) => n + c.bytes, 0);
  const seconds = (Date.now() - t0) / 1000;
  if (opts.output === 'json') {
    printJson(ctx, { server, osUser: f.osUser, files: copied, bytes: total, seconds });
  } else if (!ctx.stderr.isTTY) {
    for (const c of copied)
      println(ctx.stderr, `${c.source} -> ${c.destination}  ${formatBytes(c.bytes)}  sha256 ${c.sha256}`);
  }
}

async function upload(
  ctx: CliContext,
  f: OpenFiles,
  local: string,
  dst: Location,
  many: boolean,
  opts: CpOptions,
): Promise<Copied> {
  const st = await fsp.stat(local).catch(() => {
    throw new CliError(`${local}: no such file or directory`);
  });
  const remoteStat = await f.client.stat(dst.path).catch((err: unknown) => {
    if (err instanceof FsClientError && err.code === 'ENOENT') return null;
    throw explain(err, remoteName(dst));
  });
  const dstIsDir = remoteStat?.entry.type === 'dir' || (remoteStat === null && dst.path.endsWith('/'));
  if (many && !dstIsDir) throw new CliError(`${remoteName(dst)}: copying several sources needs an existing directory`);
  const started = Date.now();
  if (st.isDirectory()) {
    if (!opts.recursive) throw new CliError(`${local} is a directory: use -r`);
    // Into an existing directory: DST/<name>; else DST becomes the copy (like cp -r).
    let into = dst.path;
    let tarArgs = ['-czf', '-', '-C', dirname(resolve(local)), '--', basename(resolve(local))];
    if (!dstIsDir) {
      await f.client.mkdir(dst.path).catch((err: unknown) => {
        throw explain(err, remoteName(dst));
      });
      tarArgs = ['-czf', '-', '-C', resolve(local), '.'];
    } else {
      into = dst.path;
    }
    const tar = localTar(tarArgs, 'produce');
    const bar = new Progress(ctx.stderr, `${local}/ (tar.gz)`, null);
    const r = await f.client
      .write(into, { unpack: 'tar.gz', overwrite: Boolean(opts.overwrite) }, tar.output!, (b) => bar.update(b))
      .catch((err: unknown) => {
        tar.child.kill();
        throw explain(err, remoteName(dst));
      });
    await tar.done;
    bar.finish();
    return {
      source: local,
      destination: `${dst.server}:${into}`,
      direction: 'upload',
      bytes: r.bytes,
      sha256: r.sha256,
      seconds: (Date.now() - started) / 1000,
    };
  }
  const target = dstIsDir ? `${dst.path.replace(/\/+$/, '')}/${basename(local)}` : dst.path;
  const bar = new Progress(ctx.stderr, basename(local), st.size);
  const r = await f.client
    .write(
      target,
      { size: st.size, mode: st.mode & 0o777, overwrite: Boolean(opts.overwrite) },
      readFileChunks(local),
      (b) => bar.update(b),
    )
    .catch((err: unknown) => {
      throw explain(err, `${dst.server}:${target}`);
    });
  bar.finish();
  return {
    source: local,
    destination: `${dst.server}:${r.path ?? target}`,
    direction: 'upload',
    bytes: r.bytes,
    sha256: r.sha256,
    seconds: (Date.now() - started) / 1000,
  };
}

async function download(
  ctx: CliContext,
  f: OpenFiles,
  src: Location,
  local: string,
  many: boolean,
  opts: CpOptions,
): Promise<Copied> {
  const st = await f.client.stat(src.path).catch((err: unknown) => {
    throw explain(err, remoteName(src));
  });
  const localStat = await fsp.stat(local).catch(() => null);
  const localIsDir = Boolean(localStat?.isDirectory());
  if (many && !localIsDir) throw new CliError(`${local}: copying several sources needs an existing directory`);
  const started = Date.now();
  const name = st.entry.name === '/' ? 'root' : st.entry.name;
  if (st.entry.type === 'dir') {
    if (!opts.recursive) throw new CliError(`${remoteName(src)} is a directory: use -r`);
    let into = local;
    const args = ['-xzf', '-', '-C'];
    if (localIsDir) {
      args.push(local);
      if (!opts.overwrite && (await fsp.stat(join(local, name)).catch(() => null))) {
        throw new CliError(`${join(local, name)} already exists (add --overwrite to merge into it)`);
      }
      into = join(local, name);
    } else {
      await fsp.mkdir(local);
      args.push(local, '--strip-components=1');
    }
    const tar = localTar(args, 'consume');
    const sink = tar.child.stdin!;
    const bar = new Progress(ctx.stderr, `${src.path}/ (tar.gz)`, null);
    let got = 0;
    const r = await f.client
      .read(
        src.path,
        { archive: 'tar.gz' },
        () => {},
        (chunk) => {
          got += chunk.length;
          bar.update(got);
          if (!sink.write(chunk)) return new Promise<void>((res) => sink.once('drain', () => res()));
        },
      )
      .catch((err: unknown) => {
        tar.child.kill();
        throw explain(err, remoteName(src));
      });
    sink.end();
    await tar.done;
    bar.finish();
    return {
      source: remoteName(src),
      destination: into,
      direction: 'download',
      bytes: r.bytes,
      sha256: r.sha256,
      seconds: (Date.now() - started) / 1000,
    };
  }
  const target = localIsDir ? join(local, name) : local;
  if (!opts.overwrite && (await fsp.stat(target).catch(() => null))) {
    throw new CliError(`${target} already exists (add --overwrite to replace it)`);
  }
  // A temporary file beside the target, renamed at the end: a broken download leaves nothing behind.
  const temp = join(dirname(resolve(target)), `.${basename(target)}.corral-${randomBytes(4).toString('hex')}`);
  let fd: number | null;
  try {
    fd = openSync(temp, 'wx', st.entry.mode & 0o777);
  } catch (err) {
    throw new CliError(`${dirname(resolve(target))}: cannot write here (${(err as Error).message})`);
  }
  const hash = createHash('sha256');
  const bar = new Progress(ctx.stderr, name, st.entry.size);
  let got = 0;
  try {
    const r = await f.client.read(
      src.path,
      {},
      () => {},
      (chunk) => {
        got += chunk.length;
        hash.update(chunk);
        bar.update(got);
        // Synchronous, like the reads of an upload: while it writes, the socket is not read, which
        // is all the backpressure a download needs.
        writeAll(fd!, chunk);
      },
    );
    closeSync(fd);
    fd = null;
    const mine = hash.digest('hex');
    if (mine !== r.sha256)
      throw new CliError(`${remoteName(src)}: the bytes received do not match the server's SHA-256`);
    await fsp.rename(temp, target);
    bar.finish();
    return {
      source: remoteName(src),
      destination: target,
      direction: 'download',
      bytes: r.bytes,
      sha256: r.sha256,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (err) {
    if (fd !== null) closeSync(fd);
    await fsp.unlink(temp).catch(() => {});
    throw explain(err, remoteName(src));
  }
}

/**
 * `corral edit SERVER:PATH`: a local copy in $VISUAL/$EDITOR (else vi); saved back only if it changed,
 * and only if the server's file is still the one that was read (else nothing is overwritten and the
 * edited copy is kept).
 */
export async function edit(ctx: CliContext, target: string, opts: FilesOptions & { editor: string }): Promise<number> {
  const loc = parseLocation(target);
  if (!loc.server) throw new CliError(`give SERVER:PATH (for example web-01:/etc/nginx/nginx.conf)`);
  const dir = mkdtempSync(join(tmpdir(), 'corral-edit-'));
  const local = join(dir, basename(loc.path) || 'file');
  let etag: string;
  let resolved: string;
  {
    const f = await openFiles(ctx, loc.server, {
      osUser: opts.user,
      purpose: 'code_editor',
      workSession: opts.workSession,
    });
    try {
      const chunks: Buffer[] = [];
      const r = await f.client
        .read(
          loc.path,
          {},
          () => {},
          (c) => void chunks.push(Buffer.from(c)),
        )
        .catch((err: unknown) => {
          if (err instanceof FsClientError && err.code === 'ENOENT') return null; // a new file
          throw explain(err, remoteName(loc));
        });
      await fsp.writeFile(local, Buffer.concat(chunks), { mode: 0o600 });
      etag = r?.sha256 ?? '';
      resolved = (await f.client.stat(loc.path).catch(() => null))?.path ?? loc.path;
    } finally {
      f.close();
    }
  }
  const before = createHash('sha256').update(readFileSync(local)).digest('hex');
  const code = await new Promise<number>((res, rej) => {
    const child = spawn(opts.editor, [local], { stdio: 'inherit', shell: /\s/.test(opts.editor) });
    child.once('error', rej);
    child.once('close', (c) => res(c ?? 1));
  }).catch((err: unknown) => {
    throw new CliError(`cannot start the editor "${opts.editor}": ${(err as Error).message} (set $EDITOR)`);
  });
  if (code !== 0) {
    println(ctx.stderr, `The editor exited with status ${code}; nothing was saved. Your copy: ${local}`);
    return 1;
  }
  const content = readFileSync(local);
  const after = createHash('sha256').update(content).digest('hex');
  if (after === before) {
    rmSync(dir, { recursive: true, force: true });
    println(ctx.stderr, 'No changes; nothing written.');
    return 0;
  }
  const f = await openFiles(ctx, loc.server, {
    osUser: opts.user,
    purpose: 'code_editor',
    workSession: opts.workSession,
  });
  try {
    const r = await f.client.write(
      loc.path,
      { size: content.length, ifMatch: etag, overwrite: true },
      (async function* () {
        yield content;
      })(),
    );
    rmSync(dir, { recursive: true, force: true });
    println(ctx.stdout, `Saved ${loc.server}:${r.path ?? resolved} (${formatBytes(r.bytes)}).`);
    return 0;
  } catch (err) {
    if (err instanceof FsClientError && err.code === 'ETAG_MISMATCH') {
      println(
        ctx.stderr,
        `corral: ${remoteName(loc)} changed on the server while you edited it; nothing was overwritten. ` +
          `Your version is kept at ${local}`,
      );
      return 1;
    }
    throw explain(err, remoteName(loc));
  } finally {
    f.close();
  }
}
