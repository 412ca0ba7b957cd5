/**
 * Test harness: a plain ws server standing in for the gateway's channel endpoint, and a
 * ChannelManager wired to real processes (node-pty, child_process) that dials it.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { grantSigningString, type Grant } from '@corral/protocol';
import { ChannelManager, type ChannelRejectMessage } from '../src/channels/channel-manager.js';
import { createProcessSpawner, findSetpriv } from '../src/channels/spawner.js';
import { systemClock } from '../src/clock.js';
import type { ChannelOpenMessage } from '../src/control-connection.js';
import { createLogger, silentLogger } from '../src/logger.js';

export const SERVER_ID = 'srv_test';

/**
 * A passwd line for the account running the tests, with an empty home directory: sessions then do
 * not run the developer's own dotfiles (a root ~/.bashrc here runs `pyenv init`, which waits up to
 * 60 s for a lock that a hung-up shell left behind).
 */
const tempHomes: string[] = [];

export function hermeticPasswd(): string {
  const me = userInfo();
  const home = mkdtempSync(join(tmpdir(), 'corral-home-'));
  tempHomes.push(home);
  return `${me.username}:x:${me.uid}:${me.gid}:test:${home}:/bin/bash\n`;
}
const PASSWD = hermeticPasswd();

/** Remove the temporary home directories made by hermeticPasswd(). */
export function removeTempHomes(): void {
  for (const dir of tempHomes.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** What the "gateway" saw on one channel socket. */
export interface ChannelTranscript {
  url: string;
  /** All binary payload, concatenated. */
  output: Buffer;
  /** Text frames, parsed, in order. */
  controls: Record<string, unknown>[];
  /** Output bytes received before the exit frame (undefined: no exit frame). */
  bytesBeforeExit: number | undefined;
  closeCode: number;
}

/** A server side socket plus a promise of its transcript. */
export interface ServerChannel {
  ws: WebSocket;
  url: string;
  /** Output received so far. */
  received(): Buffer;
  done: Promise<ChannelTranscript>;
}

export class ChannelServer {
  readonly wss: WebSocketServer;
  readonly #waiting: ((c: ServerChannel) => void)[] = [];
  readonly #arrived: ServerChannel[] = [];
  connections = 0;

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (ws, req) => {
      this.connections++;
      const chunks: Buffer[] = [];
      let size = 0;
      const controls: Record<string, unknown>[] = [];
      let bytesBeforeExit: number | undefined;
      const done = new Promise<ChannelTranscript>((resolve) => {
        ws.on('message', (data: Buffer, isBinary) => {
          if (isBinary) {
            chunks.push(data);
            size += data.length;
          } else {
            const m = JSON.parse(data.toString()) as Record<string, unknown>;
            controls.push(m);
            if (m.type === 'exit') bytesBeforeExit = size;
          }
        });
        ws.on('close', (code) =>
          resolve({ url: req.url ?? '', output: Buffer.concat(chunks), controls, bytesBeforeExit, closeCode: code }),
        );
      });
      const channel = { ws, url: req.url ?? '', done, received: () => Buffer.concat(chunks) };
      const waiter = this.#waiting.shift();
      if (waiter) waiter(channel);
      else this.#arrived.push(channel);
    });
  }

  static async start(): Promise<ChannelServer> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: false,
      maxPayload: 2 * 1024 * 1024,
    });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    return new ChannelServer(wss);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** The next agent socket to arrive. */
  next(): Promise<ServerChannel> {
    const ready = this.#arrived.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((r) => this.#waiting.push(r));
  }

  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}

const gatewayKeys = generateKeyPairSync('ed25519');
let seq = 0;

/** A correctly signed channel.open for this test server. */
export function channelOpen(opts: {
  osUser?: string;
  command?: string[];
  pty: boolean;
  cols?: number;
  rows?: number;
  grant?: Partial<Grant>;
}): ChannelOpenMessage {
  const channelId = `ch_${process.pid}_${++seq}`;
  const grant: Grant = {
    v: 1,
    channelId,
    serverId: SERVER_ID,
    kind: 'pty',
    osUser: opts.osUser ?? userInfo().username,
    expiresAt: Date.now() + 30_000,
    ...(opts.command ? { command: opts.command } : {}),
    ...opts.grant,
  };
  return {
    type: 'channel.open',
    channelId,
    token: 'tok_' + 'x'.repeat(28),
    grant,
    signature: sign(null, Buffer.from(grantSigningString(grant)), gatewayKeys.privateKey).toString('base64'),
    pty: opts.pty,
    ...(opts.pty ? { ptyParams: { cols: opts.cols ?? 80, rows: opts.rows ?? 24, term: 'xterm-256color' } } : {}),
  };
}

/** A ChannelManager with real processes, dialing `server` over plain ws (no TLS). */
export function makeManager(
  server: ChannelServer,
  over: { readPasswd?: () => string; setprivPath?: string | null } = {},
) {
  const rejects: ChannelRejectMessage[] = [];
  const me = userInfo();
  const manager = new ChannelManager({
    gatewayUrl: () => server.url,
    serverId: SERVER_ID,
    gatewayKey: gatewayKeys.publicKey,
    connect: (url) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * 1024, generateMask: () => {} });
      ws.binaryType = 'nodebuffer';
      return ws;
    },
    spawner: createProcessSpawner(systemClock),
    readPasswd: over.readPasswd ?? (() => PASSWD),
    homeExists: (p) => existsSync(p),
    identity: { uid: me.uid, username: me.username },
    setprivPath: over.setprivPath === null ? undefined : (over.setprivPath ?? findSetpriv()),
    clock: systemClock,
    logger: process.env.AGENT_TEST_LOG ? createLogger() : silentLogger,
    reject: (m) => rejects.push(m),
  });
  return { manager, rejects };
}

/** Poll until `cond` holds (no fixed sleeps in assertions; the test timeout bounds it). */
export async function waitFor(cond: () => boolean, stepMs = 10): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, stepMs));
}
