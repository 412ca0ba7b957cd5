import { useState, type FormEvent } from 'react';
import type { ApiTokenCreateResponse, ApiTokenList, ApplicationList, ApplicationView } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { ErrorBox } from '../components/ui';
import { useStepUp } from '../components/step-up';
import { ScopePicker, scopesOf, SecretOnce, TOKEN_HEADERS, TokenCells, TokenForm } from '../components/token-form';
import { dateTime } from '../format';
import { ActionMessage, useAction } from './use-action';

/** One application's service tokens: issue (secret shown once), list, revoke. */
function ServiceTokens({ app }: { app: ApplicationView }) {
  const base = `/api/v1/applications/${encodeURIComponent(app.name)}/tokens`;
  const tokens = useApi<ApiTokenList>(base);
  const { message, run } = useAction(tokens.reload);
  const { guarded, element } = useStepUp();
  const [created, setCreated] = useState<ApiTokenCreateResponse | null>(null);
  return (
    <section aria-labelledby="svc-title" className="card">
      <h3 id="svc-title">
        Service tokens of <code>{app.principal}</code>
      </h3>
      <TokenForm
        idPrefix="svc"
        scopesOptional
        submitLabel="Issue service token"
        onSubmit={(body) =>
          run(async () => {
            setCreated(await guarded(() => api.post<ApiTokenCreateResponse>(base, body)));
          })
        }
      />
      {created && (
        <SecretOnce
          label={`Service token “${created.name}” issued.`}
          secret={created.token}
          onDismiss={() => setCreated(null)}
        />
      )}
      <ActionMessage message={message} />
      <ErrorBox error={tokens.error} />
      <table className="table" data-testid="service-tokens-table">
        <thead>
          <tr>
            {TOKEN_HEADERS.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(tokens.data?.items ?? []).map((t) => (
            <tr key={t.id}>
              <TokenCells t={t} />
              <td className="row-actions">
                {t.status === 'active' && (
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Revoke ${t.name}`}
                    onClick={() => {
                      if (window.confirm(`Revoke “${t.name}”?`))
                        void run(() => api.del(`${base}/${encodeURIComponent(t.id)}`), `“${t.name}” was revoked.`);
                    }}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {element}
    </section>
  );
}

/** Applications (staff+): non-human identities with a role and scopes, and their service tokens. */
export function ApplicationsSection() {
  const apps = useApi<ApplicationList>('/api/v1/applications');
  const { message, run } = useAction(apps.reload);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [role, setRole] = useState<'member' | 'staff'>('member');
  const [scopes, setScopes] = useState<Record<string, string>>({ servers: 'read' });
  const [open, setOpen] = useState<string | null>(null);
  const selected = apps.data?.items.find((a) => a.name === open) ?? null;

  const create = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await run(
      () =>
        api.post('/api/v1/applications', {
          name: name.trim(),
          role,
          scopes: scopesOf(scopes),
          ...(description.trim() ? { description: description.trim() } : {}),
        }),
      `Application ${name.trim()} created: grant it access as app:${name.trim()}.`,
    );
    if (ok) {
      setName('');
      setDescription('');
    }
  };

  return (
    <section aria-labelledby="apps-title">
      <h2 id="apps-title">Applications</h2>
      <form className="card stack" onSubmit={create} data-testid="app-form">
        <div className="row">
          <label>
            Name
            <input
              required
              pattern="[a-z0-9][a-z0-9-]{0,62}"
              title="lower-case letters, digits and dashes"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.target.value as 'member' | 'staff')}>
              <option>member</option>
              <option>staff</option>
            </select>
          </label>
          <label>
            Description
            <input value={description} maxLength={500} onChange={(e) => setDescription(e.target.value)} />
          </label>
        </div>
        <ScopePicker value={scopes} onChange={setScopes} idPrefix="app-scope" />
        <div>
          <button type="submit" className="primary">
            Create application
          </button>
        </div>
      </form>
      <ActionMessage message={message} />
      <ErrorBox error={apps.error} />
      <table className="table" data-testid="apps-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Scopes</th>
            <th scope="col">Live tokens</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(apps.data?.items ?? []).map((a) => (
            <tr key={a.id}>
              <td>
                <code>{a.principal}</code>
                {a.description && <div className="muted small">{a.description}</div>}
              </td>
              <td>{a.role}</td>
              <td>
                {a.scopes.map((s) => (
                  <span key={s} className="chip">
                    {s}
                  </span>
                ))}
              </td>
              <td>{a.tokens}</td>
              <td>{dateTime(a.createdAt)}</td>
              <td className="row-actions">
                <button
                  type="button"
                  aria-expanded={open === a.name}
                  onClick={() => setOpen(open === a.name ? null : a.name)}
                >
                  Tokens
                </button>
                <button
                  type="button"
                  className="danger"
                  aria-label={`Delete ${a.name}`}
                  onClick={() => {
                    if (window.confirm(`Delete ${a.principal}? Its tokens stop working and its grants go.`))
                      void run(
                        () => api.del(`/api/v1/applications/${encodeURIComponent(a.name)}`),
                        `${a.principal} was deleted.`,
                      );
                  }}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected && <ServiceTokens key={selected.name} app={selected} />}
    </section>
  );
}
