import { useMemo, useState } from 'react';
import { Link } from 'wouter';
import type { MetricsResponse, ServerView } from '@corral/protocol';
import { isStaff, useMe } from '../api/session';
import { useApi } from '../api/use-api';
import { Sparkline } from '../components/charts';
import { ErrorBox, PageHead, StatusDot } from '../components/ui';
import { ago } from '../format';

/** Rows that get sparklines (one metrics request each, every 30 s); the rest show the health word only. */
const SPARKLINE_ROWS = 50;

function Health({ server, sparkline }: { server: ServerView; sparkline: boolean }) {
  // Sparklines for online servers only: an offline one has no fresh samples to show.
  const m = useApi<MetricsResponse>(
    sparkline && server.status === 'online'
      ? `/api/v1/servers/${encodeURIComponent(server.name)}/metrics?range=1h`
      : null,
    30_000,
  );
  const pts = m.data?.points ?? [];
  return (
    <div className="health-cell">
      <span className={`health health-${server.health ?? 'unknown'}`}>{server.health ?? 'unknown'}</span>
      {pts.length > 1 && (
        <>
          <Sparkline label={`${server.name} CPU`} values={pts.map((p) => p.cpuPct)} />
          <Sparkline label={`${server.name} memory`} values={pts.map((p) => p.memPct)} />
        </>
      )}
    </div>
  );
}

/** Servers: status, platform, tags, groups, health with CPU/memory sparklines; search and filters. */
export default function ServersPage() {
  const me = useMe();
  const { data, error, loading } = useApi<{ items: ServerView[] }>('/api/v1/servers', 15_000);
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('');
  const [group, setGroup] = useState('');
  const [health, setHealth] = useState('');
  const items = data?.items ?? [];
  const groups = useMemo(() => [...new Set(items.flatMap((s) => s.groups ?? []))].sort(), [items]);
  const shown = items.filter((s) => {
    if (status && s.status !== status) return false;
    if (group && !(s.groups ?? []).includes(group)) return false;
    if (health && (s.health ?? 'unknown') !== health) return false;
    if (!q) return true;
    const hay = [s.name, s.platform ?? '', s.address ?? '', ...Object.entries(s.tags).map(([k, v]) => `${k}=${v}`)]
      .join(' ')
      .toLowerCase();
    return q
      .toLowerCase()
      .split(/\s+/)
      .every((w) => hay.includes(w));
  });

  return (
    <section>
      <PageHead title="Servers">
        <span className="muted" role="status">
          {loading && !data ? 'Loading…' : `${shown.length} of ${items.length}`}
        </span>
      </PageHead>
      <div className="filters" role="search">
        <label>
          Search
          <input
            type="search"
            placeholder="name, platform, tag=value"
            value={q}
            onChange={(e) => setQ(e.target.value)}
          />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
          </select>
        </label>
        <label>
          Health
          <select value={health} onChange={(e) => setHealth(e.target.value)}>
            <option value="">any</option>
            <option value="ok">ok</option>
            <option value="warning">warning</option>
            <option value="critical">critical</option>
            <option value="unknown">unknown</option>
          </select>
        </label>
        <label>
          Group
          <select value={group} onChange={(e) => setGroup(e.target.value)}>
            <option value="">any</option>
            {groups.map((g) => (
              <option key={g}>{g}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={error} />
      <table className="table" data-testid="servers-table">
        <caption className="sr-only">Servers</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Health (CPU, memory, 1 h)</th>
            <th scope="col">Platform</th>
            <th scope="col">Tags</th>
            <th scope="col">Groups</th>
            <th scope="col">Last seen</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {shown.map((s, i) => (
            <tr key={s.id}>
              <td>
                <Link href={`/servers/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                {s.address && <div className="muted small">{s.address}</div>}
              </td>
              <td>
                <StatusDot status={s.status} />
              </td>
              <td>
                <Health server={s} sparkline={i < SPARKLINE_ROWS} />
              </td>
              <td>{s.platform ?? '–'}</td>
              <td>
                {Object.entries(s.tags).map(([k, v]) => (
                  <span key={k} className="chip">
                    {k}={v}
                  </span>
                ))}
              </td>
              <td>
                {(s.groups ?? []).map((g) => (
                  <span key={g} className="chip">
                    {g}
                  </span>
                ))}
              </td>
              <td>{s.status === 'online' ? 'now' : ago(s.lastSeenAt)}</td>
              <td className="row-actions">
                <Link
                  href={`/terminal?server=${encodeURIComponent(s.name)}`}
                  className="button"
                  aria-label={`Open a terminal on ${s.name}`}
                >
                  Terminal
                </Link>
                <Link
                  href={`/files/${encodeURIComponent(s.name)}`}
                  className="button"
                  aria-label={`Browse files on ${s.name}`}
                >
                  Files
                </Link>
              </td>
            </tr>
          ))}
          {!loading && shown.length === 0 && (
            <tr>
              <td colSpan={8} className="muted">
                {items.length > 0
                  ? 'No server matches the filters.'
                  : isStaff(me.user.role)
                    ? 'No servers yet. Register one with a join token (corral server token create).'
                    : 'No server is shared with you yet: ask an administrator for access.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
