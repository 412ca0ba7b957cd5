import { TerminalSession, type TerminalStart } from './terminal-session';

/** The open terminal tabs, kept for the page's lifetime (leaving the terminal page keeps them). */
interface Snapshot {
  sessions: readonly TerminalSession[];
  activeId: string | null;
}

let snapshot: Snapshot = { sessions: [], activeId: null };
const listeners = new Set<() => void>();

declare global {
  interface Window {
    /** Test hook: the active xterm Terminal (its buffer is read by the browser tests). */
    __corralTerm?: TerminalSession['term'];
  }
}

function set(next: Snapshot): void {
  snapshot = next;
  window.__corralTerm = next.sessions.find((s) => s.id === next.activeId)?.term;
  for (const fn of listeners) fn();
}

export const terminals = {
  subscribe(fn: () => void): () => void {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  get(): Snapshot {
    return snapshot;
  },
  open(server: string, osUser?: string, start?: TerminalStart): TerminalSession {
    const s = new TerminalSession(server, osUser || undefined, start);
    set({ sessions: [...snapshot.sessions, s], activeId: s.id });
    return s;
  },
  /** The tab showing a websh session, if one does. */
  bySessionId(sessionId: string): TerminalSession | undefined {
    return snapshot.sessions.find((s) => s.sessionId === sessionId);
  },
  activate(id: string): void {
    set({ ...snapshot, activeId: id });
  },
  close(id: string): void {
    const i = snapshot.sessions.findIndex((s) => s.id === id);
    if (i < 0) return;
    snapshot.sessions[i]!.dispose();
    const sessions = snapshot.sessions.filter((s) => s.id !== id);
    const activeId =
      snapshot.activeId === id ? (sessions[Math.min(i, sessions.length - 1)]?.id ?? null) : snapshot.activeId;
    set({ sessions, activeId });
  },
};
