import { useCallback, useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { Link, useLocation, useParams, useSearch } from 'wouter';
import type { FsEntry } from '@corral/protocol';
import { api, ApiError, qs, uploadForm, type UploadProgress } from '../api/client';
import { Dialog, PageHead } from '../components/ui';
import { WorkSessionPrompt } from '../components/work-session-prompt';
import { bytes, dateTime, modeString } from '../format';
import { joinPath, parentPath } from '../paths';

interface Listing {
  path: string;
  osUser: string;
  entries: FsEntry[];
}

/** Plain words for the file errors people meet most. */
function fileError(err: unknown): string {
  if (!(err instanceof ApiError)) return String(err);
  switch (err.code) {
    case 'FILE_PERMISSION_DENIED':
      return `Permission denied: ${err.message}`;
    case 'FILE_NOT_FOUND':
      return `Not found: ${err.message}`;
    case 'FILE_EXISTS':
      return `Already exists: ${err.message}`;
    case 'FILE_TOO_LARGE':
      return `Too large: ${err.message}`;
    default:
      return `${err.message} (${err.code})`;
  }
}

/** Small line icons (no emoji: not every system has a font for them). */
function Icon({ kind }: { kind: 'dir' | 'file' | 'symlink' }) {
  return (
    <svg className="icon" viewBox="0 0 16 16" aria-hidden="true">
      {kind === 'dir' ? (
        <path d="M1.5 3.5h5l1.5 2h6.5v7.5h-13z" />
      ) : kind === 'file' ? (
        <path d="M3.5 1.5h6l3 3v10h-9zM9.5 1.5v3h3" />
      ) : (
        <path d="M6 10l4-4M5 7.5L3.5 9a2.5 2.5 0 003.5 3.5L8.5 11M11 8.5L12.5 7A2.5 2.5 0 009 3.5L7.5 5" />
      )}
    </svg>
  );
}

type Pending = { kind: 'rename'; entry: FsEntry } | { kind: 'delete'; entry: FsEntry } | { kind: 'mkdir' } | null;

/** WebFTP: browse a server's files as an OS user; upload (drag and drop), download, mkdir, rename, delete. */
export default function FilesPage() {
  const { server = '' } = useParams<{ server: string }>();
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const path = search.get('path') ?? '.';
  const osUser = search.get('osUser') ?? '';
  const enc = encodeURIComponent(server);
  const [listing, setListing] = useState<Listing | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [needWs, setNeedWs] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);
  const [progress, setProgress] = useState<(UploadProgress & { files: number }) | null>(null);
  const [uploadMsg, setUploadMsg] = useState<string | null>(null);
  const [overwrite, setOverwrite] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [pending, setPending] = useState<Pending>(null);
  const [name, setName] = useState('');
  const [opError, setOpError] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  const go = (p: string, user = osUser) => navigate(`/files/${enc}${qs({ path: p, osUser: user })}`);

  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    api
      .get<Listing>(`/api/v1/servers/${enc}/files/list${qs({ path, osUser })}`, { signal: ac.signal })
      .then((l) => {
        setListing(l);
        setError(null);
        setNeedWs(null);
      })
      .catch((e: unknown) => {
        if ((e as Error).name === 'AbortError') return;
        if (e instanceof ApiError && e.code === 'WORK_SESSION_REQUIRED') setNeedWs(e.message);
        else setError(e);
      })
      .finally(() => !ac.signal.aborted && setLoading(false));
    return () => ac.abort();
  }, [enc, path, osUser, tick]);

  const dir = listing?.path ?? path;
  const entries = [...(listing?.entries ?? [])].sort(
    (a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || a.name.localeCompare(b.name),
  );

  const upload = (files: File[]) => {
    if (files.length === 0) return;
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    setUploadMsg(null);
    setProgress({ loaded: 0, total: files.reduce((n, f) => n + f.size, 0), files: files.length });
    const u = uploadForm<{ items: { name: string; bytes: number }[] }>(
      `/api/v1/servers/${enc}/files/upload${qs({ path: dir, osUser, overwrite: overwrite || undefined })}`,
      form,
      (p) => setProgress({ ...p, files: files.length }),
    );
    u.done
      .then((r) => {
        setUploadMsg(`Uploaded ${r.items.length} file(s): ${r.items.map((i) => i.name).join(', ')}`);
        reload();
      })
      .catch((e: unknown) => setUploadMsg(fileError(e)))
      .finally(() => setProgress(null));
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    upload([...e.dataTransfer.files]);
  };

  const runOp = async (e: FormEvent) => {
    e.preventDefault();
    setOpError(null);
    try {
      if (pending?.kind === 'mkdir') {
        await api.post(`/api/v1/servers/${enc}/files/mkdir`, {
          path: joinPath(dir, name),
          osUser: osUser || undefined,
        });
      } else if (pending?.kind === 'rename') {
        const to = name.startsWith('/') ? name : joinPath(dir, name);
        await api.post(`/api/v1/servers/${enc}/files/rename`, {
          from: joinPath(dir, pending.entry.name),
          to,
          osUser: osUser || undefined,
        });
      } else if (pending?.kind === 'delete') {
        await api.post(`/api/v1/servers/${enc}/files/delete`, {
          path: joinPath(dir, pending.entry.name),
          osUser: osUser || undefined,
          recursive: pending.entry.type === 'dir',
        });
      }
      setPending(null);
      reload();
    } catch (err) {
      setOpError(fileError(err));
    }
  };

  const downloadHref = (p: string) => `/api/v1/servers/${enc}/files/download${qs({ path: p, osUser })}`;

  return (
    <section
      className={`files ${dragging ? 'dragging' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <PageHead
        title={
          <>
            <Link href={`/servers/${enc}`}>{server}</Link> / Files
          </>
        }
      >
        <button type="button" onClick={() => go(parentPath(dir))} aria-label="Up to the parent directory">
          ↑ Up
        </button>
        <button type="button" onClick={reload}>
          Refresh
        </button>
        <button
          type="button"
          onClick={() => {
            setName('');
            setOpError(null);
            setPending({ kind: 'mkdir' });
          }}
        >
          New folder
        </button>
        <button type="button" className="primary" onClick={() => fileInput.current?.click()}>
          Upload…
        </button>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          aria-label="Files to upload"
          data-testid="upload-input"
          onChange={(e) => {
            upload([...(e.target.files ?? [])]);
            e.target.value = '';
          }}
        />
      </PageHead>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          go(String(f.get('path') || '.'), String(f.get('osUser') ?? ''));
        }}
      >
        <label className="grow">
          Path
          <input name="path" defaultValue={dir} key={dir} data-testid="files-path" />
        </label>
        <label>
          OS user
          <input name="osUser" defaultValue={listing?.osUser ?? osUser} key={listing?.osUser} size={10} />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} /> Overwrite on
          upload
        </label>
        <button type="submit">Go</button>
      </form>
      {needWs && (
        <WorkSessionPrompt
          server={server}
          features={['file_transfer']}
          message={needWs}
          onReady={() => {
            setNeedWs(null);
            reload();
          }}
        />
      )}
      {error ? (
        <p className="error-box" role="alert" data-testid="files-error">
          {fileError(error)}
        </p>
      ) : null}
      {progress && (
        <div className="upload-progress" role="status" aria-live="polite">
          Uploading {progress.files} file(s): {bytes(progress.loaded)} of {bytes(progress.total)}
          <progress max={progress.total || 1} value={progress.loaded} aria-label="Upload progress" />
        </div>
      )}
      {uploadMsg && (
        <p className="notice" role="status" data-testid="upload-result">
          {uploadMsg}
        </p>
      )}
      <p className="muted small drop-hint">
        {dragging
          ? 'Drop the files to upload them here.'
          : `Drop files anywhere on this page to upload them into ${dir}.`}
      </p>
      <table className="table" data-testid="files-table" aria-busy={loading}>
        <caption className="sr-only">Files in {dir}</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Size</th>
            <th scope="col">Mode</th>
            <th scope="col">Owner</th>
            <th scope="col">Modified</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => {
            const full = joinPath(dir, e.name);
            return (
              <tr key={e.name}>
                <td>
                  {e.type === 'dir' ? (
                    <a
                      href={`/files/${enc}${qs({ path: full, osUser })}`}
                      onClick={(ev) => {
                        ev.preventDefault();
                        go(full);
                      }}
                    >
                      <Icon kind="dir" />
                      {e.name}/
                    </a>
                  ) : (
                    <span>
                      <Icon kind={e.type === 'symlink' ? 'symlink' : 'file'} />
                      {e.name}
                      {e.target && <span className="muted"> → {e.target}</span>}
                    </span>
                  )}
                </td>
                <td>{e.type === 'dir' ? '–' : bytes(e.size)}</td>
                <td>
                  <code>{modeString(e.mode, e.type)}</code>
                </td>
                <td>
                  {e.owner}:{e.group}
                </td>
                <td>{dateTime(e.mtime)}</td>
                <td className="row-actions">
                  <a className="button" href={downloadHref(full)} download aria-label={`Download ${e.name}`}>
                    {e.type === 'dir' ? 'Download .tar.gz' : 'Download'}
                  </a>
                  {e.type === 'file' && (
                    <Link className="button" href={`/edit/${enc}${qs({ path: full, osUser })}`}>
                      Edit
                    </Link>
                  )}
                  <button
                    type="button"
                    onClick={() => {
                      setName(e.name);
                      setOpError(null);
                      setPending({ kind: 'rename', entry: e });
                    }}
                    aria-label={`Rename ${e.name}`}
                  >
                    Rename
                  </button>
                  <button
                    type="button"
                    className="danger"
                    onClick={() => {
                      setOpError(null);
                      setPending({ kind: 'delete', entry: e });
                    }}
                    aria-label={`Delete ${e.name}`}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
          {!loading && listing && entries.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                This directory is empty.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <Dialog
        open={pending !== null}
        onClose={() => setPending(null)}
        title={
          pending?.kind === 'mkdir'
            ? 'New folder'
            : pending?.kind === 'rename'
              ? `Rename ${pending.entry.name}`
              : pending?.kind === 'delete'
                ? `Delete ${pending.entry.name}?`
                : ''
        }
      >
        <form onSubmit={runOp}>
          {pending?.kind === 'delete' ? (
            <p>
              {pending.entry.type === 'dir'
                ? `The folder ${joinPath(dir, pending.entry.name)} and everything in it will be deleted.`
                : `${joinPath(dir, pending.entry.name)} will be deleted.`}
            </p>
          ) : (
            <label>
              {pending?.kind === 'mkdir' ? 'Folder name' : 'New name (or an absolute path to move it)'}
              <input required autoFocus value={name} onChange={(e) => setName(e.target.value)} />
            </label>
          )}
          {opError && (
            <p className="error" role="alert">
              {opError}
            </p>
          )}
          <div className="row">
            <button type="submit" className={pending?.kind === 'delete' ? 'danger' : 'primary'}>
              {pending?.kind === 'delete' ? 'Delete' : pending?.kind === 'mkdir' ? 'Create' : 'Rename'}
            </button>
            <button type="button" onClick={() => setPending(null)}>
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </section>
  );
}
