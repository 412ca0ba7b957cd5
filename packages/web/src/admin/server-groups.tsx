import { useState, type FormEvent } from 'react';
import type { ServerView } from '@corral/protocol';
import { api } from '../api/client';
import { useApi } from '../api/use-api';
import { ErrorBox } from '../components/ui';
import { ActionMessage, useAction } from './use-action';

interface ServerGroup {
  id: string;
  name: string;
  servers: string[];
  createdAt: string;
}

/** Server groups: create, delete, put servers in and take them out (PATCH the server). */
export function ServerGroupsSection() {
  const groups = useApi<{ items: ServerGroup[] }>('/api/v1/server-groups');
  const servers = useApi<{ items: ServerView[] }>('/api/v1/servers');
  const { message, run } = useAction(() => {
    groups.reload();
    servers.reload();
  });
  const [name, setName] = useState('');
  const [adding, setAdding] = useState<Record<string, string>>({});
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(() => api.post('/api/v1/server-groups', { name: name.trim() }), `Server group ${name} created.`).then(
      (ok) => ok && setName(''),
    );
  };
  return (
    <section aria-labelledby="sg-title">
      <h2 id="sg-title">Server groups</h2>
      <form className="inline-form card" onSubmit={create}>
        <label>
          New server group
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" className="primary">
          Create
        </button>
      </form>
      <ActionMessage message={message} />
      <ErrorBox error={groups.error} />
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Servers</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(groups.data?.items ?? []).map((g) => (
            <tr key={g.id}>
              <td>{g.name}</td>
              <td>
                {g.servers.map((s) => (
                  <span key={s} className="chip">
                    {s}{' '}
                    <button
                      type="button"
                      className="chip-x"
                      aria-label={`Take ${s} out of ${g.name}`}
                      onClick={() =>
                        void run(() =>
                          api.patch(`/api/v1/servers/${encodeURIComponent(s)}`, { removeGroups: [g.name] }),
                        )
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
                    const s = adding[g.name];
                    if (s)
                      void run(() => api.patch(`/api/v1/servers/${encodeURIComponent(s)}`, { addGroups: [g.name] }));
                  }}
                >
                  <select
                    aria-label={`Server to add to ${g.name}`}
                    value={adding[g.name] ?? ''}
                    onChange={(e) => setAdding({ ...adding, [g.name]: e.target.value })}
                  >
                    <option value="">server…</option>
                    {(servers.data?.items ?? [])
                      .filter((s) => !g.servers.includes(s.name))
                      .map((s) => (
                        <option key={s.id}>{s.name}</option>
                      ))}
                  </select>
                  <button type="submit">Add</button>
                </form>
              </td>
              <td className="row-actions">
                <button
                  type="button"
                  className="danger"
                  onClick={() => {
                    if (window.confirm(`Delete server group ${g.name}?`))
                      void run(
                        () => api.del(`/api/v1/server-groups/${encodeURIComponent(g.name)}`),
                        `Server group ${g.name} deleted.`,
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
    </section>
  );
}
