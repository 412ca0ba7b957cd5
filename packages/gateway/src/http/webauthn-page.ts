import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/**
 * A small page for passkeys and security keys, served at /auth/webauthn: sign in (with a passkey as the
 * second factor) and add a passkey to your account. WebAuthn only runs in a browser, so `corral mfa add
 * webauthn` sends people here. It uses the JSON API like any browser client (the session in the HttpOnly
 * cookie, changes with X-CSRF-Token) and @simplewebauthn/browser for navigator.credentials; the web UI
 * builds on the same API.
 */

const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Corral: passkeys and security keys</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem; color: #1d232a; }
  fieldset { border: 1px solid #ccd; border-radius: 6px; margin: 1rem 0; padding: 1rem; }
  label { display: block; margin: .4rem 0; }
  input { font: inherit; padding: .3rem; width: 100%; box-sizing: border-box; }
  button { font: inherit; padding: .4rem 1rem; margin-top: .6rem; }
  #status { white-space: pre-wrap; margin-top: 1rem; }
</style>
<script src="/auth/webauthn/simplewebauthn-browser.js"></script>
<script src="/auth/webauthn/page.js" defer></script>
</head>
<body>
<h1>Passkeys and security keys</h1>
<fieldset id="signin">
  <legend>Sign in</legend>
  <label>Email <input id="email" type="email" autocomplete="username"></label>
  <label>Password <input id="password" type="password" autocomplete="current-password"></label>
  <button id="signin-button" type="button">Sign in</button>
</fieldset>
<fieldset id="add">
  <legend>Add a passkey or security key</legend>
  <label>Name <input id="label" value="security key"></label>
  <button id="add-button" type="button">Add</button>
</fieldset>
<div id="status" role="status"></div>
</body>
</html>
`;

const PAGE_JS = `'use strict';
(function () {
  const W = window.SimpleWebAuthnBrowser;
  const status = (t) => { document.getElementById('status').textContent = t; };
  // The session lives in the HttpOnly cookie; changes carry its CSRF token (kept for this tab).
  async function csrf() {
    let t = sessionStorage.getItem('corral.csrf');
    if (!t) {
      const me = await api('GET', '/api/v1/auth/whoami');
      t = me.csrfToken || '';
      sessionStorage.setItem('corral.csrf', t);
    }
    return t;
  }
  async function api(method, path, body) {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const signedIn = path.indexOf('/api/v1/auth/login') !== 0;
    if (method !== 'GET' && signedIn) headers['x-csrf-token'] = await csrf();
    const res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error((data && data.error && (data.error.code + ': ' + data.error.message)) || ('HTTP ' + res.status));
    return data;
  }
  /** Sign in; a passkey answers the second step when the account has one. Resolves to the session. */
  async function login(email, password) {
    let r = await api('POST', '/api/v1/auth/login', { email, password, cookie: true });
    if (r.mfaRequired) {
      if (!r.webauthn) throw new Error('this account has no passkey usable here: methods ' + r.methods.join(', '));
      const answer = await W.startAuthentication({ optionsJSON: r.webauthn });
      r = await api('POST', '/api/v1/auth/login/mfa', { challenge: r.challenge, method: 'webauthn', webauthn: answer, cookie: true });
    }
    sessionStorage.setItem('corral.csrf', r.csrfToken);
    return r;
  }
  /** Add a passkey to the signed-in account; resolves to the confirmed factor (and recovery codes, the first time). */
  async function register(label) {
    const started = await api('POST', '/api/v1/auth/mfa/factors', { kind: 'webauthn', label });
    const answer = await W.startRegistration({ optionsJSON: started.webauthn });
    return api('POST', '/api/v1/auth/mfa/factors/' + encodeURIComponent(started.factor.id) + '/confirm', { webauthn: answer });
  }
  /** Step up with a passkey. */
  async function stepUp() {
    const b = await api('POST', '/api/v1/auth/step-up/begin', { method: 'webauthn' });
    const answer = await W.startAuthentication({ optionsJSON: b.webauthn });
    return api('POST', '/api/v1/auth/step-up', { method: 'webauthn', challenge: b.challenge, webauthn: answer });
  }
  window.corral = { api, login, register, stepUp };
  document.getElementById('signin-button').addEventListener('click', () => {
    login(document.getElementById('email').value, document.getElementById('password').value).then(
      (r) => status('Signed in as ' + r.user.email + (r.enrollmentRequired ? ' (add a second factor to continue)' : '') + '.'),
      (e) => status('Sign-in failed: ' + e.message),
    );
  });
  document.getElementById('add-button').addEventListener('click', () => {
    register(document.getElementById('label').value).then(
      (r) => status('Added ' + r.factor.label + '.' + (r.recoveryCodes ? '\\nRecovery codes (shown once):\\n' + r.recoveryCodes.join('\\n') : '')),
      (e) => status('Could not add it: ' + e.message),
    );
  });
})();
`;

let bundle: string | undefined;
function browserBundle(): string {
  if (bundle === undefined) {
    // The package exports only its modules; its UMD bundle sits beside them (script/index.js -> ../dist).
    const main = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
    bundle = readFileSync(join(dirname(main), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
  }
  return bundle;
}

/** Serve the page, its script, and the @simplewebauthn/browser bundle (same origin: no CDN). */
export function registerWebauthnPage(app: FastifyInstance): void {
  const headers = {
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  };
  app.get('/auth/webauthn', async (_req, reply) =>
    reply.headers(headers).type('text/html; charset=utf-8').send(PAGE_HTML),
  );
  app.get('/auth/webauthn/page.js', async (_req, reply) =>
    reply.headers(headers).type('text/javascript; charset=utf-8').send(PAGE_JS),
  );
  app.get('/auth/webauthn/simplewebauthn-browser.js', async (_req, reply) =>
    reply.headers(headers).type('text/javascript; charset=utf-8').send(browserBundle()),
  );
}
