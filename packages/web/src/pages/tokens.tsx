import { useState } from 'react';
import type { ApiTokenActivityList, ApiTokenCreateResponse, ApiTokenList, ApiTokenView } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { ActionMessage, useAction } from '../admin/use-action';
import { useStepUp } from '../components/step-up';
import { SecretOnce, TOKEN_HEADERS, TokenCells, TokenForm } from '../components/token-form';
import { Dialog, ErrorBox, PageHead } from '../components/ui';
import { dateTime } from '../format';

/** The last requests made with a token. */
function Activity({ token }: { token: ApiTokenView }) {
  const a = useApi<ApiTokenActivityList>(`/api/v1/tokens/${encodeURIComponent(token.id)}/activity?limit=100`);
  return (
    <>
      <ErrorBox error={a.error} />
      {a.data && a.data.items.length === 0 && <p className="muted">Not used yet.</p>}
      {a.data && a.data.items.length > 0 && (
        <table className="table compact" data-testid="token-activity">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Request</th>
              <th scope="col">Status</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {a.data.items.map((x, i) => (
              <tr key={i}>
                <td>{dateTime(x.ts)}</td>
                <td>
                  <code>
                    {x.method} {x.route}
                  </code>
                </td>
                <td>{x.status}</td>
                <td>{x.sourceIp ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** My API tokens: list, create (the secret shown once), revoke, activity. */
export default function TokensPage() {
  const tokens = useApi<ApiTokenList>('/api/v1/tokens');
  const { message, run } = useAction(tokens.reload);
  const { guarded, element } = useStepUp();
  const [created, setCreated] = useState<ApiTokenCreateResponse | null>(null);
  const [activity, setActivity] = useState<ApiTokenView | null>(null);
  const [showRevoked, setShowRevoked] = useState(false);
  const items = (tokens.data?.items ?? []).filter((t) => showRevoked || t.status === 'active');

  return (
    <section>
      <PageHead title="API tokens" />
      <p className="muted">
        Tokens for scripts and CI (<code>Authorization: Bearer crl_pat_…</code> or <code>CORRAL_TOKEN</code>). A token
        can never do more than you can: its scopes and server and command limits only narrow what you may do.
      </p>
      <h2>New token</h2>
      <TokenForm
        idPrefix="token"
        onSubmit={(body) =>
          run(async () => {
            setCreated(await guarded(() => api.post<ApiTokenCreateResponse>('/api/v1/tokens', body)));
          })
        }
      />
      {created && (
        <SecretOnce
          label={`Token “${created.name}” created.`}
          secret={created.token}
          onDismiss={() => setCreated(null)}
        />
      )}
      <ActionMessage message={message} />
      <ErrorBox error={tokens.error} />
      <div className="page-head">
        <h2>My tokens</h2>
        <label className="inline">
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} /> Show
          revoked and expired
        </label>
      </div>
      <table className="table" data-testid="tokens-table">
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
          {items.map((t) => (
            <tr key={t.id}>
              <TokenCells t={t} />
              <td className="row-actions">
                <button type="button" onClick={() => setActivity(t)}>
                  Activity
                </button>
                {t.status === 'active' && (
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Revoke ${t.name}`}
                    onClick={() => {
                      if (window.confirm(`Revoke “${t.name}”? Scripts using it stop working at once.`))
                        void run(
                          () => api.del(`/api/v1/tokens/${encodeURIComponent(t.id)}`),
                          `“${t.name}” was revoked.`,
                        );
                    }}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
          {tokens.data && items.length === 0 && (
            <tr>
              <td colSpan={8} className="muted">
                No tokens.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <Dialog
        title={`Activity of “${activity?.name ?? ''}”`}
        open={activity !== null}
        onClose={() => setActivity(null)}
      >
        {activity && <Activity token={activity} />}
      </Dialog>
      {element}
    </section>
  );
}
