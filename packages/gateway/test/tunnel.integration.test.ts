/**
 * Port forwarding end to end: an HTTP server on the agent's side, fetched through `corral tunnel`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { randomBytes, createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BIN, Proc, run, eventually } from './processes.js';
import { tempDir } from './helpers.js';

function get(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('port forwarding (corral tunnel)', () => {
  const dir = tempDir('corral-tunnel-');
  let gateway: Proc;
  let agent: Proc;
  let tunnel: Proc;
  let http: Server;
  const payload = randomBytes(8 * 1024 * 1024);
  const env = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
  const cli = (args: string[]) => run(BIN.cli, args, { env });

  beforeAll(async () => {
    http = createServer((req, res) => {
      if (req.url === '/big') return res.end(payload);
      res.end(`hello ${req.url}`);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    gateway = new Proc(BIN.gateway, ['start', '--data', join(dir.path, 'gw'), '--listen', '127.0.0.1:0']);
    const url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    const fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    const login = await run(
      BIN.cli,
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      {
        env,
        input: password + '\n',
      },
    );
    expect(login.code, login.stderr).toBe(0);
    const tok = JSON.parse((await cli(['server', 'token', 'create', '-o', 'json'])).stdout) as { token: string };
    const cfg = join(dir.path, 'agent.json');
    const reg = await run(BIN.agent, [
      'register',
      '--gateway',
      url,
      '--token',
      tok.token,
      '--ca-fingerprint',
      fp,
      '--config',
      cfg,
      '--name',
      'tun-01',
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    agent = new Proc(BIN.agent, ['run', '--config', cfg], { CORRAL_METRICS_INTERVAL_MS: '0' });
    await eventually(async () => (await cli(['server', 'ls'])).stdout.includes('online'));
    const port = (http.address() as AddressInfo).port;
    tunnel = new Proc(BIN.cli, ['tunnel', 'tun-01', '-L', `0:127.0.0.1:${port}`, '-L', '0:198.51.100.7:80'], env);
  });

  afterAll(async () => {
    await tunnel?.stop('SIGINT');
    await agent?.stop();
    await gateway?.stop();
    http?.close();
    dir.remove();
  });

  it('carries many concurrent connections, byte for byte, each audited with its byte counts', async () => {
    const port = (http.address() as AddressInfo).port;
    const m = await tunnel.waitFor(
      new RegExp(`Forwarding 127\\.0\\.0\\.1:(\\d+) -> tun-01 -> 127\\.0\\.0\\.1:${port}`),
    );
    const local = Number(m[1]);
    const small = await Promise.all(Array.from({ length: 20 }, (_, i) => get(local, `/r${i}`)));
    small.forEach((r, i) => expect(r.body.toString()).toBe(`hello /r${i}`));
    const bigs = await Promise.all([get(local, '/big'), get(local, '/big'), get(local, '/big')]);
    const want = createHash('sha256').update(payload).digest('hex');
    for (const b of bigs) expect(createHash('sha256').update(b.body).digest('hex')).toBe(want);
    const audit = await eventually(async () => {
      const a = JSON.parse(
        (await cli(['audit', 'ls', '--action', 'tunnel.connection', '--limit', '100', '-o', 'json'])).stdout,
      ) as {
        items: Array<{ details: { target: string; bytesOut: number; bytesIn: number } }>;
      };
      return a.items.length >= 23 ? a : undefined;
    });
    expect(audit.items.filter((e) => e.details.target === `127.0.0.1:${port}`)).toHaveLength(23);
    expect(audit.items.filter((e) => e.details.bytesOut > payload.length)).toHaveLength(3);
  });

  it("refuses targets other than the server's own addresses, until a superuser allows any", async () => {
    const m = await tunnel.waitFor(/Forwarding 127\.0\.0\.1:(\d+) -> tun-01 -> 198\.51\.100\.7:80/);
    const local = Number(m[1]);
    await get(local, '/').catch(() => undefined);
    await tunnel.waitFor(/FORBIDDEN: 198\.51\.100\.7 is not one of tun-01's own addresses/);
    const denied = JSON.parse((await cli(['audit', 'ls', '--action', 'access.denied', '-o', 'json'])).stdout) as {
      items: Array<{ details: { attempted?: string; target?: string } }>;
    };
    expect(
      denied.items.some((e) => e.details.attempted === 'tunnel.open' && e.details.target === '198.51.100.7:80'),
    ).toBe(true);
    expect((await cli(['workspace', 'update', '--tunnel-targets', 'any'])).code).toBe(0);
    expect((await cli(['workspace', 'show'])).stdout).toMatch(/Tunnel targets:\s+any/);
  });
});
