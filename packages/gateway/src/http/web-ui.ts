import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The web UI: static files built by `packages/web` (vite), served at `/`.
 *
 *   /assets/<name>-<hash>.js|css   long cache (immutable: the name changes with the content)
 *   /<file>                        a file of the build, revalidated
 *   any other GET (client routes)  index.html, never cached (so a new build is picked up)
 *   /api/...                       never here: the API's own 404
 *
 * Every answer carries a strict Content-Security-Policy (scripts only from this origin; WebAssembly for
 * the recording player; inline styles, which CodeMirror and xterm.js set), frame-ancestors 'none' and
 * X-Frame-Options DENY (no framing: clickjacking), nosniff and a same-origin referrer policy.
 * Without a build (`npm run build` not run) `/` answers a page saying so; the API works regardless.
 */

/** Where `npm run build` puts the web UI, relative to this file (src/http or dist/http alike). */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../web/dist', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Corral</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>Corral gateway</h1>
<p>The gateway is running, but the web UI is not built here: <code>packages/web/dist</code> is missing.</p>
<p>Build it with <code>npm run build</code> (or <code>npm start</code>, which builds first), then reload.
The API (<code>/api/v1</code>) and the CLI work without it.</p>
</body></html>
`;

function withHeaders(reply: FastifyReply): FastifyReply {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) void reply.header(k, v);
  return reply;
}

/** Register the web UI's routes; `webDir` null or without index.html serves the "not built" page. */
export function registerWebUi(app: FastifyInstance, webDir: string | null): { built: boolean } {
  const root = webDir ? resolve(webDir) : null;
  const indexFile = root ? join(root, 'index.html') : null;
  const built = Boolean(indexFile && existsSync(indexFile));
  // Read once: the shell is small, and every client route answers it.
  const index = built && indexFile ? readFileSync(indexFile) : null;

  app.get('/*', async (req, reply) => {
    let path: string;
    try {
      path = decodeURIComponent(req.url.split('?')[0] ?? '/');
    } catch {
      return reply.callNotFound();
    }
    if (path.startsWith('/api/')) return reply.callNotFound();
    if (!index || !root) {
      return withHeaders(reply)
        .code(503)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(NOT_BUILT);
    }
    const ext = extname(path);
    // A path with an extension is a file of the build or nothing; one without is a client route.
    if (ext && path !== '/index.html') {
      const file = resolve(root, `.${path}`);
      if (!file.startsWith(root + sep) || path.includes('\0')) return reply.callNotFound();
      let size: number;
      try {
        const st = statSync(file);
        if (!st.isFile()) return reply.callNotFound();
        size = st.size;
      } catch {
        return reply.callNotFound();
      }
      const hashed = path.startsWith('/assets/');
      withHeaders(reply)
        .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache')
        .type(TYPES[ext] ?? 'application/octet-stream');
      // Pre-compressed copies made at build time (scripts/check-chunks.mjs), when the client takes gzip.
      const gz = `${file}.gz`;
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && existsSync(gz)) {
        void reply.header('content-encoding', 'gzip').header('vary', 'accept-encoding');
        return reply.header('content-length', String(statSync(gz).size)).send(createReadStream(gz));
      }
      return reply.header('content-length', String(size)).send(createReadStream(file));
    }
    return withHeaders(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  });
  return { built };
}
