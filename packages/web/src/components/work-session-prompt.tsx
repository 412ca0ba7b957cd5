import { useEffect, useState, type FormEvent } from 'react';
import type { Feature, WorkSessionView } from '@corral/protocol';
import { api, describeError } from '../api/client';

export const DURATIONS: [string, number][] = [
  ['30 minutes', 1800],
  ['1 hour', 3600],
  ['2 hours', 7200],
  ['4 hours', 14400],
  ['8 hours', 28800],
];

/**
 * Shown where opening something answered WORK_SESSION_REQUIRED: files a request for this server and
 * feature, waits for its approval (polling), then calls `onReady` with the work session's id.
 */
export function WorkSessionPrompt({
  server,
  features,
  message,
  onReady,
  onCancel,
}: {
  server: string;
  features: Feature[];
  message: string;
  onReady: (workSessionId: string) => void;
  onCancel?: () => void;
}) {
  const [duration, setDuration] = useState(3600);
  const [reason, setReason] = useState('');
  const [ws, setWs] = useState<WorkSessionView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!ws || ws.status !== 'pending') return;
    const t = setInterval(() => {
      api
        .get<WorkSessionView>(`/api/v1/work-sessions/${encodeURIComponent(ws.id)}`)
        .then((w) => {
          setWs(w);
          if (w.status === 'approved' || w.status === 'active') onReady(w.id);
        })
        .catch((e: unknown) => setError(describeError(e)));
    }, 2000);
    return () => clearInterval(t);
  }, [ws, onReady]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const w = await api.post<WorkSessionView>('/api/v1/work-sessions', {
        servers: [server],
        features,
        durationSeconds: duration,
        reason: reason.trim(),
      });
      setWs(w);
      if (w.status === 'approved' || w.status === 'active') onReady(w.id);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const cancel = async () => {
    if (ws?.status === 'pending')
      await api.post(`/api/v1/work-sessions/${encodeURIComponent(ws.id)}/cancel`).catch(() => {});
    onCancel?.();
  };

  if (ws && ws.status !== 'approved' && ws.status !== 'active') {
    return (
      <div className="prompt" role="status" data-testid="work-session-waiting">
        {ws.status === 'pending' ? (
          <p>
            Work session <code>{ws.id}</code> is waiting for {ws.approvalsRequired - ws.approvals.length} approval(s)
            (rule <code>{ws.rule}</code>; approvers:{' '}
            {[...ws.approvers.roles, ...ws.approvers.groups.map((g) => `group ${g}`)].join(', ')}
            ). This terminal opens as soon as it is approved.
          </p>
        ) : (
          <p className="error">
            Work session <code>{ws.id}</code> was {ws.status}
            {ws.endReason ? `: ${ws.endReason}` : '.'}
          </p>
        )}
        {error && <p className="error">{error}</p>}
        <button type="button" onClick={() => void cancel()}>
          {ws.status === 'pending' ? 'Withdraw request' : 'Close'}
        </button>
      </div>
    );
  }

  return (
    <form className="prompt" onSubmit={submit} aria-labelledby="wsp-title" data-testid="work-session-prompt">
      <h2 id="wsp-title">A work session is needed</h2>
      <p className="muted">{message}</p>
      <p>
        Request {features.join(' and ')} on <strong>{server}</strong>:
      </p>
      <label>
        Duration
        <select value={duration} onChange={(e) => setDuration(Number(e.target.value))}>
          {DURATIONS.map(([l, s]) => (
            <option key={s} value={s}>
              {l}
            </option>
          ))}
        </select>
      </label>
      <label>
        Reason
        <textarea
          required
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          placeholder="INC-42: disk full on web tier"
        />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <button type="submit" className="primary" disabled={busy}>
          Request work session
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** Root terminals need a fresh password proof (POST /api/v1/auth/step-up) within the grace window. */
export function StepUpPrompt({ message, onDone }: { message: string; onDone: () => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post('/api/v1/auth/step-up', { password });
      onDone();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form className="prompt" onSubmit={submit} aria-labelledby="stepup-title">
      <h2 id="stepup-title">Confirm it is you</h2>
      <p className="muted">{message}</p>
      <label>
        Password
        <input
          type="password"
          autoComplete="current-password"
          required
          autoFocus
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary">
        Confirm
      </button>
    </form>
  );
}
