import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerWebUi, CONTENT_SECURITY_POLICY } from './web-ui.js';

describe('web UI static serving', () => {
  const dirs: string[] = [];
  let app: FastifyInstance;
  afterEach(async () => {
    await app?.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function build(withIndex = true): string {
    const d = mkdtempSync(join(tmpdir(), 'corral-webui-'));
    dirs.push(d);
    mkdirSync(join(d, 'dist', 'assets'), { recursive: true });
    if (withIndex) writeFileSync(join(d, 'dist', 'index.html'), '<!doctype html><title>Corral</title>');
    writeFileSync(join(d, 'dist', 'assets', 'index-abc123.js'), 'console.log("hi")');
    writeFileSync(join(d, 'secret.txt'), 'outside the build');
    return join(d, 'dist');
  }
  async function serve(dir: string | null): Promise<FastifyInstance> {
    app = Fastify();
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'x' } }));
    app.get('/api/v1/health', async () => ({ ok: true }));
    registerWebUi(app, dir);
    await app.ready();
    return app;
  }

  it('answers client routes with index.html, not cached, under the CSP and no framing', async () => {
    await serve(build());
    for (const url of ['/', '/servers', '/files/web-01?path=/etc', '/admin/users']) {
      const r = await app.inject({ url });
      expect(r.statusCode, url).toBe(200);
      expect(r.body).toContain('<title>Corral</title>');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/script-src[^;]*'unsafe-eval'/);
  });

  it('serves hashed assets with a year-long immutable cache, and gzip copies to clients that take them', async () => {
    const dir = build();
    await serve(dir);
    const r = await app.inject({ url: '/assets/index-abc123.js' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/javascript');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.body).toBe('console.log("hi")');
    const { gzipSync } = await import('node:zlib');
    writeFileSync(join(dir, 'assets', 'index-abc123.js.gz'), gzipSync('console.log("hi")'));
    const z = await app.inject({ url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(z.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(z.rawPayload).toString()).toBe('console.log("hi")');
  });

  it('never serves files outside the build (traversal), and unknown files or API paths are 404s', async () => {
    await serve(build());
    for (const url of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/nope.js'])
      expect((await app.inject({ url })).statusCode, url).toBe(404);
    // A malformed escape never reaches a file either (fastify answers 400 before any route).
    expect([400, 404]).toContain((await app.inject({ url: '/%zz.js' })).statusCode);
    const api = await app.inject({ url: '/api/v1/nothing-here' });
    expect(api.statusCode).toBe(404);
    expect(api.json().error.code).toBe('NOT_FOUND');
    expect((await app.inject({ url: '/api/v1/health' })).json()).toEqual({ ok: true });
  });

  it('without a build, / says how to build it and the API still answers', async () => {
    await serve(build(false));
    const r = await app.inject({ url: '/' });
    expect(r.statusCode).toBe(503);
    expect(r.body).toContain('npm run build');
    expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect((await app.inject({ url: '/api/v1/health' })).statusCode).toBe(200);
    await app.close();
    await serve(null);
    expect((await app.inject({ url: '/servers' })).body).toContain('not built');
  });
});
