/**
 * Where to go after signing in: `?next=` is honoured only for same-origin relative paths (never
 * `//host`, `/\host` or `https://...`: no open redirect), and never back to /login.
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/servers';
  // Control characters (a newline could split a header or fool a parser) are never part of a real path.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(next)) return '/servers';
  if (next === '/login' || next.startsWith('/login?') || next.startsWith('/login/')) return '/servers';
  return next;
}

/** Pages of this app (client-side routes); any other path (the gateway's own pages) is loaded in full. */
const APP_ROUTES = /^\/(servers|terminal|files|edit|work-sessions|recordings|audit|admin|tokens|security)?(\/|\?|$)/;

export function isAppRoute(path: string): boolean {
  return APP_ROUTES.test(path);
}
