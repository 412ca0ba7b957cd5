import { useState, type FormEvent } from 'react';
import type { ApiTokenView } from '@corral/protocol';
import { TOKEN_RESOURCES } from '../lib/scopes';
import { dateTime } from '../format';

const EXPIRIES: { label: string; seconds: number | null }[] = [
  { label: '1 day', seconds: 86400 },
  { label: '7 days', seconds: 7 * 86400 },
  { label: '30 days', seconds: 30 * 86400 },
  { label: '90 days', seconds: 90 * 86400 },
  { label: '1 year', seconds: 365 * 86400 },
  { label: 'never', seconds: null },
];

/** What the create forms post (`/tokens`, `/applications/:app/tokens`). */
export interface TokenBody {
  name: string;
  scopes?: string[];
  expiresInSeconds?: number | null;
  servers?: string[];
  commands?: { allow?: string[]; deny?: string[] };
}

const lines = (s: string) =>
  s
    .split(/[\n,]/)
    .map((x) => x.trim())
    .filter(Boolean);

/** Command patterns may hold commas: one a line. */
const patterns = (s: string) =>
  s
    .split('\n')
    .map((x) => x.trim())
    .filter(Boolean);

/** One level per resource (read < write < owner), `*` for all; the scopes as `RESOURCE:LEVEL`. */
export function ScopePicker({
  value,
  onChange,
  idPrefix,
}: {
  value: Record<string, string>;
  onChange: (v: Record<string, string>) => void;
  idPrefix: string;
}) {
  return (
    <fieldset className="scope-picker">
      <legend>Scopes</legend>
      <div className="scope-grid">
        {['*', ...TOKEN_RESOURCES].map((r) => (
          <label key={r} htmlFor={`${idPrefix}-${r}`}>
            <span>{r === '*' ? 'all resources' : r}</span>
            <select
              id={`${idPrefix}-${r}`}
              aria-label={`Scope ${r === '*' ? 'all resources' : r}`}
              value={value[r] ?? ''}
              onChange={(e) => onChange({ ...value, [r]: e.target.value })}
            >
              <option value="">none</option>
              <option value="read">read</option>
              <option value="write">write</option>
              <option value="owner">owner</option>
            </select>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

export const scopesOf = (v: Record<string, string>) =>
  Object.entries(v)
    .filter(([, l]) => l)
    .map(([r, l]) => `${r}:${l}`);

/**
 * Create an API or service token: name, expiry, scopes, server selectors, allowed and denied commands.
 * `scopesOptional`: service tokens default to their application's scopes.
 */
export function TokenForm({
  onSubmit,
  scopesOptional = false,
  idPrefix,
  submitLabel = 'Create token',
}: {
  onSubmit: (body: TokenBody) => Promise<boolean>;
  scopesOptional?: boolean;
  idPrefix: string;
  submitLabel?: string;
}) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('2');
  const [scopes, setScopes] = useState<Record<string, string>>(scopesOptional ? {} : { servers: 'read' });
  const [servers, setServers] = useState('');
  const [allow, setAllow] = useState('');
  const [deny, setDeny] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body: TokenBody = { name: name.trim(), expiresInSeconds: EXPIRIES[Number(expiry)]!.seconds };
    const sc = scopesOf(scopes);
    if (sc.length > 0 || !scopesOptional) body.scopes = sc;
    if (lines(servers).length) body.servers = lines(servers);
    const a = patterns(allow);
    const d = patterns(deny);
    if (a.length || d.length) body.commands = { ...(a.length ? { allow: a } : {}), ...(d.length ? { deny: d } : {}) };
    if (await onSubmit(body)) {
      setName('');
      setServers('');
      setAllow('');
      setDeny('');
    }
  };
  return (
    <form className="card stack" onSubmit={submit} data-testid={`${idPrefix}-form`}>
      <div className="row">
        <label>
          Name
          <input required maxLength={128} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Expires in
          <select value={expiry} onChange={(e) => setExpiry(e.target.value)}>
            {EXPIRIES.map((x, i) => (
              <option key={x.label} value={String(i)}>
                {x.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ScopePicker value={scopes} onChange={setScopes} idPrefix={`${idPrefix}-scope`} />
      {scopesOptional && <p className="muted small">No scope chosen: the application's scopes.</p>}
      <label>
        Servers (selectors, one a line or comma-separated; empty: no server limit)
        <textarea rows={2} value={servers} onChange={(e) => setServers(e.target.value)} placeholder="web-*, env=prod" />
      </label>
      <div className="row">
        <label>
          Allowed commands (patterns with * and ?, one a line)
          <textarea rows={2} value={allow} onChange={(e) => setAllow(e.target.value)} />
        </label>
        <label>
          Denied commands (one a line)
          <textarea rows={2} value={deny} onChange={(e) => setDeny(e.target.value)} placeholder="rm *" />
        </label>
      </div>
      <div>
        <button type="submit" className="primary">
          {submitLabel}
        </button>
      </div>
    </form>
  );
}

/** A secret shown once, with a copy button. */
export function SecretOnce({ label, secret, onDismiss }: { label: string; secret: string; onDismiss: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="card secret-once" role="status" data-testid="secret-once">
      <p>
        <strong>{label}</strong> Copy it now: it is shown only this once.
      </p>
      <code className="secret" data-testid="secret-value">
        {secret}
      </code>
      <div className="actions">
        <button
          type="button"
          onClick={() =>
            void navigator.clipboard?.writeText(secret).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" onClick={onDismiss}>
          Done
        </button>
      </div>
    </div>
  );
}

/** The token tables' cells. */
export function TokenCells({ t }: { t: ApiTokenView }) {
  return (
    <>
      <td>{t.name}</td>
      <td>
        <code>{t.prefix}…</code>
      </td>
      <td>
        {t.scopes.map((s) => (
          <span key={s} className="chip">
            {s}
          </span>
        ))}
      </td>
      <td>
        {t.servers ? t.servers.join(', ') : 'any'}
        {t.commands && (
          <div className="muted small">
            {t.commands.allow?.length ? `allow ${t.commands.allow.join(', ')}` : ''}
            {t.commands.deny?.length ? ` deny ${t.commands.deny.join(', ')}` : ''}
          </div>
        )}
      </td>
      <td>{t.expiresAt ? dateTime(t.expiresAt) : 'never'}</td>
      <td>{t.lastUsedAt ? `${dateTime(t.lastUsedAt)}${t.lastUsedIp ? ` from ${t.lastUsedIp}` : ''}` : 'never'}</td>
      <td>{t.status}</td>
    </>
  );
}

export const TOKEN_HEADERS = ['Name', 'Prefix', 'Scopes', 'Servers / commands', 'Expires', 'Last used', 'Status'];
