import { useState, type FormEvent } from 'react';
import type { InviteResponse, Role, UserListItem } from '@corral/protocol';
import { api } from '../api/client';
import { useMe } from '../api/session';
import { useApi } from '../api/use-api';
import { ErrorBox } from '../components/ui';
import { dateTime } from '../format';
import { ActionMessage, useAction } from './use-action';

const ROLES: Role[] = ['member', 'staff', 'superuser'];

/** Users: invite, change role (superusers), deactivate. */
export function UsersSection() {
  const me = useMe();
  const users = useApi<{ items: UserListItem[] }>('/api/v1/users');
  const { message, run } = useAction(users.reload);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const superuser = me.user.role === 'superuser';

  const invite = async (e: FormEvent) => {
    e.preventDefault();
    let r: InviteResponse | undefined;
    const ok = await run(async () => {
      r = await api.post<InviteResponse>('/api/v1/users/invitations', { email: email.trim(), role });
    });
    if (ok && r) {
      setEmail('');
      await run(
        async () => {},
        `Invited ${r.email} as ${r.role}; the invitation (valid until ${dateTime(r.expiresAt)}) went ${
          r.delivery === 'smtp' ? 'by e-mail' : 'to the operator outbox (corral-gateway outbox)'
        }.`,
      );
    }
  };

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form className="inline-form card" onSubmit={invite}>
        <label>
          Email
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.filter((r) => superuser || r !== 'superuser').map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary">
          Invite
        </button>
      </form>
      <ActionMessage message={message} />
      <ErrorBox error={users.error} />
      <table className="table" data-testid="users-table">
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Since</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(users.data?.items ?? []).map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>
                {superuser && !u.deactivatedAt && u.id !== me.user.id ? (
                  <select
                    aria-label={`Role of ${u.email}`}
                    value={u.role}
                    onChange={(e) =>
                      void run(
                        () => api.post(`/api/v1/users/${encodeURIComponent(u.id)}/role`, { role: e.target.value }),
                        `${u.email} is now ${e.target.value}.`,
                      )
                    }
                  >
                    {ROLES.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                ) : (
                  u.role
                )}
              </td>
              <td>{dateTime(u.createdAt)}</td>
              <td>{u.deactivatedAt ? `deactivated ${dateTime(u.deactivatedAt)}` : 'active'}</td>
              <td className="row-actions">
                {!u.deactivatedAt && u.id !== me.user.id && (
                  <button
                    type="button"
                    className="danger"
                    onClick={() => {
                      if (window.confirm(`Deactivate ${u.email}? Their sign-ins and live sessions end now.`))
                        void run(
                          () => api.post(`/api/v1/users/${encodeURIComponent(u.id)}/deactivate`),
                          `${u.email} was deactivated.`,
                        );
                    }}
                  >
                    Deactivate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
