import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../services.js';
import type { Principal } from '../auth/principal.js';
import { csrfTokenFor, sessionCookieOf } from '../auth/browser-session.js';
import { CorralError } from '../errors.js';
import { esc, sendErrorPage, sendPage } from '../sso/pages.js';
import { SsoFailure } from '../sso/sso-service.js';
import { bindingCookieOf, completeSso, originOf } from './sso-routes.js';

/**
 * The routes that take HTML form posts (`application/x-www-form-urlencoded`): the SAML ACS (HTTP-POST
 * binding) and the device approval page. They live in their own fastify scope so that the form parser
 * exists only here: the JSON API never accepts a form post.
 *
 *   CLI ── POST /api/v1/auth/device ─────────────► gateway   (device code + user code)
 *   CLI ── prints URL + code, opens the browser
 *   browser ── GET /auth/device?code=… ─(cookie)─► page: who, from where, approve / deny
 *   browser ── POST /auth/device (CSRF field) ───► approved
 *   CLI ── POST /api/v1/auth/device/token ───────► session token (once)
 */
export function ssoPages(s: Services) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 512 * 1024 },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );

    app.post('/api/v1/auth/sso/:provider/acs', async (req, reply) => {
      const form = formOf(req);
      const provider = (req.params as { provider?: string }).provider ?? '';
      return completeSso(s, req, reply, provider, async (p) => {
        if (p.kind !== 'saml') throw new SsoFailure('wrong_kind', `"${p.name}" is not a SAML provider.`);
        return s.sso.finishSaml(
          p,
          originOf(req),
          { SAMLResponse: form.SAMLResponse, RelayState: form.RelayState },
          bindingCookieOf(req),
        );
      });
    });

    app.get('/auth/device', async (req, reply) => {
      const code = String((req.query as { code?: unknown }).code ?? '').slice(0, 40);
      const p = await browserPrincipal(s, req);
      if (!p) return toLogin(reply, code ? `/auth/device?code=${encodeURIComponent(code)}` : '/auth/device');
      if (!code) return sendPage(reply, 200, 'Sign in a device', codeForm(p));
      try {
        const pending = await s.devices.findPending(p, code);
        if (!pending)
          return sendPage(reply, 404, 'Unknown code', codeForm(p, 'This code is unknown, used or expired.'));
        const csrf = csrfTokenFor(sessionCookieOf(req)!);
        return sendPage(
          reply,
          200,
          'Approve sign-in',
          `<h1>Sign in on another device?</h1>
<p>Check that this is the code your terminal shows:</p><p class="code">${esc(formatCode(code))}</p>
<dl><dt>Signing in as</dt><dd>${esc(p.email)} (${esc(p.role)}, workspace ${esc(p.workspaceName)})</dd>
<dt>Requested from</dt><dd>${esc(pending.client_ip ?? 'unknown address')}${pending.client_name ? ` by ${esc(pending.client_name)}` : ''}</dd>
<dt>Requested at</dt><dd>${esc(pending.created_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</dd>
<dt>Your address</dt><dd>${esc(req.ip)}</dd></dl>
<p>Approve only if you started this sign-in yourself (for example with <code>corral login --browser</code>). The device gets a session as you.</p>
<form method="post" action="/auth/device"><input type="hidden" name="code" value="${esc(code)}"><input type="hidden" name="csrf" value="${esc(csrf)}">
<button class="approve" type="submit" name="decision" value="approve">Approve</button> <button class="deny" type="submit" name="decision" value="deny">Deny</button></form>`,
        );
      } catch (err) {
        return errorPage(reply, err);
      }
    });

    app.post('/auth/device', async (req, reply) => {
      const form = formOf(req);
      const p = await browserPrincipal(s, req);
      if (!p) return toLogin(reply, '/auth/device');
      const expected = Buffer.from(csrfTokenFor(sessionCookieOf(req)!));
      const got = Buffer.from(form.csrf ?? '');
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        await s.audit.append({
          workspaceId: p.workspaceId,
          action: 'access.denied',
          outcome: 'denied',
          actor: { type: 'user', id: p.userId, name: p.email },
          sourceIp: req.ip,
          details: { attempted: 'auth.device.decide', reason: 'csrf' },
        });
        return sendErrorPage(
          reply,
          403,
          'CSRF_FAILED',
          'The form is stale or did not come from this page: open the link again.',
        );
      }
      const approve = form.decision === 'approve';
      if (!approve && form.decision !== 'deny')
        return sendErrorPage(reply, 400, 'VALIDATION_FAILED', 'Choose approve or deny.');
      try {
        const done = await s.devices.decide(p, form.code ?? '', approve, req.ip);
        if (!done) return sendPage(reply, 404, 'Unknown code', codeForm(p, 'This code is unknown, used or expired.'));
        return sendPage(
          reply,
          200,
          approve ? 'Approved' : 'Denied',
          approve
            ? `<h1>Approved</h1><p>The device is signed in as ${esc(p.email)}. You can close this tab and return to your terminal.</p>`
            : `<h1>Denied</h1><p>The device was not signed in. If you did not start this, tell your administrator.</p>`,
        );
      } catch (err) {
        return errorPage(reply, err);
      }
    });
  };
}

function formOf(req: FastifyRequest): Record<string, string | undefined> {
  const b = req.body;
  return b && typeof b === 'object' ? (b as Record<string, string | undefined>) : {};
}

function formatCode(code: string): string {
  const c = code.toUpperCase().replace(/[^A-Z]/g, '');
  return c.length === 8 ? `${c.slice(0, 4)}-${c.slice(4)}` : code;
}

function codeForm(p: Principal, error?: string): string {
  return `<h1>Sign in a device</h1>${error ? `<p class="error">${esc(error)}</p>` : ''}
<p>Signed in as ${esc(p.email)} (workspace ${esc(p.workspaceName)}). Enter the code your terminal shows:</p>
<form method="get" action="/auth/device"><input name="code" autocomplete="off" autofocus placeholder="BCDF-GHJK" maxlength="20"> <button type="submit">Continue</button></form>`;
}

/** The signed-in browser session of this workspace, or null. */
async function browserPrincipal(s: Services, req: FastifyRequest): Promise<Principal | null> {
  const token = sessionCookieOf(req);
  if (!token) return null;
  const p = await s.auth.authenticate(token);
  // Only a real sign-in session approves a device: an API token (even one put in the cookie) would
  // otherwise turn a narrow token into a full session.
  // Nor a session held to MFA enrolment (the workspace enforces MFA and it has proved no factor).
  return p && !p.apiToken && !p.enrollmentOnly && p.workspaceId === req.workspaceId ? p : null;
}

function toLogin(reply: FastifyReply, next: string): FastifyReply {
  return reply.header('cache-control', 'no-store').redirect(`/login?next=${encodeURIComponent(next)}`, 302);
}

function errorPage(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof CorralError) {
    for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
    return sendErrorPage(reply, err.status, err.code, err.message);
  }
  throw err;
}
