import { useState, type FormEvent } from 'react';
import type { SsoProviderList, SsoProviderView } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { useMe } from '../api/session';
import { Dialog, ErrorBox } from '../components/ui';
import { ActionMessage, useAction } from './use-action';

type Fields = Record<string, string>;

const OIDC_FIELDS: { key: string; label: string; required?: boolean; secret?: boolean; hint?: string }[] = [
  { key: 'issuer', label: 'Issuer URL', required: true, hint: 'its /.well-known/openid-configuration is read' },
  { key: 'clientId', label: 'Client ID', required: true },
  { key: 'clientSecret', label: 'Client secret', required: true, secret: true },
  { key: 'scopes', label: 'Scopes', hint: 'default: openid email profile' },
  { key: 'groupsClaim', label: 'Groups claim', hint: 'default: groups' },
];
const SAML_FIELDS: typeof OIDC_FIELDS = [
  { key: 'entryPoint', label: 'IdP SSO URL (HTTP-Redirect)', required: true },
  { key: 'idpCert', label: 'IdP signing certificate (PEM)', required: true },
  { key: 'idpIssuer', label: 'IdP issuer (checked when given)' },
  { key: 'spEntityId', label: 'Our entity ID', hint: 'default: the metadata URL' },
  { key: 'groupsAttribute', label: 'Groups attribute', hint: 'default: groups' },
  {
    key: 'emailAttribute',
    label: 'Email attribute',
    hint: 'default: email, mail, the emailaddress claim, else the NameID',
  },
];

const groupMapText = (p?: SsoProviderView) => (p?.groupMap ?? []).map((g) => `${g.idpGroup} = ${g.group}`).join('\n');
function parseGroupMap(s: string): { idpGroup: string; group: string }[] {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.lastIndexOf('=');
      if (i <= 0) throw new Error(`Group mapping “${l}”: write IDP-GROUP = CORRAL-GROUP.`);
      return { idpGroup: l.slice(0, i).trim(), group: l.slice(i + 1).trim() };
    });
}

/** Add (no `initial`) or edit a provider. The client secret is write-only: empty keeps the stored one. */
function ProviderForm({
  initial,
  onSubmit,
}: {
  initial?: SsoProviderView;
  onSubmit: (body: Record<string, unknown>) => Promise<boolean>;
}) {
  const [kind, setKind] = useState<'oidc' | 'saml'>(initial?.kind ?? 'oidc');
  const [name, setName] = useState(initial?.name ?? '');
  const [displayName, setDisplayName] = useState(initial?.displayName ?? '');
  const [enabled, setEnabled] = useState(initial?.enabled ?? true);
  const [jit, setJit] = useState(initial?.jit ?? true);
  const [jitRole, setJitRole] = useState(initial?.jitRole ?? 'member');
  const [wantResponseSigned, setWantResponseSigned] = useState(
    initial?.settings.wantResponseSigned === undefined ? true : Boolean(initial.settings.wantResponseSigned),
  );
  const [groupMap, setGroupMap] = useState(groupMapText(initial));
  const [fields, setFields] = useState<Fields>(() => {
    const f: Fields = {};
    for (const [k, v] of Object.entries(initial?.settings ?? {})) if (typeof v === 'string') f[k] = v;
    return f;
  });
  const [error, setError] = useState<string | null>(null);
  const list = kind === 'oidc' ? OIDC_FIELDS : SAML_FIELDS;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    let map;
    try {
      map = parseGroupMap(groupMap);
    } catch (err) {
      return setError((err as Error).message);
    }
    const body: Record<string, unknown> = { enabled, jit, jitRole, groupMap: map };
    if (!initial) Object.assign(body, { kind, name: name.trim() });
    if (displayName.trim()) body.displayName = displayName.trim();
    for (const f of list) if (fields[f.key]?.trim()) body[f.key] = fields[f.key]!.trim();
    if (kind === 'saml') body.wantResponseSigned = wantResponseSigned;
    await onSubmit(body);
  };

  return (
    <form className="stack" onSubmit={submit} data-testid="sso-form">
      <div className="row">
        {!initial && (
          <label>
            Kind
            <select value={kind} onChange={(e) => setKind(e.target.value as 'oidc' | 'saml')}>
              <option value="oidc">OpenID Connect</option>
              <option value="saml">SAML 2.0</option>
            </select>
          </label>
        )}
        <label>
          Name (in URLs)
          <input
            required
            disabled={Boolean(initial)}
            pattern="[a-z0-9][a-z0-9-]{0,39}"
            title="lower-case letters, digits and -"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <label>
          Button text
          <input value={displayName} maxLength={100} onChange={(e) => setDisplayName(e.target.value)} />
        </label>
      </div>
      {list.map((f) => (
        <label key={f.key}>
          {f.label}
          {f.hint && <span className="muted small"> ({f.hint})</span>}
          {f.key === 'idpCert' ? (
            <textarea
              rows={4}
              required={f.required && !initial}
              value={fields[f.key] ?? ''}
              onChange={(e) => setFields({ ...fields, [f.key]: e.target.value })}
            />
          ) : (
            <input
              type={f.secret ? 'password' : 'text'}
              autoComplete={f.secret ? 'new-password' : 'off'}
              required={f.required && !initial}
              placeholder={f.secret && initial?.hasClientSecret ? 'stored; type to replace' : undefined}
              value={fields[f.key] ?? ''}
              onChange={(e) => setFields({ ...fields, [f.key]: e.target.value })}
            />
          )}
        </label>
      ))}
      {kind === 'saml' && (
        <label className="inline">
          <input
            type="checkbox"
            checked={wantResponseSigned}
            onChange={(e) => setWantResponseSigned(e.target.checked)}
          />{' '}
          Require the whole response to be signed
        </label>
      )}
      <div className="row">
        <label className="inline">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
        </label>
        <label className="inline">
          <input type="checkbox" checked={jit} onChange={(e) => setJit(e.target.checked)} /> Create users at first
          sign-in
        </label>
        <label>
          as
          <select value={jitRole} onChange={(e) => setJitRole(e.target.value as 'member' | 'staff')}>
            <option>member</option>
            <option>staff</option>
          </select>
        </label>
      </div>
      <label>
        Group mapping (one a line: IDP-GROUP = CORRAL-GROUP)
        <textarea rows={3} value={groupMap} onChange={(e) => setGroupMap(e.target.value)} />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div>
        <button type="submit" className="primary">
          {initial ? 'Save' : 'Add provider'}
        </button>
      </div>
    </form>
  );
}

/** Single sign-on (superusers): OIDC and SAML providers and the "SSO required" policy. */
export function SsoSection() {
  const me = useMe();
  const providers = useApi<SsoProviderList>(me.user.role === 'superuser' ? '/api/v1/sso/providers' : null);
  const { message, run } = useAction(providers.reload);
  const [editing, setEditing] = useState<SsoProviderView | null>(null);
  const [adding, setAdding] = useState(false);
  if (me.user.role !== 'superuser')
    return (
      <section>
        <h2>Single sign-on</h2>
        <p className="error-box">Single sign-on is configured by superusers.</p>
      </section>
    );
  const required = providers.data?.ssoRequired ?? false;
  return (
    <section aria-labelledby="sso-title">
      <div className="page-head">
        <h2 id="sso-title">Single sign-on</h2>
        <div className="actions">
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            Add provider
          </button>
        </div>
      </div>
      <div className="card">
        <label className="inline">
          <input
            type="checkbox"
            checked={required}
            disabled={!providers.data}
            onChange={(e) =>
              void run(
                () => api.put('/api/v1/sso/policy', { required: e.target.checked }),
                e.target.checked
                  ? 'SSO is now required: members and staff can no longer sign in with a password.'
                  : 'Password sign-in is allowed again.',
              )
            }
          />{' '}
          SSO required (members and staff must sign in with a provider; superusers keep their password as break-glass)
        </label>
      </div>
      <ActionMessage message={message} />
      <ErrorBox error={providers.error} />
      <table className="table" data-testid="sso-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Kind</th>
            <th scope="col">Status</th>
            <th scope="col">Register at the IdP</th>
            <th scope="col">New users</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(providers.data?.items ?? []).map((p) => (
            <tr key={p.id}>
              <td>
                {p.displayName} <span className="muted small">({p.name})</span>
              </td>
              <td>{p.kind === 'oidc' ? 'OIDC' : 'SAML'}</td>
              <td>{p.enabled ? 'enabled' : 'disabled'}</td>
              <td className="small">
                <code>{p.callbackUrl}</code>
                {p.metadataUrl && (
                  <div>
                    <a href={p.metadataUrl}>SP metadata</a>
                  </div>
                )}
              </td>
              <td>{p.jit ? `created as ${p.jitRole}` : 'existing accounts only'}</td>
              <td className="row-actions">
                <button type="button" onClick={() => setEditing(p)} aria-label={`Edit ${p.name}`}>
                  Edit
                </button>
                <button
                  type="button"
                  className="danger"
                  aria-label={`Remove ${p.name}`}
                  onClick={() => {
                    if (window.confirm(`Remove ${p.name}? Its identity links go; the users stay.`))
                      void run(
                        () => api.del(`/api/v1/sso/providers/${encodeURIComponent(p.name)}`),
                        `${p.name} was removed.`,
                      );
                  }}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {providers.data && providers.data.items.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No provider: people sign in with their password.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <Dialog title="Add an SSO provider" open={adding} onClose={() => setAdding(false)}>
        {adding && (
          <ProviderForm
            onSubmit={async (body) => {
              const ok = await run(() => api.post('/api/v1/sso/providers', body), `${String(body.name)} was added.`);
              if (ok) setAdding(false);
              return ok;
            }}
          />
        )}
      </Dialog>
      <Dialog title={`Edit ${editing?.name ?? ''}`} open={editing !== null} onClose={() => setEditing(null)}>
        {editing && (
          <ProviderForm
            key={editing.id}
            initial={editing}
            onSubmit={async (body) => {
              const ok = await run(
                () => api.patch(`/api/v1/sso/providers/${encodeURIComponent(editing.name)}`, body),
                `${editing.name} was saved.`,
              );
              if (ok) setEditing(null);
              return ok;
            }}
          />
        )}
      </Dialog>
    </section>
  );
}
