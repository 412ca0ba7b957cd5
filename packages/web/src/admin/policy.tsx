import { useEffect, useState } from 'react';
import type { ApprovalPolicyView } from '@corral/protocol';
import { api } from '../api/client';
import { useMe } from '../api/session';
import { useApi } from '../api/use-api';
import { ErrorBox } from '../components/ui';
import { ActionMessage, useAction } from './use-action';

/** The work-session approval policy: rules shown as a table; superusers edit the JSON (docs/WORK-SESSIONS.md). */
export function PolicySection() {
  const me = useMe();
  const policy = useApi<ApprovalPolicyView>('/api/v1/policies/work-sessions');
  const { message, run } = useAction(policy.reload);
  const [text, setText] = useState('');
  const superuser = me.user.role === 'superuser';
  useEffect(() => {
    if (policy.data) {
      const { rules, webhookUrl } = policy.data;
      setText(JSON.stringify({ rules, ...(webhookUrl ? { webhookUrl } : {}) }, null, 2));
    }
  }, [policy.data]);
  const save = () => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      void run(() => Promise.reject(new Error(`Not valid JSON: ${(e as Error).message}`)));
      return;
    }
    void run(() => api.put('/api/v1/policies/work-sessions', body), 'Policy saved.');
  };
  const p = policy.data;
  return (
    <section aria-labelledby="policy-title">
      <h2 id="policy-title">Approval policy {p?.isDefault && <span className="chip">default</span>}</h2>
      <ErrorBox error={policy.error} />
      {p && (
        <table className="table">
          <caption>Rules, first match per server and feature decides</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Name</th>
              <th scope="col">Servers</th>
              <th scope="col">Features</th>
              <th scope="col">Requester</th>
              <th scope="col">Action</th>
              <th scope="col">Max</th>
            </tr>
          </thead>
          <tbody>
            {p.rules.map((r, i) => (
              <tr key={r.name}>
                <td>{i + 1}</td>
                <td>{r.name}</td>
                <td>{r.servers?.join(', ') ?? 'any'}</td>
                <td>{r.features?.join(', ') ?? 'any'}</td>
                <td>
                  {r.requester
                    ? [...(r.requester.roles ?? []), ...(r.requester.groups ?? []).map((g) => `group ${g}`)].join(', ')
                    : 'anyone'}
                </td>
                <td>
                  {r.action}
                  {r.action === 'require_approval' ? ` (${r.approvals ?? 1})` : ''}
                </td>
                <td>{r.maxDurationSeconds ? `${Math.round(r.maxDurationSeconds / 3600)} h` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {superuser ? (
        <>
          <label>
            Policy (JSON)
            <textarea
              className="code"
              rows={16}
              value={text}
              onChange={(e) => setText(e.target.value)}
              spellCheck={false}
            />
          </label>
          <div className="row">
            <button type="button" className="primary" onClick={save}>
              Save policy
            </button>
            <button
              type="button"
              onClick={() => void run(() => api.del('/api/v1/policies/work-sessions'), 'Back to the default policy.')}
            >
              Reset to default
            </button>
          </div>
        </>
      ) : (
        <p className="muted">Only superusers change the policy.</p>
      )}
      <ActionMessage message={message} />
    </section>
  );
}
