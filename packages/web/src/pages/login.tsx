import { useEffect, useState, type FormEvent } from 'react';
import { Redirect, useLocation, useSearch } from 'wouter';
import { api, describeError } from '../api/client';
import { useSession } from '../api/session';
import { isAppRoute, safeNext } from '../lib/next';
import { ThemeToggle } from '../components/theme-toggle';
import { useApi } from '../api/use-api';
import { webauthnAssertion } from '../lib/webauthn';
import { FactorFields } from '../components/factor-fields';

interface SsoButton {
  name: string;
  kind: 'oidc' | 'saml';
  displayName: string;
  startUrl: string;
}

/** The workspace this host serves, as far as the browser can tell before signing in. */
function workspaceHint(): string {
  const host = window.location.hostname;
  if (/^[\d.]+$/.test(host) || host.includes(':') || host === 'localhost') return 'default';
  const first = host.split('.')[0] ?? host;
  return host.endsWith('.localhost') || host.split('.').length > 3 ? first : host;
}

type Step = { kind: 'password' } | { kind: 'second-factor'; challenge: string; methods: string[]; webauthn?: unknown };

/**
 * Sign-in: email and password, then (when the account has one) a second factor. The second step is a
 * separate form state so methods (TOTP, WebAuthn, e-mail/SMS codes, recovery codes) slot in here.
 */
export function LoginPage() {
  const { session, login, loginSecondFactor } = useSession();
  const search = useSearch();
  const [, navigate] = useLocation();
  const next = safeNext(new URLSearchParams(search).get('next'));
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [method, setMethod] = useState('totp');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const sso = useApi<{ items: SsoButton[]; ssoRequired: boolean }>('/api/v1/auth/sso/providers');

  const sendCode = async () => {
    if (step.kind !== 'second-factor') return;
    setError(null);
    try {
      const r = await api.post<{ sentTo: string; expiresAt: string }>(
        '/api/v1/auth/login/mfa/send',
        { challenge: step.challenge, method },
        { quiet401: true },
      );
      setSent(`A code was sent to ${r.sentTo}.`);
    } catch (err) {
      setError(describeError(err));
    }
  };

  useEffect(() => {
    if (session && !isAppRoute(next)) window.location.replace(next);
  }, [session, next]);
  if (session) return isAppRoute(next) ? <Redirect to={next} replace /> : null;

  const done = (a: Awaited<ReturnType<typeof login>>) => {
    if (a.kind === 'mfa') {
      setStep({ kind: 'second-factor', challenge: a.challenge, methods: a.methods, webauthn: a.webauthn });
      setMethod(a.methods.find((m) => m !== 'recovery') ?? a.methods[0] ?? 'totp');
      setCode('');
      setSent(null);
      return;
    }
    if (a.enrollmentRequired) return navigate('/security', { replace: true });
    // The gateway's own pages (device approval, SSO results) are not routes of this app: load them.
    if (isAppRoute(next)) navigate(next, { replace: true });
    else window.location.assign(next);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (step.kind === 'password') done(await login(email.trim(), password));
      else if (method === 'webauthn')
        done(await loginSecondFactor(step.challenge, method, { webauthn: await webauthnAssertion(step.webauthn) }));
      else done(await loginSecondFactor(step.challenge, method, { code: code.trim() }));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <div className="login-card">
        <div className="login-head">
          <h1>
            <span className="logo" aria-hidden="true">
              ◆
            </span>{' '}
            Corral
          </h1>
          <ThemeToggle />
        </div>
        <p className="muted">
          Workspace <strong data-testid="login-workspace">{workspaceHint()}</strong> at {window.location.host}
        </p>
        <form onSubmit={submit} aria-describedby={error ? 'login-error' : undefined}>
          {step.kind === 'password' ? (
            <>
              <label>
                Email
                <input
                  name="email"
                  type="email"
                  autoComplete="username"
                  required
                  autoFocus
                  value={email}
                  onChange={(e) => setEmail(e.target.value)}
                />
              </label>
              <label>
                Password
                <input
                  name="password"
                  type="password"
                  autoComplete="current-password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              </label>
            </>
          ) : (
            <fieldset>
              <legend>Second factor</legend>
              <FactorFields
                methods={step.methods}
                method={method}
                onMethod={(m) => {
                  setMethod(m);
                  setCode('');
                  setSent(null);
                }}
                code={code}
                onCode={setCode}
                sent={sent}
                onSend={() => void sendCode()}
              />
            </fieldset>
          )}
          {error && (
            <p className="error" role="alert" id="login-error">
              {error}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : step.kind === 'password' ? 'Sign in' : 'Verify'}
          </button>
          {step.kind === 'password' && (sso.data?.items.length ?? 0) > 0 && (
            <div className="sso-buttons" data-testid="sso-buttons">
              <p className="muted divider">
                {sso.data?.ssoRequired ? 'This workspace signs in with single sign-on' : 'or'}
              </p>
              {sso.data?.items.map((p) => (
                <a
                  key={p.name}
                  className="button sso-button"
                  href={`${p.startUrl}${p.startUrl.includes('?') ? '&' : '?'}next=${encodeURIComponent(next)}`}
                >
                  Sign in with {p.displayName}
                </a>
              ))}
            </div>
          )}
          {step.kind === 'second-factor' && (
            <button type="button" onClick={() => setStep({ kind: 'password' })}>
              Back
            </button>
          )}
        </form>
      </div>
    </main>
  );
}
