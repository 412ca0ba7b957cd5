#!/usr/bin/env node
// Scale benchmark (issue 10, item 6): N simulated agents (real protocol, each its own WSS connection and
// Ed25519 key) against one fresh gateway node on 127.0.0.1 (SQLite, single node). Measures:
//   - time to connect all N (and the handshake latency each agent saw);
//   - gateway RSS before any agent and with all N connected, after a forced GC, so RSS per agent;
//     with the JS heap / external / native split from process.memoryUsage() inside the gateway;
//   - gateway CPU at idle with all N connected (utime+stime from /proc, % of one core);
//   - restart: SIGTERM the gateway, start it again on the same port and data, and follow how many agents
//     are back (gateway's view: GET /api/v1/servers; simulator's view: welcomes) second by second;
//   - channel opens per second end to end (POST websh, user socket, agent dials back, exit, close).
// Optional: --heap-snapshot (per-agent heap growth by constructor) and --floor (the same agents against
// a bare ws-over-TLS echo server and a bare ws server: the floor any Node gateway on ws pays).
//
// Run: node bench/suites/scale.mjs [--agents 10000] (see --help), or as a suite of bench/run.mjs:
// export run(ctx | opts), description, tableRows(doc), aimFor(label), docsSkipReason(doc).
// Everything the run starts is stopped, and its temporary directory removed, on exit, error and Ctrl-C.
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import Sqlite from 'better-sqlite3';
import { WebSocket } from 'ws';
import { GATEWAY_BIN, ROOT, missingBuilds } from '../lib/corral.mjs';
import { machineFacts, replaceGenerated, textTable, writeJson } from '../lib/report.mjs';
import {
  freePort,
  installSignalHandlers,
  memOf,
  onCleanup,
  round,
  runCleanups,
  runOk,
  sleep,
  startServer,
  summarize,
} from '../lib/util.mjs';
import { SimFleet, apiClient, fetchCaPem, loadIdentities, registerAgents, saveIdentities } from '../lib/sim-agents.mjs';

export const description =
  'N simulated agents on one gateway node: RSS per agent, idle CPU, reconnect after a restart, channel opens/s';

export const TARGETS = { corral: 'Corral gateway (1 node, SQLite)' };

export const DEFAULTS = {
  agents: 10_000,
  workers: 1,
  connectConcurrency: 200,
  registerConcurrency: 32,
  settleSeconds: 10,
  idleSeconds: 30,
  opensSeconds: 10,
  opensConcurrency: 20,
  restart: true,
  reconnectTimeoutSeconds: 180,
  inspect: true,
  heapSnapshot: false,
  floor: false,
  profile: false,
  waitIdle: 0,
  gatewayEnv: [],
  fdLimit: 65536,
  state: null,
};

const AIM_RSS_PER_AGENT_KB = 50;
const AIM_ALL_BACK_S = 60;
const CURVE_MARKS_S = [5, 10, 20, 30, 45, 60, 90, 120];
const KiB = 1024;
const MB = 1e6;

// ---------------------------------------------------------------------------------------------------
// /proc helpers

const CLK_TCK = 100;
/** utime+stime of a process (all threads), or with `tid` of one thread (tid = pid: the main thread). */
export function cpuSeconds(pid, tid) {
  try {
    const stat = readFileSync(tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return (f[11] + f[12]) / CLK_TCK;
  } catch {
    return NaN;
  }
}
/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
export function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK;
}

/**
 * CPU used during a phase by processes other than the gateway, the simulator and the bench itself:
 * other work on the machine that skews the figures (reported with each phase).
 */
export function contentionMeter(pidsFn) {
  const own = () =>
    pidsFn().reduce((a, p) => a + (cpuSeconds(p) || 0), 0) +
    process.cpuUsage().user / 1e6 +
    process.cpuUsage().system / 1e6;
  const t0 = performance.now();
  const b0 = machineBusySeconds();
  const o0 = own();
  return () => {
    const secs = (performance.now() - t0) / 1000;
    const other = machineBusySeconds() - b0 - (own() - o0);
    return {
      otherCpuPercent: round(Math.max(0, other / secs) * 100, 1),
      loadAverage: loadavg().map((x) => round(x, 2)),
    };
  };
}

/** Wait (up to `minutes`) for a 5-s window in which other processes use under 10% of a core. */
export async function waitIdle(log, minutes, pidsFn = () => []) {
  const until = Date.now() + minutes * 60_000;
  for (;;) {
    const m = contentionMeter(pidsFn);
    await sleep(5000);
    const { otherCpuPercent } = m();
    if (otherCpuPercent < 10)
      return { waitedSeconds: round((Date.now() - (until - minutes * 60_000)) / 1000, 0), otherCpuPercent };
    if (Date.now() > until) {
      log(`wait-idle: still ${otherCpuPercent}% CPU used by other processes after ${minutes} min; going on`);
      return { waitedSeconds: minutes * 60, otherCpuPercent, gaveUp: true };
    }
    log(`wait-idle: other processes use ${otherCpuPercent}% of a core; waiting`);
  }
}

export function fdLimitOf(pid) {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}
function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// The gateway's inspector (Chrome DevTools protocol): forced GC, process.memoryUsage(), heap snapshots.

export async function inspector(wsUrl) {
  const ws = new WebSocket(wsUrl, { perMessageDeflate: false, maxPayload: 2 ** 30 });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map();
  const handlers = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.id !== undefined) {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error) p.reject(new Error(`${p.method}: ${m.error.message}`));
      else p.resolve(m.result);
    } else {
      handlers.get(m.method)?.(m.params);
    }
  });
  ws.on('close', () => {
    for (const p of pending.values()) p.reject(new Error('inspector closed'));
    pending.clear();
  });
  ws.on('error', () => {});
  const call = (method, params = {}, timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer, method });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async gc() {
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
    },
    async memoryUsage() {
      const r = await call('Runtime.evaluate', {
        expression: 'JSON.stringify(process.memoryUsage())',
        returnByValue: true,
      });
      return JSON.parse(r.result.value);
    },
    /** Take a heap snapshot and summarise it by constructor (self sizes). */
    async heapSummary() {
      const chunks = [];
      handlers.set('HeapProfiler.addHeapSnapshotChunk', (p) => chunks.push(p.chunk));
      await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: false }, 600_000);
      handlers.delete('HeapProfiler.addHeapSnapshotChunk');
      return summarizeSnapshot(chunks);
    },
    /** Run `fn` under the CPU profiler (1 ms sampling); resolves with [fn's value, the profile]. */
    async profile(fn) {
      await call('Profiler.enable');
      await call('Profiler.setSamplingInterval', { interval: 1000 });
      await call('Profiler.start');
      let value;
      let profile;
      try {
        value = await fn();
      } finally {
        ({ profile } = await call('Profiler.stop', {}, 300_000));
        await call('Profiler.disable');
      }
      return [value, profile];
    },
    close() {
      ws.close();
    },
  };
}

/** Self time by function and by area (TLS, SQLite, ws, zod, ...) from a .cpuprofile. */
export function summarizeProfile(profile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const n = Math.min(profile.samples.length, profile.timeDeltas.length);
  for (let i = 0; i < n; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + profile.timeDeltas[i]);
  const fns = new Map();
  const areas = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id);
    const file = f.url.replace(/^file:\/\//, '').replace(ROOT + '/', '');
    const key = `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const area = profileArea(f.functionName, file);
    areas.set(area, (areas.get(area) ?? 0) + us);
    total += us;
  }
  const ms = (us) => round(us / 1000, 1);
  const sorted = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ key: k, ms: ms(us), percent: round((us / total) * 100, 1) }));
  return { totalMs: ms(total), byArea: sorted(areas), byFunction: sorted(fns) };
}

function profileArea(fn, file) {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (/^node:(_tls|tls|internal\/tls|internal\/crypto|crypto)/.test(file) || /TLSWrap|SecureContext/.test(fn))
    return 'TLS / crypto (node)';
  if (/^node:(net|internal\/stream|stream|_http|http|internal\/http|events|internal\/streams)/.test(file))
    return 'net / http / streams (node)';
  if (/node_modules\/ws\//.test(file)) return 'ws';
  if (/node_modules\/(better-sqlite3|kysely)\//.test(file)) return 'SQLite (better-sqlite3, kysely)';
  if (/node_modules\/zod\//.test(file)) return 'zod';
  if (/node_modules\/(fastify|find-my-way|light-my-request|avvio|@fastify)/.test(file)) return 'fastify';
  if (/packages\/gateway\/dist\/audit/.test(file)) return 'gateway: audit';
  if (/packages\/gateway\/dist\/log/.test(file)) return 'gateway: log';
  if (/packages\/gateway\/dist\/bus/.test(file)) return 'gateway: bus';
  if (/packages\/gateway\//.test(file)) return 'gateway: other';
  if (/packages\/protocol\//.test(file)) return 'protocol';
  if (/^node:/.test(file)) return 'node: other';
  if (!file) return `native: ${fn}`;
  return 'other';
}

/** Aggregate a V8 heap snapshot (as text chunks) by node type and constructor: {key: {count, bytes}}. */
function summarizeSnapshot(chunks) {
  let snap = JSON.parse(chunks.join(''));
  chunks.length = 0;
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields;
  const types = meta.node_types[0];
  const iType = nf.indexOf('type');
  const iName = nf.indexOf('name');
  const iSize = nf.indexOf('self_size');
  const width = nf.length;
  const { nodes, strings } = snap;
  const out = {};
  let total = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    const name = strings[nodes[i + iName]];
    const size = nodes[i + iSize];
    let key;
    switch (type) {
      case 'object':
        key = name;
        break;
      case 'native':
        key = `native ${name}`;
        break;
      case 'closure':
        key = '(closures)';
        break;
      case 'string':
      case 'concatenated string':
      case 'sliced string':
        key = '(strings)';
        break;
      case 'code':
        key = '(compiled code)';
        break;
      case 'array':
        key = `(internal array) ${name.length < 40 ? name : ''}`.trim();
        break;
      case 'hidden':
        key = `(system) ${name.length < 40 ? name : ''}`.trim();
        break;
      default:
        key = `(${type})`;
    }
    const e = (out[key] ??= { count: 0, bytes: 0 });
    e.count++;
    e.bytes += size;
    total += size;
  }
  return { total, byKey: out };
}

/** Per-agent growth between two heap summaries, largest first. */
function heapDiff(before, after, n, top = 30) {
  const rows = [];
  for (const [key, a] of Object.entries(after.byKey)) {
    const b = before.byKey[key] ?? { count: 0, bytes: 0 };
    const dBytes = a.bytes - b.bytes;
    const dCount = a.count - b.count;
    if (dBytes <= 0) continue;
    rows.push({ key, perAgentBytes: round(dBytes / n, 1), perAgentCount: round(dCount / n, 2) });
  }
  rows.sort((x, y) => y.perAgentBytes - x.perAgentBytes);
  return {
    totalPerAgentBytes: round((after.total - before.total) / n, 1),
    top: rows.slice(0, top),
  };
}

// ---------------------------------------------------------------------------------------------------
// The gateway process

export function gatewayEnv(extra = []) {
  const env = { ...process.env, NO_COLOR: '1' };
  for (const kv of extra) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/**
 * Start `corral-gateway start` through `sh -c 'ulimit -n N; exec node ...'` (the pid stays node's).
 * With `inspect`, node also listens for the DevTools protocol on a free loopback port (used only for
 * forced GCs, memory figures and heap snapshots; idle otherwise).
 */
export async function startGateway({ dataDir, port, inspect, fdLimit, env = [], log, label = 'gateway' }) {
  const nodeFlags = inspect ? ['--inspect=127.0.0.1:0'] : [];
  const gw = startServer(
    label,
    'sh',
    [
      '-c',
      `ulimit -n ${fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
      process.execPath,
      ...nodeFlags,
      GATEWAY_BIN,
      'start',
      '--data',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { cwd: ROOT, env: gatewayEnv(env) },
  );
  const t0 = performance.now();
  const [, url] = await gw.waitFor(/Corral gateway \S+ listening on (https?:\/\/\S+)/, 60_000);
  const listenMs = performance.now() - t0;
  const [, fingerprint] = await gw.waitFor(/CA fingerprint: (\S+)/, 5_000);
  let insp = null;
  if (inspect) {
    const [, wsUrl] = await gw.waitFor(/Debugger listening on (ws:\/\/\S+)/, 5_000);
    insp = await inspector(wsUrl);
  }
  log(`${label}: pid ${gw.pid}, ${url}, fd limit ${fdLimitOf(gw.pid)}, listening after ${Math.round(listenMs)} ms`);
  return { ...gw, url, fingerprint, insp, listenMs };
}

/** RSS and (with the inspector) the heap split, optionally after a forced GC. */
export async function gatewayMemory(gw, { gc = true } = {}) {
  const raw = memOf(gw.pid);
  const out = { rssRawMB: raw ? round(raw.rss / MB, 1) : null };
  if (gw.insp) {
    try {
      if (gc) await gw.insp.gc();
      const mu = await gw.insp.memoryUsage();
      const m = memOf(gw.pid);
      Object.assign(out, {
        rss: m.rss,
        hwm: m.hwm,
        heapTotal: mu.heapTotal,
        heapUsed: mu.heapUsed,
        external: mu.external,
        arrayBuffers: mu.arrayBuffers,
        // Everything outside the V8 heap and the external memory V8 knows of: OpenSSL's per-connection
        // state, libuv handles, malloc overhead, code.
        native: m.rss - mu.heapTotal - mu.external,
      });
      return out;
    } catch (err) {
      out.inspectorError = err.message;
    }
  }
  const m = memOf(gw.pid);
  return { ...out, rss: m?.rss ?? NaN, hwm: m?.hwm ?? NaN };
}

export function mbView(m) {
  const v = {};
  for (const [k, x] of Object.entries(m)) v[k] = typeof x === 'number' && k !== 'rssRawMB' ? round(x / MB, 1) : x;
  return v;
}

// ---------------------------------------------------------------------------------------------------
// Channel opens: POST websh, open the user's socket, wait for ready + exit + close 1000.

async function channelOpens({ url, caPem, token, names, seconds, concurrency, log }) {
  const api = apiClient(url, caPem, { maxSockets: concurrency });
  const secureContext = createSecureContext({ ca: caPem, minVersion: 'TLSv1.3' });
  const wsBase = url.replace(/^http/, 'ws');
  const total = [];
  const postMs = [];
  const errors = {};
  let k = 0;
  let ok = 0;
  let failed = 0;
  const MAX_OPENS = 200_000;

  const one = async () => {
    const name = names[k++ % names.length];
    const s = performance.now();
    const r = await api.call('POST', `/api/v1/servers/${name}/websh`, { command: ['true'] }, token);
    if (r.status !== 201) throw new Error(`POST websh: HTTP ${r.status} ${r.body?.error?.code ?? ''}`.trim());
    const p = performance.now();
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(wsBase + r.body.path, { perMessageDeflate: false, secureContext });
      let ready = false;
      let exit = false;
      let errCode = '';
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('no exit within 30 s'));
      }, 30_000);
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const m = JSON.parse(data.toString());
        if (m.type === 'ready') ready = true;
        else if (m.type === 'exit') exit = true;
        else if (m.type === 'error') errCode = m.code;
      });
      ws.on('error', () => {});
      ws.on('close', (code) => {
        clearTimeout(timer);
        if (ready && exit && code === 1000) resolve();
        else reject(new Error(`channel closed ${code}${errCode ? ` ${errCode}` : ''} (ready ${ready}, exit ${exit})`));
      });
    });
    total.push(performance.now() - s);
    postMs.push(p - s);
  };

  // A few warm-up opens (JIT, keep-alive sockets), not counted.
  for (let i = 0; i < Math.min(concurrency, 10); i++) await one().catch(() => {});
  total.length = 0;
  postMs.length = 0;

  const t0 = performance.now();
  const stopAt = t0 + seconds * 1000;
  const lane = async () => {
    while (performance.now() < stopAt && ok + failed < MAX_OPENS) {
      try {
        await one();
        ok++;
      } catch (err) {
        failed++;
        const key = err.message.slice(0, 100);
        errors[key] = (errors[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const elapsed = (performance.now() - t0) / 1000;
  api.close();
  const sum = (v) => {
    const s = summarize(v);
    return { n: s.n, p50: round(s.p50, 1), p90: round(s.p90, 1), p99: round(s.p99, 1), max: round(s.max, 1) };
  };
  const res = {
    seconds: round(elapsed, 2),
    concurrency,
    ok,
    failed,
    perSecond: round(ok / elapsed, 1),
    latencyMs: sum(total),
    postMs: sum(postMs),
    errors,
  };
  log(
    `channel opens: ${ok} in ${res.seconds} s = ${res.perSecond}/s (p50 ${res.latencyMs.p50} ms, p99 ${res.latencyMs.p99} ms), ${failed} failed`,
  );
  return res;
}

// ---------------------------------------------------------------------------------------------------
// Curves

/** Counts per 1-s bucket from `t0` over `seconds`. */
function perSecond(timestamps, t0, seconds) {
  const b = new Array(seconds).fill(0);
  for (const t of timestamps) {
    const i = Math.floor((t - t0) / 1000);
    if (i >= 0 && i < seconds) b[i]++;
  }
  return b;
}

/** The sample in `samples` ([{t, ...}] in order) at or just before t0 + s seconds. */
function sampleAt(samples, t0, s) {
  let best = null;
  for (const x of samples) {
    if (x.t - t0 <= s * 1000) best = x;
    else break;
  }
  return best;
}

/** A one-line sparkline of per-second counts. */
function sparkline(values) {
  const bars = ' ▁▂▃▄▅▆▇█';
  const max = Math.max(1, ...values);
  return values.map((v) => bars[Math.min(8, Math.ceil((v / max) * 8))]).join('');
}

// ---------------------------------------------------------------------------------------------------
// The "floor": the same fleet against a bare ws server (no database, no audit, no zod), over TLS with
// the gateway's certificate and without TLS. What any Node gateway on ws pays per connection.

const FLOOR_SERVER = `
import { createServer as https } from 'node:https';
import { createServer as http } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
const { WebSocketServer } = await import(process.env.FLOOR_WS_MODULE);
const [mode, port, cert, key] = process.argv.slice(2);
const server = mode === 'wss'
  ? https({ cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.3' })
  : http();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 65536 });
let n = 0;
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => {
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.type === 'hello') ws.send(JSON.stringify({ type: 'challenge', nonce: randomBytes(32).toString('base64url') }));
    else if (m.type === 'auth') { n++; ws.send(JSON.stringify({ type: 'welcome', serverId: 'srv', serverName: 'floor', pingIntervalMs: 10000, protocolVersion: 1 })); }
    else if (m.type === 'ping') ws.send(JSON.stringify({ type: 'pong', ts: m.ts }));
  });
  ws.on('error', () => {});
}));
process.on('SIGUSR2', () => { globalThis.gc?.(); globalThis.gc?.(); console.log('MEM ' + JSON.stringify({ ...process.memoryUsage(), n })); });
server.listen(Number(port), '127.0.0.1', () => console.log('floor listening on ' + (mode === 'wss' ? 'https' : 'http') + '://127.0.0.1:' + port));
`;

async function floorRun({ mode, dir, dataDir, caPem, identitiesFile, n, cfg, log }) {
  const script = join(dir, 'floor-server.mjs');
  writeFileSync(script, FLOOR_SERVER);
  const port = await freePort();
  const srv = startServer(
    `floor-${mode}`,
    'sh',
    [
      '-c',
      `ulimit -n ${cfg.fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`,
      process.execPath,
      '--expose-gc',
      script,
      mode,
      String(port),
      join(dataDir, 'tls', 'server.crt'),
      join(dataDir, 'tls', 'server.key'),
    ],
    // Resolve 'ws' from the repository's node_modules.
    { cwd: ROOT, env: { ...gatewayEnv(), FLOOR_WS_MODULE: import.meta.resolve('ws') } },
  );
  const [, url] = await srv.waitFor(/floor listening on (\S+)/, 15_000);
  const mem = async () => {
    const lines = () => [...srv.out.stdout.matchAll(/^MEM (\{.*\})$/gm)];
    const seen = lines().length;
    srv.child.kill('SIGUSR2');
    const deadline = Date.now() + 10_000;
    while (lines().length === seen) {
      if (Date.now() > deadline) throw new Error(`floor-${mode} server did not report its memory`);
      await sleep(50);
    }
    const all = lines();
    const mu = JSON.parse(all[all.length - 1][1]);
    const r = memOf(srv.pid);
    return { rss: r.rss, heapTotal: mu.heapTotal, heapUsed: mu.heapUsed, external: mu.external, n: mu.n };
  };
  await sleep(500);
  const before = await mem();
  const fleet = await SimFleet.start({
    url,
    caPem,
    identitiesFile,
    count: n,
    workers: cfg.workers,
    fdLimit: cfg.fdLimit,
    log,
  });
  try {
    fleet.connect({ concurrency: cfg.connectConcurrency });
    await fleet.waitFor((s) => s.ready >= n, 300_000, `${n} agents on the ${mode} floor server`);
    await sleep(3000);
    const after = await mem();
    const per = (k) => round((after[k] - before[k]) / n / KiB, 1);
    const res = {
      mode,
      agents: n,
      rssBeforeMB: round(before.rss / MB, 1),
      rssAfterMB: round(after.rss / MB, 1),
      perAgentKB: per('rss'),
      heapPerAgentKB: per('heapUsed'),
      externalPerAgentKB: per('external'),
      nativePerAgentKB: round(
        (after.rss - after.heapTotal - after.external - (before.rss - before.heapTotal - before.external)) / n / KiB,
        1,
      ),
    };
    log(`floor (${mode}): ${res.perAgentKB} KB/agent (heap ${res.heapPerAgentKB}, native ${res.nativePerAgentKB})`);
    return res;
  } finally {
    await fleet.stop();
    await srv.stop();
  }
}

// ---------------------------------------------------------------------------------------------------
// The suite

/** Options from run.mjs's ctx.opts or a plain object, with defaults. */
export function config(opts = {}) {
  const c = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (opts[k] !== undefined && opts[k] !== null) c[k] = opts[k];
  if (opts.quick) {
    c.agents = opts.agents ?? 300;
    c.idleSeconds = opts.idleSeconds ?? 10;
    c.opensSeconds = opts.opensSeconds ?? 5;
    c.settleSeconds = opts.settleSeconds ?? 3;
  }
  return c;
}

/**
 * Run the scale benchmark. `ctx` is run.mjs's {opts, log, ...} or plain options. Failures of a phase
 * are recorded in `errors` (target "corral", the phase, what was seen) and the run goes on where it can.
 */
export async function run(ctx = {}) {
  const opts = ctx.opts ?? ctx;
  const t0 = Date.now();
  const log = ctx.log ?? ((msg) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`));
  const cfg = config(opts);
  const N = cfg.agents;
  const result = { config: cfg, targets: TARGETS, errors: [] };
  const problem = (phase, message) => {
    log(`PROBLEM in ${phase}: ${message}`);
    result.errors.push({ target: 'corral', phase, message });
  };

  const profileDir = join(ROOT, 'bench', 'results', 'profiles');
  const profStamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  /** Run `fn`, under the gateway's CPU profiler with --profile (summary in result.profiles[phase]). */
  const profiled = async (gwNow, phase, fn) => {
    if (!cfg.profile || !gwNow.insp) return fn();
    const [value, profile] = await gwNow.insp.profile(fn);
    mkdirSync(profileDir, { recursive: true });
    const file = join(profileDir, `scale-${profStamp}-${phase}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    result.profiles ??= {};
    result.profiles[phase] = { file: file.slice(ROOT.length + 1), ...summarizeProfile(profile) };
    const top = result.profiles[phase].byArea.slice(0, 6).map((a) => `${a.key} ${a.percent}%`);
    log(`profile ${phase}: ${top.join(', ')}`);
    return value;
  };

  const missing = missingBuilds();
  if (missing.length > 0) throw new Error(`not built: ${missing.join(', ')} (run npm run build)`);

  // --- directories, gateway ------------------------------------------------------------------------
  let dir;
  if (cfg.state) {
    dir = cfg.state;
    mkdirSync(dir, { recursive: true });
    log(`state directory ${dir} (kept: gateway data and agent identities are reused by later runs)`);
  } else {
    dir = mkdtempSync(join(tmpdir(), 'corral-scale-'));
    onCleanup('remove scale temp dir', () => rmSync(dir, { recursive: true, force: true }));
  }
  const dataDir = join(dir, 'gateway');
  const identitiesFile = join(dir, 'identities.json');
  const port = await freePort();
  log(`gateway: starting on 127.0.0.1:${port} (data ${dataDir})`);
  let gw = await startGateway({ dataDir, port, inspect: cfg.inspect, fdLimit: cfg.fdLimit, env: cfg.gatewayEnv, log });
  result.gateway = { pid: gw.pid, fdLimit: fdLimitOf(gw.pid), url: gw.url, inspector: Boolean(gw.insp) };
  const url = gw.url;

  let password;
  const adminFile = join(dataDir, 'initial-admin.json');
  if (existsSync(adminFile)) password = JSON.parse(readFileSync(adminFile, 'utf8')).password;
  else [, password] = await gw.waitFor(/password:\s+(\S+)/, 5_000);

  // Trust the CA only once its fingerprint matches what the gateway printed.
  const caPem = await fetchCaPem(url);
  const fp = createHash('sha256').update(new X509Certificate(caPem).raw).digest('hex');
  if (fp !== gw.fingerprint.replace(/:/g, '').toLowerCase()) throw new Error('CA fingerprint mismatch');
  const api = apiClient(url, caPem);
  onCleanup('close admin API client', () => api.close());
  const login = await api.call('POST', '/api/v1/auth/login', { email: 'admin@localhost', password });
  if (login.status !== 200) throw new Error(`login: HTTP ${login.status} ${login.text}`);
  const token = login.body.token;

  // The gateway's view, read where the gateway keeps it: the servers table (what GET /api/v1/servers
  // reports), through a read-only SQLite connection of our own. Polling the API instead costs the gateway
  // ~0.35 s of its event loop per call with 10,000 servers, which would slow the very reconnect we time;
  // the API is asked only now and then, to confirm.
  const dbFile = join(dataDir, 'corral.db');
  let db = null;
  onCleanup('close bench SQLite reader', () => db?.close());
  const dbQuery = (sql, ...args) => {
    try {
      db ??= new Sqlite(dbFile, { readonly: true, fileMustExist: true });
      return db.prepare(sql).get(...args);
    } catch (err) {
      db?.close();
      db = null;
      throw err;
    }
  };
  const dbOnline = () => dbQuery("SELECT count(*) AS n FROM servers WHERE status = 'online' AND name LIKE 'sim-%'").n;
  let listMs = [];
  const onlineCount = async () => {
    const s = performance.now();
    const r = await api.call('GET', '/api/v1/servers', undefined, token, 20_000);
    listMs.push(performance.now() - s);
    if (r.status !== 200) throw new Error(`GET /api/v1/servers: HTTP ${r.status}`);
    let n = 0;
    for (const it of r.body.items) if (it.status === 'online' && it.name.startsWith('sim-')) n++;
    return n;
  };

  // --- registration ------------------------------------------------------------------------------
  let identities = existsSync(identitiesFile) ? loadIdentities(identitiesFile) : null;
  if (identities && identities.agents.length >= N) {
    log(`reusing ${identities.agents.length} registered agents from ${identitiesFile}`);
    result.registration = { reused: true };
  } else {
    const have = identities?.agents.length ?? 0;
    const need = N - have;
    const jt = await runOk(
      process.execPath,
      [
        GATEWAY_BIN,
        'join-token',
        'create',
        '--data',
        dataDir,
        '--name',
        'scale bench',
        '--uses',
        String(need),
        '--expires-in',
        '2h',
        '--output',
        'json',
      ],
      { cwd: ROOT, env: gatewayEnv() },
    );
    const joinToken = JSON.parse(jt.stdout.trim().split('\n').pop()).token;
    log(`registering ${need} agents (${cfg.registerConcurrency} requests in flight)`);
    const reg = await registerAgents({
      url,
      caPem,
      token: joinToken,
      count: need,
      from: have,
      concurrency: cfg.registerConcurrency,
      log,
    });
    identities = {
      gatewayUrl: url,
      gatewaySigningKey: reg.gatewaySigningKey ?? identities?.gatewaySigningKey,
      agents: [...(identities?.agents ?? []), ...reg.agents],
    };
    saveIdentities(identitiesFile, identities);
    result.registration = {
      reused: false,
      agents: need,
      seconds: round(reg.seconds, 1),
      perSecond: round(reg.perSecond, 0),
    };
    log(`registered ${need} agents in ${round(reg.seconds, 1)} s (${round(reg.perSecond, 0)}/s)`);
  }
  // A later run with a larger state may hold more identities than this run uses: the fleet takes the first N.
  const names = identities.agents.slice(0, N).map((a) => a.name);

  // --- baseline memory -----------------------------------------------------------------------------
  await sleep(cfg.settleSeconds * 1000);
  const memBefore = await gatewayMemory(gw);
  log(
    `gateway before agents: RSS ${round(memBefore.rss / MB, 1)} MB (heap ${round((memBefore.heapUsed ?? NaN) / MB, 1)} MB)`,
  );

  // --- connect all ---------------------------------------------------------------------------------
  const fleet = await SimFleet.start({
    url,
    caPem,
    identitiesFile,
    count: N,
    workers: cfg.workers,
    fdLimit: cfg.fdLimit,
    // With --profile the simulator's own profile is written when it stops (is it the bottleneck?).
    nodeFlags: cfg.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, `scale-${profStamp}-simulator`)}`] : [],
    log,
  });
  result.simulator = { workers: fleet.workers.length, pids: fleet.pids, fdLimit: fdLimitOf(fleet.pids[0]) };
  log(`simulator: ${fleet.workers.length} worker process(es), fd limit ${result.simulator.fdLimit}`);
  const idleWait = async (phase) => {
    if (cfg.waitIdle > 0) {
      const w = await waitIdle(log, cfg.waitIdle, () => [gw.pid, ...fleet.pids]);
      (result.waitIdle ??= {})[phase] = w;
    }
    return contentionMeter(() => [gw.pid, ...fleet.pids]);
  };
  let meter = await idleWait('connect');
  const simCpu0 = fleet.pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const gwCpu0 = cpuSeconds(gw.pid);
  const gwMain0 = cpuSeconds(gw.pid, gw.pid);
  const tc0 = Date.now();
  let simAllMs = null;
  await profiled(gw, 'connect', async () => {
    fleet.connect({ concurrency: cfg.connectConcurrency });
    const connectProgress = setInterval(() => {
      const s = fleet.snapshot();
      log(`  connect: ${s.ready}/${N} ready, ${s.connecting} connecting, ${s.backoff} in backoff`);
    }, 5000);
    try {
      await fleet.waitFor((s) => s.ready >= N, 600_000, `all ${N} agents to be welcomed`);
      simAllMs = Date.now() - tc0;
    } catch (err) {
      problem('connect', `${err.message}: ${JSON.stringify(fleet.snapshot())}`);
    } finally {
      clearInterval(connectProgress);
    }
  });
  // The gateway's view: every server online.
  let gwAllMs = null;
  const gwDeadline = Date.now() + 60_000;
  while (Date.now() < gwDeadline) {
    let n = -1;
    try {
      n = dbOnline();
    } catch {
      /* busy; next round */
    }
    if (n >= N) {
      gwAllMs = Date.now() - tc0;
      break;
    }
    await sleep(100);
  }
  if (gwAllMs === null)
    problem('connect', `the gateway did not show all ${N} servers online within 60 s of the simulator`);
  const apiOnline = await onlineCount().catch(() => null);
  if (apiOnline !== N) problem('connect', `GET /api/v1/servers shows ${apiOnline} of ${N} online`);
  const welcomes = fleet.welcomeEv.filter((e) => e[0] >= tc0).map((e) => e[2]);
  const hs = summarize(welcomes);
  const snapC = fleet.snapshot();
  result.connect = {
    concurrency: cfg.connectConcurrency,
    seconds: simAllMs === null ? null : round(simAllMs / 1000, 2),
    gatewaySeconds: gwAllMs === null ? null : round(gwAllMs / 1000, 2),
    perSecond: simAllMs === null ? null : round(N / (simAllMs / 1000), 0),
    handshakeMs: { p50: round(hs.p50, 1), p90: round(hs.p90, 1), p99: round(hs.p99, 1), max: round(hs.max, 1) },
    attempts: snapC.totals.attempts,
    failures: snapC.totals.failures,
    closeCodes: snapC.totals.closeCodes,
    errors: snapC.totals.errors,
    ...meter(),
    simulatorMaxLoopDelayMs: fleet.maxLoopDelay(tc0),
    gatewayCpuSeconds: round(cpuSeconds(gw.pid) - gwCpu0, 1),
    // The main thread (the event loop): near 100% of the phase means the gateway is loop-bound.
    gatewayMainThreadCpuSeconds: round(cpuSeconds(gw.pid, gw.pid) - gwMain0, 1),
    gatewayCpuMsPerAgent: round(((cpuSeconds(gw.pid) - gwCpu0) * 1000) / N, 2),
    simulatorCpuSeconds: round(fleet.pids.reduce((a, p) => a + cpuSeconds(p), 0) - simCpu0, 1),
  };
  log(
    `connected ${N} in ${result.connect.seconds} s (${result.connect.perSecond}/s; gateway view ${result.connect.gatewaySeconds} s); handshake p50 ${result.connect.handshakeMs.p50} ms p99 ${result.connect.handshakeMs.p99} ms`,
  );

  // --- memory with all connected ---------------------------------------------------------------------
  await sleep(cfg.settleSeconds * 1000);
  const memAll = await gatewayMemory(gw);
  const perKB = (k) => (memAll[k] === undefined ? null : round((memAll[k] - memBefore[k]) / N / KiB, 1));
  await fleet.refresh();
  const simSnap = fleet.snapshot();
  result.memory = {
    before: mbView(memBefore),
    withAgents: mbView(memAll),
    perAgentKB: perKB('rss'),
    perAgentRawKB: round(((memAll.rssRawMB - memBefore.rssRawMB) * MB) / N / KiB, 1),
    perAgentSplitKB: {
      heapUsed: perKB('heapUsed'),
      heapTotal: perKB('heapTotal'),
      external: perKB('external'),
      native: perKB('native'),
    },
    fds: fdCount(gw.pid),
    simulator: { rssMB: round(simSnap.rss / MB, 1), perAgentKB: round(simSnap.rss / N / KiB, 1) },
  };
  log(
    `gateway with ${N} agents: RSS ${round(memAll.rss / MB, 1)} MB = ${result.memory.perAgentKB} KB/agent (heap ${result.memory.perAgentSplitKB.heapUsed}, external ${result.memory.perAgentSplitKB.external}, native ${result.memory.perAgentSplitKB.native})`,
  );
  if (simSnap.ready < N) problem('memory', `only ${simSnap.ready}/${N} agents connected when memory was measured`);

  // --- idle CPU --------------------------------------------------------------------------------------
  {
    meter = await idleWait('idle');
    const drops0 = fleet.dropEv.length;
    const rss0 = memOf(gw.pid)?.rss;
    const c0 = cpuSeconds(gw.pid);
    const m0 = cpuSeconds(gw.pid, gw.pid);
    const s0 = fleet.pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const w0 = performance.now();
    log(`idle: measuring gateway CPU for ${cfg.idleSeconds} s`);
    await profiled(gw, 'idle', () => sleep(cfg.idleSeconds * 1000));
    const secs = (performance.now() - w0) / 1000;
    const c1 = cpuSeconds(gw.pid);
    const m1 = cpuSeconds(gw.pid, gw.pid);
    const s1 = fleet.pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const rss1 = memOf(gw.pid)?.rss;
    await fleet.refresh();
    const drops = fleet.dropEv.length - drops0;
    result.idle = {
      seconds: round(secs, 1),
      cpuPercent: round(((c1 - c0) / secs) * 100, 1),
      mainThreadCpuPercent: round(((m1 - m0) / secs) * 100, 1),
      cpuMsPerAgentPerMinute: round((((c1 - c0) / secs) * 60_000) / N, 3),
      simulatorCpuPercent: round(((s1 - s0) / secs) * 100, 1),
      drops,
      rssDriftMB: round((rss1 - rss0) / MB, 1),
      ...meter(),
    };
    log(
      `idle: gateway ${result.idle.cpuPercent}% of one core, simulator ${result.idle.simulatorCpuPercent}%, ${drops} drops`,
    );
    if (drops > 0) problem('idle', `${drops} agent connections dropped while idle`);
  }

  // --- channel opens ---------------------------------------------------------------------------------
  try {
    meter = await idleWait('opens');
    log(`channel opens: ${cfg.opensConcurrency} in flight for ${cfg.opensSeconds} s`);
    result.opens = await profiled(gw, 'opens', () =>
      channelOpens({
        url,
        caPem,
        token,
        names,
        seconds: cfg.opensSeconds,
        concurrency: cfg.opensConcurrency,
        log,
      }),
    );
    await fleet.refresh();
    const t = fleet.snapshot().totals;
    Object.assign(result.opens, meter());
    result.opens.agentSide = {
      opens: t.channelOpens,
      ok: t.channelOk,
      failed: t.channelFailed,
      rejected: t.channelRejects,
    };
    if (result.opens.failed > 0)
      problem('opens', `${result.opens.failed} channel opens failed: ${JSON.stringify(result.opens.errors)}`);
  } catch (err) {
    problem('opens', err.message);
  }

  // --- restart ---------------------------------------------------------------------------------------
  if (cfg.restart) {
    try {
      await idleWait('restart');
      result.restart = await restartPhase({
        gw,
        fleet,
        N,
        cfg,
        dataDir,
        port,
        caPem,
        onlineCount,
        dbOnline,
        dbQuery,
        log,
        problem,
        profiled,
      });
      gw = result.restart.gw;
      delete result.restart.gw;
    } catch (err) {
      problem('restart', err.stack ?? err.message);
    }
  }
  result.serversListMs = summarizeMs(listMs);
  await fleet.refresh();
  result.simulatorTotals = fleet.snapshot().totals;

  // --- after the agents leave: memory given back? heap per agent (snapshot with minus without) ------
  // Heap snapshots come last: taking one leaves the gateway's RSS inflated, which would spoil the RSS
  // figures above. With agents, then without, on the same (current) gateway process.
  let heapWith = null;
  if (cfg.heapSnapshot && gw.insp) {
    try {
      log('heap snapshot with all agents...');
      const t = performance.now();
      heapWith = await gw.insp.heapSummary();
      result.heapSnapshotSeconds = round((performance.now() - t) / 1000, 1);
    } catch (err) {
      problem('heap', err.message);
    }
  }
  await fleet.stop();
  try {
    const until = Date.now() + 60_000;
    let n = -1;
    while (
      Date.now() < until &&
      (n = (() => {
        try {
          return dbOnline();
        } catch {
          return -1;
        }
      })()) !== 0
    )
      await sleep(500);
    if (n !== 0) problem('disconnect', `the gateway still shows ${n} servers online 60 s after all agents closed`);
    await sleep(cfg.settleSeconds * 1000);
    const left = await gatewayMemory(gw);
    result.memory.afterAgentsLeft = mbView(left);
    if (heapWith) result.memory.afterAgentsLeftNote = 'measured after a heap snapshot, which inflates RSS';
    if (cfg.restart) result.memory.afterAgentsLeftGateway = 'the restarted gateway';
    log(
      `gateway after all agents left: RSS ${round(left.rss / MB, 1)} MB (heap ${round((left.heapUsed ?? NaN) / MB, 1)} MB)`,
    );
    if (heapWith) {
      const heapWithout = await gw.insp.heapSummary();
      result.heap = heapDiff(heapWithout, heapWith, N);
      log(
        `heap: ${result.heap.totalPerAgentBytes} B/agent in the snapshot; top: ${result.heap.top
          .slice(0, 6)
          .map((r) => `${r.key} ${r.perAgentBytes}`)
          .join(', ')}`,
      );
    }
  } catch (err) {
    problem('after', err.message);
  }
  if (gw.insp) gw.insp.close();
  await gw.stop();

  // --- floor -----------------------------------------------------------------------------------------
  if (cfg.floor) {
    result.floor = {};
    for (const mode of ['wss', 'ws']) {
      try {
        result.floor[mode] = await floorRun({ mode, dir, dataDir, caPem, identitiesFile, n: N, cfg, log });
      } catch (err) {
        problem(`floor-${mode}`, err.message);
      }
    }
  }
  return result;
}

function summarizeMs(v) {
  if (v.length === 0) return null;
  const s = summarize(v);
  return { n: s.n, p50: round(s.p50, 1), max: round(s.max, 1) };
}

/**
 * SIGTERM the gateway, start it again on the same port and data, and follow the agents coming back:
 * the simulator's count of welcomed agents every report, and the gateway's own count of online servers
 * every second (GET /api/v1/servers).
 */
async function restartPhase({
  gw,
  fleet,
  N,
  cfg,
  dataDir,
  port,
  caPem,
  onlineCount,
  dbOnline,
  dbQuery,
  log,
  problem,
  profiled,
}) {
  const res = {};
  const samples = []; // {t, simReady, simConnecting, simBackoff, gwOnline}
  // Nothing is connected from the SIGTERM until the new gateway counts its agents.
  let gwOnline = 0;
  const onReport = () => {
    const s = fleet.snapshot();
    samples.push({ t: Date.now(), simReady: s.ready, simConnecting: s.connecting, simBackoff: s.backoff, gwOnline });
  };
  fleet.listeners.add(onReport);
  if (gw.insp) gw.insp.close();
  const tKill = Date.now();
  const attempts0 = fleet.snapshot().totals.attempts ?? 0;
  log(`restart: SIGTERM gateway (pid ${gw.pid})`);
  const exited = new Promise((resolve) => gw.child.once('exit', (code, signal) => resolve({ code, signal })));
  // The old gateway's own account of its shutdown: when it logged the agents' detaches.
  const detachLog = { count: 0, first: null, last: null };
  let partial = '';
  const onStderr = (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      // One line per agent (older gateways) or one for all ("agents disconnected for shutdown count=N").
      const m = /^(\S+) info agents? disconnected (?:for shutdown count=(\d+)|.*gateway shutdown)/.exec(line);
      if (!m) continue;
      const t = Date.parse(m[1]);
      detachLog.count += m[2] ? Number(m[2]) : 1;
      detachLog.first ??= t;
      detachLog.last = t;
    }
  };
  gw.child.stderr.on('data', onStderr);
  // Is the gateway answering at all? GET /api/v1/health every second (5 s timeout) through the whole
  // restart, old process and new.
  const probes = [];
  let probing = true;
  const probeApi = apiClient(gw.url, caPem, { maxSockets: 4 });
  const probeLoop = (async () => {
    while (probing) {
      const t = Date.now();
      const r = await probeApi
        .call('GET', '/api/v1/health', undefined, undefined, 5000)
        .catch((err) => ({ status: 0, err }));
      probes.push({ t, ms: Date.now() - t, ok: r.status === 200 });
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();
  gw.child.kill('SIGTERM');
  let exit = await Promise.race([exited, sleep(30_000).then(() => null)]);
  if (!exit) {
    problem('restart', 'the gateway did not exit within 30 s of SIGTERM; SIGKILL');
    gw.child.kill('SIGKILL');
    exit = await exited;
  }
  const tExit = Date.now();
  gw.child.stderr.off('data', onStderr);
  await gw.stop(); // unregisters the cleanup; the process is gone already
  const rel = (t) => (t === null ? null : round((t - tKill) / 1000, 2));
  // What the old gateway left in the database: servers still marked online (its detach writes that did
  // not happen) and the agent.disconnect audit events it did write.
  let serversLeftOnline = null;
  let disconnectEvents = null;
  try {
    serversLeftOnline = dbOnline();
    disconnectEvents = dbQuery(
      "SELECT count(*) AS n FROM audit_events WHERE action = 'agent.disconnect' AND ts >= ? AND details LIKE '%gateway shutdown%'",
      new Date(tKill - 1000).toISOString(),
    ).n;
  } catch (err) {
    log(`restart: could not read the database: ${err.message}`);
  }
  res.shutdown = {
    serversLeftOnline,
    disconnectAuditEvents: disconnectEvents,
    detachesLogged: detachLog.count,
    firstDetachLoggedAt: rel(detachLog.first),
    lastDetachLoggedAt: rel(detachLog.last),
    exitAt: rel(tExit),
  };
  log(
    `restart: shutdown: detaches logged ${res.shutdown.firstDetachLoggedAt}..${res.shutdown.lastDetachLoggedAt} s, exit at ${res.shutdown.exitAt} s`,
  );
  res.shutdownSeconds = round((tExit - tKill) / 1000, 2);
  res.oldExit = exit;
  const stderrTail = gw.out.stderr.split('\n').slice(-8).join('\n');
  res.oldStderrTail = stderrTail;
  if (exit.code !== 0)
    problem(
      'restart',
      `the gateway exited with ${exit.signal ?? exit.code} after SIGTERM (its shutdown timer is 10 s)`,
    );
  log(
    `restart: old gateway exited (${exit.signal ?? exit.code}) after ${res.shutdownSeconds} s; starting a new one on port ${port}`,
  );

  const gw2 = await startGateway({
    dataDir,
    port,
    inspect: cfg.inspect,
    fdLimit: cfg.fdLimit,
    env: cfg.gatewayEnv,
    log,
    label: 'gateway (restarted)',
  });
  const tListen = Date.now();
  res.gw = gw2;
  res.downSeconds = round((tListen - tKill) / 1000, 2);
  res.startSeconds = round((tListen - tExit) / 1000, 2);

  // Follow the gateway's count (every 0.5 s) until all are back (both views) or the time is up.
  const meter = contentionMeter(() => [gw2.pid, ...fleet.pids]);
  const gwCpu0 = cpuSeconds(gw2.pid);
  const gwMain0 = cpuSeconds(gw2.pid, gw2.pid);
  const deadline = tKill + cfg.reconnectTimeoutSeconds * 1000;
  let gwAllAt = null;
  let simAllAt = null;
  let lastLog = 0;
  // The API, asked every 10 s (not awaited by the loop): does it agree with the table?
  const apiChecks = [];
  let lastApi = 0;
  await profiled(gw2, 'reconnect', async () => {
    while (Date.now() < deadline) {
      const tick = Date.now();
      try {
        gwOnline = dbOnline();
      } catch {
        /* the database is busy: keep the last count */
      }
      if (tick - lastApi >= 10_000) {
        lastApi = tick;
        const t = tick;
        onlineCount().then(
          (n) => apiChecks.push({ t: round((t - tKill) / 1000, 1), online: n, ms: Date.now() - t }),
          (err) => apiChecks.push({ t: round((t - tKill) / 1000, 1), error: err.message }),
        );
      }
      const s = fleet.snapshot();
      samples.push({ t: Date.now(), simReady: s.ready, simConnecting: s.connecting, simBackoff: s.backoff, gwOnline });
      if (gwOnline >= N && gwAllAt === null) gwAllAt = Date.now();
      if (s.ready >= N && simAllAt === null) {
        // The first report where all N are ready (reports come every 250 ms).
        simAllAt = samples.find((x) => x.t >= tListen && x.simReady >= N)?.t ?? Date.now();
      }
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(
          `  +${((Date.now() - tKill) / 1000).toFixed(0)} s: gateway ${gwOnline} online, simulator ${s.ready} ready / ${s.connecting} connecting / ${s.backoff} waiting`,
        );
      }
      if (gwAllAt !== null && simAllAt !== null) break;
      await sleep(Math.max(0, 500 - (Date.now() - tick)));
    }
  });
  Object.assign(res, meter(), {
    newGatewayCpuSeconds: round(cpuSeconds(gw2.pid) - gwCpu0, 1),
    newGatewayMainThreadCpuSeconds: round(cpuSeconds(gw2.pid, gw2.pid) - gwMain0, 1),
  });
  probing = false;
  await probeLoop;
  res.apiChecks = apiChecks;
  // When the agents saw their control connection to the old gateway end (the ws 'close' event, after the
  // close handshake), from the simulator's reports (which may lag while it is busy: hence computed here).
  const drops = fleet.dropEv.filter((e) => e[0] >= tKill && e[0] <= tExit + 2000).map((e) => e[0]);
  res.simulatorMaxLoopDelayMs = fleet.maxLoopDelay(tKill);
  res.simulatorMaxDialQueueMs = fleet.maxDialQueueWait(tKill);
  Object.assign(res.shutdown, {
    agentsDropped: drops.length,
    firstAgentDropAt: drops.length ? rel(Math.min(...drops)) : null,
    lastAgentDropAt: drops.length ? rel(Math.max(...drops)) : null,
  });
  res.apiOnlineAtEnd = await onlineCount().catch(() => null);
  if (gwAllAt !== null && res.apiOnlineAtEnd !== N)
    problem('restart', `GET /api/v1/servers shows ${res.apiOnlineAtEnd} of ${N} online after all were back`);
  probeApi.close();
  const probeSummary = (list) => {
    if (list.length === 0) return null;
    const answered = list.filter((p) => p.ok);
    return {
      probes: list.length,
      answered: answered.length,
      maxMs: Math.max(...list.map((p) => p.ms)),
      p50Ms: answered.length ? round(summarize(answered.map((p) => p.ms)).p50, 0) : null,
    };
  };
  res.healthProbes = {
    // Old process, from SIGTERM to exit: a blocked event loop answers nothing.
    shutdown: probeSummary(probes.filter((p) => p.t < tExit)),
    // New process, from listening until all agents are back.
    reconnect: probeSummary(probes.filter((p) => p.t >= tListen)),
  };
  log(`restart: health probes ${JSON.stringify(res.healthProbes)}`);
  fleet.listeners.delete(onReport);
  await fleet.refresh();
  const span = Math.ceil((Date.now() - tKill) / 1000);
  const sSnap = fleet.snapshot();
  res.allBackSeconds = gwAllAt === null ? null : round((gwAllAt - tKill) / 1000, 1);
  res.allBackSimSeconds = simAllAt === null ? null : round((simAllAt - tKill) / 1000, 1);
  res.allBackAfterListenSeconds = gwAllAt === null ? null : round((gwAllAt - tListen) / 1000, 1);
  // At marks after the end of the run (everyone back earlier), the last sample holds.
  res.curve = CURVE_MARKS_S.map((s) => {
    const x = sampleAt(samples, tKill, s);
    return { atSeconds: s, gatewayOnline: x?.gwOnline ?? null, simulatorReady: x?.simReady ?? null };
  });
  const attempts = fleet.attemptTs.filter((t) => t >= tKill);
  res.attemptsPerSecond = perSecond(attempts, tKill, span);
  res.welcomesPerSecond = perSecond(
    fleet.welcomeEv.filter((e) => e[0] >= tKill).map((e) => e[0]),
    tKill,
    span,
  );
  res.peakAttemptsPerSecond = Math.max(...res.attemptsPerSecond);
  res.peakWelcomesPerSecond = Math.max(...res.welcomesPerSecond);
  res.attemptsPerAgent = round(((sSnap.totals.attempts ?? 0) - attempts0) / N, 2);
  // Agents that reconnected to the old gateway while it was shutting down (and were dropped again).
  res.welcomedByOldGateway = fleet.welcomeEv.filter((e) => e[0] >= tKill && e[0] < tExit).length;
  const hsNew = summarize(fleet.welcomeEv.filter((e) => e[0] >= tListen).map((e) => e[2]));
  res.handshakeMsAfterRestart = { p50: round(hsNew.p50, 1), p99: round(hsNew.p99, 1), max: round(hsNew.max, 1) };
  res.closeCodes = sSnap.totals.closeCodes;
  res.samples = samples.filter((_, i) => i % 4 === 0).map((x) => ({ ...x, t: round((x.t - tKill) / 1000, 2) }));
  const m = await gatewayMemory(gw2, { gc: false });
  res.newGatewayPeakRssMB = round(m.hwm / MB, 1);
  const mgc = await gatewayMemory(gw2);
  res.newGatewayRssAfterMB = round(mgc.rss / MB, 1);
  log(
    `restart: down ${res.downSeconds} s; all back after ${res.allBackSeconds ?? '-'} s (gateway view; simulator ${res.allBackSimSeconds ?? '-'} s); peak ${res.peakAttemptsPerSecond} attempts/s; ${res.attemptsPerAgent} attempts per agent`,
  );
  log(`restart: attempts/s  ${sparkline(res.attemptsPerSecond)}`);
  log(`restart: welcomes/s  ${sparkline(res.welcomesPerSecond)}`);
  if (res.allBackSeconds === null) {
    problem(
      'restart',
      `not all agents back within ${cfg.reconnectTimeoutSeconds} s: gateway shows ${gwOnline}/${N} online, simulator ${sSnap.ready} ready`,
    );
  } else if (res.allBackSeconds > AIM_ALL_BACK_S) {
    problem('restart', `all agents back only after ${res.allBackSeconds} s (aim: ${AIM_ALL_BACK_S} s)`);
  }
  return res;
}

// ---------------------------------------------------------------------------------------------------
// Reporting (the same shapes run.mjs uses: rows of [label, unit, {target: value}])

export function tableRows(doc) {
  const v = (x) => ({ corral: x ?? null });
  const c = doc.connect ?? {};
  const m = doc.memory ?? {};
  const r = doc.restart ?? {};
  const o = doc.opens ?? {};
  const curve = (s) => {
    const x = r.curve?.find((p) => p.atSeconds === s);
    return x ? x.gatewayOnline : null;
  };
  return [
    ['agents', 'count', v(doc.config?.agents)],
    ['time to connect all', 's', v(c.seconds)],
    ['connect rate', 'agents/s', v(c.perSecond)],
    ['agent handshake p50 / p99', 'ms', v(c.handshakeMs ? `${c.handshakeMs.p50} / ${c.handshakeMs.p99}` : null)],
    ['gateway RSS before agents', 'MB', v(m.before?.rss)],
    ['gateway RSS with all agents', 'MB', v(m.withAgents?.rss)],
    ['RSS per agent', 'KB', v(m.perAgentKB)],
    ['  of which JS heap', 'KB', v(m.perAgentSplitKB?.heapTotal)],
    [
      '  of which native (TLS, buffers)',
      'KB',
      v(m.perAgentSplitKB ? round(m.perAgentSplitKB.native + m.perAgentSplitKB.external, 1) : null),
    ],
    ['gateway CPU at idle', '% of a core', v(doc.idle?.cpuPercent)],
    ['restart: gateway down (SIGTERM to listening)', 's', v(r.downSeconds)],
    ['restart: all agents back', 's', v(r.allBackSeconds)],
    [
      'restart: back after 5 / 10 / 20 / 30 / 60 s',
      'agents',
      v(
        r.curve
          ? [5, 10, 20, 30, 60]
              .map(curve)
              .map((x) => x ?? '-')
              .join(' / ')
          : null,
      ),
    ],
    ['restart: peak reconnect attempts', 'per s', v(r.peakAttemptsPerSecond)],
    ['channel opens', 'per s', v(o.perSecond)],
    ['channel open p50 / p99', 'ms', v(o.latencyMs ? `${o.latencyMs.p50} / ${o.latencyMs.p99}` : null)],
  ];
}

export function aimFor(label) {
  if (label === 'RSS per agent') return `≤ ${AIM_RSS_PER_AGENT_KB}`;
  if (label === 'restart: all agents back') return `≤ ${AIM_ALL_BACK_S}`;
  if (label === 'agents') return '10000';
  return '';
}

export function docsSkipReason(doc) {
  if ((doc.config?.agents ?? 0) < 10_000)
    return `a run with ${doc.config?.agents} agents (the documented run uses 10,000)`;
  if (!doc.restart || !doc.opens) return 'an incomplete run';
  return null;
}

export function docsExtra(doc) {
  const r = doc.restart;
  const lines = [];
  const c = doc.connect;
  if (c) {
    lines.push(
      '',
      `Connect: ${c.concurrency} first attempts in flight; gateway CPU ${c.gatewayCpuMsPerAgent} ms per agent (event loop ${round((c.gatewayMainThreadCpuSeconds * 1000) / doc.config.agents, 2)} ms), simulator ${round((c.simulatorCpuSeconds * 1000) / doc.config.agents, 2)} ms; other processes used ${c.otherCpuPercent}% of a core.`,
    );
  }
  if (doc.idle) {
    lines.push(
      `Idle: gateway ${doc.idle.cpuPercent}% of a core (event loop ${doc.idle.mainThreadCpuPercent}%), ${doc.idle.cpuMsPerAgentPerMinute} ms CPU per agent per minute, ${doc.idle.drops} drops; other processes ${doc.idle.otherCpuPercent}%.`,
    );
  }
  if (doc.memory?.afterAgentsLeft) {
    lines.push(
      `Memory: ${doc.memory.withAgents.heapUsed} MB JS heap with all agents; after they all left, ${doc.memory.afterAgentsLeft.rss} MB RSS (heap ${doc.memory.afterAgentsLeft.heapUsed} MB) on ${doc.memory.afterAgentsLeftGateway ?? 'the gateway'}.`,
    );
  }
  if (r?.shutdown) {
    const sd = r.shutdown;
    lines.push(
      `Restart: the old gateway exited ${r.oldExit?.code === 0 ? 'cleanly' : `with ${r.oldExit?.signal ?? r.oldExit?.code}`} ${sd.exitAt} s after SIGTERM; agents saw the close at ${sd.firstAgentDropAt}..${sd.lastAgentDropAt} s; ${sd.serversLeftOnline} servers left marked online, ${sd.disconnectAuditEvents} agent.disconnect events written; health probes answered during shutdown: ${r.healthProbes?.shutdown?.answered ?? '-'}/${r.healthProbes?.shutdown?.probes ?? '-'}.`,
      `The new gateway listened ${r.downSeconds} s after the SIGTERM; all back ${r.allBackAfterListenSeconds} s later. Handshakes during the herd: p50 ${r.handshakeMsAfterRestart?.p50} ms, p99 ${r.handshakeMsAfterRestart?.p99} ms; close codes seen by agents ${JSON.stringify(r.closeCodes)}; ${r.attemptsPerAgent} attempts per agent; peak RSS ${r.newGatewayPeakRssMB} MB; other processes ${r.otherCpuPercent}% of a core; simulator's worst event-loop delay ${r.simulatorMaxLoopDelayMs} ms, longest wait in its dial queue ${r.simulatorMaxDialQueueMs ?? '-'} ms.`,
    );
  }
  if (doc.opens) {
    lines.push(
      `Channel opens: ${doc.opens.concurrency} in flight, POST p50 ${doc.opens.postMs?.p50} ms; other processes ${doc.opens.otherCpuPercent}% of a core.`,
    );
  }
  if (doc.floor?.wss) {
    lines.push(
      `Floor (same fleet, bare ws server): over TLS ${doc.floor.wss.perAgentKB} KB per connection, without TLS ${doc.floor.ws?.perAgentKB ?? '-'} KB.`,
    );
  }
  if (r?.attemptsPerSecond) {
    lines.push(
      '',
      `Reconnect attempts per second after the SIGTERM (t = 0 .. ${r.attemptsPerSecond.length} s): \`${sparkline(r.attemptsPerSecond)}\` (peak ${r.peakAttemptsPerSecond}/s);`,
      `welcomes per second: \`${sparkline(r.welcomesPerSecond)}\` (peak ${r.peakWelcomesPerSecond}/s).`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Stand-alone: node bench/suites/scale.mjs [options]

const USAGE = `usage: node bench/suites/scale.mjs [options]

  --agents N               simulated agents (default ${DEFAULTS.agents})
  --workers N              simulator processes (default ${DEFAULTS.workers})
  --connect-concurrency N  first connection attempts in flight during the initial connect (default ${DEFAULTS.connectConcurrency})
  --idle-seconds N         idle CPU window (default ${DEFAULTS.idleSeconds})
  --opens-seconds N        channel-open window (default ${DEFAULTS.opensSeconds})
  --opens-concurrency N    channel opens in flight (default ${DEFAULTS.opensConcurrency})
  --no-restart             skip the restart phase
  --reconnect-timeout N    give the agents at most N s to come back after the restart (default ${DEFAULTS.reconnectTimeoutSeconds})
  --heap-snapshot          heap snapshots before and with agents: per-agent growth by constructor
  --floor                  also run the fleet against a bare ws server (TLS and plain): the floor
  --profile                CPU profiles of the gateway (connect, idle, opens, reconnect) through its
                           inspector: bench/results/profiles/scale-*.cpuprofile, summary in the JSON
  --wait-idle MIN          before each measured phase, wait up to MIN minutes for other processes on
                           the machine to use under 10% of a core (each phase reports what they used)
  --gateway-env K=V        extra environment for the gateway (repeatable), e.g. MALLOC_ARENA_MAX=2
  --no-inspect             start the gateway without --inspect (no forced GC, no heap split)
  --state DIR              keep gateway data and agent identities in DIR and reuse them next time
  --quick                  a smoke run (300 agents, short windows; bench/SCALE.md not updated)
  --no-docs                do not update the generated figures in bench/SCALE.md
  --docs-from FILE         only rewrite the generated figures in bench/SCALE.md from a results file
  -h, --help               this text

Results: bench/results/scale-<timestamp>.json and scale-latest.json; the table on stdout; for a full
10,000-agent run, the generated part of bench/SCALE.md.`;

async function main() {
  const { values: o } = parseArgs({
    options: {
      agents: { type: 'string' },
      workers: { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'opens-seconds': { type: 'string' },
      'opens-concurrency': { type: 'string' },
      'reconnect-timeout': { type: 'string' },
      'no-restart': { type: 'boolean' },
      'heap-snapshot': { type: 'boolean' },
      floor: { type: 'boolean' },
      profile: { type: 'boolean' },
      'wait-idle': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
      'no-inspect': { type: 'boolean' },
      state: { type: 'string' },
      quick: { type: 'boolean' },
      'no-docs': { type: 'boolean' },
      'docs-from': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (o['docs-from']) {
    const file = resolve(o['docs-from']);
    updateDocs(JSON.parse(readFileSync(file, 'utf8')), file);
    return 0;
  }
  const int = (name) => {
    if (o[name] === undefined) return undefined;
    const n = Number(o[name]);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`scale: --${name} wants a positive integer`);
      process.exit(2);
    }
    return n;
  };
  const opts = {
    agents: int('agents'),
    workers: int('workers'),
    connectConcurrency: int('connect-concurrency'),
    idleSeconds: int('idle-seconds'),
    opensSeconds: int('opens-seconds'),
    opensConcurrency: int('opens-concurrency'),
    reconnectTimeoutSeconds: int('reconnect-timeout'),
    restart: o['no-restart'] ? false : undefined,
    heapSnapshot: o['heap-snapshot'] || undefined,
    floor: o.floor || undefined,
    profile: o.profile || undefined,
    waitIdle: int('wait-idle'),
    gatewayEnv: o['gateway-env'],
    inspect: o['no-inspect'] ? false : undefined,
    state: o.state,
    quick: o.quick,
  };

  const t0 = Date.now();
  const log = (msg) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const resultsDir = join(ROOT, 'bench', 'results');
  installSignalHandlers();
  const cfg = config(opts);
  const limitMin = 20 + Math.ceil(cfg.agents / 2000) + (cfg.floor ? 10 : 0) + (cfg.heapSnapshot ? 10 : 0);
  const watchdog = setTimeout(() => {
    log(`scale: still running after ${limitMin} minutes; stopping everything`);
    runCleanups().finally(() => process.exit(1));
  }, limitMin * 60_000);
  watchdog.unref();

  let failed = false;
  try {
    const facts = machineFacts(ROOT);
    log(
      `machine: ${facts.nproc} CPUs (${facts.cpu}), ${facts.memoryGiB} GiB, ${facts.kernel}, node ${facts.node}, commit ${facts.git.commit}${facts.git.dirty ? ' (dirty)' : ''}`,
    );
    const startedAt = new Date();
    const result = await run({ opts, log });
    const finishedAt = new Date();
    const doc = {
      suite: 'scale',
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: Math.round((finishedAt - startedAt) / 100) / 10,
      options: cfg,
      machine: { ...facts, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      ...result,
    };
    const file = join(resultsDir, `scale-${stamp}.json`);
    writeJson(file, doc);
    writeJson(join(resultsDir, 'scale-latest.json'), doc);
    const rows = tableRows(doc);
    console.log(`\nscale (${facts.nproc} CPUs, ${facts.kernel}, node ${facts.node})\n`);
    console.log(
      textTable(
        rows.map(([l, u, vals]) => [l, u, { ...vals, aim: aimFor(l) }]),
        { ...doc.targets, aim: 'aim' },
      ),
    );
    if (doc.errors.length > 0) {
      failed = true;
      console.log(`\nproblems (${doc.errors.length}):`);
      for (const e of doc.errors) console.log(`  - ${e.phase}: ${e.message}`);
    }
    console.log(`\nresults: ${file.slice(ROOT.length + 1)} (and scale-latest.json)`);
    const skip = o['no-docs'] ? '--no-docs' : opts.quick ? '--quick' : docsSkipReason(doc);
    if (skip) console.log(`bench/SCALE.md not updated: ${skip}`);
    else updateDocs(doc, file);
  } catch (err) {
    failed = true;
    console.error(`\nscale: ${err.stack ?? err}`);
  } finally {
    log('stopping everything');
    await runCleanups();
    clearTimeout(watchdog);
  }
  return failed ? 1 : 0;
}

/** The generated part of bench/SCALE.md (between the scale-results markers) for a result document. */
export function docsMarkdown(doc, file) {
  const m = doc.machine ?? {};
  return [
    `Run ${doc.startedAt.replace(/\.\d+Z$/, 'Z')} (${doc.durationSeconds} s), commit ${m.git?.commit}${m.git?.dirty ? ' with local changes' : ''}:`,
    `${m.nproc} CPUs (${m.cpu}), ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}; gateway and simulator on the same machine.`,
    `Raw figures: \`${file.startsWith(ROOT) ? file.slice(ROOT.length + 1) : file}\`.`,
    '',
    mdTable(tableRows(doc)),
    docsExtra(doc),
    ...(doc.errors.length > 0
      ? [
          '',
          `Problems in this run (${doc.errors.length}):`,
          '',
          ...doc.errors.map((e) => `- ${e.phase}: ${e.message.split('\n')[0]}`),
        ]
      : []),
  ].join('\n');
}

function updateDocs(doc, file) {
  const ok = replaceGenerated(join(ROOT, 'bench', 'SCALE.md'), 'scale-results', docsMarkdown(doc, file));
  console.log(ok ? 'bench/SCALE.md: figures updated' : 'bench/SCALE.md has no scale-results markers; not updated');
}

function mdTable(rows) {
  const body = rows.map(([l, u, vals]) => [l, u, String(vals.corral ?? '-'), aimFor(l)]);
  const header = ['figure', 'unit', 'Corral gateway', 'aim (issue 10)'];
  const widths = header.map((_, i) => Math.max(3, ...[header, ...body].map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 2 ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => process.exit(code));
}
