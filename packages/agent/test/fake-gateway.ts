/**
 * A minimal stand-in for the Corral gateway, for agent end-to-end tests: HTTPS (TLS 1.3) with a
 * certificate from a throwaway CA made by openssl, the registration API, the control handshake
 * (challenge + Ed25519 check) and channel sockets. It follows docs/PROTOCOL.md, nothing more.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { agentAuthSigningString, grantSigningString, type Grant } from '@corral/protocol';

/** A CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
export interface TestPki {
  caPem: string;
  keyPem: string;
  certPem: string;
}

export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'corral-pki-'));
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(
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
    '-subj',
    '/CN=Corral test CA',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const pki = { caPem: read('ca.crt'), keyPem: read('server.key'), certPem: read('server.crt') };
  rmSync(dir, { recursive: true, force: true });
  return pki;
}

/** What the gateway saw on one channel socket. */
export interface Transcript {
  output: Buffer;
  controls: Record<string, unknown>[];
  closeCode: number;
}

export class FakeGateway {
  readonly server: Server;
  readonly signing = generateKeyPairSync('ed25519');
  readonly agents = new Map<string, KeyObject>();
  readonly controlFrames: Record<string, unknown>[] = [];
  validToken = 'jt_valid_token';
  /** The protocol version the `welcome` names (1: a gateway from before `metrics`). */
  welcomeVersion = 1;
  control: WebSocket | undefined;
  controlClose: Promise<number> | undefined;
  upgrades = 0;
  #authed: (() => void)[] = [];
  #channels = new Map<string, (t: Promise<Transcript>) => void>();
  #seq = 0;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(pki: TestPki, tls: { maxVersion?: 'TLSv1.2' } = {}): Promise<FakeGateway> {
    const server = createServer({
      key: pki.keyPem,
      cert: pki.certPem,
      ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : { minVersion: 'TLSv1.3' }),
    });
    const gw = new FakeGateway(server);
    server.on('request', (req, res) => {
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (req.method === 'GET' && req.url === '/api/v1/ca') {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pki.caPem);
        return;
      }
      if (req.method === 'POST' && req.url === '/api/v1/agent/register') {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => {
          const body = JSON.parse(text) as { token: string; name: string; publicKey: string };
          if (body.token !== gw.validToken) {
            json(401, {
              error: { code: 'JOIN_TOKEN_INVALID', message: 'join token is invalid, expired, revoked or used up' },
            });
            return;
          }
          const agentId = `agt_${++gw.#seq}`;
          gw.agents.set(agentId, createPublicKey(body.publicKey));
          json(201, {
            agentId,
            serverId: 'srv_e2e',
            serverName: body.name,
            gatewaySigningKey: gw.signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          });
        });
        return;
      }
      json(404, { error: { code: 'NOT_FOUND', message: 'no such route' } });
    });
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    server.on('upgrade', (req, socket, head) => {
      gw.upgrades++;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const url = new URL(req.url ?? '/', 'https://x');
        if (url.pathname === '/api/v1/agent/connect') gw.#serveControl(ws);
        else gw.#serveChannel(ws, decodeURIComponent(url.pathname.split('/').pop() ?? ''));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return gw;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once an agent passed the challenge. */
  authenticated(): Promise<void> {
    return new Promise((r) => this.#authed.push(r));
  }

  /** Send a channel.open (signed by this gateway unless `signature` is given) and await its transcript. */
  openChannel(opts: { command?: string[]; pty: boolean; osUser: string; signature?: string; grant?: Partial<Grant> }): {
    channelId: string;
    transcript: Promise<Transcript>;
  } {
    const channelId = `ch_e2e_${++this.#seq}`;
    const grant: Grant = {
      v: 1,
      channelId,
      serverId: 'srv_e2e',
      kind: 'pty',
      osUser: opts.osUser,
      expiresAt: Date.now() + 30_000,
      ...(opts.command ? { command: opts.command } : {}),
      ...opts.grant,
    };
    const transcript = new Promise<Promise<Transcript>>((r) => this.#channels.set(channelId, r)).then((t) => t);
    this.control!.send(
      JSON.stringify({
        type: 'channel.open',
        channelId,
        token: randomBytes(24).toString('base64url'),
        grant,
        signature:
          opts.signature ??
          sign(null, Buffer.from(grantSigningString(grant)), this.signing.privateKey).toString('base64'),
        pty: opts.pty,
        ...(opts.pty ? { ptyParams: { cols: 80, rows: 24 } } : {}),
      }),
    );
    return { channelId, transcript };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  #serveControl(ws: WebSocket): void {
    const nonce = randomBytes(24).toString('base64url');
    let agentId: string | undefined;
    this.control = ws;
    this.controlClose = new Promise((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      this.controlFrames.push(m);
      if (m.type === 'hello') {
        agentId = m.agentId as string;
        if (!this.agents.has(agentId)) return ws.close(4401, 'unknown agent');
        ws.send(JSON.stringify({ type: 'challenge', nonce }));
      } else if (m.type === 'auth') {
        const key = this.agents.get(agentId ?? '');
        const ok =
          key &&
          verify(
            null,
            Buffer.from(agentAuthSigningString(agentId!, nonce)),
            key,
            Buffer.from(m.signature as string, 'base64'),
          );
        if (!ok) return ws.close(4401, 'bad signature');
        ws.send(
          JSON.stringify({
            type: 'welcome',
            serverId: 'srv_e2e',
            serverName: 'e2e',
            pingIntervalMs: 10_000,
            protocolVersion: this.welcomeVersion,
          }),
        );
        this.#authed.splice(0).forEach((r) => r());
      } else if (m.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong', ts: m.ts }));
      }
    });
  }

  #serveChannel(ws: WebSocket, channelId: string): void {
    const chunks: Buffer[] = [];
    const controls: Record<string, unknown>[] = [];
    const done = new Promise<Transcript>((resolve) => {
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) chunks.push(data);
        else controls.push(JSON.parse(data.toString()) as Record<string, unknown>);
      });
      ws.on('close', (code) => resolve({ output: Buffer.concat(chunks), controls, closeCode: code }));
    });
    this.#channels.get(channelId)?.(done);
  }
}
