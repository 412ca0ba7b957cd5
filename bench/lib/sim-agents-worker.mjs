// One load-generator process of the scale benchmark: hosts a slice of the simulated agents, each with
// its own Ed25519 key and its own WSS control connection, speaking the real agent protocol
// (docs/PROTOCOL.md): hello -> challenge -> auth -> welcome, pings every pingIntervalMs, pongs to the
// gateway's pings, a 30 s dead-peer watchdog, full-jitter reconnect backoff (1 s doubling to 60 s, reset
// after a welcome: the protocol package's own nextBackoff, as the real agent uses), and trivial
// channels: on a verified channel.open it dials the channel socket, sends exit 0 and closes 1000.
//
// Started by sim-agents.mjs (SimFleet) with an IPC channel; never run by hand. Everything it knows comes
// in the `init` message; it reports counters and event timestamps every `statsEveryMs`.
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createSecureContext } from 'node:tls';
import { WebSocket } from 'ws';
import {
  DEFAULT_BACKOFF,
  PROTOCOL_VERSION,
  agentAuthSigningString,
  grantSigningString,
  initialBackoff,
  nextBackoff,
} from '@corral/protocol';

if (!process.send) {
  console.error('sim-agents-worker.mjs is started by sim-agents.mjs (needs an IPC channel)');
  process.exit(2);
}

const DEAD_AFTER_MS = 30_000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
const CONTROL_MAX_PAYLOAD = 64 * 1024;

let cfg; // from init
let agents = [];
let secureContext;
let gatewayKey;
let wsBase;
let stopping = false;

// Counters since start (monotonic) and event buffers flushed with each report.
const totals = {
  attempts: 0,
  welcomes: 0,
  drops: 0, // a ready connection that closed
  failures: 0, // an attempt that closed before welcome
  closeCodes: {}, // code -> count (drops and failures alike)
  errors: {}, // error code/message -> count
  channelOpens: 0,
  channelRejects: 0,
  channelOk: 0,
  channelFailed: 0,
};
// Is the simulator itself keeping up? Its event-loop delay (max per report, ms) says so.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
let attemptTs = []; // timestamps of attempts started
let welcomeEv = []; // [ts, agentIndex, connectMs]
let dropEv = []; // [ts, agentIndex, code]

const bump = (obj, key) => (obj[key] = (obj[key] ?? 0) + 1);

function report() {
  let ready = 0;
  let connecting = 0;
  let backoff = 0;
  let idle = 0;
  for (const a of agents) {
    if (a.state === 'ready') ready++;
    else if (a.state === 'connecting' || a.state === 'auth') connecting++;
    else if (a.state === 'backoff') backoff++;
    else idle++;
  }
  const msg = {
    type: 'stats',
    ts: Date.now(),
    ready,
    connecting,
    backoff,
    idle,
    totals,
    attemptTs,
    welcomeEv,
    dropEv,
    mem: process.memoryUsage().rss,
    loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
    dialQueueMaxMs,
    dialQueueLength: dialQueue.length,
  };
  loopDelay.reset();
  dialQueueMaxMs = 0;
  attemptTs = [];
  welcomeEv = [];
  dropEv = [];
  process.send(msg);
}

// ---------------------------------------------------------------------------------------------------
// One simulated agent

class SimAgent {
  constructor(i, ident) {
    this.i = i; // index in the fleet (global)
    this.agentId = ident.agentId;
    this.serverId = ident.serverId;
    this.name = ident.name;
    // Keys are loaded at start (not in the measured connect): JWK, as OpenSSL 3 is slow on PEM.
    this.key = ident.privateKeyJwk
      ? createPrivateKey({ key: ident.privateKeyJwk, format: 'jwk' })
      : createPrivateKey(ident.privateKeyPem);
    this.state = 'idle'; // idle | connecting | auth | ready | backoff | stopped
    this.ws = null;
    this.backoff = initialBackoff;
    this.lastHeard = 0;
    this.startedAt = 0;
    this.pingTimer = null;
    this.retryTimer = null;
    this.onFirstOutcome = null; // initial-connect pacing hook
  }

  connect() {
    if (stopping) return;
    this.state = 'connecting';
    this.startedAt = Date.now();
    this.lastHeard = this.startedAt;
    totals.attempts++;
    attemptTs.push(this.startedAt);
    let ws;
    try {
      ws = new WebSocket(`${wsBase}/api/v1/agent/connect`, {
        perMessageDeflate: false,
        maxPayload: CONTROL_MAX_PAYLOAD,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        generateMask: () => {}, // as the real agent: unmasked frames
        ...(secureContext ? { secureContext } : {}),
        ...(cfg.localAddress ? { localAddress: cfg.localAddress } : {}),
      });
    } catch (err) {
      bump(totals.errors, `construct: ${err.message}`);
      this.lost(null);
      return;
    }
    this.ws = ws;
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.state = 'auth';
      this.send({
        type: 'hello',
        protocolVersion: PROTOCOL_VERSION,
        agentId: this.agentId,
        system: systemInfo(this),
      });
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      if (isBinary) return this.fail(4002, 'binary frame on the control connection');
      let m;
      try {
        m = JSON.parse(data.toString());
      } catch {
        return this.fail(4000, 'malformed JSON');
      }
      this.onFrame(m);
    });
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      this.lost(code);
    });
    ws.on('error', (err) => {
      // ws follows every 'error' with 'close', where the reconnect happens.
      if (this.ws === ws) bump(totals.errors, err.code ?? err.message.slice(0, 80));
    });
  }

  send(msg) {
    try {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
    } catch (err) {
      bump(totals.errors, `send: ${err.message.slice(0, 60)}`);
    }
  }

  onFrame(m) {
    switch (m.type) {
      case 'challenge': {
        if (this.state !== 'auth') return this.fail(4000, 'unexpected challenge');
        const sig = sign(null, Buffer.from(agentAuthSigningString(this.agentId, m.nonce), 'utf8'), this.key);
        this.send({ type: 'auth', signature: sig.toString('base64') });
        return;
      }
      case 'welcome': {
        if (this.state !== 'auth') return this.fail(4000, 'unexpected welcome');
        this.state = 'ready';
        this.backoff = initialBackoff;
        const now = Date.now();
        totals.welcomes++;
        welcomeEv.push([now, this.i, now - this.startedAt]);
        const every = Math.min(Math.max(m.pingIntervalMs, 1000), Math.floor(DEAD_AFTER_MS / 3));
        this.pingTimer = setInterval(() => this.send({ type: 'ping', ts: Date.now() }), every);
        this.firstOutcome();
        return;
      }
      case 'ping':
        this.send({ type: 'pong', ts: m.ts });
        return;
      case 'pong':
        return;
      case 'channel.open':
        if (this.state !== 'ready') return this.fail(4000, 'channel.open before welcome');
        this.onChannelOpen(m);
        return;
      default:
        return this.fail(4001, `unknown message type ${m.type}`);
    }
  }

  /** Verify the grant like the real agent, then run a trivial channel: exit 0 at once. */
  onChannelOpen(m) {
    totals.channelOpens++;
    const g = m.grant ?? {};
    let code = null;
    try {
      if (!verify(null, Buffer.from(grantSigningString(g), 'utf8'), gatewayKey, Buffer.from(m.signature, 'base64')))
        code = 'GRANT_INVALID_SIGNATURE';
    } catch {
      code = 'GRANT_MALFORMED';
    }
    if (!code && g.serverId !== this.serverId) code = 'GRANT_WRONG_SERVER';
    if (!code && g.channelId !== m.channelId) code = 'GRANT_MALFORMED';
    if (!code && !(g.expiresAt > Date.now())) code = 'GRANT_EXPIRED';
    if (code) {
      totals.channelRejects++;
      this.send({ type: 'channel.reject', channelId: String(m.channelId), code, message: 'refused by simulator' });
      return;
    }
    let ch;
    try {
      ch = new WebSocket(`${wsBase}/api/v1/channels/${m.channelId}?token=${encodeURIComponent(m.token)}`, {
        perMessageDeflate: false,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        generateMask: () => {},
        ...(secureContext ? { secureContext } : {}),
        ...(cfg.localAddress ? { localAddress: cfg.localAddress } : {}),
      });
    } catch {
      totals.channelFailed++;
      return;
    }
    let opened = false;
    ch.on('open', () => {
      opened = true;
      ch.send(JSON.stringify({ type: 'exit', code: 0, signal: null }));
      ch.close(1000);
    });
    ch.on('message', () => {});
    ch.on('error', (err) => bump(totals.errors, `channel: ${err.code ?? err.message.slice(0, 60)}`));
    ch.on('close', (c) => {
      if (opened && c === 1000) totals.channelOk++;
      else totals.channelFailed++;
    });
    const t = setTimeout(() => ch.terminate(), 30_000);
    t.unref();
    ch.once('close', () => clearTimeout(t));
  }

  /** A protocol violation by the gateway: close with `code`, then reconnect. */
  fail(code, reason) {
    const ws = this.ws;
    bump(totals.errors, `protocol: ${reason}`);
    this.lost(code);
    try {
      ws?.close(code, reason.slice(0, 120));
    } catch {
      ws?.terminate();
    }
  }

  /** The attempt or connection is over: back off (full jitter), then dial again. */
  lost(code) {
    const wasReady = this.state === 'ready';
    const ws = this.ws;
    this.ws = null;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const key = code === null || code === undefined ? 'none' : String(code);
    bump(totals.closeCodes, key);
    if (wasReady) {
      totals.drops++;
      dropEv.push([Date.now(), this.i, code ?? 0]);
    } else {
      totals.failures++;
    }
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      // Make sure nothing lingers (a gateway that never answers the close handshake).
      setTimeout(() => ws.terminate(), 2000).unref();
    }
    this.firstOutcome();
    if (stopping) {
      this.state = 'stopped';
      return;
    }
    this.state = 'backoff';
    const { delayMs, state } = nextBackoff(this.backoff, Math.random(), DEFAULT_BACKOFF);
    this.backoff = state;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      dial(this);
    }, delayMs);
  }

  firstOutcome() {
    const f = this.onFirstOutcome;
    if (f) {
      this.onFirstOutcome = null;
      f();
    }
  }

  /** Dead-peer check, called by the worker's sweep. */
  check(now) {
    if ((this.state === 'auth' || this.state === 'ready') && now - this.lastHeard > DEAD_AFTER_MS) {
      const ws = this.ws;
      bump(totals.errors, 'watchdog: silent for 30 s');
      this.lost(4408);
      ws?.terminate();
    }
  }

  stop() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = this.pingTimer = null;
    this.state = 'stopped';
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1001, 'agent shutting down');
      } catch {
        ws.terminate();
      }
      setTimeout(() => ws.terminate(), 1000).unref();
    }
  }
}

function systemInfo(a) {
  return {
    hostname: a.name,
    osName: 'Debian GNU/Linux 12 (bookworm)',
    osVersion: '12',
    kernel: '6.1.0-sim',
    arch: 'x64',
    cpuCount: 4,
    memoryBytes: 8 * 2 ** 30,
    addresses: [`10.${(a.i >> 16) & 255}.${(a.i >> 8) & 255}.${a.i & 255}`],
    agentVersion: '0.1.0-sim',
    agentUser: 'root',
  };
}

// ---------------------------------------------------------------------------------------------------
// Commands from the fleet

/** Start every idle agent, at most `concurrency` first attempts in flight at once. */
// Retries go through a dial queue served DIAL_BATCH at a time per event-loop turn. Ten thousand agents
// whose timers expire in the same second would otherwise each open a TLS socket inside one timers
// phase, stalling this process (not the gateway) for seconds; real agents each have their own process.
// The time an agent waits in the queue is reported (dialQueueMaxMs): it stays small unless the
// simulator itself is saturated.
const DIAL_BATCH = 16;
const dialQueue = [];
let dialScheduled = false;
let dialQueueMaxMs = 0;
function dial(agent) {
  agent.queuedAt = Date.now();
  dialQueue.push(agent);
  if (!dialScheduled) {
    dialScheduled = true;
    setImmediate(serveDials);
  }
}
function serveDials() {
  dialScheduled = false;
  const now = Date.now();
  for (let k = 0; k < DIAL_BATCH && dialQueue.length > 0; k++) {
    const a = dialQueue.shift();
    if (a.state !== 'backoff' || stopping) continue;
    dialQueueMaxMs = Math.max(dialQueueMaxMs, now - a.queuedAt);
    a.connect();
  }
  if (dialQueue.length > 0) {
    dialScheduled = true;
    setImmediate(serveDials);
  }
}

function connectAll(concurrency) {
  const queue = agents.filter((a) => a.state === 'idle');
  let inFlight = 0;
  const pump = () => {
    while (inFlight < concurrency && queue.length > 0 && !stopping) {
      const a = queue.shift();
      inFlight++;
      a.onFirstOutcome = () => {
        inFlight--;
        setImmediate(pump);
      };
      a.connect();
    }
  };
  pump();
}

let statsTimer;
let sweepTimer;

process.on('message', (msg) => {
  switch (msg.type) {
    case 'init': {
      cfg = msg;
      wsBase = cfg.url.replace(/^http/, 'ws');
      if (cfg.url.startsWith('https:')) {
        secureContext = createSecureContext({ ca: cfg.caPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
      }
      const doc = JSON.parse(readFileSync(cfg.identitiesFile, 'utf8'));
      gatewayKey = createPublicKey(doc.gatewaySigningKey);
      agents = doc.agents.slice(cfg.start, cfg.end).map((ident, k) => new SimAgent(cfg.start + k, ident));
      statsTimer = setInterval(report, cfg.statsEveryMs ?? 250);
      sweepTimer = setInterval(() => {
        const now = Date.now();
        for (const a of agents) a.check(now);
      }, 1000);
      process.send({ type: 'ready', count: agents.length, pid: process.pid });
      return;
    }
    case 'connect':
      connectAll(msg.concurrency ?? 100);
      return;
    case 'report':
      report();
      return;
    case 'stop': {
      stopping = true;
      for (const a of agents) a.stop();
      clearInterval(sweepTimer);
      report();
      clearInterval(statsTimer);
      setTimeout(() => process.exit(0), msg.graceMs ?? 1500).unref();
      return;
    }
  }
});

// The fleet went away (bench killed): do not linger.
process.on('disconnect', () => process.exit(0));
