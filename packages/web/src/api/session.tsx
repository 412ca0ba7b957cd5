import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, setCsrfToken, setUnauthenticatedHandler } from './client';

export type Role = 'member' | 'staff' | 'superuser';
export interface SessionUser {
  id: string;
  email: string;
  role: Role;
}
export interface SessionInfo {
  user: SessionUser;
  workspace: { id: string; name: string };
  expiresAt: string | null;
  /** The workspace enforces MFA and this user has none yet: the session only allows enrolment. */
  enrollmentRequired?: boolean;
}

/** What `POST /api/v1/auth/login` answers (contracts.md: a session, or a second-factor challenge). */
export type LoginAnswer =
  | { kind: 'session'; session: SessionInfo; enrollmentRequired: boolean }
  | { kind: 'mfa'; challenge: string; methods: string[]; webauthn?: unknown };

interface LoginBody {
  cookie?: boolean;
  csrfToken?: string;
  expiresAt?: string;
  user?: SessionUser;
  workspace?: { id: string; name: string };
  mfaRequired?: boolean;
  challenge?: string;
  methods?: string[];
  webauthn?: unknown;
  enrollmentRequired?: boolean;
}

interface SessionContextValue {
  /** undefined while the first whoami is in flight; null when signed out. */
  session: SessionInfo | null | undefined;
  login(email: string, password: string): Promise<LoginAnswer>;
  /** The second step (contracts.md): a code, or a WebAuthn assertion; the same session answer as login. */
  loginSecondFactor(
    challenge: string,
    method: string,
    proof: { code?: string; webauthn?: unknown },
  ): Promise<LoginAnswer>;
  logout(): Promise<void>;
  /** Ask whoami again (after enrolling the first factor, an enrolment-only session becomes a full one). */
  refresh(): void;
  /** Forget the session locally (after a 401). */
  expire(): void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

function toAnswer(body: LoginBody): LoginAnswer {
  if (body.mfaRequired && body.challenge)
    return { kind: 'mfa', challenge: body.challenge, methods: body.methods ?? [], webauthn: body.webauthn };
  if (!body.user || !body.workspace) throw new ApiError(500, 'INTERNAL', 'The gateway answered without a user.');
  setCsrfToken(body.csrfToken ?? null);
  return {
    kind: 'session',
    session: {
      user: body.user,
      workspace: body.workspace,
      expiresAt: body.expiresAt ?? null,
      enrollmentRequired: Boolean(body.enrollmentRequired),
    },
    enrollmentRequired: Boolean(body.enrollmentRequired),
  };
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);

  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    api
      .get<{
        user: SessionUser;
        workspace: { id: string; name: string };
        tokenExpiresAt: string | null;
        csrfToken?: string;
        enrollmentRequired?: boolean;
      }>('/api/v1/auth/whoami', { quiet401: true })
      .then((w) => {
        if (!live) return;
        setCsrfToken(w.csrfToken ?? null);
        setSession({
          user: w.user,
          workspace: w.workspace,
          expiresAt: w.tokenExpiresAt,
          enrollmentRequired: Boolean(w.enrollmentRequired),
        });
      })
      .catch(() => live && setSession(null));
    return () => {
      live = false;
    };
  }, [tick]);
  const refresh = useCallback(() => setTick((t) => t + 1), []);

  const expire = useCallback(() => {
    setCsrfToken(null);
    setSession(null);
  }, []);
  useEffect(() => {
    setUnauthenticatedHandler(expire);
    return () => setUnauthenticatedHandler(null);
  }, [expire]);

  const value = useMemo<SessionContextValue>(
    () => ({
      session,
      async login(email, password) {
        const body = await api.post<LoginBody>(
          '/api/v1/auth/login',
          { email, password, cookie: true },
          { quiet401: true },
        );
        const a = toAnswer(body);
        if (a.kind === 'session') setSession(a.session);
        return a;
      },
      async loginSecondFactor(challenge, method, proof) {
        const body = await api.post<LoginBody>(
          '/api/v1/auth/login/mfa',
          { challenge, method, ...proof, cookie: true },
          { quiet401: true },
        );
        const a = toAnswer(body);
        if (a.kind === 'session') setSession(a.session);
        return a;
      },
      async logout() {
        try {
          await api.post('/api/v1/auth/logout', undefined, { quiet401: true });
        } finally {
          expire();
        }
      },
      expire,
      refresh,
    }),
    [session, expire, refresh],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionContextValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

/** The signed-in session (pages behind the sign-in guard only). */
export function useMe(): SessionInfo {
  const { session } = useSession();
  if (!session) throw new Error('useMe without a session');
  return session;
}

export function isStaff(role: Role): boolean {
  return role === 'staff' || role === 'superuser';
}
