#!/usr/bin/env node
// Exec benchmark (the "multi-server commands" issue, acceptance item "Scale"): `corral exec --servers
// 'sim-*' -- true` on N simulated agents (default 1,000) through one fresh gateway node on 127.0.0.1
// (SQLite, single node). The agents are the scale benchmark's simulator (bench/lib/sim-agents*.mjs):
// real protocol, each its own Ed25519 key and WSS control connection; they verify each exec grant and
// run the command with `$SHELL -c` in pipes as the real agent does ('spawn'), or answer exit 0 without
// a process ('answer', the gateway's cost without the simulator's 1,000 fork/execs on the same CPUs).
//
// Each measured run is the real CLI (`corral exec`, wall time from spawn to exit, the table it prints
// included) and, with --api, the same request straight to POST /api/v1/exec with an NDJSON reader; the
// gateway's own durationMs comes from the job's summary. Checked after every run: the CLI exits 0, the
// summary says N ok, GET /api/v1/exec/:id lists N results with exit 0, every simulated agent saw one
// exec.start; at the end, exec_results rows and exec.run audit events in the database (one per server
// per job). Measured: gateway RSS (before, kernel peak during the run, after), CPU of gateway and
// simulator per run, CPU used by other processes (a shared machine), load averages.
//
// Run: npm run bench -- exec [options] (see --help). Everything it starts is stopped, and its temporary
// directory removed, on exit, error and Ctrl-C.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import Sqlite from 'better-sqlite3';
import { CLI_BIN, GATEWAY_BIN, ROOT, missingBuilds } from '../lib/corral.mjs';
import { machineFacts, replaceGenerated, writeJson } from '../lib/report.mjs';
import {
  freePort,
  installSignalHandlers,
  median,
  memOf,
  onCleanup,
  resetPeak,
  round,
  run as runProcess,
  runCleanups,
  runOk,
  sleep,
} from '../lib/util.mjs';
import { SimFleet, apiClient, fetchCaPem, registerAgents, saveIdentities } from '../lib/sim-agents.mjs';
import {
  contentionMeter,
  cpuSeconds,
  gatewayEnv,
  gatewayMemory,
  startGateway,
  summarizeProfile,
  waitIdle,
} from './scale.mjs';

export const description = '`corral exec -- true` on N simulated agents through one gateway node';

export const DEFAULTS = {
  agents: 1000,
  parallel: [100],
  runs: 3,
  modes: ['spawn', 'answer'],
  api: true,
  /** With 'spawn': also time the simulator spawning the same commands alone (no gateway). */
  floor: true,
  workers: 1,
  connectConcurrency: 200,
  registerConcurrency: 32,
  settleSeconds: 3,
  profile: false,
  waitIdle: 0,
  gatewayEnv: [],
  fdLimit: 65536,
  /** Shell for the commands (default: the simulator user's login shell, as the real agent picks). */
  execShell: null,
};

/** The issue's aim: the whole `corral exec` on 1,000 servers in under this many seconds. */
const AIM_WALL_S = 3;
const MB = 1e6;

// ---------------------------------------------------------------------------------------------------
// One run through the CLI, one straight to the API

/** `corral exec --servers 'sim-*' [--parallel P] -- true`: wall time, exit code, job id, summary line. */
async function cliRun({ env, parallel, nodeFlags = [] }) {
  const args = [
    ...nodeFlags,
    CLI_BIN,
    'exec',
    '--servers',
    'sim-*',
    ...(parallel ? ['--parallel', String(parallel)] : []),
    '--',
  ];
  const r = await runProcess(process.execPath, [...args, 'true'], { env, cwd: ROOT, timeoutMs: 180_000 });
  const jobId = /^Job (exj_[A-Za-z0-9_-]+):/m.exec(r.stderr)?.[1] ?? null;
  const summaryLine = /^\d+ ok, .*$/m.exec(r.stderr)?.[0] ?? null;
  return { wallMs: r.ms, code: r.code, signal: r.signal, jobId, summaryLine, stderrTail: r.stderr.slice(-2000) };
}

/** POST /api/v1/exec and read the NDJSON stream to its end: time to the job line, to done, exits seen. */
function apiRun({ url, caPem, token, parallel }) {
  const base = new URL(url);
  const body = Buffer.from(
    JSON.stringify({ servers: ['sim-*'], command: ['true'], ...(parallel ? { parallel } : {}), timeoutSeconds: 30 }),
  );
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let jobMs = null;
    let doneMs = null;
    let jobId = null;
    let summary = null;
    let exits = 0;
    let exitsOk = 0;
    let errorLine = null;
    const req = httpsRequest(
      {
        host: base.hostname,
        port: base.port,
        path: '/api/v1/exec',
        method: 'POST',
        ca: caPem,
        minVersion: 'TLSv1.3',
        timeout: 180_000,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          accept: 'application/x-ndjson',
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => reject(new Error(`POST /api/v1/exec: HTTP ${res.statusCode} ${text.slice(0, 300)}`)));
          return;
        }
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          rest += d;
          let i;
          while ((i = rest.indexOf('\n')) >= 0) {
            const line = rest.slice(0, i);
            rest = rest.slice(i + 1);
            if (!line) continue;
            const e = JSON.parse(line);
            if (e.type === 'job') {
              jobMs = performance.now() - t0;
              jobId = e.jobId;
            } else if (e.type === 'exit') {
              exits++;
              if (e.status === 'ok' && e.exitCode === 0) exitsOk++;
            } else if (e.type === 'done') {
              doneMs = performance.now() - t0;
              summary = e.summary;
            } else if (e.type === 'error') errorLine = e;
          }
        });
        res.on('end', () =>
          resolve({ wallMs: performance.now() - t0, jobMs, doneMs, jobId, summary, exits, exitsOk, errorLine }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('POST /api/v1/exec: no answer within 180 s')));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------------
// The suite

export function config(opts = {}) {
  const c = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (opts[k] !== undefined && opts[k] !== null) c[k] = opts[k];
  return c;
}

export async function run(ctx = {}) {
  const opts = ctx.opts ?? ctx;
  const t0 = Date.now();
  const log = ctx.log ?? ((msg) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`));
  const cfg = config(opts);
  const N = cfg.agents;
  const result = { config: cfg, errors: [] };
  const problem = (phase, message) => {
    log(`PROBLEM in ${phase}: ${message}`);
    result.errors.push({ target: 'corral', phase, message });
  };
  const missing = missingBuilds();
  if (missing.length > 0) throw new Error(`not built: ${missing.join(', ')} (run npm run build)`);
  const profStamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');

  // --- gateway, admin, CLI login --------------------------------------------------------------------
  const dir = mkdtempSync(join(tmpdir(), 'corral-execbench-'));
  onCleanup('remove exec bench temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'gateway');
  const port = await freePort();
  log(`gateway: starting on 127.0.0.1:${port} (data ${dataDir})`);
  const gw = await startGateway({ dataDir, port, inspect: true, fdLimit: cfg.fdLimit, env: cfg.gatewayEnv, log });
  onCleanup('close gateway inspector', () => gw.insp?.close());
  const url = gw.url;
  const [, password] = await gw.waitFor(/password:\s+(\S+)/, 5_000);
  const caPem = await fetchCaPem(url);
  const fp = createHash('sha256').update(new X509Certificate(caPem).raw).digest('hex');
  if (fp !== gw.fingerprint.replace(/:/g, '').toLowerCase()) throw new Error('CA fingerprint mismatch');
  const api = apiClient(url, caPem);
  onCleanup('close admin API client', () => api.close());
  const login = await api.call('POST', '/api/v1/auth/login', { email: 'admin@localhost', password });
  if (login.status !== 200) throw new Error(`login: HTTP ${login.status} ${login.text}`);
  const token = login.body.token;

  const cliEnv = { ...gatewayEnv(), CORRAL_CONFIG_DIR: join(dir, 'cli') };
  await runOk(
    process.execPath,
    [CLI_BIN, 'login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', gw.fingerprint],
    { env: cliEnv, cwd: ROOT, input: password },
  );

  // --- agents -----------------------------------------------------------------------------------------
  const jt = await runOk(
    process.execPath,
    [
      GATEWAY_BIN,
      'join-token',
      'create',
      '--data',
      dataDir,
      '--name',
      'exec bench',
      '--uses',
      String(N),
      '--expires-in',
      '1h',
      '--output',
      'json',
    ],
    { cwd: ROOT, env: gatewayEnv() },
  );
  const joinToken = JSON.parse(jt.stdout.trim().split('\n').pop()).token;
  log(`registering ${N} agents`);
  const reg = await registerAgents({
    url,
    caPem,
    token: joinToken,
    count: N,
    concurrency: cfg.registerConcurrency,
    log,
  });
  const identitiesFile = join(dir, 'identities.json');
  saveIdentities(identitiesFile, { gatewayUrl: url, gatewaySigningKey: reg.gatewaySigningKey, agents: reg.agents });
  result.registration = { seconds: round(reg.seconds, 1) };

  // Commands run with the simulator user's login shell in an empty HOME: root's ~/.bashrc on this
  // machine runs `pyenv init` (100-250 ms per bash, and it takes a lock), and bash reads it whenever
  // stdin is a socket, as the agent's pipes are. That would measure the dotfiles, not Corral.
  const execHome = join(dir, 'sim-home');
  mkdirSync(execHome);
  const fleet = await SimFleet.start({
    url,
    caPem,
    identitiesFile,
    count: N,
    workers: cfg.workers,
    fdLimit: cfg.fdLimit,
    execMode: cfg.modes[0],
    ...(cfg.execShell ? { execShell: cfg.execShell } : {}),
    execHome,
    // With --profile the simulator's own profile is written when it stops (is it the bottleneck?).
    nodeFlags: cfg.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'results', 'profiles', `exec-${profStamp}-simulator`)}`]
      : [],
    log,
  });
  const pids = () => [gw.pid, ...fleet.pids];
  const simCpu = () => fleet.pids.reduce((a, p) => a + (cpuSeconds(p) || 0), 0);
  const tc = Date.now();
  fleet.connect({ concurrency: cfg.connectConcurrency });
  await fleet.waitFor((s) => s.ready >= N, 300_000, `all ${N} agents to be welcomed`);
  // The gateway's own view: every server online in its table (what the exec service selects from).
  const dbFile = join(dataDir, 'corral.db');
  const db = new Sqlite(dbFile, { readonly: true, fileMustExist: true });
  onCleanup('close bench SQLite reader', () => db.close());
  const deadline = Date.now() + 60_000;
  for (;;) {
    const n = db.prepare("SELECT count(*) AS n FROM servers WHERE status = 'online' AND name LIKE 'sim-%'").get().n;
    if (n >= N) break;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${N} servers online in the gateway's table after 60 s`);
    await sleep(100);
  }
  result.connectSeconds = round((Date.now() - tc) / 1000, 1);
  log(`${N} agents connected in ${result.connectSeconds} s (simulator pid ${fleet.pids.join(', ')})`);
  await sleep(cfg.settleSeconds * 1000);

  // --- runs -------------------------------------------------------------------------------------------
  const jobs = []; // every job this bench started, checked in the database at the end
  const setMode = async (mode) => {
    fleet.setExecMode(mode);
    await fleet.refresh(); // IPC is ordered: once the report is back, the mode is set
  };
  /** One measured run; `how` is 'cli' or 'api'. */
  const measure = async ({ how, mode, parallel, label, cliFlags }) => {
    await setMode(mode);
    await fleet.refresh();
    const starts0 = fleet.snapshot().totals.execStarts ?? 0;
    const meter = contentionMeter(pids);
    const rssBefore = memOf(gw.pid)?.rss ?? NaN;
    const peakReset = resetPeak(gw.pid);
    const g0 = cpuSeconds(gw.pid);
    const m0 = cpuSeconds(gw.pid, gw.pid);
    const s0 = simCpu();
    const load = loadavg().map((x) => round(x, 2));
    const r =
      how === 'cli'
        ? await cliRun({ env: cliEnv, parallel, nodeFlags: cliFlags })
        : await apiRun({ url, caPem, token, parallel }).catch((err) => ({ error: err.message }));
    const mem = memOf(gw.pid);
    const out = {
      how,
      mode,
      parallel: parallel ?? null,
      label,
      wallSeconds: round((r.wallMs ?? NaN) / 1000, 3),
      gatewayCpuSeconds: round(cpuSeconds(gw.pid) - g0, 2),
      gatewayMainThreadCpuSeconds: round(cpuSeconds(gw.pid, gw.pid) - m0, 2),
      simulatorCpuSeconds: round(simCpu() - s0, 2),
      rssBeforeMB: round(rssBefore / MB, 1),
      rssPeakMB: peakReset && mem ? round(mem.hwm / MB, 1) : null,
      rssAfterMB: mem ? round(mem.rss / MB, 1) : null,
      loadAverageAtStart: load,
      ...meter(),
    };
    if (r.error) {
      problem(`${label}`, r.error);
      return out;
    }
    if (how === 'cli') {
      Object.assign(out, { exitCode: r.code, jobId: r.jobId, summaryLine: r.summaryLine });
      if (r.code !== 0) problem(label, `corral exec exited ${r.signal ?? r.code}:\n${r.stderrTail}`);
    } else {
      Object.assign(out, {
        jobId: r.jobId,
        jobLineSeconds: round(r.jobMs / 1000, 3),
        doneSeconds: round(r.doneMs / 1000, 3),
        exitEvents: r.exits,
      });
      if (r.errorLine) problem(label, `the stream ended with ${JSON.stringify(r.errorLine)}`);
      if (r.exitsOk !== N) problem(label, `${r.exitsOk} of ${N} exit events were ok with exit code 0`);
    }
    if (out.jobId) {
      jobs.push(out.jobId);
      const j = await api.call('GET', `/api/v1/exec/${out.jobId}`, undefined, token, 60_000);
      if (j.status !== 200) problem(label, `GET /api/v1/exec/${out.jobId}: HTTP ${j.status}`);
      else {
        const s = j.body.summary;
        out.gatewayDurationSeconds = s ? round(s.durationMs / 1000, 3) : null;
        out.summary = s;
        const okResults = j.body.results.filter((x) => x.status === 'ok' && x.exitCode === 0).length;
        if (!s || s.ok !== N || s.servers !== N) problem(label, `summary ${JSON.stringify(s)}: not ${N} ok`);
        if (j.body.results.length !== N || okResults !== N)
          problem(label, `${okResults} of ${j.body.results.length} stored results ok (want ${N})`);
      }
    } else problem(label, 'no job id');
    await fleet.refresh();
    const starts = (fleet.snapshot().totals.execStarts ?? 0) - starts0;
    out.simulatorExecStarts = starts;
    if (starts !== N) problem(label, `the simulated agents saw ${starts} exec.start frames (want ${N})`);
    log(
      `${label}: ${out.wallSeconds} s wall (gateway ${out.gatewayDurationSeconds ?? '-'} s; CPU gateway ${out.gatewayCpuSeconds} s, simulator ${out.simulatorCpuSeconds} s; RSS ${out.rssBeforeMB} -> peak ${out.rssPeakMB ?? '-'} -> ${out.rssAfterMB} MB; others ${out.otherCpuPercent}% CPU, load ${out.loadAverage.join(' ')})`,
    );
    return out;
  };

  /** The same N commands spawned by the simulator alone, `parallel` at a time: this machine's floor. */
  const floor = async (parallel, label) => {
    const meter = contentionMeter(pids);
    const load = loadavg().map((x) => round(x, 2));
    const f = await fleet.spawnFloor({ count: N, concurrency: parallel ?? 100 });
    const out = {
      how: 'floor',
      mode: 'spawn',
      parallel: parallel ?? null,
      label,
      wallSeconds: round(f.wallMs / 1000, 3),
      simulatorCpuSeconds: round(f.cpuMs / 1000, 2),
      failed: f.failed,
      loadAverageAtStart: load,
      ...meter(),
    };
    if (f.failed > 0) problem(label, `${f.failed} of ${N} commands failed`);
    log(
      `${label}: ${out.wallSeconds} s wall, simulator CPU ${out.simulatorCpuSeconds} s; others ${out.otherCpuPercent}% CPU`,
    );
    return out;
  };

  const memRested = async (what) => {
    const m = await gatewayMemory(gw);
    log(`gateway ${what}: RSS ${round(m.rss / MB, 1)} MB after a forced GC (heap ${round(m.heapUsed / MB, 1)} MB)`);
    return { rssMB: round(m.rss / MB, 1), heapUsedMB: round(m.heapUsed / MB, 1) };
  };
  result.memory = { beforeRuns: await memRested('with all agents, before any exec') };

  // The first run creates the work session (auto-approved for the admin) and warms up the JIT: it is
  // reported on its own, not in the medians.
  if (cfg.waitIdle > 0) await waitIdle(log, cfg.waitIdle, pids);
  const profileDir = join(ROOT, 'bench', 'results', 'profiles');
  /** With --profile, run `fn` under the gateway's CPU profiler and keep a summary in result.profiles. */
  const profiled = async (name, fn) => {
    if (!cfg.profile) return fn();
    const [value, profile] = await gw.insp.profile(fn);
    mkdirSync(profileDir, { recursive: true });
    const file = join(profileDir, `exec-${profStamp}-${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    (result.profiles ??= {})[name] = { file: file.slice(ROOT.length + 1), ...summarizeProfile(profile, 30) };
    const top = result.profiles[name].byArea.slice(0, 8).map((a) => `${a.key} ${a.percent}%`);
    log(`profile ${name}: ${top.join(', ')}`);
    return value;
  };
  result.firstRun = await profiled('first-run', () =>
    measure({ how: 'cli', mode: cfg.modes[0], parallel: cfg.parallel[0], label: 'first run' }),
  );
  result.runs = [];
  for (let k = 1; k <= cfg.runs; k++) {
    for (const mode of cfg.modes) {
      for (const parallel of cfg.parallel) {
        if (cfg.waitIdle > 0) await waitIdle(log, cfg.waitIdle, pids);
        result.runs.push(await measure({ how: 'cli', mode, parallel, label: `run ${k} cli ${mode} p${parallel}` }));
        if (cfg.api)
          result.runs.push(await measure({ how: 'api', mode, parallel, label: `run ${k} api ${mode} p${parallel}` }));
        if (mode === 'spawn' && cfg.floor) result.runs.push(await floor(parallel, `run ${k} floor p${parallel}`));
      }
    }
  }

  // --- profile (one more CLI run per mode under the gateway's CPU profiler) ----------------------------
  if (cfg.profile) {
    for (const mode of cfg.modes) {
      // The CLI is profiled too (node --cpu-prof, written when it exits).
      const cliDir = join(profileDir, `exec-${profStamp}-cli-${mode}`);
      const r = await profiled(mode, () =>
        measure({
          how: 'cli',
          mode,
          parallel: cfg.parallel[0],
          label: `profiled ${mode}`,
          cliFlags: ['--cpu-prof', `--cpu-prof-dir=${cliDir}`],
        }),
      );
      result.profiles[mode].run = r;
      result.profiles[mode].cliProfileDir = cliDir.slice(ROOT.length + 1);
    }
  }
  result.memory.afterRuns = await memRested('after the runs');

  // --- what the gateway kept ---------------------------------------------------------------------------
  result.stored = jobs.map((id) => {
    const results = db.prepare("SELECT count(*) AS n FROM exec_results WHERE job_id = ? AND status = 'ok'").get(id).n;
    const audits = db
      .prepare(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'exec.run' AND json_extract(details, '$.jobId') = ?",
      )
      .get(id).n;
    if (results !== N) problem('stored', `job ${id}: ${results} exec_results rows with status ok (want ${N})`);
    if (audits !== N) problem('stored', `job ${id}: ${audits} exec.run audit events (want ${N})`);
    return { jobId: id, okResults: results, auditEvents: audits };
  });
  result.workSessions = db.prepare('SELECT count(*) AS n FROM work_sessions').get().n;
  log(
    `stored: ${jobs.length} jobs, each with ${N} ok rows and ${N} audit events: ${result.stored.every((s) => s.okResults === N && s.auditEvents === N)}; ${result.workSessions} work session(s) in all`,
  );
  await fleet.refresh();
  result.simulatorTotals = fleet.snapshot().totals;
  await fleet.stop();
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Reporting

/** Median figures per (how, mode, parallel) over the measured runs. */
export function groups(doc) {
  const out = new Map();
  for (const r of doc.runs ?? []) {
    const key = `${r.how} ${r.mode} ${r.parallel}`;
    if (!out.has(key)) out.set(key, { how: r.how, mode: r.mode, parallel: r.parallel, runs: [] });
    out.get(key).runs.push(r);
  }
  return [...out.values()].map((g) => {
    const med = (k) => {
      const v = g.runs.map((r) => r[k]).filter((x) => typeof x === 'number' && Number.isFinite(x));
      return v.length ? round(median(v), 2) : null;
    };
    return {
      ...g,
      wall: med('wallSeconds'),
      wallAll: g.runs.map((r) => round(r.wallSeconds, 2)),
      gateway: med('gatewayDurationSeconds'),
      gatewayCpu: med('gatewayCpuSeconds'),
      simulatorCpu: med('simulatorCpuSeconds'),
      rssBefore: med('rssBeforeMB'),
      rssPeak: med('rssPeakMB'),
      rssAfter: med('rssAfterMB'),
      otherCpu: med('otherCpuPercent'),
    };
  });
}

const HEADER = [
  'agents',
  'agents answer by',
  'through',
  'parallel',
  'wall p50 (s)',
  'wall, each run (s)',
  'gateway durationMs p50 (s)',
  'CPU gateway / simulator p50 (s)',
  'gateway RSS before / peak / after (MB)',
];

function rowsOf(doc) {
  return groups(doc).map((g) => [
    String(doc.config.agents),
    g.mode === 'spawn' ? '`$SHELL -c true`' : 'answer, no process',
    g.how === 'cli' ? '`corral exec`' : g.how === 'api' ? 'POST /api/v1/exec' : 'nothing: the simulator alone',
    String(g.parallel ?? 'default'),
    String(g.wall ?? '-'),
    g.wallAll.join(', '),
    String(g.gateway ?? '-'),
    `${g.gatewayCpu ?? '-'} / ${g.simulatorCpu ?? '-'}`,
    `${g.rssBefore ?? '-'} / ${g.rssPeak ?? '-'} / ${g.rssAfter ?? '-'}`,
  ]);
}

function table(rows, md) {
  const widths = HEADER.map((_, i) => Math.max(3, ...[HEADER, ...rows].map((r) => r[i].length)));
  const numeric = (i) => i === 0 || (i >= 3 && i !== 5);
  const line = (r) => {
    const cells = r.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])));
    return md ? `| ${cells.join(' | ')} |` : cells.join('  ');
  };
  const rule = md
    ? `| ${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`
    : widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEADER), rule, ...rows.map(line)].join('\n');
}

export function textTable(doc) {
  return table(rowsOf(doc), false);
}

export function docsMarkdown(doc, file) {
  const f = doc.machine;
  const first = doc.firstRun;
  const lines = [
    `Run ${doc.startedAt.replace(/\.\d+Z$/, 'Z')} (${doc.durationSeconds} s), commit ${f.git.commit}${f.git.dirty ? ' with local changes' : ''}:`,
    `${f.nproc} CPUs (${f.cpu}), ${f.memoryGiB} GiB, ${f.kernel}, Node ${f.node}; gateway, simulator (one process) and CLI on the same machine.`,
    `Raw figures: \`${file.slice(ROOT.length + 1)}\`. Median of ${doc.config.runs} runs each; aim: under ${AIM_WALL_S} s for 1,000 servers.`,
    '',
    table(rowsOf(doc), true),
    '',
    first
      ? `First run (creates the auto-approved work session, cold JIT): ${first.wallSeconds} s through the CLI, gateway ${first.gatewayDurationSeconds ?? '-'} s.`
      : '',
    `Gateway RSS with ${doc.config.agents} agents connected, after a forced GC: ${doc.memory?.beforeRuns?.rssMB ?? '-'} MB before the first run, ${doc.memory?.afterRuns?.rssMB ?? '-'} MB after the last.`,
    `Every run was checked: CLI exit 0, ${doc.config.agents} ok in the summary and in GET /api/v1/exec/:id, one exec.start per agent; in the database, ${doc.config.agents} exec_results rows and ${doc.config.agents} \`exec.run\` audit events per job (${doc.stored?.length ?? 0} jobs).`,
    `Load average at start ${f.loadAverageAtStart.join(' ')}, at end ${f.loadAverageAtEnd.join(' ')}; CPU used by other processes during the runs: median ${round(median(doc.runs.map((r) => r.otherCpuPercent)), 1)}% of a core.`,
  ];
  if (doc.errors.length > 0) {
    lines.push(
      '',
      `Problems in this run (${doc.errors.length}):`,
      '',
      ...doc.errors.map((e) => `- ${e.phase}: ${e.message.split('\n')[0]}`),
    );
  }
  return lines.join('\n');
}

export function docsSkipReason(doc) {
  if ((doc.config?.agents ?? 0) < 1000)
    return `a run with ${doc.config?.agents} agents (the documented run uses 1,000)`;
  if ((doc.config?.runs ?? 0) < 3) return 'fewer than 3 runs';
  return null;
}

// ---------------------------------------------------------------------------------------------------
// Stand-alone: node bench/suites/exec.mjs [options]

const USAGE = `usage: npm run bench -- exec [options]      (node bench/suites/exec.mjs [options] once built)

  --agents N             simulated agents (default ${DEFAULTS.agents})
  --parallel N[,N...]    --parallel for corral exec; several values are each measured (default ${DEFAULTS.parallel.join(',')},
                         the gateway's default)
  --runs N               measured runs per setting (default ${DEFAULTS.runs}); the first run, before them,
                         is reported on its own
  --modes LIST           how the agents answer: spawn (run \`$SHELL -c true\`, as the real agent) and/or
                         answer (exit 0 without a process) (default ${DEFAULTS.modes.join(',')})
  --exec-shell PATH      the shell agents run commands with (default: the login shell of the user the
                         bench runs as; HOME is an empty directory either way)
  --no-api               only the CLI (default: each CLI run is followed by one straight to the API)
  --no-floor             skip the floor: the simulator spawning the same N commands alone, no gateway
  --workers N            simulator processes (default ${DEFAULTS.workers})
  --profile              the first run and one more CLI run per mode under the gateway's CPU profiler
                         (bench/results/profiles/exec-*.cpuprofile, summary in the JSON); the CLI of
                         those runs and the simulator (whole run) under node --cpu-prof
  --wait-idle MIN        before each run wait up to MIN minutes for other processes to use under 10% of a core
  --gateway-env K=V      extra environment for the gateway (repeatable)
  --no-docs              do not rewrite the generated table in docs/BENCHMARKS.md
  -h, --help             this text

Results: bench/results/exec-<timestamp>.json and exec-latest.json; the table on stdout; after a run with
1,000 agents or more and 3 runs or more, the exec-results section of docs/BENCHMARKS.md.`;

async function main() {
  const { values: o } = parseArgs({
    options: {
      agents: { type: 'string' },
      parallel: { type: 'string' },
      runs: { type: 'string' },
      modes: { type: 'string' },
      'no-api': { type: 'boolean' },
      'no-floor': { type: 'boolean' },
      'exec-shell': { type: 'string' },
      workers: { type: 'string' },
      profile: { type: 'boolean' },
      'wait-idle': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
      'no-docs': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const int = (name, s = o[name]) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`exec: --${name} wants a positive integer`);
      process.exit(2);
    }
    return n;
  };
  const modes = o.modes?.split(',').map((s) => s.trim());
  if (modes?.some((m) => m !== 'spawn' && m !== 'answer')) {
    console.error('exec: --modes takes spawn and/or answer');
    return 2;
  }
  const opts = {
    agents: int('agents'),
    parallel: o.parallel?.split(',').map((s) => int('parallel', s.trim())),
    runs: int('runs'),
    modes,
    api: o['no-api'] ? false : undefined,
    floor: o['no-floor'] ? false : undefined,
    execShell: o['exec-shell'],
    workers: int('workers'),
    profile: o.profile,
    waitIdle: int('wait-idle'),
    gatewayEnv: o['gateway-env'],
  };
  const t0 = Date.now();
  const log = (msg) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  installSignalHandlers();
  const watchdog = setTimeout(() => {
    log('exec bench: still running after 30 minutes; stopping everything');
    runCleanups().finally(() => process.exit(1));
  }, 30 * 60_000);
  watchdog.unref();
  let failed = false;
  try {
    const facts = machineFacts(ROOT);
    log(`machine: ${facts.nproc} CPUs, load average ${facts.loadAverageAtStart.join(' ')}, commit ${facts.git.commit}`);
    const startedAt = new Date();
    const res = await run({ opts, log });
    const finishedAt = new Date();
    const doc = {
      suite: 'exec',
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: Math.round((finishedAt - startedAt) / 100) / 10,
      machine: { ...facts, loadAverageAtEnd: loadavg().map((x) => round(x, 2)) },
      ...res,
    };
    const file = join(ROOT, 'bench', 'results', `exec-${stamp}.json`);
    writeJson(file, doc);
    writeJson(join(ROOT, 'bench', 'results', 'exec-latest.json'), doc);
    console.log(`\nexec on ${doc.config.agents} simulated agents (${facts.nproc} CPUs, node ${facts.node})\n`);
    console.log(textTable(doc));
    if (doc.firstRun) console.log(`\nfirst run: ${doc.firstRun.wallSeconds} s (CLI)`);
    if (doc.errors.length > 0) {
      failed = true;
      console.log(`\nproblems (${doc.errors.length}):`);
      for (const e of doc.errors) console.log(`  - ${e.phase}: ${e.message}`);
    }
    console.log(`\nresults: ${file.slice(ROOT.length + 1)} (and exec-latest.json)`);
    const skip = o['no-docs'] ? '--no-docs' : docsSkipReason(doc);
    if (skip) console.log(`docs/BENCHMARKS.md not updated: ${skip}`);
    else {
      const ok = replaceGenerated(join(ROOT, 'docs', 'BENCHMARKS.md'), 'exec-results', docsMarkdown(doc, file));
      console.log(ok ? 'docs/BENCHMARKS.md: table updated' : 'docs/BENCHMARKS.md has no exec-results markers');
    }
  } catch (err) {
    failed = true;
    console.error(`\nexec bench: ${err.stack ?? err}`);
  } finally {
    log('stopping everything');
    await runCleanups();
    clearTimeout(watchdog);
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => process.exit(code));
}
