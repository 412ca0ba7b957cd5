import { z } from 'zod';
import { Ping, Pong } from './messages.js';

/**
 * The file channel (WebFTP): one socket per channel, one operation at a time. Text frames carry the
 * JSON below; binary frames carry file bytes, only inside a transfer:
 *
 *   fs.read   -> fs.begin, binary..., fs.end           (download; a directory comes as a tar.gz stream)
 *   fs.write  -> fs.ready; binary..., fs.commit -> fs.result   (upload: temporary file, renamed at commit)
 *   others    -> fs.result | fs.error
 *
 * Every operation runs on the server in a helper process with the channel's OS user's uid, gid and
 * groups, so the kernel decides what is allowed. Paths: absolute, or relative to the user's home (`~`
 * too). Repeated slashes and `.` segments are dropped; `..` and symlinks are left to the kernel, so they
 * resolve exactly as the user would see them.
 */

/** A path as sent on the wire (UTF-8; NUL bytes are refused). */
export const FsPath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), { message: 'a path may not contain NUL' });

const Id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const FsList = z.strictObject({ type: z.literal('fs.list'), id: Id, path: FsPath });
export const FsStat = z.strictObject({ type: z.literal('fs.stat'), id: Id, path: FsPath });
export const FsMkdir = z.strictObject({
  type: z.literal('fs.mkdir'),
  id: Id,
  path: FsPath,
  parents: z.boolean().optional(),
  mode: z.number().int().min(0).max(0o7777).optional(),
});
export const FsRename = z.strictObject({
  type: z.literal('fs.rename'),
  id: Id,
  from: FsPath,
  to: FsPath,
  overwrite: z.boolean().optional(),
});
export const FsDelete = z.strictObject({
  type: z.literal('fs.delete'),
  id: Id,
  path: FsPath,
  recursive: z.boolean().optional(),
});
export const FsChmod = z.strictObject({
  type: z.literal('fs.chmod'),
  id: Id,
  path: FsPath,
  mode: z.number().int().min(0).max(0o7777),
});
export const FsRead = z.strictObject({
  type: z.literal('fs.read'),
  id: Id,
  path: FsPath,
  /** For a directory: `tar.gz` streams it as an archive (required for directories). */
  archive: z.literal('tar.gz').optional(),
  /** Refuse files larger than this (the code editor's cap). */
  maxBytes: z.number().int().min(0).optional(),
});
export const FsWrite = z.strictObject({
  type: z.literal('fs.write'),
  id: Id,
  path: FsPath,
  /** Expected size, when known (checked at commit, and against the gateway's limit up front). */
  size: z.number().int().min(0).optional(),
  mode: z.number().int().min(0).max(0o7777).optional(),
  /** Replace an existing file; without it an existing target is an error (EEXIST). */
  overwrite: z.boolean().optional(),
  /** Write only if the current file still has this etag (the editor's conflict check). */
  ifMatch: z.string().max(128).optional(),
  /** Unpack the uploaded archive into the directory `path` instead of writing a file. */
  unpack: z.literal('tar.gz').optional(),
});
/** End of an upload's bytes: check, then rename the temporary file into place. */
export const FsCommit = z.strictObject({ type: z.literal('fs.commit'), id: Id });
/** Abandon an upload: the temporary file is removed, the target untouched. */
export const FsAbort = z.strictObject({ type: z.literal('fs.abort'), id: Id });

export const FsRequest = z.discriminatedUnion('type', [
  FsList,
  FsStat,
  FsMkdir,
  FsRename,
  FsDelete,
  FsChmod,
  FsRead,
  FsWrite,
]);
export type FsRequest = z.infer<typeof FsRequest>;

export const FsEntryType = z.enum(['file', 'dir', 'symlink', 'other']);
export const FsEntry = z.object({
  name: z.string(),
  type: FsEntryType,
  size: z.number(),
  mode: z.number().int(),
  owner: z.string(),
  group: z.string(),
  mtime: z.string(),
  /** For symlinks: where it points. */
  target: z.string().optional(),
});
export type FsEntry = z.infer<typeof FsEntry>;

export const FsBegin = z.strictObject({
  type: z.literal('fs.begin'),
  id: Id,
  /** The file's size; null for an archive stream. */
  size: z.number().int().min(0).nullable(),
  name: z.string(),
  mode: z.number().int(),
  mtime: z.string(),
  etag: z.string().optional(),
});
export const FsEnd = z.strictObject({
  type: z.literal('fs.end'),
  id: Id,
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export const FsReady = z.strictObject({ type: z.literal('fs.ready'), id: Id });
export const FsResult = z.strictObject({
  type: z.literal('fs.result'),
  id: Id,
  /** The path the operation acted on, resolved against the user's home. */
  path: z.string(),
  entries: z.array(FsEntry).optional(),
  entry: FsEntry.optional(),
  bytes: z.number().int().min(0).optional(),
  sha256: z.string().optional(),
  etag: z.string().optional(),
});
export const FS_ERROR_CODES = [
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
  'ETAG_MISMATCH',
  'TOO_LARGE',
  'SIZE_MISMATCH',
  'ARCHIVE_FAILED',
  'PROTOCOL',
  'EIO',
] as const;
export const FsErrorCode = z.enum(FS_ERROR_CODES);
export type FsErrorCode = z.infer<typeof FsErrorCode>;
export const FsError = z.strictObject({
  type: z.literal('fs.error'),
  id: Id,
  code: FsErrorCode,
  message: z.string().max(4096),
});
export const FsResponse = z.discriminatedUnion('type', [FsBegin, FsEnd, FsReady, FsResult, FsError]);
export type FsResponse = z.infer<typeof FsResponse>;

/** Text frames the user side may send on a file channel. */
export const FsFromUser = z.discriminatedUnion('type', [
  FsList,
  FsStat,
  FsMkdir,
  FsRename,
  FsDelete,
  FsChmod,
  FsRead,
  FsWrite,
  FsCommit,
  FsAbort,
  Ping,
  Pong,
]);
export type FsFromUser = z.infer<typeof FsFromUser>;

/** Text frames the agent side may send on a file channel (plus the gateway's `ready`/`error`). */
export const FsFromAgent = z.discriminatedUnion('type', [FsBegin, FsEnd, FsReady, FsResult, FsError, Ping, Pong]);
export type FsFromAgent = z.infer<typeof FsFromAgent>;

/** Human words for the error codes (CLI and UI). */
export const FS_ERROR_TEXT: Record<FsErrorCode, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOTEMPTY: 'directory not empty',
  ENOSPC: 'no space left on the device',
  EINVAL: 'invalid argument',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EXDEV: 'cannot move across file systems',
  EROFS: 'read-only file system',
  ETAG_MISMATCH: 'the file changed on the server meanwhile',
  TOO_LARGE: 'too large',
  SIZE_MISMATCH: 'the upload did not carry the announced size',
  ARCHIVE_FAILED: 'the archive could not be made or unpacked',
  PROTOCOL: 'protocol error',
  EIO: 'input/output error',
};
