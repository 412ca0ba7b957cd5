import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { WebSocket } from 'ws';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, agentAuthSigningString, CloseCode } from '@corral/protocol';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';

const SYSTEM = {
  hostname: 'test',
  osName: 'Debian GNU/Linux',
  osVersion: '12',
  kernel: '6.1',
  arch: 'x64',
  cpuCount: 2,
  memoryBytes: 1,
  addresses: ['127.0.0.1'],
  agentVersion: '0.1.0',
};

/** A minimal agent speaking the real handshake, for driving the gateway's control socket. */
class RawAgent {
  ws!: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  private resolveClosed!: (v: { code: number; reason: string }) => void;
  messages: Array<Record<string, unknown>> = [];
  constructor() {
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }
  connect(url: string, ca: string): Promise<void> {
    this.ws = new WebSocket(`${url.replace('https', 'wss')}/api/v1/agent/connect`, { ca, perMessageDeflate: false });
    this.ws.on('message', (d) => this.messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    this.ws.on('close', (code, reason) => this.resolveClosed({ code, reason: reason.toString() }));
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }
  async next(type: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 200; i++) {
      const m = this.messages.find((x) => x.type === type);
      if (m) {
        this.messages.splice(this.messages.indexOf(m), 1);
        return m;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${type} frame`);
  }
}

describe('agent control socket', () => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let dir: ReturnType<typeof tempDir>;
  let agentId: string;
  let key: ReturnType<typeof generateKeyPairSync>['privateKey'];

  beforeAll(async () => {
    dir = tempDir();
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    const jt = await request(url, ca, 'POST', '/api/v1/join-tokens', { token: login.body.token, body: { uses: 1 } });
    const pair = generateKeyPairSync('ed25519');
    key = pair.privateKey;
    const reg = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: jt.body.token, name: 'raw-1', publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) },
    });
    agentId = reg.body.agentId;
  });
  afterAll(async () => {
    await gw?.close();
    dir?.remove();
  });

  async function handshake(protocolVersion = PROTOCOL_VERSION, capabilities?: string[]): Promise<RawAgent> {
    const a = new RawAgent();
    await a.connect(url, ca);
    a.ws.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion,
        agentId,
        system: SYSTEM,
        ...(capabilities ? { capabilities } : {}),
      }),
    );
    const ch = await a.next('challenge');
    const signature = sign(null, Buffer.from(agentAuthSigningString(agentId, String(ch.nonce))), key).toString(
      'base64',
    );
    a.ws.send(JSON.stringify({ type: 'auth', signature }));
    await a.next('welcome');
    return a;
  }

  it('authenticates an agent by its signature and marks the server online', async () => {
    const a = await handshake();
    const s = await gw.services.servers.getByAgentId(agentId);
    expect(s?.status).toBe('online');
    a.ws.close(1000);
    await a.closed;
  });

  it('refuses a wrong signature with 4401', async () => {
    const a = new RawAgent();
    await a.connect(url, ca);
    a.ws.send(JSON.stringify({ type: 'hello', protocolVersion: PROTOCOL_VERSION, agentId, system: SYSTEM }));
    await a.next('challenge');
    const other = generateKeyPairSync('ed25519').privateKey;
    a.ws.send(JSON.stringify({ type: 'auth', signature: sign(null, Buffer.from('x'), other).toString('base64') }));
    expect((await a.closed).code).toBe(CloseCode.UNAUTHORIZED);
  });

  it('refuses an unsupported protocol version with 4003', async () => {
    const a = new RawAgent();
    await a.connect(url, ca);
    a.ws.send(JSON.stringify({ type: 'hello', protocolVersion: 999, agentId, system: SYSTEM }));
    expect((await a.closed).code).toBe(CloseCode.VERSION_MISMATCH);
  });

  it('closes only the offending socket on malformed JSON (4000), unknown types (4001) and oversized frames (1009)', async () => {
    const good = await handshake();
    const cases: Array<[string | Buffer, number]> = [
      ['{"type":', CloseCode.PROTOCOL_ERROR],
      ['{"type":"launch.missiles"}', CloseCode.UNKNOWN_MESSAGE],
      ['{"type":"hello","protocolVersion":"one"}', CloseCode.PROTOCOL_ERROR],
      ['x'.repeat(70 * 1024), CloseCode.MESSAGE_TOO_BIG],
      [Buffer.from([1, 2, 3]), CloseCode.UNSUPPORTED_DATA],
    ];
    for (const [frame, code] of cases) {
      const bad = new RawAgent();
      await bad.connect(url, ca);
      bad.ws.send(frame);
      expect((await bad.closed).code).toBe(code);
    }
    // The well-behaved agent is still connected and answered.
    good.ws.send(JSON.stringify({ type: 'ping', ts: 42 }));
    expect((await good.next('pong')).ts).toBe(42);
    expect(gw.services.agents.isOnline((await gw.services.servers.getByAgentId(agentId))!.id)).toBe(true);
    good.ws.close(1000);
    await good.closed;
  });

  it('replaces an older connection of the same agent (4409)', async () => {
    const first = await handshake();
    const second = await handshake();
    expect((await first.closed).code).toBe(CloseCode.REPLACED);
    second.ws.close(1000);
    await second.closed;
  });

  it('refuses a channel token that is wrong or used twice (4401), and unknown channels (4404)', async () => {
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    const a = await handshake();
    const open = await request(url, ca, 'POST', '/api/v1/servers/raw-1/websh', {
      token: login.body.token,
      body: { command: ['true'] },
    });
    expect(open.status).toBe(201);
    const wss = url.replace('https', 'wss');
    const first = new WebSocket(wss + open.body.path, { ca });
    await new Promise((r) => first.once('open', r));
    const again = new WebSocket(wss + open.body.path, { ca });
    const code = await new Promise<number>((r) => again.once('close', (c) => r(c)));
    expect(code).toBe(CloseCode.UNAUTHORIZED);
    const wrong = new WebSocket(`${wss}/api/v1/channels/${open.body.channelId}?token=cct_wrong`, { ca });
    expect(await new Promise<number>((r) => wrong.once('close', (c) => r(c)))).toBe(CloseCode.UNAUTHORIZED);
    const none = new WebSocket(`${wss}/api/v1/channels/ch_nothing?token=x`, { ca });
    expect(await new Promise<number>((r) => none.once('close', (c) => r(c)))).toBe(CloseCode.NOT_FOUND);
    // The agent received a signed channel.open for the first user.
    const openMsg = await a.next('channel.open');
    expect(openMsg.channelId).toBe(open.body.channelId);
    first.close();
    a.ws.close(1000);
    await a.closed;
  });

  it('sends an interactive terminal a shell-mark nonce only when the agent announced `shell-marks`', async () => {
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    const wss = url.replace('https', 'wss');
    const openFor = async (a: RawAgent, body: Record<string, unknown>) => {
      const open = await request(url, ca, 'POST', '/api/v1/servers/raw-1/websh', { token: login.body.token, body });
      expect(open.status).toBe(201);
      const user = new WebSocket(wss + open.body.path, { ca });
      await new Promise((r) => user.once('open', r));
      const msg = await a.next('channel.open');
      user.close();
      return msg;
    };
    const older = await handshake(PROTOCOL_VERSION);
    // An agent without the capability would refuse the unknown field: it never gets it.
    expect((await openFor(older, {})).shellMarks).toBeUndefined();
    older.ws.close(1000);
    await older.closed;
    const newer = await handshake(PROTOCOL_VERSION, ['shell-marks']);
    const interactive = await openFor(newer, {});
    expect((interactive.shellMarks as { nonce: string }).nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const second = await openFor(newer, {});
    expect((second.shellMarks as { nonce: string }).nonce).not.toBe(
      (interactive.shellMarks as { nonce: string }).nonce,
    );
    // A command has no prompt: no marks.
    expect((await openFor(newer, { command: ['true'] })).shellMarks).toBeUndefined();
    newer.ws.close(1000);
    await newer.closed;
  });

  it('closes only the offending channel socket on malformed, unknown or oversized frames; other sessions go on', async () => {
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    const a = await handshake();
    const wss = url.replace('https', 'wss');

    /** Open a channel as the user, play the agent's side with the raw agent, return both sockets. */
    async function openChannel(): Promise<{
      user: WebSocket;
      agentSide: WebSocket;
      userClosed: Promise<number>;
      agentClosed: Promise<number>;
    }> {
      const open = await request(url, ca, 'POST', '/api/v1/servers/raw-1/websh', {
        token: login.body.token,
        body: { command: ['cat'] },
      });
      const user = new WebSocket(wss + open.body.path, { ca });
      const userClosed = new Promise<number>((r) => user.once('close', (c) => r(c)));
      const ready = new Promise<void>((r) =>
        user.on('message', (d, bin) => !bin && String(d).includes('"ready"') && r()),
      );
      await new Promise((r) => user.once('open', r));
      const msg = await a.next('channel.open');
      const agentSide = new WebSocket(`${wss}/api/v1/channels/${String(msg.channelId)}?token=${String(msg.token)}`, {
        ca,
      });
      const agentClosed = new Promise<number>((r) => agentSide.once('close', (c) => r(c)));
      await new Promise((r) => agentSide.once('open', r));
      await ready;
      return { user, agentSide, userClosed, agentClosed };
    }

    const healthy = await openChannel();
    const echoed = new Promise<string>((r) => healthy.agentSide.once('message', (d) => r(String(d))));

    const cases: Array<[string | Buffer, number]> = [
      ['{"type":"resize","cols":', CloseCode.PROTOCOL_ERROR],
      ['{"type":"format.disk"}', CloseCode.UNKNOWN_MESSAGE],
      ['{"type":"exit","code":0,"signal":null}', CloseCode.PROTOCOL_ERROR], // not the user's to send
      [Buffer.alloc(2 * 1024 * 1024), CloseCode.MESSAGE_TOO_BIG],
    ];
    for (const [frame, code] of cases) {
      const bad = await openChannel();
      bad.user.send(frame);
      expect(await bad.userClosed).toBe(code);
      // The channel ends: its agent side is closed too.
      expect(await bad.agentClosed).toBeGreaterThanOrEqual(1000);
    }
    // The healthy session still carries bytes both ways.
    healthy.user.send(Buffer.from('still here'), { binary: true });
    expect(await echoed).toBe('still here');
    healthy.user.close();
    a.ws.close(1000);
    await a.closed;
  });

  it('still accepts a protocol-1 agent, which reports no metrics: its health is unknown', async () => {
    expect(MIN_PROTOCOL_VERSION).toBe(1);
    const a = await handshake(1);
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    const s = await request(url, ca, 'GET', '/api/v1/servers/raw-1', { token: login.body.token });
    expect(s.body).toMatchObject({ status: 'online', health: 'unknown' });
    a.ws.close(1000);
    await a.closed;
  });

  it('stores metrics samples after the handshake; a sample out of bounds closes the socket with 4000', async () => {
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'admin@localhost', password: 'pw-for-tests-123' },
    });
    const a = await handshake();
    const sample = {
      type: 'metrics',
      at: new Date().toISOString(),
      cpuPct: 98.5,
      memUsed: 1,
      memTotal: 4,
      load: [3, 2, 1],
      disks: [{ mount: '/', fsType: 'ext4', used: 1, total: 4, avail: 3 }],
      net: { rxBytes: 10, txBytes: 20 },
    };
    a.ws.send(JSON.stringify(sample));
    // The sample is buffered for up to a second; ask for it to be written, then read it back.
    a.ws.send(JSON.stringify({ type: 'ping', ts: 1 }));
    await a.next('pong');
    await gw.services.metrics.flush();
    const m = await request(url, ca, 'GET', '/api/v1/servers/raw-1/metrics', { token: login.body.token });
    expect(m.status).toBe(200);
    expect(m.body).toMatchObject({ range: '1h', step: 'raw', health: 'critical' });
    expect(m.body.points).toHaveLength(1);
    expect(m.body.latest).toMatchObject({ cpuPct: 98.5, memPct: 25, load: [3, 2, 1], rxBps: null });
    expect((await request(url, ca, 'GET', '/api/v1/servers', { token: login.body.token })).body.items[0].health).toBe(
      'critical',
    );

    a.ws.send(JSON.stringify({ ...sample, cpuPct: 101 }));
    expect((await a.closed).code).toBe(CloseCode.PROTOCOL_ERROR);
  });
});
