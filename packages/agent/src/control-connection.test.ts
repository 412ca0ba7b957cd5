import { EventEmitter } from 'node:events';
import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, agentAuthSigningString, type SystemInfo } from '@corral/protocol';
import { ControlConnection, type ChannelOpenMessage } from './control-connection.js';
import { controlTransition } from './control-state.js';
import { formatLine, type Logger } from './logger.js';
import type { ControlSocket } from './socket-factory.js';
import { FakeClock } from './testing/fake-clock.js';

/** A scripted stand-in for a ws client socket. */
class FakeSocket extends EventEmitter implements ControlSocket {
  readonly sent: Record<string, unknown>[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  terminated = false;
  constructor(readonly url: string) {
    super();
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.emit('close', code ?? 1005, Buffer.from(reason ?? ''));
  }
  terminate(): void {
    this.terminated = true;
    this.emit('close', 1006, Buffer.alloc(0));
  }
  // gateway side
  open(): void {
    this.emit('open');
  }
  receive(msg: unknown): void {
    this.emit('message', Buffer.from(typeof msg === 'string' ? msg : JSON.stringify(msg)), false);
  }
  drop(code = 1006, reason = ''): void {
    this.emit('close', code, Buffer.from(reason));
  }
}

const SYSTEM: SystemInfo = {
  hostname: 'web-01',
  osName: 'Debian GNU/Linux 12',
  osVersion: '12',
  kernel: '6.1.0',
  arch: 'x64',
  cpuCount: 2,
  memoryBytes: 4e9,
  addresses: ['10.0.0.5'],
  agentVersion: '0.1.0',
};
const NONCE = 'bm9uY2Vub25jZW5vbmNl';
const WELCOME = {
  type: 'welcome',
  serverId: 'srv_1',
  serverName: 'web-01',
  pingIntervalMs: 10_000,
  protocolVersion: 1,
};

function setup(random: () => number = () => 0.5, fallbackUrls?: string[]) {
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const opened: ChannelOpenMessage[] = [];
  const logs: string[] = [];
  const log =
    (level: string): Logger['info'] =>
    (m, f) =>
      logs.push(formatLine(level, m, f));
  const logger: Logger = { info: log('info'), warn: log('warn'), error: log('error') };
  const keys = generateKeyPairSync('ed25519');
  let failFactory = false;
  const conn = new ControlConnection({
    url: 'wss://gw.example/api/v1/agent/connect',
    ...(fallbackUrls ? { fallbackUrls } : {}),
    agentId: 'agt_1',
    privateKey: keys.privateKey,
    systemInfo: () => SYSTEM,
    connect: (url) => {
      if (failFactory) throw new Error('boom');
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    clock,
    random,
    logger,
    onChannelOpen: (m) => opened.push(m),
  });
  const last = (): FakeSocket => sockets[sockets.length - 1]!;
  const handshake = (): FakeSocket => {
    const s = last();
    s.open();
    s.receive({ type: 'challenge', nonce: NONCE });
    s.receive(WELCOME);
    return s;
  };
  return {
    clock,
    sockets,
    opened,
    logs,
    keys,
    conn,
    last,
    handshake,
    setFactoryFails: (v: boolean) => (failFactory = v),
  };
}

describe('control connection handshake', () => {
  it('sends hello first, answers the challenge with an Ed25519 signature, and is connected after welcome', () => {
    const t = setup();
    t.conn.start();
    expect(t.conn.state).toBe('connecting');
    const s = t.last();
    expect(s.url).toBe('wss://gw.example/api/v1/agent/connect');
    expect(s.sent).toEqual([]);
    s.open();
    expect(t.conn.state).toBe('authenticating');
    expect(s.sent).toEqual([
      { type: 'hello', protocolVersion: PROTOCOL_VERSION, agentId: 'agt_1', system: SYSTEM, capabilities: ['persist'] },
    ]);
    s.receive({ type: 'challenge', nonce: NONCE });
    const auth = s.sent[1] as { type: string; signature: string };
    expect(auth.type).toBe('auth');
    const ok = verify(
      null,
      Buffer.from(agentAuthSigningString('agt_1', NONCE)),
      t.keys.publicKey,
      Buffer.from(auth.signature, 'base64'),
    );
    expect(ok).toBe(true);
    s.receive(WELCOME);
    expect(t.conn.state).toBe('connected');
    expect(t.logs.some((l) => l.includes('info connected server=web-01'))).toBe(true);
  });

  it('hands channel.open to its owner only once connected', () => {
    const t = setup();
    t.conn.start();
    t.handshake();
    const open = {
      type: 'channel.open',
      channelId: 'ch_1',
      token: 't'.repeat(32),
      grant: { v: 1, channelId: 'ch_1', serverId: 'srv_1', kind: 'pty', osUser: 'root', expiresAt: 2e12 },
      signature: 'sig',
      pty: true,
    };
    t.last().receive(open);
    expect(t.opened).toEqual([open]);
  });

  it('security: channel.open before welcome is a protocol error (close 4000)', () => {
    const t = setup();
    t.conn.start();
    const s = t.last();
    s.open();
    s.receive({ type: 'challenge', nonce: NONCE });
    s.receive({
      type: 'channel.open',
      channelId: 'ch_1',
      token: 't'.repeat(32),
      grant: { v: 1, channelId: 'ch_1', serverId: 'srv_1', kind: 'pty', osUser: 'root', expiresAt: 2e12 },
      signature: 'sig',
      pty: true,
    });
    expect(s.closedWith?.code).toBe(4000);
    expect(t.opened).toEqual([]);
    expect(t.conn.state).toBe('backoff');
  });

  it('a welcome without a challenge first is a protocol error (close 4000)', () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive(WELCOME);
    expect(t.last().closedWith?.code).toBe(4000);
  });
});

describe('control connection bad frames', () => {
  it('closes with 4000 on malformed JSON, then reconnects', () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive('{not json');
    expect(t.last().closedWith?.code).toBe(4000);
    expect(t.conn.state).toBe('backoff');
    expect(t.clock.pending()).toEqual([500]);
    t.clock.advance(500);
    expect(t.sockets).toHaveLength(2);
  });

  it('closes with 4000 on a known type with a bad shape', () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive({ type: 'challenge', nonce: 5 });
    expect(t.last().closedWith?.code).toBe(4000);
  });

  it('closes with 4001 on an unknown message type', () => {
    const t = setup();
    t.conn.start();
    t.handshake();
    // (exec.start, once the example here, is a protocol 2 message: malformed, it closes with 4000.)
    t.last().receive({ type: 'exec.pause' });
    expect(t.last().closedWith?.code).toBe(4001);
    expect(t.conn.state).toBe('backoff');
  });

  it('closes with 4002 on a binary frame', () => {
    const t = setup();
    t.conn.start();
    t.handshake();
    t.last().emit('message', Buffer.from([1, 2, 3]), true);
    expect(t.last().closedWith?.code).toBe(4002);
  });
});

describe('control connection reconnect', () => {
  it('waits full-jitter delays from 1 s doubling to a 60 s cap between failed attempts', () => {
    const t = setup(() => 0.5);
    t.conn.start();
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      t.last().drop(1006); // connection refused, TLS failure, ...
      expect(t.conn.state).toBe('backoff');
      const [delay] = t.clock.pending();
      delays.push(delay!);
      t.clock.advance(delay!);
      expect(t.conn.state).toBe('connecting');
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(t.sockets).toHaveLength(10);
  });

  it('never waits more than the 60 s cap, and may retry at once (jitter floor 0)', () => {
    let r = 1 - 1e-9;
    const t = setup(() => r);
    t.conn.start();
    for (let i = 0; i < 8; i++) {
      t.last().drop();
      t.clock.advance(t.clock.pending()[0]!);
    }
    t.last().drop();
    expect(t.clock.pending()).toEqual([59_999]);
    t.clock.advance(59_999);
    r = 0;
    t.last().drop();
    expect(t.clock.pending()).toEqual([0]);
  });

  it('starts the backoff over after a successful welcome', () => {
    const t = setup(() => 0.5);
    t.conn.start();
    for (const expected of [500, 1000, 2000]) {
      t.last().drop();
      expect(t.clock.pending()).toEqual([expected]);
      t.clock.advance(expected);
    }
    t.handshake();
    t.last().drop(1001, 'gateway restarting');
    expect(t.clock.pending()).toEqual([500]);
  });

  it('retries when the socket factory throws', () => {
    const t = setup();
    t.setFactoryFails(true);
    t.conn.start();
    expect(t.conn.state).toBe('backoff');
    expect(t.clock.pending()).toEqual([500]);
    t.setFactoryFails(false);
    t.clock.advance(500);
    expect(t.conn.state).toBe('connecting');
    expect(t.sockets).toHaveLength(1);
  });

  it('retries after 4401 and says why ("agent not known to gateway; re-register?")', () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.last().receive({ type: 'challenge', nonce: NONCE });
    t.last().drop(4401, 'unknown agent');
    expect(t.conn.state).toBe('backoff');
    expect(t.logs.some((l) => l.includes('error disconnected code=4401') && l.includes('re-register?'))).toBe(true);
    expect(t.logs.some((l) => l.includes('retry in_ms=500'))).toBe(true);
  });
});

describe('control connection failover between gateway nodes', () => {
  it('tries the next URL after each lost connection, and wraps around', () => {
    const t = setup(() => 0, ['wss://b.example/api/v1/agent/connect', 'wss://c.example/api/v1/agent/connect']);
    t.conn.start();
    expect(t.last().url).toBe('wss://gw.example/api/v1/agent/connect');
    t.handshake();
    t.last().drop(1006);
    t.clock.advance(0);
    expect(t.last().url).toBe('wss://b.example/api/v1/agent/connect');
    expect(t.conn.urlIndex).toBe(1);
    t.last().drop(1006);
    t.clock.advance(0);
    expect(t.last().url).toBe('wss://c.example/api/v1/agent/connect');
    t.last().drop(1006);
    t.clock.advance(0);
    expect(t.last().url).toBe('wss://gw.example/api/v1/agent/connect');
  });
});

describe('control connection liveness', () => {
  it('pings every pingIntervalMs and answers gateway pings with pong', () => {
    const t = setup();
    t.conn.start();
    const s = t.handshake();
    const before = s.sent.length;
    t.clock.advance(10_000);
    expect(s.sent[before]).toEqual({ type: 'ping', ts: t.clock.now() });
    s.receive({ type: 'pong', ts: 1 });
    s.receive({ type: 'ping', ts: 42 });
    expect(s.sent[s.sent.length - 1]).toEqual({ type: 'pong', ts: 42 });
  });

  it('stays up while the gateway answers, and terminates after 30 s of silence, then reconnects', () => {
    const t = setup();
    t.conn.start();
    const s = t.handshake();
    for (let i = 0; i < 6; i++) {
      t.clock.advance(10_000);
      s.receive({ type: 'pong', ts: t.clock.now() });
    }
    expect(t.conn.state).toBe('connected');
    t.clock.advance(29_999);
    expect(t.conn.state).toBe('connected');
    t.clock.advance(1);
    expect(s.terminated).toBe(true);
    expect(t.conn.state).toBe('backoff');
    expect(t.logs.some((l) => l.includes('disconnected code=4408'))).toBe(true);
    t.clock.advance(500);
    expect(t.sockets).toHaveLength(2);
  });

  it('gives up on a handshake that never completes after 30 s', () => {
    const t = setup();
    t.conn.start();
    t.last().open();
    t.clock.advance(30_000);
    expect(t.last().terminated).toBe(true);
    expect(t.conn.state).toBe('backoff');
  });
});

describe('control connection shutdown and states', () => {
  it('stop() closes with 1001 and never reconnects', async () => {
    const t = setup();
    t.conn.start();
    const s = t.handshake();
    await t.conn.stop();
    expect(s.closedWith).toEqual({ code: 1001, reason: 'agent shutting down' });
    expect(t.conn.state).toBe('closed');
    expect(t.clock.pending()).toEqual([]);
    t.clock.advance(120_000);
    expect(t.sockets).toHaveLength(1);
  });

  it('stop() during backoff cancels the retry', async () => {
    const t = setup();
    t.conn.start();
    t.last().drop();
    await t.conn.stop();
    expect(t.clock.pending()).toEqual([]);
    expect(t.conn.state).toBe('closed');
  });

  it('rejects illegal moves', () => {
    const t = setup();
    t.conn.start();
    expect(() => t.conn.start()).toThrow(/illegal control transition: start in state connecting/);
    expect(controlTransition('idle', 'welcome')).toEqual({
      ok: false,
      error: 'illegal control transition: welcome in state idle',
    });
    expect(controlTransition('connecting', 'welcome').ok).toBe(false);
    expect(controlTransition('backoff', 'open').ok).toBe(false);
    for (const e of ['start', 'open', 'welcome', 'lost', 'retry', 'stop'] as const)
      expect(controlTransition('closed', e).ok).toBe(false);
    expect(controlTransition('connected', 'lost')).toEqual({ ok: true, state: 'backoff' });
  });
});
