import { useState } from 'react';
import { Link } from 'wouter';
import { useApi } from '../api/use-api';
import { ErrorBox, PageHead } from '../components/ui';
import { bytes, dateTime, duration } from '../format';

/** GET /api/v1/recordings items (recording-service.ts RecordingView). */
export interface RecordingView {
  sessionId: string;
  user: string | null;
  server: string | null;
  osUser: string;
  command: string | null;
  startedAt: string;
  endedAt: string | null;
  bytes: number | null;
  sha256: string | null;
  available: boolean;
  purgedAt: string | null;
}

/** Terminal recordings, newest first (members see their own). */
export default function RecordingsPage() {
  const { data, error, loading } = useApi<{ items: RecordingView[] }>('/api/v1/recordings', 15_000);
  const [q, setQ] = useState('');
  const items = (data?.items ?? []).filter((r) =>
    `${r.user ?? ''} ${r.server ?? ''} ${r.osUser} ${r.command ?? ''}`.toLowerCase().includes(q.toLowerCase()),
  );
  return (
    <section>
      <PageHead title="Recordings">
        <span className="muted" role="status">
          {loading && !data ? 'Loading…' : `${items.length} recordings`}
        </span>
      </PageHead>
      <div className="filters" role="search">
        <label>
          Search
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="user, server, command" />
        </label>
      </div>
      <ErrorBox error={error} />
      <table className="table" data-testid="recordings-table">
        <caption className="sr-only">Recordings</caption>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">User</th>
            <th scope="col">Server</th>
            <th scope="col">OS user</th>
            <th scope="col">Length</th>
            <th scope="col">Size</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((r) => (
            <tr key={r.sessionId}>
              <td>{dateTime(r.startedAt)}</td>
              <td>{r.user ?? '–'}</td>
              <td>{r.server ?? '–'}</td>
              <td>{r.osUser}</td>
              <td>
                {r.endedAt
                  ? duration((new Date(r.endedAt).getTime() - new Date(r.startedAt).getTime()) / 1000)
                  : 'live'}
              </td>
              <td>{bytes(r.bytes)}</td>
              <td className="row-actions">
                {r.available ? (
                  <>
                    <Link href={`/recordings/${encodeURIComponent(r.sessionId)}`} className="button primary">
                      Play
                    </Link>
                    <a
                      className="button"
                      href={`/api/v1/recordings/${encodeURIComponent(r.sessionId)}?format=cast`}
                      download
                    >
                      .cast
                    </a>
                  </>
                ) : (
                  <span className="muted">
                    {r.purgedAt ? 'removed by retention' : r.endedAt ? 'not recorded' : 'still running'}
                  </span>
                )}
              </td>
            </tr>
          ))}
          {!loading && items.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No recordings yet: every terminal session is recorded once it ends.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
