// One load-generator process of the scale benchmark: hosts a slice of the simulated agents, each with
// its own Ed25519 key and its own WSS control connection, speaking the real agent protocol
// (docs/PROTOCOL.md): hello -> challenge -> auth -> welcome, pings every pingIntervalMs, pongs to the
// gateway's pings, a 30 s dead-peer watchdog, full-jitter reconnect backoff (1 s doubling to 60 s, reset
// after a welcome: the protocol package's own nextBackoff, as the real agent uses), and trivial
// channels: on a verified channel.open it dials the channel socket, sends exit 0 and closes 1000.
// Multi-server commands (exec.start) as the real agent's ExecRunner does them: the grant is verified
// (signature, server, exec id, expiry, kind, replay), the command runs as `$SHELL -c "<words>"` in pipes
// in its own process group, output goes back as seq-numbered exec.output pieces and an exec.exit, and
// every frame is kept until exec.ack and sent again after a reconnect. What it does not do: switch to
// the grant's OS user (every command runs as the simulator's own user, with that user's login shell, or
// `execShell`; HOME and the working directory are `execHome` when given: the exec bench gives an empty
// directory, because bash with a socketpair on stdin reads ~/.bashrc, and root's here runs pyenv).
// With execMode 'answer' it skips the process and answers exit 0 at once (the gateway's cost alone).
//
// Started by sim-agents.mjs (SimFleet) with an IPC channel; never run by hand. Everything it knows comes
// in the `init` message; it reports counters and event timestamps every `statsEveryMs`.
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createSecureContext } from 'node:tls';
import { WebSocket } from 'ws';
import {
  DEFAULT_BACKOFF,
  EXEC_CHUNK_BYTES,
  EXEC_MAX_OUTPUT_BYTES,
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
/** 'spawn': run the command (as the real agent); 'answer': reply exit 0 without a process. */
let execMode = 'spawn';
/** The login shell of the user the simulator runs as (the real agent runs the grant user's). */
let execShell = '/bin/sh';
let execHome = '/';
const execUser = userInfo().username;

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
  execStarts: 0,
  execRefused: 0, // exec.start refused (bad grant, replay): answered with exec.exit {error}
  execExits: 0, // exec.exit sent for a command that ran (or was answered in 'answer' mode)
  execExitZero: 0,
  execSpawnErrors: 0,
  execAcks: 0,
  execCancels: 0,
  execResent: 0, // frames sent again after a reconnect
  execRunning: 0, // gauge: commands whose process has not exited yet
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
    this.execs = new Map(); // execId -> running or finished-but-unacknowledged command
    this.execSeen = new Map(); // execId -> grant expiry: a start is run once (replay guard)
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
        // Whatever the gateway has not acknowledged goes again (it drops the seqs it already has).
        for (const r of this.execs.values())
          for (const f of r.retained) {
            totals.execResent++;
            this.send(f);
          }
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
      case 'exec.start':
        if (this.state !== 'ready') return this.fail(4000, 'exec.start before welcome');
        this.onExecStart(m);
        return;
      case 'exec.ack': {
        const r = this.execs.get(m.execId);
        if (r?.exited) {
          this.execs.delete(m.execId);
          totals.execAcks++;
        }
        return;
      }
      case 'exec.cancel': {
        const r = this.execs.get(m.execId);
        if (r && !r.exited) {
          totals.execCancels++;
          killExec(r);
        }
        return;
      }
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

  /**
   * exec.start: check the grant as the real agent's verifyGrant + ExecRunner do, then run the command
   * (or, in 'answer' mode, report exit 0 at once). Every frame is retained until exec.ack.
   */
  onExecStart(m) {
    const execId = String(m.execId);
    if (this.execs.has(execId)) return; // re-delivered: running or done already
    totals.execStarts++;
    const g = m.grant ?? {};
    const now = Date.now();
    let refusal = null;
    if (g.channelId !== execId) refusal = ['GRANT_MALFORMED', 'grant is for another channel'];
    if (!refusal) {
      try {
        const sig = Buffer.from(String(m.signature), 'base64');
        if (sig.length !== 64 || !verify(null, Buffer.from(grantSigningString(g), 'utf8'), gatewayKey, sig))
          refusal = ['GRANT_INVALID_SIGNATURE', 'grant signature does not verify with the pinned gateway key'];
      } catch {
        refusal = ['GRANT_MALFORMED', 'grant does not match the grant schema'];
      }
    }
    if (!refusal && g.serverId !== this.serverId) refusal = ['GRANT_WRONG_SERVER', 'grant is for another server'];
    if (!refusal && !(g.expiresAt > now)) refusal = ['GRANT_EXPIRED', 'grant expired'];
    if (!refusal) {
      for (const [id, exp] of this.execSeen) if (exp <= now) this.execSeen.delete(id);
      if (this.execSeen.has(execId)) refusal = ['GRANT_REPLAYED', 'this command was already run'];
      else this.execSeen.set(execId, g.expiresAt);
    }
    if (!refusal && (g.kind !== 'exec' || !Array.isArray(g.command) || g.command.length === 0))
      refusal = ['GRANT_MALFORMED', 'the grant is not for a command'];
    const r = { execId, seq: 0, retained: [], outputBytes: 0, truncated: false, exited: false, pid: undefined };
    r.timedOut = false;
    this.execs.set(execId, r);
    const emit = (f) => {
      r.retained.push(f);
      this.send(f);
    };
    const exit = (code, signal, error) => {
      if (r.exited) return;
      r.exited = true;
      if (r.timer) clearTimeout(r.timer);
      if (r.killTimer) clearTimeout(r.killTimer);
      if (error) totals.execSpawnErrors++;
      else {
        totals.execExits++;
        if (code === 0) totals.execExitZero++;
      }
      emit({
        type: 'exec.exit',
        execId,
        seq: r.seq++,
        code,
        signal,
        timedOut: r.timedOut,
        truncated: r.truncated,
        ...(error ? { error } : {}),
      });
    };
    if (refusal) {
      totals.execRefused++;
      r.exited = true;
      emit({
        type: 'exec.exit',
        execId,
        seq: r.seq++,
        code: null,
        signal: null,
        timedOut: false,
        truncated: false,
        error: { code: refusal[0], message: refusal[1] },
      });
      return;
    }
    if (execMode === 'answer') return exit(0, null);
    let child;
    try {
      child = spawnCommand(g.command);
    } catch (err) {
      return exit(null, null, { code: 'SPAWN_FAILED', message: String(err.message).slice(0, 1024) });
    }
    totals.execRunning++;
    r.pid = child.pid;
    child.stdin.on('error', () => {});
    child.stdin.end();
    const onData = (stream) => (d) => {
      if (r.truncated) return;
      let data = d;
      if (r.outputBytes + data.length > EXEC_MAX_OUTPUT_BYTES) {
        data = data.subarray(0, EXEC_MAX_OUTPUT_BYTES - r.outputBytes);
        r.truncated = true;
      }
      r.outputBytes += data.length;
      for (let off = 0; off < data.length; off += EXEC_CHUNK_BYTES) {
        const piece = data.subarray(off, Math.min(data.length, off + EXEC_CHUNK_BYTES));
        emit({ type: 'exec.output', execId, seq: r.seq++, stream, data: piece.toString('base64') });
      }
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));
    r.timer = setTimeout(() => {
      r.timedOut = true;
      killExec(r);
    }, m.timeoutMs);
    let gone = false;
    const done = () => {
      if (!gone) {
        gone = true;
        totals.execRunning--;
      }
    };
    child.once('error', (err) => {
      done();
      exit(null, null, { code: 'SPAWN_FAILED', message: String(err.message).slice(0, 1024) });
    });
    child.once('close', (code, signal) => {
      done();
      exit(code, signal ?? null);
    });
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

/** `$SHELL -c "<words>"` in pipes, in its own process group (as the real agent's spawnPipe). */
function spawnCommand(words) {
  return spawn(execShell, ['-c', words.join(' ')], {
    cwd: execHome,
    env: { HOME: execHome, USER: execUser, SHELL: execShell, PATH: '/usr/local/bin:/usr/bin:/bin' },
    stdio: 'pipe',
    detached: true, // own process group, as the real agent: a cancel reaches the whole pipeline
  });
}

/**
 * The floor of exec's 'spawn' mode on this machine: `count` commands spawned exactly as for exec.start
 * (same process, so the same fork cost), `concurrency` at a time, with no gateway and no protocol.
 */
async function spawnFloor(words, count, concurrency) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  const one = () =>
    new Promise((resolve) => {
      let child;
      try {
        child = spawnCommand(words);
      } catch {
        failed++;
        return resolve();
      }
      child.stdin.on('error', () => {});
      child.stdin.end();
      child.stdout.on('data', () => {});
      child.stderr.on('data', () => {});
      child.once('error', () => {
        failed++;
        resolve();
      });
      child.once('close', (code) => {
        if (code !== 0) failed++;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
  const cpu = process.cpuUsage(c0);
  return { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, failed };
}

/** SIGTERM a command's process group, SIGKILL 2 s later (the real agent's cancel and timeout). */
function killExec(r) {
  const group = (sig) => {
    if (!r.pid) return;
    try {
      process.kill(-r.pid, sig);
    } catch {
      /* gone */
    }
  };
  group('SIGTERM');
  r.killTimer ??= setTimeout(() => group('SIGKILL'), 2000);
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

/** This user's login shell and home from /etc/passwd, as the real agent finds the grant user's. */
function loginShell() {
  const uid = process.getuid?.();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 7 && Number(f[2]) === uid) return { shell: f[6] || '/bin/sh', home: f[5] || '/' };
    }
  } catch {
    /* no passwd: fall back */
  }
  return { shell: '/bin/sh', home: '/' };
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
      execMode = cfg.execMode ?? 'spawn';
      ({ shell: execShell, home: execHome } = loginShell());
      if (cfg.execShell) execShell = cfg.execShell;
      if (cfg.execHome) execHome = cfg.execHome;
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
    case 'exec-mode':
      execMode = msg.mode;
      return;
    case 'spawn-floor':
      spawnFloor(msg.command, msg.count, msg.concurrency).then((r) =>
        process.send({ type: 'spawn-floor-done', id: msg.id, ...r }),
      );
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
