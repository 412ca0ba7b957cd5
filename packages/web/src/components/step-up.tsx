import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { api, ApiError, describeError } from '../api/client';
import { webauthnAssertion } from '../lib/webauthn';
import { FactorFields } from './factor-fields';
import { Dialog } from './ui';

interface Begin {
  mfa: boolean;
  methods: string[];
  challenge?: string;
  webauthn?: unknown;
  sentTo?: string;
}

/**
 * The fresh proof privileged actions ask for (`403 STEP_UP_REQUIRED`): a second factor, or the
 * password for users without one (POST /api/v1/auth/step-up, after /step-up/begin for codes sent by
 * e-mail or SMS and for WebAuthn).
 */
function StepUpForm({ onDone, onCancel }: { onDone: () => void; onCancel: () => void }) {
  const [info, setInfo] = useState<Begin | null>(null);
  const [method, setMethod] = useState('totp');
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [challenge, setChallenge] = useState<string | null>(null);
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api
      .post<Begin>('/api/v1/auth/step-up/begin', {})
      .then((b) => {
        setInfo(b);
        setMethod(b.methods.find((m) => m !== 'recovery') ?? b.methods[0] ?? 'totp');
      })
      .catch((e) => setError(describeError(e)));
  }, []);

  const send = async () => {
    setError(null);
    try {
      const b = await api.post<Begin>('/api/v1/auth/step-up/begin', { method });
      setChallenge(b.challenge ?? null);
      setSent(`A code was sent to ${b.sentTo ?? 'you'}.`);
    } catch (e) {
      setError(describeError(e));
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!info?.mfa) await api.post('/api/v1/auth/step-up', { password });
      else if (method === 'webauthn') {
        const b = await api.post<Begin>('/api/v1/auth/step-up/begin', { method });
        const assertion = await webauthnAssertion(b.webauthn);
        await api.post('/api/v1/auth/step-up', { method, challenge: b.challenge, webauthn: assertion });
      } else
        await api.post('/api/v1/auth/step-up', {
          method,
          code: code.trim(),
          ...(challenge && (method === 'email' || method === 'sms') ? { challenge } : {}),
        });
      onDone();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="stack" data-testid="step-up-form">
      <p className="muted">This action needs a fresh proof that it is you (valid a few minutes).</p>
      {info && !info.mfa && (
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
      )}
      {info?.mfa && (
        <>
          <FactorFields
            methods={info.methods}
            method={method}
            onMethod={(m) => {
              setMethod(m);
              setCode('');
              setSent(null);
              setChallenge(null);
            }}
            code={code}
            onCode={setCode}
            sent={sent}
            onSend={() => void send()}
          />
        </>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || !info}>
          Verify
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/**
 * `guarded(fn)` runs fn; when the gateway answers STEP_UP_REQUIRED it asks for the proof in a dialog and
 * runs fn again. Render `element` somewhere in the page.
 */
export function useStepUp(): { guarded: <T>(fn: () => Promise<T>) => Promise<T>; element: ReactNode } {
  const [open, setOpen] = useState(false);
  const pending = useRef<{ resolve: () => void; reject: (e: Error) => void } | null>(null);
  const guarded = useCallback(async <T,>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'STEP_UP_REQUIRED')) throw e;
      await new Promise<void>((resolve, reject) => {
        pending.current = { resolve, reject };
        setOpen(true);
      });
      return fn();
    }
  }, []);
  const finish = (ok: boolean) => {
    const p = pending.current;
    pending.current = null;
    setOpen(false);
    if (ok) p?.resolve();
    else p?.reject(new Error('Cancelled: the action needs a fresh proof that it is you.'));
  };
  const element = (
    <Dialog title="Confirm it is you" open={open} onClose={() => finish(false)}>
      {open && <StepUpForm onDone={() => finish(true)} onCancel={() => finish(false)} />}
    </Dialog>
  );
  return { guarded, element };
}
