import { useState, type FormEvent } from 'react';
import { encode } from 'uqr';
import type { AuthSessionView, MfaConfirmResponse, MfaEnrollResponse, MfaStatus } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { useSession } from '../api/session';
import { ActionMessage, useAction } from '../admin/use-action';
import { useStepUp } from '../components/step-up';
import { ErrorBox, PageHead } from '../components/ui';
import { dateTime } from '../format';
import { METHOD_LABELS, webauthnRegistration } from '../lib/webauthn';

/** A QR code as SVG squares (no canvas, no inline script: fine under the CSP). */
function QrCode({ text, label }: { text: string; label: string }) {
  const { data, size } = encode(text, { border: 2 });
  const cells: string[] = [];
  data.forEach((row, y) => row.forEach((on, x) => on && cells.push(`M${x} ${y}h1v1h-1z`)));
  return (
    <svg className="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} width={200} height={200}>
      <rect width={size} height={size} fill="#fff" />
      <path d={cells.join('')} fill="#000" />
    </svg>
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <div className="card secret-once" role="status" data-testid="recovery-codes">
      <p>
        <strong>Recovery codes.</strong> Each works once when your factors are not at hand. Keep them somewhere safe:
        they are shown only this once.
      </p>
      <ul className="codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" onClick={() => void navigator.clipboard?.writeText(codes.join('\n'))}>
          Copy
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

type Pending = MfaEnrollResponse & { kind: string };

/** Enrol a factor: start, then confirm with the first code (or the authenticator's answer). */
function AddFactor({
  allowed,
  guarded,
  onAdded,
}: {
  allowed: string[];
  guarded: <T>(fn: () => Promise<T>) => Promise<T>;
  onAdded: (r: MfaConfirmResponse) => void;
}) {
  const [kind, setKind] = useState(allowed[0] ?? 'totp');
  const [label, setLabel] = useState('');
  const [phone, setPhone] = useState('');
  const [channel, setChannel] = useState('sms');
  const [pending, setPending] = useState<Pending | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);

  const start = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body =
        kind === 'sms'
          ? { kind, phone: phone.replace(/[\s-]/g, ''), channel }
          : kind === 'email'
            ? { kind }
            : { kind, ...(label.trim() ? { label: label.trim() } : {}) };
      const r = await guarded(() => api.post<MfaEnrollResponse>('/api/v1/auth/mfa/factors', body));
      if (kind === 'webauthn') {
        const answer = await webauthnRegistration(r.webauthn);
        const c = await api.post<MfaConfirmResponse>(
          `/api/v1/auth/mfa/factors/${encodeURIComponent(r.factor.id)}/confirm`,
          { webauthn: answer },
        );
        setLabel('');
        return onAdded(c);
      }
      setPending({ ...r, kind });
      setCode('');
    } catch (err) {
      setError(
        err instanceof Error && err.name === 'NotAllowedError'
          ? 'The security key did not answer.'
          : String((err as Error).message ?? err),
      );
    }
  };

  const confirm = async (e: FormEvent) => {
    e.preventDefault();
    if (!pending) return;
    setError(null);
    try {
      const c = await api.post<MfaConfirmResponse>(
        `/api/v1/auth/mfa/factors/${encodeURIComponent(pending.factor.id)}/confirm`,
        { code: code.trim() },
      );
      setPending(null);
      setLabel('');
      onAdded(c);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  if (pending)
    return (
      <form className="card stack" onSubmit={confirm} data-testid="factor-confirm">
        {pending.kind === 'totp' && pending.otpauthUri && (
          <>
            <p>Scan this with your authenticator app, or enter the key by hand.</p>
            <QrCode text={pending.otpauthUri} label="QR code for your authenticator app" />
            <p>
              Key: <code data-testid="totp-secret">{pending.secret}</code>
            </p>
            <details>
              <summary>otpauth URI</summary>
              <code className="secret" data-testid="otpauth-uri">
                {pending.otpauthUri}
              </code>
            </details>
          </>
        )}
        {pending.sentTo && <p role="status">A code was sent to {pending.sentTo}.</p>}
        <label>
          Code from the {pending.kind === 'totp' ? 'app' : 'message'}
          <input
            inputMode="numeric"
            autoComplete="one-time-code"
            required
            autoFocus
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary">
            Confirm
          </button>
          <button type="button" onClick={() => setPending(null)}>
            Cancel
          </button>
        </div>
      </form>
    );

  return (
    <form className="card inline-form" onSubmit={start} data-testid="factor-add">
      <label>
        Kind
        <select value={kind} onChange={(e) => setKind(e.target.value)}>
          {allowed.map((k) => (
            <option key={k} value={k}>
              {METHOD_LABELS[k] ?? k}
            </option>
          ))}
        </select>
      </label>
      {(kind === 'totp' || kind === 'webauthn') && (
        <label>
          Label (optional)
          <input value={label} maxLength={64} onChange={(e) => setLabel(e.target.value)} />
        </label>
      )}
      {kind === 'sms' && (
        <>
          <label>
            Phone
            <input
              type="tel"
              required
              placeholder="+15551234567"
              value={phone}
              onChange={(e) => setPhone(e.target.value)}
            />
          </label>
          <label>
            By
            <select value={channel} onChange={(e) => setChannel(e.target.value)}>
              <option value="sms">SMS</option>
              <option value="voice">voice call</option>
            </select>
          </label>
        </>
      )}
      <button type="submit" className="primary">
        Add factor
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function ChangePassword({ guarded }: { guarded: <T>(fn: () => Promise<T>) => Promise<T> }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const { message, run } = useAction(() => {});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (next !== again) return void run(() => Promise.reject(new Error('The new passwords differ.')));
    let revoked = 0;
    const ok = await run(async () => {
      revoked = (
        await guarded(() => api.post<{ revokedSessions: number }>('/api/v1/auth/password', { current, new: next }))
      ).revokedSessions;
    });
    if (ok) {
      setCurrent('');
      setNext('');
      setAgain('');
      await run(async () => {}, `Password changed; ${revoked} other session(s) signed out.`);
    }
  };
  return (
    <form className="card inline-form" onSubmit={submit} data-testid="password-form">
      <label>
        Current password
        <input
          type="password"
          autoComplete="current-password"
          required
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
        />
      </label>
      <label>
        New password (12+ characters)
        <input
          type="password"
          autoComplete="new-password"
          required
          minLength={12}
          value={next}
          onChange={(e) => setNext(e.target.value)}
        />
      </label>
      <label>
        New password again
        <input
          type="password"
          autoComplete="new-password"
          required
          minLength={12}
          value={again}
          onChange={(e) => setAgain(e.target.value)}
        />
      </label>
      <button type="submit" className="primary">
        Change password
      </button>
      <ActionMessage message={message} />
    </form>
  );
}

/** My security: second factors, recovery codes, sign-in sessions, password. */
export default function SecurityPage() {
  const { session, refresh } = useSession();
  // A session held to enrolment reaches the MFA routes only: no sessions list or password change yet.
  const enrolling = Boolean(session?.enrollmentRequired);
  const mfa = useApi<MfaStatus>('/api/v1/auth/mfa');
  const sessions = useApi<{ items: AuthSessionView[] }>(enrolling ? null : '/api/v1/auth/sessions');
  const { message, run } = useAction(() => {
    mfa.reload();
    sessions.reload();
  });
  const { guarded, element } = useStepUp();
  const [codes, setCodes] = useState<string[] | null>(null);
  const factors = (mfa.data?.factors ?? []).filter((f) => f.confirmed);
  const allowed = mfa.data?.policy.methods ?? ['totp', 'webauthn', 'email', 'sms'];

  return (
    <section>
      <PageHead title="Security" />
      <h2>Second factors</h2>
      {mfa.data?.policy.enforced && <p className="notice">This workspace requires a second factor at sign-in.</p>}
      <ErrorBox error={mfa.error} />
      <table className="table" data-testid="factors-table">
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Label</th>
            <th scope="col">Added</th>
            <th scope="col">Last used</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {factors.map((f) => (
            <tr key={f.id}>
              <td>{METHOD_LABELS[f.kind] ?? f.kind}</td>
              <td>
                {f.label}
                {f.channel === 'voice' ? ' (voice)' : ''}
              </td>
              <td>{dateTime(f.createdAt)}</td>
              <td>{f.lastUsedAt ? dateTime(f.lastUsedAt) : 'never'}</td>
              <td className="row-actions">
                <button
                  type="button"
                  className="danger"
                  aria-label={`Remove ${f.label}`}
                  onClick={() => {
                    if (window.confirm(`Remove “${f.label}”?`))
                      void run(
                        () => guarded(() => api.del(`/api/v1/auth/mfa/factors/${encodeURIComponent(f.id)}`)),
                        `“${f.label}” was removed.`,
                      );
                  }}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {mfa.data && factors.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No second factor yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {mfa.data && (
        <AddFactor
          allowed={allowed}
          guarded={guarded}
          onAdded={(c) => {
            if (c.recoveryCodes) setCodes(c.recoveryCodes);
            if (enrolling) refresh();
            void run(async () => {}, `“${c.factor.label}” was added.`);
          }}
        />
      )}
      <ActionMessage message={message} />
      {codes && <RecoveryCodes codes={codes} onDone={() => setCodes(null)} />}
      {mfa.data && factors.length > 0 && (
        <p>
          Recovery codes left: <strong data-testid="recovery-left">{mfa.data.recoveryCodesLeft}</strong>{' '}
          <button
            type="button"
            onClick={() => {
              if (window.confirm('Make ten new recovery codes? The old ones stop working.'))
                void run(async () => {
                  const r = await guarded(() =>
                    api.post<{ recoveryCodes: string[] }>('/api/v1/auth/mfa/recovery-codes'),
                  );
                  setCodes(r.recoveryCodes);
                });
            }}
          >
            New recovery codes
          </button>
        </p>
      )}

      {enrolling ? (
        <p className="muted">Your sign-in sessions and the password change are here once a second factor is added.</p>
      ) : (
        <>
          <h2>Sign-in sessions</h2>
          <ErrorBox error={sessions.error} />
          <table className="table" data-testid="sessions-table">
            <thead>
              <tr>
                <th scope="col">Signed in</th>
                <th scope="col">How</th>
                <th scope="col">Last used</th>
                <th scope="col">From</th>
                <th scope="col">Browser or client</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {(sessions.data?.items ?? []).map((s) => (
                <tr key={s.id}>
                  <td>
                    {dateTime(s.createdAt)} {s.current && <span className="chip">this one</span>}
                  </td>
                  <td>{s.method ?? '–'}</td>
                  <td>{s.lastUsedAt ? dateTime(s.lastUsedAt) : '–'}</td>
                  <td>{s.sourceIp ?? '–'}</td>
                  <td className="small">{s.userAgent ?? '–'}</td>
                  <td>{dateTime(s.expiresAt)}</td>
                  <td className="row-actions">
                    {!s.current && (
                      <button
                        type="button"
                        className="danger"
                        onClick={() =>
                          void run(
                            () => api.del(`/api/v1/auth/sessions/${encodeURIComponent(s.id)}`),
                            'The session was signed out.',
                          )
                        }
                      >
                        Sign out
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>

          <h2>Password</h2>
          <ChangePassword guarded={guarded} />
        </>
      )}
      {element}
    </section>
  );
}
