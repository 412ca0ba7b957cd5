import { useEffect, useState, type FormEvent } from 'react';
import type { Feature, WorkSessionView } from '@corral/protocol';
import { api, describeError } from '../api/client';
import { isStaff, useMe } from '../api/session';
import { useApi } from '../api/use-api';
import { Dialog, ErrorBox, PageHead } from '../components/ui';
import { DURATIONS } from '../components/work-session-prompt';
import { dateTime, duration } from '../format';

// The protocol's FEATURES, listed here as a type-checked constant so that this page does not pull the
// protocol's zod schemas into the bundle.
const FEATURES: readonly Feature[] = [
  'terminal',
  'file_transfer',
  'exec',
  'code_editor',
  'port_forward',
  'privilege_elevation',
] as const satisfies readonly Feature[];

function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function Remaining({ ws }: { ws: WorkSessionView }) {
  const now = useNow();
  if (!ws.expiresAt || (ws.status !== 'approved' && ws.status !== 'active')) return <>–</>;
  const left = (new Date(ws.expiresAt).getTime() - now) / 1000;
  return (
    <span className={left < 300 ? 'warn' : undefined} data-testid="remaining">
      {left > 0 ? `${duration(left)} left` : 'expiring'}
    </span>
  );
}

function StatusBadge({ status }: { status: string }) {
  return <span className={`ws-status ws-${status}`}>{status}</span>;
}

/** File a request: servers (selectors), features, duration, reason. */
function RequestForm({ onDone }: { onDone: () => void }) {
  const [servers, setServers] = useState('');
  const [features, setFeatures] = useState<Feature[]>(['terminal']);
  const [dur, setDur] = useState(3600);
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState<{ text: string; error: boolean } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMsg(null);
    try {
      const w = await api.post<WorkSessionView>('/api/v1/work-sessions', {
        servers: servers
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean),
        features,
        durationSeconds: dur,
        reason: reason.trim(),
      });
      setMsg({
        text:
          w.status === 'pending'
            ? `Requested ${w.id}: waiting for ${w.approvalsRequired} approval(s) (rule ${w.rule}).`
            : `Work session ${w.id} is ${w.status} (rule ${w.rule}).`,
        error: w.status === 'denied',
      });
      setReason('');
      onDone();
    } catch (err) {
      setMsg({ text: describeError(err), error: true });
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="req-title" data-testid="ws-request-form">
      <h2 id="req-title">Request a work session</h2>
      <label>
        Servers
        <input
          required
          value={servers}
          onChange={(e) => setServers(e.target.value)}
          placeholder="web-01, web-*, group:production, tag:env=prod"
          name="servers"
        />
      </label>
      <fieldset>
        <legend>Features</legend>
        <div className="checks">
          {FEATURES.map((f) => (
            <label key={f} className="checkbox">
              <input
                type="checkbox"
                name="features"
                value={f}
                checked={features.includes(f)}
                onChange={(e) => setFeatures(e.target.checked ? [...features, f] : features.filter((x) => x !== f))}
              />
              {f.replace('_', ' ')}
            </label>
          ))}
        </div>
      </fieldset>
      <label>
        Duration
        <select value={dur} onChange={(e) => setDur(Number(e.target.value))} name="duration">
          {DURATIONS.map(([l, s]) => (
            <option key={s} value={s}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <label>
        Reason
        <textarea required value={reason} onChange={(e) => setReason(e.target.value)} name="reason" />
      </label>
      {msg && (
        <p className={msg.error ? 'error' : 'notice'} role="status" data-testid="ws-request-result">
          {msg.text}
        </p>
      )}
      <button type="submit" className="primary" disabled={features.length === 0}>
        Request
      </button>
    </form>
  );
}

/** Approve (optionally shorter, fewer servers or features, with a comment) or deny. */
function DecideDialog({
  ws,
  action,
  onClose,
}: {
  ws: WorkSessionView;
  action: 'approve' | 'deny';
  onClose: (changed: boolean) => void;
}) {
  const [dur, setDur] = useState(ws.extension?.durationSeconds ?? ws.durationSeconds);
  const [servers, setServers] = useState(ws.selectors.join(', '));
  const [features, setFeatures] = useState<Feature[]>(ws.features);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const original = ws.extension?.durationSeconds ?? ws.durationSeconds;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const id = encodeURIComponent(ws.id);
    try {
      if (action === 'deny') {
        await api.post(`/api/v1/work-sessions/${id}/deny`, text.trim() ? { reason: text.trim() } : {});
      } else {
        const sel = servers
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean);
        const body: Record<string, unknown> = {};
        if (dur < original) body.durationSeconds = dur;
        if (sel.join(',') !== ws.selectors.join(',')) body.servers = sel;
        if (features.length !== ws.features.length) body.features = features;
        if (text.trim()) body.comment = text.trim();
        await api.post(`/api/v1/work-sessions/${id}/approve`, body);
      }
      onClose(true);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <Dialog
      open
      onClose={() => onClose(false)}
      title={`${action === 'approve' ? 'Approve' : 'Deny'} ${ws.user}'s request`}
    >
      <form onSubmit={submit}>
        <p>
          {ws.extension ? `Extension by ${duration(ws.extension.durationSeconds)}` : duration(ws.durationSeconds)} of{' '}
          {ws.features.join(', ')} on {ws.servers.join(', ') || ws.selectors.join(', ')}.
        </p>
        <p className="muted">Reason: {ws.extension?.reason ?? ws.reason}</p>
        {action === 'approve' && (
          <>
            <label>
              Duration (only shorter)
              <select value={dur} onChange={(e) => setDur(Number(e.target.value))}>
                {[...DURATIONS.filter(([, s]) => s < original), [duration(original), original] as [string, number]].map(
                  ([l, s]) => (
                    <option key={s} value={s}>
                      {l}
                    </option>
                  ),
                )}
              </select>
            </label>
            {!ws.extension && (
              <>
                <label>
                  Servers (narrow only)
                  <input value={servers} onChange={(e) => setServers(e.target.value)} />
                </label>
                <fieldset>
                  <legend>Features (narrow only)</legend>
                  <div className="checks">
                    {ws.features.map((f) => (
                      <label key={f} className="checkbox">
                        <input
                          type="checkbox"
                          checked={features.includes(f)}
                          onChange={(e) =>
                            setFeatures(e.target.checked ? [...features, f] : features.filter((x) => x !== f))
                          }
                        />
                        {f}
                      </label>
                    ))}
                  </div>
                </fieldset>
              </>
            )}
          </>
        )}
        <label>
          {action === 'approve' ? 'Comment (optional)' : 'Reason (optional)'}
          <input value={text} onChange={(e) => setText(e.target.value)} />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="row">
          <button
            type="submit"
            className={action === 'approve' ? 'primary' : 'danger'}
            disabled={features.length === 0}
          >
            {action === 'approve' ? 'Approve' : 'Deny'}
          </button>
          <button type="button" onClick={() => onClose(false)}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function SessionsTable({
  items,
  caption,
  mine,
  onChanged,
  testId,
}: {
  items: WorkSessionView[];
  caption: string;
  mine: boolean;
  onChanged: () => void;
  testId: string;
}) {
  const [deciding, setDeciding] = useState<{ ws: WorkSessionView; action: 'approve' | 'deny' } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const act = async (ws: WorkSessionView, verb: string, body?: unknown) => {
    setError(null);
    try {
      await api.post(`/api/v1/work-sessions/${encodeURIComponent(ws.id)}/${verb}`, body ?? {});
      onChanged();
    } catch (e) {
      setError(describeError(e));
    }
  };
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="table" data-testid={testId}>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Status</th>
            {!mine && <th scope="col">Requester</th>}
            <th scope="col">Servers</th>
            <th scope="col">Features</th>
            <th scope="col">Reason</th>
            <th scope="col">Requested</th>
            <th scope="col">Time left</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((ws) => (
            <tr key={ws.id} data-id={ws.id}>
              <td>
                <StatusBadge status={ws.status} />
                {ws.extension && <div className="small muted">extension asked</div>}
                {ws.status === 'pending' && (
                  <div className="small muted">
                    {ws.approvals.length}/{ws.approvalsRequired} approvals
                  </div>
                )}
              </td>
              {!mine && <td>{ws.user}</td>}
              <td>{ws.servers.join(', ') || ws.selectors.join(', ')}</td>
              <td>{ws.features.join(', ')}</td>
              <td className="reason">{ws.reason}</td>
              <td>{dateTime(ws.createdAt)}</td>
              <td>
                <Remaining ws={ws} />
              </td>
              <td className="row-actions">
                {ws.canApprove && (
                  <>
                    <button type="button" className="primary" onClick={() => setDeciding({ ws, action: 'approve' })}>
                      Approve
                    </button>
                    <button type="button" className="danger" onClick={() => setDeciding({ ws, action: 'deny' })}>
                      Deny
                    </button>
                  </>
                )}
                {mine && (ws.status === 'pending' || ws.extension) && (
                  <button type="button" onClick={() => void act(ws, 'cancel')}>
                    Withdraw
                  </button>
                )}
                {mine && (ws.status === 'approved' || ws.status === 'active') && (
                  <>
                    {!ws.extension && (
                      <button type="button" onClick={() => void act(ws, 'extend', { durationSeconds: 3600 })}>
                        +1 h
                      </button>
                    )}
                    <button type="button" onClick={() => void act(ws, 'complete')}>
                      Done
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
          {items.length === 0 && (
            <tr>
              <td colSpan={8} className="muted">
                Nothing here.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {deciding && (
        <DecideDialog
          ws={deciding.ws}
          action={deciding.action}
          onClose={(changed) => {
            setDeciding(null);
            if (changed) onChanged();
          }}
        />
      )}
    </>
  );
}

/** Work sessions: request one, follow mine (with time left), and the approvals inbox. */
export default function WorkSessionsPage() {
  const me = useMe();
  const mine = useApi<{ items: WorkSessionView[] }>('/api/v1/work-sessions?scope=mine', 5000);
  const inbox = useApi<{ items: WorkSessionView[] }>('/api/v1/approvals', 5000);
  const all = useApi<{ items: WorkSessionView[] }>(
    isStaff(me.user.role) ? '/api/v1/work-sessions?scope=all' : null,
    15_000,
  );
  const reload = () => {
    mine.reload();
    inbox.reload();
    all.reload();
  };
  return (
    <section>
      <PageHead title="Work sessions" />
      <ErrorBox error={mine.error ?? inbox.error} />
      <div className="split">
        <RequestForm onDone={reload} />
        <div className="grow">
          <SessionsTable
            items={inbox.data?.items ?? []}
            caption={`Waiting for my approval (${inbox.data?.items.length ?? 0})`}
            mine={false}
            onChanged={reload}
            testId="approvals-table"
          />
          <SessionsTable
            items={mine.data?.items ?? []}
            caption="My work sessions"
            mine
            onChanged={reload}
            testId="mine-table"
          />
        </div>
      </div>
      {all.data && (
        <SessionsTable
          items={all.data.items.slice(0, 100)}
          caption="Everyone's (latest 100)"
          mine={false}
          onChanged={reload}
          testId="all-table"
        />
      )}
    </section>
  );
}
