import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A stand-in for the gateway's HTTP API, enough to drive the CLI's commands over real TLS 1.3 with a
 * private CA (made with openssl). The real gateway is tested end to end by the lead's suites.
 */

export interface TlsFiles {
  caPem: string;
  keyPem: string;
  certPem: string;
}

/** A CA and a server certificate for 127.0.0.1 / localhost, signed by it. */
export function makeTls(cn = 'Fake gateway CA'): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'corral-cli-tls-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    ]);
    run([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'srv.key',
      '-out',
      'srv.csr',
      '-subj',
      '/CN=gateway',
    ]);
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    run([
      'x509',
      '-req',
      '-in',
      'srv.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'srv.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    ]);
    return {
      caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'srv.key'), 'utf8'),
      certPem: readFileSync(join(dir, 'srv.crt'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const USER = { email: 'ada@example.com', password: 'correct horse', token: 'tok_valid' };

export interface FakeGateway {
  url: string;
  tls: TlsFiles;
  /** Every request seen, as "METHOD /path". */
  requests: string[];
  /** TLS connections accepted (to see keep-alive reuse). */
  connections: number;
  /** What the websh channel does with its socket. */
  channel: (sock: WebSocket) => void;
  /** Tokens the gateway has revoked. */
  revoked: Set<string>;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const err = (res: ServerResponse, status: number, code: string, message: string, headers?: Record<string, string>) =>
  json(res, status, { error: { code, message } }, headers);

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

const server = (name: string, status: 'online' | 'offline') => ({
  id: `srv_${name}`,
  name,
  status,
  platform: 'linux/x64',
  address: '10.0.0.7',
  lastSeenAt: new Date(Date.now() - 12_000).toISOString(),
  tags: { role: 'web', env: 'prod' },
  registeredAt: '2025-01-01T00:00:00.000Z',
  health: status === 'online' ? 'warning' : 'unknown',
});

/** An hour of samples every 15 s, CPU rising from 0 to 100 %, a 20-minute gap in the middle. */
export function fakeMetrics(now = Date.now()) {
  const points = [];
  for (let i = 0; i < 240; i++) {
    if (i >= 80 && i < 160) continue; // the agent was away
    const cpu = (i / 239) * 100;
    points.push({
      at: new Date(now - 3_600_000 + i * 15_000).toISOString(),
      cpuPct: cpu,
      cpuPctMax: cpu,
      memPct: 91.2,
      memPctMax: 91.2,
      diskPct: 45,
      diskPctMax: 45,
      load1: 0.5,
      rxBps: i === 0 ? null : 1200,
      txBps: i === 0 ? null : 310,
      samples: 1,
    });
  }
  return {
    range: '1h',
    step: 'raw',
    health: 'warning',
    points,
    latest: {
      at: new Date(now - 5_000).toISOString(),
      cpuPct: 12.5,
      memUsed: 7.3 * 2 ** 30,
      memTotal: 8 * 2 ** 30,
      memPct: 91.25,
      swapUsed: null,
      swapTotal: null,
      load: [0.5, 0.4, 0.3],
      disks: [
        { mount: '/', fsType: 'ext4', used: 9 * 2 ** 30, total: 20 * 2 ** 30, avail: 11 * 2 ** 30, pct: 45 },
        { mount: '/srv/\x1b[31mdata', fsType: 'xfs', used: 2 ** 30, total: 10 * 2 ** 30, avail: 9 * 2 ** 30, pct: 10 },
      ],
      rxBps: 1200,
      txBps: 310,
    },
  };
}

export async function startFakeGateway(tls: TlsFiles = makeTls()): Promise<FakeGateway> {
  const gw: FakeGateway = {
    url: '',
    tls,
    requests: [],
    connections: 0,
    channel: (sock) => {
      sock.send(JSON.stringify({ type: 'ready', sessionId: 'ws_1' }));
      sock.send(Buffer.from('hi\n'), { binary: true });
      sock.send(JSON.stringify({ type: 'exit', code: 0, signal: null }));
      sock.close(1000);
    },
    revoked: new Set(),
    close: async () => {},
  };
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  let channelToken: string | null = null;

  const authed = (req: IncomingMessage): boolean => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return !!m && m[1] === USER.token && !gw.revoked.has(m[1]!);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://x');
    const route = `${req.method} ${url.pathname}`;
    gw.requests.push(route);
    if (route === 'GET /api/v1/ca') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      return void res.end(tls.caPem);
    }
    if (route === 'POST /api/v1/auth/login') {
      const body = (await readBody(req)) as { email: string; password: string };
      if (body.email !== USER.email || body.password !== USER.password) {
        return err(res, 401, 'INVALID_CREDENTIALS', 'Wrong email or password.');
      }
      return json(res, 200, {
        token: USER.token,
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
        user: { id: 'u_1', email: USER.email, role: 'superuser' },
        workspace: { id: 'w_1', name: 'default' },
      });
    }
    if (!authed(req))
      return err(res, 401, 'UNAUTHENTICATED', 'Sign in first: the token is missing, expired or revoked.');
    if (route === 'POST /api/v1/auth/logout') {
      gw.revoked.add(USER.token);
      res.writeHead(204);
      return void res.end();
    }
    if (route === 'GET /api/v1/auth/whoami') {
      return json(res, 200, {
        user: { id: 'u_1', email: USER.email, role: 'superuser' },
        workspace: { id: 'w_1', name: 'default' },
        tokenExpiresAt: null,
      });
    }
    if (route === 'GET /api/v1/servers')
      return json(res, 200, { items: [server('web-01', 'online'), server('db-01', 'offline')] });
    if (route === 'GET /api/v1/servers/web-01') {
      return json(res, 200, { ...server('web-01', 'online'), system: null, connectedAt: null });
    }
    if (route === 'GET /api/v1/servers/web-01/metrics') {
      if (!['1h', '24h', '7d', null].includes(url.searchParams.get('range')))
        return err(res, 400, 'VALIDATION_FAILED', 'range: Invalid option');
      return json(res, 200, fakeMetrics());
    }
    // db-01 plays a server on a gateway from before metrics: the route does not exist there.
    if (route === 'GET /api/v1/servers/db-01') {
      const { health: _none, ...old } = server('db-01', 'offline');
      return json(res, 200, { ...old, system: null, connectedAt: null });
    }
    if (route === 'GET /api/v1/servers/db-01/metrics') return err(res, 404, 'NOT_FOUND', 'No route GET.');
    if (route === 'POST /api/v1/servers/web-01/websh') {
      await readBody(req);
      channelToken = 'chan_tok_' + Math.random().toString(36).slice(2);
      return json(res, 201, {
        sessionId: 'ws_1',
        channelId: 'ch_1',
        token: channelToken,
        path: `/api/v1/channels/ch_1?token=${channelToken}`,
      });
    }
    if (route === 'POST /api/v1/servers/db-01/websh')
      return err(res, 409, 'SERVER_OFFLINE', 'The server is offline: its agent is not connected.');
    if (url.pathname.startsWith('/api/v1/servers/')) return err(res, 404, 'SERVER_NOT_FOUND', 'No such server.');
    return err(res, 404, 'NOT_FOUND', 'No such route.');
  };

  const srv: Server = createServer({ key: tls.keyPem, cert: tls.certPem, minVersion: 'TLSv1.3' }, (req, res) => {
    handle(req, res).catch((e: Error) => err(res, 500, 'INTERNAL', e.message));
  });
  srv.on('secureConnection', () => gw.connections++);
  srv.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'https://x');
    gw.requests.push(`UPGRADE ${url.pathname}`);
    if (url.pathname !== '/api/v1/channels/ch_1' || url.searchParams.get('token') !== channelToken) {
      const body = JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'bad channel token' } });
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    channelToken = null; // one use
    wss.handleUpgrade(req, socket, head, (ws) => gw.channel(ws));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  gw.url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  gw.close = () =>
    new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate();
      srv.closeAllConnections();
      srv.close(() => r());
    });
  return gw;
}
