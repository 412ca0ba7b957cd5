import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { FsPath, OS_USER_RE } from '@corral/protocol';
import { route, type AnyRoute } from './routes.js';
import type { Services } from '../services.js';
import type { Principal } from '../auth/principal.js';
import { CorralError } from '../errors.js';
import { contentDisposition, httpError, openForHttp, startDownload, type FilesCall } from '../files/files-http.js';
import type { FilePurpose } from '../files/files-service.js';

/**
 * The file API for the browser (WebFTP and the code editor). Each request opens a file channel on the
 * server as the chosen OS user (IAM `files.use` and a work session covering `file_transfer`, or
 * `code_editor` for the text endpoints), does its work through it, and closes it.
 */

const OsUser = z.string().regex(OS_USER_RE).optional();
const PathQuery = z.strictObject({ path: FsPath, osUser: OsUser });
const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const Entry = z.object({
  name: z.string(),
  type: z.string(),
  size: z.number(),
  mode: z.number(),
  owner: z.string(),
  group: z.string(),
  mtime: z.string(),
  target: z.string().optional(),
});

async function withFiles<T>(
  s: Services,
  p: Principal,
  req: FastifyRequest,
  server: string,
  osUser: string | undefined,
  purpose: FilePurpose,
  fn: (call: FilesCall) => Promise<T>,
): Promise<T> {
  const call = await openForHttp(s, s.loopbackUrl(), s.caPem, p, server, osUser, purpose, req.ip);
  try {
    return await fn(call);
  } catch (err) {
    throw httpError(err);
  } finally {
    call.close();
  }
}

/** A name from a browser's upload: one path component, no NUL, not `.` or `..`. */
export function safeUploadName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  if (!base || base === '.' || base === '..' || base.includes('\0') || Buffer.byteLength(base) > 255) {
    throw new CorralError('VALIDATION_FAILED', `"${name}" is not a usable file name`);
  }
  return base;
}

export function filesRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/v1/servers/:name/files/list',
      summary: 'List a directory (name, type, size, mode, owner, group, mtime, symlink target)',
      tag: 'files',
      query: PathQuery,
      response: z.object({ path: z.string(), osUser: z.string(), entries: z.array(Entry) }),
      errors: ['FILE_NOT_FOUND', 'FILE_PERMISSION_DENIED', 'WORK_SESSION_REQUIRED', 'SERVER_OFFLINE'],
      handler: async ({ principal: p, params, query, req }) => {
        const q = query as z.infer<typeof PathQuery>;
        return withFiles(s, p, req, params.name ?? '', q.osUser, 'file_transfer', async (c) => {
          const st = await c.client.stat(q.path);
          const r = st.entry.type === 'dir' ? await c.client.list(q.path) : { path: st.path, entries: [st.entry] };
          return { path: r.path, osUser: c.osUser, entries: r.entries };
        });
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers/:name/files/download',
      summary: 'Download a file (streamed), or a directory as a tar.gz stream; Content-Disposition attachment',
      tag: 'files',
      query: PathQuery,
      errors: ['FILE_NOT_FOUND', 'FILE_PERMISSION_DENIED', 'WORK_SESSION_REQUIRED', 'SERVER_OFFLINE'],
      handler: async ({ principal: p, params, query, req, reply }) => {
        const q = query as z.infer<typeof PathQuery>;
        const call = await openForHttp(
          s,
          s.loopbackUrl(),
          s.caPem,
          p,
          params.name ?? '',
          q.osUser,
          'file_transfer',
          req.ip,
        );
        let dir: boolean;
        try {
          dir = (await call.client.stat(q.path)).entry.type === 'dir';
        } catch (err) {
          call.close();
          throw httpError(err);
        }
        const d = await startDownload(call, q.path, dir);
        void reply.header('content-type', dir ? 'application/gzip' : 'application/octet-stream');
        void reply.header('content-disposition', contentDisposition(d.name));
        if (d.size !== null) void reply.header('content-length', String(d.size));
        return reply.send(d.stream);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/files/upload',
      summary:
        'Upload files into a directory (multipart/form-data, streamed; several files; overwrite=true to replace; unpack=true to unpack .tar.gz)',
      tag: 'files',
      query: z.strictObject({ path: FsPath, osUser: OsUser, overwrite: Bool.optional(), unpack: Bool.optional() }),
      response: z.object({
        items: z.array(z.object({ name: z.string(), path: z.string(), bytes: z.number(), sha256: z.string() })),
      }),
      status: 201,
      errors: ['VALIDATION_FAILED', 'FILE_EXISTS', 'FILE_PERMISSION_DENIED', 'FILE_TOO_LARGE', 'WORK_SESSION_REQUIRED'],
      handler: async ({ principal: p, params, query, req }) => {
        const q = query as { path: string; osUser?: string; overwrite?: boolean; unpack?: boolean };
        if (!req.isMultipart())
          throw new CorralError('UNSUPPORTED_MEDIA_TYPE', 'Send multipart/form-data with the files.');
        return withFiles(s, p, req, params.name ?? '', q.osUser, 'file_transfer', async (c) => {
          const items: Array<{ name: string; path: string; bytes: number; sha256: string }> = [];
          for await (const part of req.files()) {
            const name = safeUploadName(part.filename);
            const target = q.unpack ? q.path : `${q.path.replace(/\/+$/, '')}/${name}`;
            const r = await c.client.write(
              target,
              { overwrite: Boolean(q.overwrite), ...(q.unpack ? { unpack: 'tar.gz' as const } : {}) },
              part.file,
            );
            if (part.file.truncated) {
              throw new CorralError('FILE_TOO_LARGE', `${name} is over this gateway's upload limit`);
            }
            items.push({ name, path: r.path ?? target, bytes: r.bytes, sha256: r.sha256 });
          }
          if (items.length === 0) throw new CorralError('VALIDATION_FAILED', 'The form carried no file.');
          return { items };
        });
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/files/mkdir',
      summary: 'Make a directory',
      tag: 'files',
      body: z.strictObject({ path: FsPath, osUser: OsUser, parents: z.boolean().optional() }),
      response: z.object({ path: z.string() }),
      status: 201,
      errors: ['FILE_EXISTS', 'FILE_PERMISSION_DENIED', 'FILE_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) =>
        withFiles(s, p, req, params.name ?? '', body.osUser, 'file_transfer', async (c) => ({
          path: await c.client.mkdir(body.path, { parents: Boolean(body.parents) }),
        })),
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/files/rename',
      summary: 'Rename or move (overwrite only when asked)',
      tag: 'files',
      body: z.strictObject({ from: FsPath, to: FsPath, osUser: OsUser, overwrite: z.boolean().optional() }),
      response: z.object({ path: z.string() }),
      errors: ['FILE_EXISTS', 'FILE_PERMISSION_DENIED', 'FILE_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) =>
        withFiles(s, p, req, params.name ?? '', body.osUser, 'file_transfer', async (c) => ({
          path: await c.client.rename(body.from, body.to, { overwrite: Boolean(body.overwrite) }),
        })),
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/files/delete',
      summary: 'Delete a file or an empty directory (recursive on request)',
      tag: 'files',
      body: z.strictObject({ path: FsPath, osUser: OsUser, recursive: z.boolean().optional() }),
      response: z.object({ path: z.string() }),
      errors: ['FILE_EXISTS', 'FILE_PERMISSION_DENIED', 'FILE_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) =>
        withFiles(s, p, req, params.name ?? '', body.osUser, 'file_transfer', async (c) => ({
          path: await c.client.remove(body.path, { recursive: Boolean(body.recursive) }),
        })),
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/files/chmod',
      summary: 'Change permission bits',
      tag: 'files',
      body: z.strictObject({ path: FsPath, osUser: OsUser, mode: z.number().int().min(0).max(0o7777) }),
      response: z.object({ path: z.string() }),
      errors: ['FILE_PERMISSION_DENIED', 'FILE_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) =>
        withFiles(s, p, req, params.name ?? '', body.osUser, 'file_transfer', async (c) => ({
          path: await c.client.chmod(body.path, body.mode),
        })),
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers/:name/files/text',
      summary: 'Read a text file for the code editor (size-capped), with its ETag',
      tag: 'files',
      query: PathQuery,
      response: z.object({ path: z.string(), content: z.string(), etag: z.string(), size: z.number() }),
      errors: ['FILE_NOT_FOUND', 'FILE_PERMISSION_DENIED', 'FILE_TOO_LARGE', 'FILE_NOT_TEXT', 'WORK_SESSION_REQUIRED'],
      handler: async ({ principal: p, params, query, req, reply }) => {
        const q = query as z.infer<typeof PathQuery>;
        return withFiles(s, p, req, params.name ?? '', q.osUser, 'code_editor', async (c) => {
          const chunks: Buffer[] = [];
          const st = await c.client.stat(q.path);
          const r = await c.client.read(
            q.path,
            { maxBytes: s.files.limits.maxEditBytes },
            () => {},
            (chunk) => {
              chunks.push(Buffer.from(chunk));
            },
          );
          const buf = Buffer.concat(chunks);
          let content: string;
          try {
            content = new TextDecoder('utf-8', { fatal: true }).decode(buf);
          } catch {
            throw new CorralError('FILE_NOT_TEXT', `${st.path} is not UTF-8 text; download it instead.`);
          }
          void reply.header('etag', `"${r.sha256}"`);
          return { path: st.path, content, etag: r.sha256, size: r.bytes };
        });
      },
    }),
    route({
      method: 'PUT',
      url: '/api/v1/servers/:name/files/text',
      summary: 'Save a text file from the code editor; If-Match (or etag) must be the ETag it was read with',
      tag: 'files',
      query: PathQuery,
      bodyLimit: 64 * 1024 * 1024,
      body: z.strictObject({ content: z.string(), etag: z.string().max(128).optional() }),
      response: z.object({ path: z.string(), etag: z.string(), size: z.number() }),
      errors: ['FILE_CHANGED', 'FILE_PERMISSION_DENIED', 'FILE_TOO_LARGE', 'VALIDATION_FAILED'],
      handler: async ({ principal: p, params, query, body, req, reply }) => {
        const q = query as z.infer<typeof PathQuery>;
        const header = req.headers['if-match'];
        const ifMatch =
          (typeof header === 'string' ? header.replace(/^W\//, '').replace(/"/g, '') : undefined) ?? body.etag;
        if (ifMatch === undefined) {
          throw new CorralError('VALIDATION_FAILED', 'Send If-Match with the ETag you read ("" for a new file).');
        }
        const data = Buffer.from(body.content, 'utf8');
        if (data.length > s.files.limits.maxEditBytes) {
          throw new CorralError('FILE_TOO_LARGE', `The editor saves up to ${s.files.limits.maxEditBytes} bytes.`);
        }
        return withFiles(s, p, req, params.name ?? '', q.osUser, 'code_editor', async (c) => {
          const r = await c.client.write(
            q.path,
            { size: data.length, ifMatch, overwrite: true },
            (async function* () {
              yield data;
            })(),
          );
          void reply.header('etag', `"${r.sha256}"`);
          return { path: r.path ?? q.path, etag: r.sha256, size: r.bytes };
        });
      },
    }),
  ];
}
