import {
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  useSyncExternalStore,
  type KeyboardEvent,
} from 'react';
import { useLocation, useSearch } from 'wouter';
import type { ServerView, WebshSessionView } from '@corral/protocol';
import '@xterm/xterm/css/xterm.css';
import { useApi } from '../api/use-api';
import { PageHead } from '../components/ui';
import { StepUpPrompt, WorkSessionPrompt } from '../components/work-session-prompt';
import { terminals } from './store';
import { ShareDialog } from './share-dialog';
import type { TerminalSession } from './terminal-session';

function useTerminals() {
  return useSyncExternalStore(terminals.subscribe, terminals.get);
}
function useSessionState(s: TerminalSession | undefined) {
  const sub = useCallback((fn: () => void) => (s ? s.subscribe(fn) : () => {}), [s]);
  // A fresh tuple each change would loop: snapshot the primitive fields that matter.
  const key = useSyncExternalStore(sub, () => (s ? `${s.state.kind}|${s.latencyMs}|${s.sessionId}` : ''));
  return key;
}

function Latency({ ms }: { ms: number | null }) {
  if (ms === null) return null;
  const tone = ms < 100 ? 'good' : ms < 300 ? 'fair' : 'poor';
  return (
    <span className={`latency latency-${tone}`} title="Round trip to the gateway (ping/pong)" data-testid="latency">
      <span className="dot" aria-hidden="true" /> {ms} ms
    </span>
  );
}

/** The active tab's terminal: its xterm element, its state line and the prompts it may need. */
function TerminalPanel({ session }: { session: TerminalSession }) {
  useSessionState(session);
  const host = useRef<HTMLDivElement>(null);
  const [sharing, setSharing] = useState(false);
  const st = session.state;
  const own = session.start.kind === 'open' || session.start.kind === 'attach';

  useLayoutEffect(() => {
    const el = host.current;
    if (!el) return;
    el.appendChild(session.element);
    session.fit();
    const ro = new ResizeObserver(() => session.fit());
    ro.observe(el);
    // After the frame's own focus move to <main> (a page change), so typing goes to the terminal.
    const raf = requestAnimationFrame(() => {
      if (session.state.kind === 'live') session.term.focus();
    });
    return () => {
      cancelAnimationFrame(raf);
      ro.disconnect();
      if (session.element.parentElement === el) el.removeChild(session.element);
    };
  }, [session]);

  return (
    <div
      className="term-panel"
      role="tabpanel"
      id={`panel-${session.id}`}
      aria-labelledby={`tab-${session.id}`}
      data-state={st.kind}
    >
      <div className="term-status">
        <span>
          {st.kind === 'opening' && 'Opening…'}
          {st.kind === 'connecting' && 'Connecting…'}
          {st.kind === 'live' && (session.readOnly ? 'Connected, read-only' : 'Connected')}
          {st.kind === 'reconnecting' && `${st.message} Re-attaching (attempt ${st.attempt})…`}
          {st.kind === 'ended' && 'Ended'}
          {(st.kind === 'needs-work-session' || st.kind === 'needs-step-up') && 'Waiting for you'}
        </span>
        {session.sessionId && <code className="muted small">{session.sessionId}</code>}
        <span className="spacer" />
        {st.kind === 'live' && (
          <span className="muted small">
            <kbd>F6</kbd> leaves the terminal
          </span>
        )}
        {st.kind === 'live' && <Latency ms={session.latencyMs} />}
        {own && st.kind === 'live' && (
          <button type="button" onClick={() => setSharing(true)}>
            Share…
          </button>
        )}
        {st.kind === 'ended' && (
          <button type="button" onClick={() => void session.restart()}>
            {own ? 'Open a new shell' : 'Connect again'}
          </button>
        )}
      </div>
      {st.kind === 'ended' && (
        <p className={st.tone === 'error' ? 'banner error' : 'banner'} role="alert" data-testid="terminal-ended">
          {st.reason}
        </p>
      )}
      {st.kind === 'needs-work-session' && (
        <WorkSessionPrompt
          server={session.server}
          features={['terminal']}
          message={st.message}
          onReady={(id) => {
            session.workSessionId = id;
            void session.open();
          }}
          onCancel={() => terminals.close(session.id)}
        />
      )}
      {st.kind === 'needs-step-up' && <StepUpPrompt message={st.message} onDone={() => void session.open()} />}
      <div ref={host} className="term-host" hidden={st.kind === 'needs-work-session' || st.kind === 'needs-step-up'} />
      {sharing && <ShareDialog session={session} onClose={() => setSharing(false)} />}
    </div>
  );
}

/** Terminals in tabs: open one per server (and OS user), switch with the arrow keys, close with ×. */
export default function TerminalPage() {
  const { sessions, activeId } = useTerminals();
  const servers = useApi<{ items: ServerView[] }>('/api/v1/servers');
  const search = useSearch();
  const [, navigate] = useLocation();
  const [server, setServer] = useState('');
  const [osUser, setOsUser] = useState('');
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);

  // /terminal?server=NAME[&osUser=U] opens a shell; ?attach=ID, ?join=ID[&link=T] and ?watch=ID (each
  // with &server=NAME for the tab's label) connect to an existing session. Once, then the URL is cleaned.
  useEffect(() => {
    const p = new URLSearchParams(search);
    const name = p.get('server') ?? '';
    const existing = p.get('attach') ?? p.get('join') ?? p.get('watch');
    if (!name && !existing) return;
    navigate('/terminal', { replace: true });
    const open = terminals.bySessionId(existing ?? '');
    if (open && existing && p.get('attach')) return terminals.activate(open.id);
    const osUser = p.get('osUser') ?? undefined;
    const start = p.get('attach')
      ? { kind: 'attach' as const, sessionId: p.get('attach')! }
      : p.get('join')
        ? { kind: 'join' as const, sessionId: p.get('join')!, ...(p.get('link') ? { link: p.get('link')! } : {}) }
        : p.get('watch')
          ? { kind: 'watch' as const, sessionId: p.get('watch')! }
          : undefined;
    void terminals.open(name || (existing ?? ''), osUser, start).open();
  }, [search, navigate]);
  // My terminals kept on their servers after a dropped connection (or a closed browser): re-attach.
  const kept = useApi<{ items: WebshSessionView[] }>('/api/v1/websh/sessions?live=true&scope=mine', 15_000);
  const detached = (kept.data?.items ?? []).filter(
    (k) => k.state === 'detached' && !sessions.some((t) => t.sessionId === k.id),
  );

  const online = (servers.data?.items ?? []).filter((s) => s.status === 'online');
  const active = sessions.find((s) => s.id === activeId);

  const onTabKey = (e: KeyboardEvent, i: number) => {
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % sessions.length;
    if (e.key === 'ArrowLeft') j = (i - 1 + sessions.length) % sessions.length;
    if (e.key === 'Home') j = 0;
    if (e.key === 'End') j = sessions.length - 1;
    if (j >= 0) {
      e.preventDefault();
      terminals.activate(sessions[j]!.id);
      tabs.current[j]?.focus();
    }
  };

  return (
    <section className="terminal-page">
      <PageHead title="Terminal">
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            const name = server || online[0]?.name;
            if (name) void terminals.open(name, osUser.trim() || undefined).open();
          }}
        >
          <label>
            Server
            <select value={server} onChange={(e) => setServer(e.target.value)} data-testid="terminal-server">
              {online.length === 0 && <option value="">no server online</option>}
              {online.map((s) => (
                <option key={s.id} value={s.name}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            OS user
            <input value={osUser} onChange={(e) => setOsUser(e.target.value)} placeholder="default" size={10} />
          </label>
          <button type="submit" className="primary" disabled={online.length === 0}>
            New terminal
          </button>
        </form>
      </PageHead>
      {detached.length > 0 && (
        <div className="notice kept" role="status" data-testid="kept-sessions">
          Kept on the server after a dropped connection:
          <ul>
            {detached.map((k) => (
              <li key={k.id}>
                <code>
                  {k.osUser}@{k.serverName ?? '?'}
                </code>{' '}
                since {new Date(k.startedAt).toLocaleTimeString()}
                {k.keptUntil ? `, until ${new Date(k.keptUntil).toLocaleTimeString()}` : ''}{' '}
                <button
                  type="button"
                  onClick={() => {
                    void terminals
                      .open(k.serverName ?? '?', k.osUser, { kind: 'attach', sessionId: k.id })
                      .open()
                      .then(kept.reload);
                  }}
                >
                  Re-attach
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      {sessions.length === 0 ? (
        <p className="muted">No terminal open. Pick a server and press “New terminal”.</p>
      ) : (
        <>
          <div role="tablist" aria-label="Terminals" className="tabs">
            {sessions.map((s, i) => (
              <div key={s.id} className={`tab ${s.id === activeId ? 'active' : ''}`}>
                <button
                  type="button"
                  role="tab"
                  id={`tab-${s.id}`}
                  ref={(el) => {
                    tabs.current[i] = el;
                  }}
                  aria-selected={s.id === activeId}
                  aria-controls={`panel-${s.id}`}
                  tabIndex={s.id === activeId ? 0 : -1}
                  onClick={() => terminals.activate(s.id)}
                  onKeyDown={(e) => onTabKey(e, i)}
                >
                  <TabLabel session={s} />
                </button>
                <button
                  type="button"
                  className="tab-close"
                  aria-label={`Close terminal ${s.label}`}
                  onClick={() => terminals.close(s.id)}
                >
                  ×
                </button>
              </div>
            ))}
          </div>
          {active && <TerminalPanel key={active.id} session={active} />}
        </>
      )}
    </section>
  );
}

function TabLabel({ session }: { session: TerminalSession }) {
  useSessionState(session);
  return (
    <>
      <span className={`dot state-${session.state.kind}`} aria-hidden="true" /> {session.label}
    </>
  );
}
