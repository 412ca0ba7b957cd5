import { useState, type FormEvent } from 'react';
import type { GroupView, UserListItem } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { ErrorBox } from '../components/ui';
import { ActionMessage, useAction } from './use-action';

/** User groups: create, delete, add and remove members. */
export function GroupsSection() {
  const groups = useApi<{ items: GroupView[] }>('/api/v1/groups');
  const users = useApi<{ items: UserListItem[] }>('/api/v1/users');
  const { message, run } = useAction(groups.reload);
  const [name, setName] = useState('');
  const [adding, setAdding] = useState<Record<string, string>>({});
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(() => api.post('/api/v1/groups', { name: name.trim() }), `Group ${name} created.`).then(
      (ok) => ok && setName(''),
    );
  };
  return (
    <section aria-labelledby="groups-title">
      <h2 id="groups-title">User groups</h2>
      <form className="inline-form card" onSubmit={create}>
        <label>
          New group
          <input
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            pattern="[a-zA-Z0-9][a-zA-Z0-9._\-]*"
          />
        </label>
        <button type="submit" className="primary">
          Create
        </button>
      </form>
      <ActionMessage message={message} />
      <ErrorBox error={groups.error} />
      <datalist id="user-emails">
        {(users.data?.items ?? []).map((u) => (
          <option key={u.id} value={u.email} />
        ))}
      </datalist>
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Members</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(groups.data?.items ?? []).map((g) => {
            const enc = encodeURIComponent(g.name);
            return (
              <tr key={g.id}>
                <td>{g.name}</td>
                <td>
                  {g.members.map((m) => (
                    <span key={m} className="chip">
                      {m}{' '}
                      <button
                        type="button"
                        className="chip-x"
                        aria-label={`Remove ${m} from ${g.name}`}
                        onClick={() =>
                          void run(() => api.del(`/api/v1/groups/${enc}/members/${encodeURIComponent(m)}`))
                        }
                      >
                        ×
                      </button>
                    </span>
                  ))}
                  <form
                    className="inline-form"
                    onSubmit={(e) => {
                      e.preventDefault();
                      const user = adding[g.name]?.trim();
                      if (user)
                        void run(() => api.post(`/api/v1/groups/${enc}/members`, { user })).then(
                          (ok) => ok && setAdding({ ...adding, [g.name]: '' }),
                        );
                    }}
                  >
                    <input
                      list="user-emails"
                      aria-label={`Add a member to ${g.name}`}
                      placeholder="email"
                      value={adding[g.name] ?? ''}
                      onChange={(e) => setAdding({ ...adding, [g.name]: e.target.value })}
                    />
                    <button type="submit">Add</button>
                  </form>
                </td>
                <td className="row-actions">
                  <button
                    type="button"
                    className="danger"
                    onClick={() => {
                      if (window.confirm(`Delete group ${g.name} and its grants?`))
                        void run(() => api.del(`/api/v1/groups/${enc}`), `Group ${g.name} deleted.`);
                    }}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
