// Simulated agents for the scale benchmark: registration of N agents with one join token, their
// identities on disk (so a run can reuse them against the same gateway data), and SimFleet, which
// hosts them in one or more child processes (sim-agents-worker.mjs), each agent with its own Ed25519
// key and its own WSS control connection speaking the real protocol.
//
// Why child processes and not one event loop: the fleet's sockets must not share an event loop with the
// bench's own timers and polls (that would skew every timing), and each child can get its own fd limit
// (`ulimit -n` is per process). One child keeps up with 10,000 agents here (see bench/SCALE.md);
// `workers` splits them over more.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { onCleanup } from './util.mjs';
import { writeJson } from './report.mjs';

const WORKER = join(import.meta.dirname, 'sim-agents-worker.mjs');

// ---------------------------------------------------------------------------------------------------
// HTTP(S) with a pinned CA and keep-alive, for registration and the admin API.

/** A small JSON client for the gateway's HTTP API: `call(method, path, body?, token?)` → {status, body}. */
export function apiClient(url, caPem, { maxSockets = 64 } = {}) {
  const secure = url.startsWith('https:');
  const agent = secure ? new HttpsAgent({ ca: caPem, keepAlive: true, maxSockets, minVersion: 'TLSv1.3' }) : undefined;
  const base = new URL(url);
  const call = (method, path, body, token, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = (secure ? httpsRequest : httpRequest)(
        {
          host: base.hostname,
          port: base.port,
          path,
          method,
          agent,
          headers: {
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              /* not JSON (the CA PEM) */
            }
            resolve({ status: res.statusCode, body: parsed, text });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  return { call, close: () => agent?.destroy() };
}

/** GET /api/v1/ca without trusting anything yet (the caller checks the fingerprint). */
export async function fetchCaPem(url) {
  const base = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: base.hostname, port: base.port, path: '/api/v1/ca', rejectUnauthorized: false, timeout: 10_000 },
      (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (s += c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(s) : reject(new Error(`GET /api/v1/ca: ${res.statusCode}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('GET /api/v1/ca timed out')));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------
// Registration and identities

/** Server name of simulated agent i (sortable, valid per SERVER_NAME_RE). */
export const simName = (i) => `sim-${String(i).padStart(5, '0')}`;

/**
 * Register `count` agents (names sim-00000...) with one join token, `concurrency` requests in flight.
 * Each gets a fresh Ed25519 key. Returns {gatewaySigningKey, agents: [{name, agentId, serverId,
 * privateKeyJwk}], seconds, perSecond}. Bounded: gives up after `timeoutMs`.
 */
export async function registerAgents({
  url,
  caPem,
  token,
  count,
  from = 0,
  concurrency = 32,
  log,
  timeoutMs = 600_000,
}) {
  const api = apiClient(url, caPem, { maxSockets: concurrency });
  const agents = new Array(count);
  let gatewaySigningKey = null;
  let next = 0;
  let done = 0;
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  let lastLog = t0;
  const one = async (k) => {
    const i = from + k;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const name = simName(i);
    for (let attempt = 1; ; attempt++) {
      const r = await api
        .call('POST', '/api/v1/agent/register', {
          token,
          name,
          publicKey: publicKey.export({ type: 'spki', format: 'pem' }),
        })
        .catch((err) => ({ status: 0, body: { error: { message: err.message } } }));
      if (r.status === 201) {
        gatewaySigningKey ??= r.body.gatewaySigningKey;
        agents[k] = {
          name,
          agentId: r.body.agentId,
          serverId: r.body.serverId,
          // JWK, not PEM: OpenSSL 3 decodes a PEM private key in ~0.6 ms, a JWK in ~0.09 ms.
          privateKeyJwk: privateKey.export({ format: 'jwk' }),
        };
        return;
      }
      // A transient failure (socket reset under load) is retried a few times; anything else is fatal.
      if (r.status !== 0 || attempt >= 3 || Date.now() > deadline) {
        throw new Error(`registering ${name}: HTTP ${r.status} ${JSON.stringify(r.body?.error ?? r.body)}`);
      }
    }
  };
  const lane = async () => {
    while (next < count) {
      if (Date.now() > deadline) throw new Error(`registration did not finish within ${timeoutMs / 1000} s`);
      const k = next++;
      await one(k);
      done++;
      if (log && Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`  registered ${done}/${count} (${Math.round(done / ((Date.now() - t0) / 1000))}/s)`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  } finally {
    api.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  return { gatewaySigningKey, agents, seconds, perSecond: count / seconds };
}

/** Save identities (private keys in clear: the file lives in the bench's temporary directory). */
export function saveIdentities(file, doc) {
  writeJson(file, doc);
}

export function loadIdentities(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

// ---------------------------------------------------------------------------------------------------
// The fleet

/**
 * N simulated agents in `workers` child processes. Counters are aggregated from the children's reports
 * (every `statsEveryMs`); every attempt, welcome and drop is kept with its timestamp for the curves.
 */
export class SimFleet {
  constructor() {
    this.workers = [];
    this.attemptTs = [];
    this.welcomeEv = []; // [ts, agentIndex, connectMs]
    this.dropEv = []; // [ts, agentIndex, code]
    this.loopDelay = []; // [ts, max event-loop delay of a worker since its previous report, ms]
    this.listeners = new Set();
  }

  /**
   * Start the worker processes (agents idle until connect()). `fdLimit` is applied with `ulimit -n` in a
   * shell that then execs node, so each child can hold more sockets than the bench's own limit.
   * `execMode` ('spawn' or 'answer', see setExecMode), `execShell` (default: the login shell of the user
   * the simulator runs as) and `execHome` (HOME and working directory of commands; default that user's
   * home) say how exec.start is answered.
   */
  static async start({
    url,
    caPem,
    identitiesFile,
    count,
    workers = 1,
    fdLimit = 65536,
    statsEveryMs = 250,
    nodeFlags = [],
    execMode = 'spawn',
    execShell,
    execHome,
    log,
  }) {
    const fleet = new SimFleet();
    fleet.count = count;
    const per = Math.ceil(count / workers);
    const starts = [];
    for (let w = 0; w < workers; w++) {
      const start = w * per;
      const end = Math.min(count, start + per);
      if (start >= end) break;
      starts.push(
        fleet.#spawnWorker(
          w,
          { url, caPem, identitiesFile, start, end, statsEveryMs, fdLimit, execMode, execShell, execHome, log },
          nodeFlags,
        ),
      );
    }
    await Promise.all(starts);
    return fleet;
  }

  async #spawnWorker(w, init, nodeFlags) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.NODE_EXTRA_CA_CERTS; // the fleet trusts only the gateway's CA
    const child = spawn(
      'sh',
      [
        '-c',
        `ulimit -n ${init.fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
        process.execPath,
        ...nodeFlags,
        WORKER,
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env, detached: true },
    );
    const worker = { w, child, pid: child.pid, last: null, exited: null };
    this.workers.push(worker);
    const unregister = onCleanup(`stop sim-agents worker ${w}`, () => this.#kill(worker));
    worker.unregister = unregister;
    child.on('exit', (code, signal) => {
      worker.exited = { code, signal };
      if (!this.stopping) init.log?.(`sim-agents worker ${w} exited unexpectedly (${signal ?? code})`);
    });
    child.on('message', (msg) => {
      if (msg.type === 'stats') {
        worker.last = msg;
        for (const t of msg.attemptTs) this.attemptTs.push(t);
        for (const e of msg.welcomeEv) this.welcomeEv.push(e);
        for (const e of msg.dropEv) this.dropEv.push(e);
        this.loopDelay.push([msg.ts, msg.loopDelayMaxMs, msg.dialQueueMaxMs]);
        for (const l of this.listeners) l();
      }
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sim-agents worker ${w} did not start within 30 s`)), 30_000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`sim-agents worker ${w} exited at start (${signal ?? code})`));
      });
      child.on('message', (msg) => {
        if (msg.type === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      child.send({ type: 'init', ...init, log: undefined });
    });
  }

  /** Start all agents; each worker keeps at most `concurrency / workers` first attempts in flight. */
  connect({ concurrency = 200 } = {}) {
    const per = Math.max(1, Math.ceil(concurrency / this.workers.length));
    for (const w of this.workers) w.child.send({ type: 'connect', concurrency: per });
  }

  /**
   * How the agents answer exec.start from now on: 'spawn' runs the command as the real agent does,
   * 'answer' reports exit 0 without starting a process (separates the simulator's fork/exec cost from
   * the gateway's).
   */
  setExecMode(mode) {
    if (mode !== 'spawn' && mode !== 'answer') throw new Error(`unknown exec mode ${mode}`);
    for (const w of this.workers) w.child.send({ type: 'exec-mode', mode });
  }

  /**
   * Spawn `count` commands the way the agents answer exec.start in 'spawn' mode, from the workers
   * themselves, `concurrency` at a time in all, without gateway or protocol: the machine's floor for
   * that mode. Resolves with {wallMs, cpuMs (the workers' own CPU), failed}.
   */
  async spawnFloor({ command = ['true'], count, concurrency }) {
    const n = this.workers.length;
    const id = Math.random().toString(36).slice(2);
    const parts = await Promise.all(
      this.workers.map(
        (w, k) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('spawn floor: no answer within 300 s')), 300_000);
            const on = (msg) => {
              if (msg.type === 'spawn-floor-done' && msg.id === id) {
                clearTimeout(timer);
                w.child.off('message', on);
                resolve(msg);
              }
            };
            w.child.on('message', on);
            const share = Math.floor(count / n) + (k < count % n ? 1 : 0);
            w.child.send({ type: 'spawn-floor', id, command, count: share, concurrency: Math.ceil(concurrency / n) });
          }),
      ),
    );
    return {
      wallMs: Math.max(...parts.map((p) => p.wallMs)),
      cpuMs: parts.reduce((a, p) => a + p.cpuMs, 0),
      failed: parts.reduce((a, p) => a + p.failed, 0),
    };
  }

  /** Aggregated counters from the latest report of every worker. */
  snapshot() {
    const s = { ready: 0, connecting: 0, backoff: 0, idle: 0, rss: 0, totals: {} };
    for (const w of this.workers) {
      const m = w.last;
      if (!m) continue;
      s.ready += m.ready;
      s.connecting += m.connecting;
      s.backoff += m.backoff;
      s.idle += m.idle;
      s.rss += m.mem;
      for (const [k, v] of Object.entries(m.totals)) {
        if (typeof v === 'number') s.totals[k] = (s.totals[k] ?? 0) + v;
        else {
          s.totals[k] ??= {};
          for (const [kk, vv] of Object.entries(v)) s.totals[k][kk] = (s.totals[k][kk] ?? 0) + vv;
        }
      }
    }
    return s;
  }

  /** The simulator's worst event-loop delay (ms) reported between t0 and t1: was it keeping up? */
  maxLoopDelay(t0, t1 = Infinity) {
    let m = 0;
    for (const [t, d] of this.loopDelay) if (t >= t0 && t <= t1 && d > m) m = d;
    return m;
  }

  /** The longest an agent waited in a worker's dial queue (ms) between t0 and t1. */
  maxDialQueueWait(t0, t1 = Infinity) {
    let m = 0;
    for (const [t, , q] of this.loopDelay) if (t >= t0 && t <= t1 && q > m) m = q;
    return m;
  }

  get pids() {
    return this.workers.map((w) => w.pid);
  }

  /** Resolve once `pred(snapshot)` holds (checked at each report), or reject after `ms`. */
  waitFor(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.snapshot();
        if (pred(s)) {
          done();
          resolve(s);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms / 1000} s waiting for ${what}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Ask every worker for a fresh report and wait for it. */
  async refresh(ms = 2000) {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise((resolve) => {
            const t = setTimeout(resolve, ms);
            const on = (msg) => {
              if (msg.type === 'stats') {
                clearTimeout(t);
                w.child.off('message', on);
                resolve();
              }
            };
            w.child.on('message', on);
            w.child.send({ type: 'report' });
          }),
      ),
    );
  }

  async #kill(worker) {
    const { child } = worker;
    if (worker.exited) return;
    const exited = new Promise((r) => child.once('exit', r));
    try {
      child.send({ type: 'stop', graceMs: 1000 });
    } catch {
      /* IPC gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 4000);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 6000))]);
    clearTimeout(t);
  }

  /** Close every agent (1001) and stop the workers. */
  async stop() {
    this.stopping = true;
    await Promise.all(
      this.workers.map(async (w) => {
        w.unregister();
        await this.#kill(w);
      }),
    );
  }
}
