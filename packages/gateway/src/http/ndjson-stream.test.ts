import { describe, it, expect, afterEach } from 'vitest';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { ndjsonStream } from './ndjson-stream.js';

describe('NDJSON stream', () => {
  let app: FastifyInstance;
  afterEach(async () => app.close());

  it('writes one JSON value per line, in order, across corked turns, with the NDJSON headers', async () => {
    app = Fastify();
    app.get('/s', async (_req, reply) => {
      const out = ndjsonStream(reply);
      expect(out.started()).toBe(false);
      // A burst in one turn (corked together), then more in later turns.
      for (let i = 0; i < 3; i++) out.write({ i });
      await out.writable();
      await new Promise((r) => setImmediate(r));
      out.write({ i: 3 });
      await new Promise((r) => setImmediate(r));
      out.write({ i: 4, text: 'a\nb' });
      expect(out.started()).toBe(true);
      expect(out.aborted()).toBe(false);
      out.end();
      return reply;
    });
    const res = await app.inject({ method: 'GET', url: '/s' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.split('\n')).toEqual(['{"i":0}', '{"i":1}', '{"i":2}', '{"i":3}', '{"i":4,"text":"a\\nb"}', '']);
  });

  it('leaves the reply alone until the first line, so an early error is an ordinary JSON error', async () => {
    app = Fastify();
    app.get('/e', async (_req, reply) => {
      const out = ndjsonStream(reply);
      out.end(); // nothing written: a no-op
      expect(out.started()).toBe(false);
      return reply.code(400).send({ error: 'bad' });
    });
    const res = await app.inject({ method: 'GET', url: '/e' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad' });
  });

  it('tells the producer to wait while the client does not read, and to go on once it does', async () => {
    app = Fastify();
    let waited: Promise<void> | null = null;
    let drained = false;
    const filled = new Promise<number>((resolveFilled) => {
      app.get('/slow', async (_req, reply) => {
        const out = ndjsonStream(reply);
        const chunk = { pad: 'x'.repeat(64 * 1024) };
        let lines = 0;
        // Fill the kernel's socket buffers until lines pile up in the process (bounded: 512 MiB at most).
        while (reply.raw.writableLength < 4 * 1024 * 1024 && lines < 8192) {
          out.write(chunk);
          lines++;
          if (lines % 16 === 0) await new Promise((r) => setImmediate(r));
        }
        waited = out.writable().then(() => {
          drained = true;
        });
        resolveFilled(lines);
        await waited;
        out.write({ done: true });
        out.end();
        return reply;
      });
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const body = new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/slow' }, (res) => {
        res.pause(); // a reader that has stopped reading
        void filled.then(async (lines) => {
          // Several turns later the producer is still held back.
          for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
          if (lines >= 8192 || drained) return reject(new Error(`not held back (${lines} lines written)`));
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d.length > 100 ? '' : d));
          res.on('end', () => resolve(text));
          res.resume();
        }, reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(await body).toContain('{"done":true}');
    expect(drained).toBe(true);
  });
});
