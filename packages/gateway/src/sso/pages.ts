import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';

/**
 * Server-rendered pages of the sign-in flows (device approval, SSO errors): plain HTML, no script at
 * all, one inline style allowed by its hash. The CSP forbids everything else, forms post only to us,
 * no framing, and no Referer (the URL may carry a user code).
 */
const STYLE = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}.code{font:600 1.6rem ui-monospace,monospace;letter-spacing:.15em;background:#f1f3f5;padding:.4rem .8rem;border-radius:6px;display:inline-block}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#57606a}dd{margin:0}
button,input{font-size:1rem;padding:.5rem 1rem;border-radius:6px;border:1px solid #8c959f}
button.approve{background:#1f883d;color:#fff;border-color:#1f883d}button.deny{background:#fff;color:#cf222e;border-color:#cf222e}
.error{color:#cf222e}.muted{color:#57606a;font-size:.9rem}`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

export const PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** HTML-escape text for element content and attribute values. */
export function esc(s: string | null | undefined): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function sendPage(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)} - Corral</title><style>${STYLE}</style></head><body>${body}</body></html>`;
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(html);
}

/**
 * After a sign-in that came back from the IdP: a page of our own that moves on to `next`. Not a 303:
 * a redirect chain that began on the IdP's site counts as cross-site, so the SameSite=Strict session
 * cookie just set would not ride along on it (chromium shows this); a navigation this page starts is
 * same-site. No script: a meta refresh, and a link for browsers that ignore it.
 */
export function sendContinuePage(reply: FastifyReply, next: string): FastifyReply {
  return sendPage(
    reply,
    200,
    'Signed in',
    `<meta http-equiv="refresh" content="0;url=${esc(next)}"><h1>Signed in</h1><p><a href="${esc(next)}">Continue</a></p>`,
  );
}

/** A failed sign-in, with the error code people can quote and a way back. */
export function sendErrorPage(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return sendPage(
    reply,
    status,
    'Sign-in failed',
    `<h1>Sign-in failed</h1><p class="error">${esc(message)}</p><p class="muted">Error code: <code>${esc(code)}</code></p><p><a href="/login">Back to sign-in</a></p>`,
  );
}
