import { useState, type FormEvent } from 'react';
import type { WebshShareView } from '@corral/protocol';
import { api, describeError } from '../api/client';
import { useApi } from '../api/use-api';
import { Dialog } from '../components/ui';
import { dateTime } from '../format';
import type { TerminalSession } from './terminal-session';

/**
 * Share my live terminal: with a workspace user (read-only unless read-write is ticked), or as a link
 * (shown once) that anyone signed in and allowed may open. Lists the shares, and removes them (their
 * participants are disconnected at once).
 */
export function ShareDialog({ session, onClose }: { session: TerminalSession; onClose: () => void }) {
  const id = encodeURIComponent(session.sessionId ?? '');
  const shares = useApi<{ items: WebshShareView[] }>(`/api/v1/websh/sessions/${id}/shares`);
  const [user, setUser] = useState('');
  const [readWrite, setReadWrite] = useState(false);
  const [link, setLink] = useState<string | null>(null);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);

  const share = async (body: Record<string, unknown>) => {
    setMessage(null);
    try {
      const r = await api.post<WebshShareView & { linkToken?: string }>(`/api/v1/websh/sessions/${id}/shares`, {
        ...body,
        ...(readWrite ? { readWrite: true } : {}),
      });
      if (r.linkToken) {
        const q = new URLSearchParams({ join: r.sessionId, link: r.linkToken, server: session.server });
        setLink(`${window.location.origin}/terminal?${q.toString()}`);
      } else
        setMessage({
          text: `Shared with ${r.user ?? ''} (${r.mode === 'write' ? 'read-write' : 'read-only'}).`,
          error: false,
        });
      setUser('');
      shares.reload();
    } catch (e) {
      setMessage({ text: describeError(e), error: true });
    }
  };
  const remove = async (s: WebshShareView) => {
    try {
      await api.del(`/api/v1/websh/sessions/${id}/shares/${encodeURIComponent(s.id)}`);
      shares.reload();
    } catch (e) {
      setMessage({ text: describeError(e), error: true });
    }
  };

  return (
    <Dialog open onClose={onClose} title={`Share ${session.label}`}>
      <form
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          void share({ user: user.trim() });
        }}
      >
        <label>
          With a user (email)
          <input type="email" value={user} onChange={(e) => setUser(e.target.value)} required />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={readWrite} onChange={(e) => setReadWrite(e.target.checked)} /> They may type
          (read-write; needs their own access and work session)
        </label>
        <div className="row">
          <button type="submit" className="primary">
            Share
          </button>
          <button type="button" onClick={() => void share({ link: true })}>
            Create a link instead
          </button>
        </div>
      </form>
      {link && (
        <p className="notice" role="status">
          Link (shown once, valid 1 hour): <code data-testid="share-link">{link}</code>{' '}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(link)}>
            Copy
          </button>
        </p>
      )}
      {message && (
        <p className={message.error ? 'error' : 'notice'} role={message.error ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      <table className="table compact">
        <caption>Shares</caption>
        <thead>
          <tr>
            <th scope="col">With</th>
            <th scope="col">Mode</th>
            <th scope="col">Until</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(shares.data?.items ?? [])
            .filter((s) => !s.revokedAt)
            .map((s) => (
              <tr key={s.id}>
                <td>{s.link ? 'anyone with the link' : s.user}</td>
                <td>{s.mode === 'write' ? 'read-write' : 'read-only'}</td>
                <td>{s.expiresAt ? dateTime(s.expiresAt) : 'the session ends'}</td>
                <td className="row-actions">
                  <button type="button" className="danger" onClick={() => void remove(s)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </Dialog>
  );
}
