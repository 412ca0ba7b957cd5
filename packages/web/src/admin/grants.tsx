import { useState, type FormEvent } from 'react';
import type { GrantView, GroupView, UserListItem } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { ErrorBox } from '../components/ui';
import { dateTime } from '../format';
import { ActionMessage, useAction } from './use-action';

/** Grants (object scopes): who may reach which servers at which level. */
export function GrantsSection() {
  const grants = useApi<{ items: GrantView[] }>('/api/v1/grants');
  const users = useApi<{ items: UserListItem[] }>('/api/v1/users');
  const groups = useApi<{ items: GroupView[] }>('/api/v1/groups');
  const { message, run } = useAction(grants.reload);
  const [kind, setKind] = useState<'user' | 'group'>('user');
  const [subject, setSubject] = useState('');
  const [servers, setServers] = useState('');
  const [level, setLevel] = useState('write');
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(
      () => api.post('/api/v1/grants', { [kind]: subject.trim(), servers: servers.trim(), level }),
      `Granted ${level} on ${servers} to ${kind} ${subject}.`,
    );
  };
  return (
    <section aria-labelledby="grants-title">
      <h2 id="grants-title">Grants</h2>
      <form className="inline-form card" onSubmit={create}>
        <label>
          To
          <select value={kind} onChange={(e) => setKind(e.target.value as 'user' | 'group')}>
            <option value="user">user</option>
            <option value="group">group</option>
          </select>
        </label>
        <label>
          {kind === 'user' ? 'User (email)' : 'Group'}
          <input required list={`grant-${kind}s`} value={subject} onChange={(e) => setSubject(e.target.value)} />
        </label>
        <datalist id="grant-users">
          {(users.data?.items ?? []).map((u) => (
            <option key={u.id} value={u.email} />
          ))}
        </datalist>
        <datalist id="grant-groups">
          {(groups.data?.items ?? []).map((g) => (
            <option key={g.id} value={g.name} />
          ))}
        </datalist>
        <label>
          Servers
          <input
            required
            value={servers}
            onChange={(e) => setServers(e.target.value)}
            placeholder="web-*, group:prod"
          />
        </label>
        <label>
          Level
          <select value={level} onChange={(e) => setLevel(e.target.value)}>
            <option>read</option>
            <option>write</option>
            <option>owner</option>
          </select>
        </label>
        <button type="submit" className="primary">
          Grant
        </button>
      </form>
      <ActionMessage message={message} />
      <ErrorBox error={grants.error} />
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Subject</th>
            <th scope="col">Servers</th>
            <th scope="col">Level</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(grants.data?.items ?? []).map((g) => (
            <tr key={g.id}>
              <td>
                {g.subject.kind} {g.subject.name}
              </td>
              <td>
                <code>{g.servers}</code>
              </td>
              <td>{g.level}</td>
              <td>
                {dateTime(g.createdAt)} {g.createdBy ? `by ${g.createdBy}` : ''}
              </td>
              <td className="row-actions">
                <button
                  type="button"
                  className="danger"
                  onClick={() =>
                    void run(() => api.del(`/api/v1/grants/${encodeURIComponent(g.id)}`), 'Grant revoked.')
                  }
                >
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
