import { useEffect, useState, type FormEvent } from 'react';
import type { WorkspaceDetail } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { useMe } from '../api/session';
import { ErrorBox } from '../components/ui';
import { useStepUp } from '../components/step-up';
import { METHOD_LABELS } from '../lib/webauthn';
import { ActionMessage, useAction } from './use-action';

const KINDS = ['totp', 'webauthn', 'email', 'sms'] as const;
const ACTIONS: { key: string; label: string }[] = [
  { key: 'token_create', label: 'creating API tokens' },
  { key: 'role_change', label: 'changing roles' },
  { key: 'policy_change', label: 'changing policies' },
  { key: 'user_deactivate', label: 'deactivating users' },
  { key: 'password_change', label: 'changing passwords' },
];

/** The workspace's MFA policy (superusers): enforcement, allowed methods, step-up actions and grace. */
export function MfaPolicySection() {
  const me = useMe();
  const superuser = me.user.role === 'superuser';
  const ws = useApi<WorkspaceDetail>('/api/v1/workspace');
  const { message, run } = useAction(ws.reload);
  const { guarded, element } = useStepUp();
  const [enforced, setEnforced] = useState(false);
  const [methods, setMethods] = useState<string[]>([...KINDS]);
  const [actions, setActions] = useState<string[]>([]);
  const [grace, setGrace] = useState(300);
  useEffect(() => {
    const s = ws.data?.settings;
    if (!s) return;
    setEnforced(Boolean(s.mfaEnforced));
    setMethods(s.mfaMethods ?? [...KINDS]);
    setActions(s.stepUpActions ?? []);
    setGrace(s.stepUpGraceSeconds ?? 300);
  }, [ws.data]);
  const toggle = (list: string[], k: string, on: boolean) =>
    on ? [...new Set([...list, k])] : list.filter((x) => x !== k);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    await run(
      () =>
        guarded(() =>
          api.patch('/api/v1/workspace', {
            mfaEnforced: enforced,
            mfaMethods: methods,
            stepUpActions: [...new Set(['privilege_elevation', ...actions])],
            stepUpGraceSeconds: grace,
          }),
        ),
      'The MFA policy was saved.',
    );
  };

  return (
    <section aria-labelledby="mfa-title">
      <h2 id="mfa-title">MFA policy</h2>
      <ErrorBox error={ws.error} />
      <form className="card stack" onSubmit={save} data-testid="mfa-policy-form">
        <fieldset disabled={!superuser || !ws.data}>
          <label className="inline">
            <input type="checkbox" checked={enforced} onChange={(e) => setEnforced(e.target.checked)} /> Require a
            second factor at sign-in (people without one can only enrol one; you need one yourself first)
          </label>
          <fieldset>
            <legend>Methods people may use</legend>
            {KINDS.map((k) => (
              <label key={k} className="inline">
                <input
                  type="checkbox"
                  checked={methods.includes(k)}
                  onChange={(e) => setMethods(toggle(methods, k, e.target.checked))}
                />{' '}
                {METHOD_LABELS[k]}
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>Ask for a fresh proof (step-up) before</legend>
            <p className="muted small">Root terminals and commands always ask for one.</p>
            {ACTIONS.map((a) => (
              <label key={a.key} className="inline">
                <input
                  type="checkbox"
                  checked={actions.includes(a.key)}
                  onChange={(e) => setActions(toggle(actions, a.key, e.target.checked))}
                />{' '}
                {a.label}
              </label>
            ))}
          </fieldset>
          <label>
            A step-up lasts (seconds)
            <input type="number" min={60} max={3600} value={grace} onChange={(e) => setGrace(Number(e.target.value))} />
          </label>
          <div>
            <button type="submit" className="primary">
              Save
            </button>
          </div>
        </fieldset>
        {!superuser && <p className="muted">Only superusers change the MFA policy.</p>}
      </form>
      <ActionMessage message={message} />
      {element}
    </section>
  );
}
