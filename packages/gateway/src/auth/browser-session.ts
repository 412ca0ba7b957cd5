import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CorralError } from '../errors.js';

/**
 * Browser sessions: the sign-in token lives in an HttpOnly cookie that page scripts cannot read, and
 * every state-changing request proves it comes from our own page with an `X-CSRF-Token` header.
 *
 * The CSRF token is derived from the session token (SHA-256 over a label and the token), so the server
 * stores nothing extra, a stolen CSRF token reveals nothing about the session, and a new sign-in gets a
 * new one. `__Host-` cookies must be Secure, have Path=/ and no Domain: a sibling subdomain (another
 * workspace) can neither set nor read them.
 */
export const SESSION_COOKIE = '__Host-corral_session';
export const CSRF_HEADER = 'x-csrf-token';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The CSRF token that goes with a session token. */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update('corral-csrf\n').update(sessionToken).digest('base64url');
}

/** Cookies of a request, by name (first wins, values URI-decoded when they can be). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (out.has(name)) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      out.set(name, decodeURIComponent(raw));
    } catch {
      out.set(name, raw);
    }
  }
  return out;
}

/** The session token carried by the request's cookie, if any. */
export function sessionCookieOf(req: FastifyRequest): string | null {
  return parseCookies(req.headers.cookie).get(SESSION_COOKIE) ?? null;
}

/**
 * The token to authenticate a request with: the bearer token when there is one (CLI, API tokens),
 * else the session cookie, in which case unsafe methods must carry the matching CSRF header.
 */
export function requestToken(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    return m?.[1] ?? null;
  }
  const cookie = sessionCookieOf(req);
  if (!cookie) return null;
  if (UNSAFE.has(req.method)) {
    const sent = req.headers[CSRF_HEADER];
    const expected = Buffer.from(csrfTokenFor(cookie));
    const got = Buffer.from(typeof sent === 'string' ? sent : '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new CorralError(
        'CSRF_FAILED',
        'Missing or wrong X-CSRF-Token header: send the csrfToken from sign-in (or whoami) with every change.',
      );
    }
  }
  return cookie;
}

/** Set the browser session cookie (after a sign-in completed for a browser). */
export function setSessionCookies(reply: FastifyReply, token: string, expiresAt: string): void {
  const maxAge = Math.max(0, Math.floor((Date.parse(expiresAt) - Date.now()) / 1000));
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Strict`,
  );
}

/** Remove the browser session cookie (sign-out). */
export function clearSessionCookies(reply: FastifyReply): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`);
}
