import { useState } from 'react';
import { Link, useParams } from 'wouter';
import type { MetricsRange, MetricsResponse, ServerDetail, WebshSessionView } from '@corral/protocol';
import { api, describeError } from '../api/client';
import { isStaff, useMe } from '../api/session';
import { useApi } from '../api/use-api';
import { LineChart } from '../components/charts';
import { ErrorBox, PageHead, StatusDot } from '../components/ui';
import { ago, bytes, dateTime, pct, rate } from '../format';

const RANGES: MetricsRange[] = ['1h', '24h', '7d'];

/** One server: facts, CPU / memory / disk / network over 1 h, 24 h or 7 d, and its terminal sessions. */
export default function ServerPage() {
  const { name = '' } = useParams<{ name: string }>();
  const me = useMe();
  const enc = encodeURIComponent(name);
  const [range, setRange] = useState<MetricsRange>('1h');
  const server = useApi<ServerDetail>(`/api/v1/servers/${enc}`, 15_000);
  const metrics = useApi<MetricsResponse>(`/api/v1/servers/${enc}/metrics?range=${range}`, 30_000);
  const sessions = useApi<{ items: WebshSessionView[] }>('/api/v1/websh/sessions', 15_000);
  const [actionError, setActionError] = useState<string | null>(null);
  const s = server.data;
  const pts = metrics.data?.points ?? [];
  const times = pts.map((p) => p.at);
  const latest = metrics.data?.latest;
  const mine = (sessions.data?.items ?? []).filter((x) => x.serverName === name).slice(0, 50);

  const terminate = async (id: string) => {
    setActionError(null);
    try {
      await api.post(`/api/v1/websh/sessions/${encodeURIComponent(id)}/terminate`, {});
      sessions.reload();
    } catch (e) {
      setActionError(describeError(e));
    }
  };

  return (
    <section>
      <PageHead
        title={
          <>
            <Link href="/servers">Servers</Link> / {name}
          </>
        }
      >
        <Link href={`/terminal?server=${enc}`} className="button primary">
          Open terminal
        </Link>
        <Link href={`/files/${enc}`} className="button">
          Files
        </Link>
      </PageHead>
      <ErrorBox error={server.error} />
      {s && (
        <dl className="facts">
          <dt>Status</dt>
          <dd>
            <StatusDot status={s.status} /> {s.status === 'offline' && `last seen ${ago(s.lastSeenAt)}`}
          </dd>
          <dt>Health</dt>
          <dd>
            <span className={`health health-${s.health ?? 'unknown'}`}>{s.health ?? 'unknown'}</span>
          </dd>
          <dt>Platform</dt>
          <dd>{s.system ? `${s.system.osName} ${s.system.osVersion} (${s.system.arch})` : (s.platform ?? '–')}</dd>
          <dt>Kernel</dt>
          <dd>{s.system?.kernel ?? '–'}</dd>
          <dt>CPUs / memory</dt>
          <dd>{s.system ? `${s.system.cpuCount} / ${bytes(s.system.memoryBytes)}` : '–'}</dd>
          <dt>Addresses</dt>
          <dd>{s.system?.addresses.join(', ') || s.address || '–'}</dd>
          <dt>Agent</dt>
          <dd>
            {s.system?.agentVersion ?? '–'} {s.system?.agentUser ? `as ${s.system.agentUser}` : ''}
          </dd>
          <dt>Tags</dt>
          <dd>
            {Object.entries(s.tags).map(([k, v]) => (
              <span key={k} className="chip">
                {k}={v}
              </span>
            ))}
            {Object.keys(s.tags).length === 0 && '–'}
          </dd>
          <dt>Groups</dt>
          <dd>{(s.groups ?? []).join(', ') || '–'}</dd>
          <dt>Connected</dt>
          <dd>{dateTime(s.connectedAt)}</dd>
        </dl>
      )}

      <div className="page-head">
        <h2>Health</h2>
        <div className="segmented" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button key={r} type="button" aria-pressed={range === r} onClick={() => setRange(r)}>
              {r}
            </button>
          ))}
        </div>
      </div>
      <ErrorBox error={metrics.error} />
      {latest && (
        <p className="muted">
          Now: CPU {pct(latest.cpuPct)}, memory {bytes(latest.memUsed)} of {bytes(latest.memTotal)}, load{' '}
          {latest.load.map((l) => l.toFixed(2)).join(' ')}, network in {rate(latest.rxBps)} out {rate(latest.txBps)}
        </p>
      )}
      <div className="charts">
        <LineChart
          title="CPU"
          times={times}
          max={100}
          format={pct}
          series={[
            { label: 'average', values: pts.map((p) => p.cpuPct), className: 's1' },
            ...(range === '1h' ? [] : [{ label: 'max', values: pts.map((p) => p.cpuPctMax), className: 's2' }]),
          ]}
        />
        <LineChart
          title="Memory"
          times={times}
          max={100}
          format={pct}
          series={[
            { label: 'average', values: pts.map((p) => p.memPct), className: 's1' },
            ...(range === '1h' ? [] : [{ label: 'max', values: pts.map((p) => p.memPctMax), className: 's2' }]),
          ]}
        />
        <LineChart
          title="Disk (fullest mount)"
          times={times}
          max={100}
          format={pct}
          series={[{ label: 'used', values: pts.map((p) => p.diskPct), className: 's1' }]}
        />
        <LineChart
          title="Network"
          times={times}
          format={rate}
          series={[
            { label: 'in', values: pts.map((p) => p.rxBps), className: 's1' },
            { label: 'out', values: pts.map((p) => p.txBps), className: 's2' },
          ]}
        />
      </div>
      {latest && latest.disks.length > 0 && (
        <table className="table compact">
          <caption>Disks</caption>
          <thead>
            <tr>
              <th scope="col">Mount</th>
              <th scope="col">Type</th>
              <th scope="col">Used</th>
              <th scope="col">Size</th>
              <th scope="col">Use</th>
            </tr>
          </thead>
          <tbody>
            {latest.disks.map((d) => (
              <tr key={d.mount}>
                <td>{d.mount}</td>
                <td>{d.fsType ?? '–'}</td>
                <td>{bytes(d.used)}</td>
                <td>{bytes(d.total)}</td>
                <td>{pct(d.pct)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Sessions</h2>
      {actionError && (
        <p className="error" role="alert">
          {actionError}
        </p>
      )}
      <ErrorBox error={sessions.error} />
      <table className="table" data-testid="server-sessions">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">User</th>
            <th scope="col">OS user</th>
            <th scope="col">Command</th>
            <th scope="col">Ended</th>
            <th scope="col">Bytes in / out</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {mine.map((x) => (
            <tr key={x.id}>
              <td>{dateTime(x.startedAt)}</td>
              <td>{x.userEmail ?? '–'}</td>
              <td>{x.osUser}</td>
              <td>
                <code>{x.command ?? 'shell'}</code>
              </td>
              <td>
                {x.endedAt
                  ? `${dateTime(x.endedAt)}${x.endReason ? ` (${x.endReason})` : ''}`
                  : x.state === 'detached'
                    ? 'kept (nobody attached)'
                    : 'live'}
              </td>
              <td>
                {bytes(x.bytesIn)} / {bytes(x.bytesOut)}
              </td>
              <td className="row-actions">
                {x.endedAt ? (
                  <Link href={`/recordings/${encodeURIComponent(x.id)}`} className="button">
                    Play
                  </Link>
                ) : (
                  <>
                    {x.mine && x.state === 'detached' && (
                      <Link href={`/terminal?attach=${encodeURIComponent(x.id)}&server=${enc}`} className="button">
                        Re-attach
                      </Link>
                    )}
                    {isStaff(me.user.role) && !x.mine && (
                      <Link href={`/terminal?watch=${encodeURIComponent(x.id)}&server=${enc}`} className="button">
                        Watch
                      </Link>
                    )}
                    {isStaff(me.user.role) && (
                      <button type="button" className="danger" onClick={() => void terminate(x.id)}>
                        Terminate
                      </button>
                    )}
                  </>
                )}
              </td>
            </tr>
          ))}
          {mine.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No sessions on this server yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
