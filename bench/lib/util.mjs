// Shared helpers for the benchmark suites: cleanup on every exit path, child processes, free ports,
// statistics and memory sampling. Plain ESM, no build step.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

// ---------------------------------------------------------------------------------------------------
// Cleanup: everything the bench starts registers a stop function here; they run in reverse order on
// normal exit, on an error and on SIGINT/SIGTERM/SIGHUP.

const cleanups = [];
let cleaningUp;

/** Register `fn` (sync or async) to run at the end; returns a function that unregisters it. */
export function onCleanup(label, fn) {
  const entry = { label, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Run every registered cleanup once (latest first). Safe to call more than once. */
export function runCleanups() {
  cleaningUp ??= (async () => {
    while (cleanups.length > 0) {
      const { label, fn } = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`bench: cleanup "${label}" failed: ${err?.message ?? err}\n`);
      }
    }
  })();
  return cleaningUp;
}

/** Install signal handlers that clean up and exit (130 for SIGINT, as a shell would). */
export function installSignalHandlers() {
  let signalled = false;
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ]) {
    process.on(sig, () => {
      if (signalled) {
        process.stderr.write(`\nbench: ${sig} again; exiting without waiting for cleanup\n`);
        process.exit(code);
      }
      signalled = true;
      process.stderr.write(`\nbench: ${sig}, stopping everything...\n`);
      runCleanups().finally(() => process.exit(code));
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Processes

/** Is the process alive (and not a zombie)? */
export function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** SIGTERM `child`, wait up to `graceMs`, then SIGKILL. Resolves once it has exited. */
export async function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    child.kill('SIGTERM');
  } catch {
    /* already gone */
  }
  const timer = setTimeout(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await Promise.race([exited, sleep(graceMs + 2000)]);
  clearTimeout(timer);
}

/**
 * Start a long-running child (a server) in its own process group so that a Ctrl-C in the terminal
 * reaches only the bench, which then stops the children in order. Output is kept (last 64 KiB of each
 * stream) for error reports; `waitFor(regex, ms)` resolves with the match once it shows up on stdout
 * or stderr.
 */
export function startServer(label, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  const out = { stdout: '', stderr: '' };
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = w.re.exec(out.stdout) ?? w.re.exec(out.stderr);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  for (const name of ['stdout', 'stderr']) {
    child[name].setEncoding('utf8');
    child[name].on('data', (s) => {
      out[name] = (out[name] + s).slice(-65536);
      check();
    });
  }
  child.on('exit', (code, signal) => {
    for (const w of waiters.splice(0)) {
      w.reject(new Error(`${label} exited (${signal ?? code}) before printing ${w.re}\n${tail(out)}`));
    }
  });
  const unregister = onCleanup(`stop ${label}`, () => stopChild(child));
  return {
    child,
    pid: child.pid,
    out,
    label,
    waitFor(re, ms) {
      return new Promise((resolve, reject) => {
        const w = { re, resolve, reject };
        waiters.push(w);
        check();
        if (child.exitCode !== null || child.signalCode !== null) {
          reject(new Error(`${label} is not running (exit ${child.signalCode ?? child.exitCode})\n${tail(out)}`));
        }
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`${label} did not print ${re} within ${ms} ms\n${tail(out)}`));
          }
        }, ms).unref();
      });
    },
    async stop() {
      unregister();
      await stopChild(child);
    },
  };
}

/** The last lines of a server's output, for error messages. */
export function tail(out, lines = 20) {
  const pick = (s) => s.split('\n').slice(-lines).join('\n');
  return `--- stdout ---\n${pick(out.stdout)}\n--- stderr ---\n${pick(out.stderr)}`;
}

/**
 * Run a command to completion (bounded by `timeoutMs`), collecting its output.
 * Resolves with {code, signal, stdout, stderr, ms}; never rejects for a non-zero exit.
 */
export function run(cmd, args, { input, timeoutMs = 60_000, env, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    let done = false;
    const finish = (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    };
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      done = true;
      reject(err);
    });
    child.on('close', finish);
    // A grandchild may keep the pipes open after the child is gone: do not wait for it forever.
    child.on('exit', (code, signal) => setTimeout(() => finish(code, signal), 2000).unref());
  });
}

/** Like run(), but rejects with the command and its output unless it exits 0. */
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const shown = [cmd, ...args].map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ');
    throw new Error(`command failed (exit ${r.signal ?? r.code}): ${shown}\n${r.stdout}${r.stderr}`.trimEnd());
  }
  return r;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice; released before it is returned). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Poll `fn` until it returns a truthy value or `ms` pass. */
export async function until(fn, ms, everyMs = 250, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------------
// Statistics

/** Percentile by linear interpolation between closest ranks (numpy's default). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Summary of a sample of numbers. */
export function summarize(values) {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const mean = n ? s.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return {
    n,
    min: s[0],
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[n - 1],
    mean,
    sd,
  };
}

export function median(values) {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Round to `d` decimals for reports (keeps JSON readable). */
export function round(x, d = 3) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return x;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

// ---------------------------------------------------------------------------------------------------
// Memory

/** VmRSS and VmHWM of a process in bytes (null when it is gone). */
export function memOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Reset a process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, needs privilege). */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Sample the RSS of named processes every `everyMs` while a measurement runs. The kernel's own peak
 * (VmHWM, reset at start where allowed) catches spikes shorter than the sampling period.
 * Returns {stop(): {name: {peakRss, hwm, samples}}}.
 */
export function sampleMemory(pids, everyMs = 50) {
  const peaks = {};
  const resettable = {};
  for (const [name, pid] of Object.entries(pids)) {
    resettable[name] = resetPeak(pid);
    peaks[name] = { peakRss: 0, samples: 0 };
  }
  const tick = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const m = memOf(pid);
      if (!m) continue;
      peaks[name].peakRss = Math.max(peaks[name].peakRss, m.rss);
      peaks[name].samples++;
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      const result = {};
      for (const [name, pid] of Object.entries(pids)) {
        const m = memOf(pid);
        result[name] = {
          peakRssMB: round(peaks[name].peakRss / 1e6, 1),
          // VmHWM is the peak since the reset (or since the process started when reset failed).
          hwmMB: m ? round(m.hwm / 1e6, 1) : null,
          hwmSinceReset: resettable[name],
          samples: peaks[name].samples,
        };
      }
      return result;
    },
  };
}

/** Direct children of a pid (from /proc), with their command lines. */
export function childrenOf(pid) {
  try {
    const ids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return ids.map((id) => {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${id}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      } catch {
        /* gone */
      }
      return { pid: Number(id), cmd };
    });
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------------
// CPU time

const CLK_TCK = 100; // Linux USER_HZ on every mainstream architecture

/** [comm, utime+stime in seconds] of a process, or null when it is gone. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat
      .slice(close + 2)
      .split(' ')
      .map(Number);
    // f[0] is field 3 (state): utime is field 14, stime field 15.
    return [comm, (f[11] + f[12]) / CLK_TCK];
  } catch {
    return null;
  }
}

/** A process and all its descendants (children of every thread). */
export function descendants(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
          if (c) out.push(Number(c));
        }
      } catch {
        /* gone */
      }
    }
  }
  return out;
}

/**
 * CPU seconds used during a measurement by named groups of processes. `add(group, pid, {tree, fresh})`
 * watches a process (and with `tree` its descendants, found by polling every `everyMs`; with
 * `childrenOnly` the descendants but not the process itself); `fresh` means it started just now, so
 * all its CPU time counts. Processes living less than one polling
 * period may be missed, and a process's last ~`everyMs` before it exits too: figures are approximate.
 * stop() returns {group: {total, byCommand: {comm: seconds}}}.
 */
export function sampleCpu(everyMs = 100) {
  const roots = [];
  const seen = new Map();
  const tick = () => {
    for (const r of roots) {
      for (const pid of r.tree ? descendants(r.pid) : [r.pid]) {
        if (r.childrenOnly && pid === r.pid) continue;
        const c = cpuOf(pid);
        if (!c) continue;
        const s = seen.get(pid);
        if (s) {
          s.last = c[1];
          s.comm = c[0]; // after an exec, the name of what it became
        } else {
          // A descendant first seen after the first poll was born during the measurement.
          const fresh = pid === r.pid ? r.fresh : r.fresh || r.started;
          seen.set(pid, { group: r.group, comm: c[0], first: fresh ? 0 : c[1], last: c[1] });
        }
      }
    }
  };
  const timer = setInterval(tick, everyMs);
  return {
    add(group, pid, { tree = false, fresh = false, childrenOnly = false } = {}) {
      const r = { group, pid, tree: tree || childrenOnly, fresh, childrenOnly, started: false };
      roots.push(r);
      tick();
      r.started = true;
    },
    stop() {
      tick();
      clearInterval(timer);
      const out = {};
      for (const s of seen.values()) {
        out[s.group] ??= { total: 0, byCommand: {} };
        const d = s.last - s.first;
        out[s.group].total = round(out[s.group].total + d, 2);
        out[s.group].byCommand[s.comm] = round((out[s.group].byCommand[s.comm] ?? 0) + d, 2);
      }
      return out;
    },
  };
}
