import { useEffect, useState } from 'react';
import type { AuditEventView, AuditVerifyResponse } from '@corral/protocol';
import { api, qs } from '../api/client';
import { useApi } from '../api/use-api';
import { ErrorBox, PageHead, saveBlob } from '../components/ui';
import { dateTime } from '../format';
import { auditCsv } from '../lib/csv';

const PAGE = 500;

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  const key = JSON.stringify(value);
  useEffect(() => {
    const t = setTimeout(() => setV(JSON.parse(key) as T), ms);
    return () => clearTimeout(t);
  }, [key, ms]);
  return v;
}

function summary(e: AuditEventView): string {
  const d = e.details;
  if (e.action === 'session.risk')
    return `score ${String(d.score)} ${String(d.category ?? '')}: ${String(d.reason ?? '')} — ${String(d.command ?? '')}`;
  if (e.action === 'session.command') return String(d.command ?? d.line ?? '');
  const s = JSON.stringify(d);
  return s === '{}' ? '' : s.length > 160 ? `${s.slice(0, 160)}…` : s;
}

/** The audit log: filters, risk highlighted, the hash chain's verification, JSON/CSV export. */
export default function AuditPage() {
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [server, setServer] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [items, setItems] = useState<AuditEventView[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [tick, setTick] = useState(0);
  const verify = useApi<AuditVerifyResponse>('/api/v1/audit/verify');
  // The gateway filters (exactly); typing waits a moment before asking.
  const filters = useDebounced(
    {
      action,
      actor: actor.trim(),
      server: server.trim(),
      since: from ? new Date(from).toISOString() : '',
      until: to ? new Date(to).toISOString() : '',
    },
    400,
  );
  const query = qs({ limit: PAGE, ...filters });

  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    api
      .get<{ items: AuditEventView[]; nextBefore: number | null }>(`/api/v1/audit${query}`, {
        signal: ac.signal,
      })
      .then((r) => {
        setItems(r.items);
        setNext(r.nextBefore);
        setError(null);
      })
      .catch((e: unknown) => (e as Error).name !== 'AbortError' && setError(e))
      .finally(() => !ac.signal.aborted && setLoading(false));
    return () => ac.abort();
  }, [query, tick]);

  const more = async () => {
    if (next === null) return;
    setLoading(true);
    try {
      const r = await api.get<{ items: AuditEventView[]; nextBefore: number | null }>(
        `/api/v1/audit${query}&before=${next}`,
      );
      setItems((xs) => [...xs, ...r.items]);
      setNext(r.nextBefore);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  const actions = [...new Set(items.map((e) => e.action))].sort();
  const v = verify.data;

  return (
    <section>
      <PageHead title="Audit log">
        <span
          className={`chain ${v ? (v.ok ? 'chain-ok' : 'chain-broken') : ''}`}
          role="status"
          data-testid="chain-status"
        >
          {verify.loading && !v
            ? 'Verifying the hash chain…'
            : v
              ? v.ok
                ? `✓ Chain verified: ${v.count} events, head #${v.headSeq}`
                : `✗ Chain broken at #${v.brokenAt}: ${v.reason ?? ''}`
              : 'Chain not verified'}
        </span>
        <button type="button" onClick={verify.reload}>
          Verify again
        </button>
        <button
          type="button"
          onClick={() =>
            saveBlob(new Blob([JSON.stringify(items, null, 2)], { type: 'application/json' }), 'audit.json')
          }
        >
          Export JSON
        </button>
        <button type="button" onClick={() => saveBlob(new Blob([auditCsv(items)], { type: 'text/csv' }), 'audit.csv')}>
          Export CSV
        </button>
      </PageHead>
      <ErrorBox error={verify.error} />
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Action
          <input
            list="audit-actions"
            value={action}
            onChange={(e) => setAction(e.target.value.trim())}
            placeholder="any (exact, e.g. session.risk)"
          />
          <datalist id="audit-actions">
            {actions.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </label>
        <label>
          Actor
          <input value={actor} onChange={(e) => setActor(e.target.value)} placeholder="email or id (exact)" />
        </label>
        <label>
          Server
          <input value={server} onChange={(e) => setServer(e.target.value)} placeholder="name (exact)" />
        </label>
        <label>
          From
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          To
          <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <button type="button" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </form>
      <ErrorBox error={error} />
      <p className="muted small" role="status">
        {items.length} events{next !== null ? ' (older ones not loaded yet)' : ''}
      </p>
      <table className="table audit" data-testid="audit-table" aria-busy={loading}>
        <caption className="sr-only">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Action</th>
            <th scope="col">Outcome</th>
            <th scope="col">Actor</th>
            <th scope="col">Target</th>
            <th scope="col">Source</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr
              key={e.id}
              className={e.action === 'session.risk' ? 'risk' : e.outcome !== 'success' ? 'not-ok' : undefined}
            >
              <td>{e.seq}</td>
              <td>{dateTime(e.ts)}</td>
              <td>
                {e.action === 'session.risk' && (
                  <span className="risk-flag" aria-label="risk">
                    ⚠{' '}
                  </span>
                )}
                <code>{e.action}</code>
              </td>
              <td>
                <span className={`outcome outcome-${e.outcome}`}>{e.outcome}</span>
              </td>
              <td>{e.actorName ?? e.actorType}</td>
              <td>{e.targetName ? `${e.targetType ?? ''} ${e.targetName}` : '–'}</td>
              <td>{e.sourceIp ?? '–'}</td>
              <td className="details">
                <code title={JSON.stringify(e.details, null, 2)}>{summary(e)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {next !== null && (
        <button type="button" onClick={() => void more()} disabled={loading}>
          Load older events
        </button>
      )}
    </section>
  );
}
