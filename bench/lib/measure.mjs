// The measurements themselves, written once for any client command line ([file, args]):
// keystroke echo round trip and output throughput inside a local pty (as a terminal sees it),
// throughput through a pipe, and the wall time of a whole session.
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { round, sleep, summarize } from './util.mjs';

const require = createRequire(import.meta.url);
const pty = require('node-pty');

const NS_PER_MS = 1e6;
const now = () => process.hrtime.bigint();
const ms = (a, b) => Number(b - a) / NS_PER_MS;

/** Printed by the remote command once its pty is in raw mode (so the bench knows `cat` is next). */
export const READY_MARKER = 'BENCH_READY';
/** The remote side of the echo test: raw, no echo, then `cat` (one command string, as ssh takes it). */
export const ECHO_REMOTE = `stty raw -echo; printf ${READY_MARKER}; exec cat`;

/**
 * Spawn [file, args] in a fresh local pty, with the local line discipline in raw mode before the
 * client starts (a shell execs into the client after `stty raw -echo`), bytes in and out (no
 * encoding). Returns the node-pty terminal; `term.exited` resolves with {code, signal} once the
 * client has exited and its output is drained (node-pty waits for EIO on the master before 'exit').
 */
export function spawnInPty([file, args], { env = process.env, cols = 120, rows = 40 } = {}) {
  const term = pty.spawn('/bin/sh', ['-c', 'stty raw -echo && exec "$@"', 'sh', file, ...args], {
    name: 'xterm-256color',
    cols,
    rows,
    cwd: process.cwd(),
    env: { ...env, TERM: 'xterm-256color' },
    encoding: null,
  });
  // Hold the slave side open while the client runs. Otherwise the client's exit races the bench's
  // read of the last output: the master's non-blocking read may return EOF with up to ~12 KB still
  // unread (seen on this kernel in about 1 run in 6; a blocking read does not lose it). With the slave
  // held, the master never sees the hang-up; node-pty drains it and closes 200 ms after the exit.
  let slave = -1;
  try {
    slave = openSync(term.ptsName, constants.O_RDWR | constants.O_NOCTTY);
  } catch {
    /* the client may already be gone; then there is nothing to protect */
  }
  term.exited = new Promise((resolve) =>
    term.onExit(({ exitCode, signal }) => {
      if (slave >= 0) closeSync(slave);
      slave = -1;
      resolve({ code: exitCode, signal });
    }),
  );
  return term;
}

/** Stop a pty client: SIGTERM, then SIGKILL after `graceMs`. Resolves when it has exited. */
export async function killPty(term, graceMs = 5000) {
  const done = await Promise.race([term.exited.then(() => true), sleep(0).then(() => false)]);
  if (done) return;
  try {
    term.kill('SIGTERM');
  } catch {
    /* gone */
  }
  const ok = await Promise.race([term.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!ok) {
    try {
      term.kill('SIGKILL');
    } catch {
      /* gone */
    }
    await Promise.race([term.exited, sleep(3000)]);
  }
}

/** Write `buf` to an fd synchronously (no thread-pool hop), retrying on EAGAIN. */
function writeAll(fd, buf) {
  let off = 0;
  for (let tries = 0; off < buf.length; tries++) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if (err.code !== 'EAGAIN' || tries > 1000) throw err;
    }
  }
}

/**
 * Keystroke echo round trip. The client runs ECHO_REMOTE on the remote pty; after READY_MARKER the
 * bench writes one byte to the local pty master every `gapMs` (the next key goes `gapMs` after the
 * previous one was sent, and never before its echo came back) and times write -> byte read back.
 * The first `warmup` keys are not counted. Bounded: gives up after `lossLimit` echoes lost (2 s each).
 */
export async function echoRoundTrip(
  cmd,
  { env, keys = 2000, warmup = 200, gapMs = 10, lossLimit = 10, readyMs = 30_000, onReady, wallClock },
) {
  const term = spawnInPty(cmd, { env });
  let seen = '';
  let ready = false;
  let resolveReady;
  const readyP = new Promise((r) => (resolveReady = r));
  let pending = null;
  let stray = 0;
  term.onData((data) => {
    const t1 = now();
    if (!ready) {
      seen = (seen + data.toString('latin1')).slice(-4096);
      const i = seen.indexOf(READY_MARKER);
      if (i >= 0) {
        ready = true;
        stray += seen.length - i - READY_MARKER.length;
        resolveReady();
      }
      return;
    }
    for (const b of data) {
      if (pending && b === pending.byte) {
        const p = pending;
        pending = null;
        p.resolve(t1);
      } else {
        stray++;
      }
    }
  });
  try {
    const r = await Promise.race([
      readyP.then(() => 'ready'),
      term.exited.then((e) => `exited (${e.signal || e.code})`),
      sleep(readyMs).then(() => `no ${READY_MARKER} within ${readyMs} ms`),
    ]);
    if (r !== 'ready') throw new Error(`echo: client ${r}; output: ${JSON.stringify(seen.slice(-500))}`);
    onReady?.(term);

    const rtts = [];
    const gaps = [];
    let lost = 0;
    let lastSend;
    for (let i = 0; i < warmup + keys; i++) {
      const byte = 0x61 + (i % 26);
      const echoed = new Promise((resolve) => (pending = { byte, resolve }));
      const t0 = now();
      if (lastSend !== undefined) gaps.push(ms(lastSend, t0));
      lastSend = t0;
      writeAll(term.fd, Buffer.of(byte));
      const t1 = await Promise.race([echoed, sleep(2000).then(() => null)]);
      if (t1 === null) {
        pending = null;
        lost++;
        if (lost >= lossLimit) throw new Error(`echo: ${lost} keystrokes got no echo within 2 s; giving up`);
        continue;
      }
      if (i >= warmup) {
        rtts.push(ms(t0, t1));
        // Wall-clock stamps (ms) for lining up with packet captures, for the same two instants.
        if (wallClock) {
          const w1 = performance.timeOrigin + performance.now() - ms(t1, now());
          wallClock.push([w1 - ms(t0, t1), w1]);
        }
      }
      const wait = gapMs - ms(t0, now());
      if (wait > 0) await sleep(wait);
    }
    const s = summarize(rtts);
    return {
      n: s.n,
      p50: round(s.p50),
      p90: round(s.p90),
      p99: round(s.p99),
      mean: round(s.mean),
      min: round(s.min),
      max: round(s.max),
      sd: round(s.sd),
      lost,
      stray,
      gapMeanMs: round(summarize(gaps).mean),
    };
  } finally {
    await killPty(term);
  }
}

/**
 * Output throughput inside a local pty: the client's command prints `expectBytes` bytes; the bench
 * counts what it reads from the pty master. MB/s = bytes / (last byte - first byte); the wall time
 * from spawn to the last byte (including session open) is reported beside it.
 */
export async function ptyThroughput(cmd, { env, expectBytes, timeoutMs = 180_000, stallMs = 10_000, onSpawn }) {
  const t0 = now();
  const term = spawnInPty(cmd, { env });
  onSpawn?.(term.pid);
  let bytes = 0;
  let first;
  let last;
  term.onData((d) => {
    const t = now();
    first ??= t;
    last = t;
    bytes += d.length;
  });
  const watch = watchdog(() => last ?? t0, timeoutMs, stallMs);
  const r = await Promise.race([term.exited, watch.fired]);
  watch.stop();
  const stopped = r?.stopped;
  if (stopped) await killPty(term);
  return throughputResult({ t0, first, last, bytes, expectBytes, exit: stopped ? null : r, stopped });
}

/**
 * Resolves `fired` with {stopped: 'timeout' | 'stall'} when `timeoutMs` pass in all, or when no byte
 * arrived for `stallMs` (`lastActivity()` returns the hrtime of the last byte, or of the start).
 */
function watchdog(lastActivity, timeoutMs, stallMs) {
  const start = now();
  let timer;
  const fired = new Promise((resolve) => {
    timer = setInterval(() => {
      const t = now();
      if (ms(start, t) > timeoutMs) resolve({ stopped: `timeout after ${timeoutMs} ms` });
      else if (ms(lastActivity(), t) > stallMs) resolve({ stopped: `stalled: no byte for ${stallMs} ms` });
    }, 250);
  });
  return { fired, stop: () => clearInterval(timer) };
}

/** Throughput without a pty: the client's stdout is a pipe to the bench, which counts the bytes. */
export function pipeThroughput([file, args], { env, expectBytes, timeoutMs = 180_000, stallMs = 10_000, onSpawn }) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    onSpawn?.(child.pid);
    let bytes = 0;
    let first;
    let last;
    let stderr = '';
    child.stdout.on('data', (d) => {
      const t = now();
      first ??= t;
      last = t;
      bytes += d.length;
    });
    child.stderr.setEncoding('utf8').on('data', (s) => (stderr = (stderr + s).slice(-4000)));
    let stopped;
    const watch = watchdog(() => last ?? t0, timeoutMs, stallMs);
    watch.fired.then((r) => {
      stopped = r.stopped;
      child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      watch.stop();
      const res = throughputResult({ t0, first, last, bytes, expectBytes, exit: { code, signal }, stopped });
      if (stderr.trim()) res.stderr = stderr.trim();
      resolve(res);
    });
  });
}

function throughputResult({ t0, first, last, bytes, expectBytes, exit, stopped }) {
  const seconds = first !== undefined && last > first ? ms(first, last) / 1000 : NaN;
  return {
    bytes,
    expectBytes,
    complete: bytes === expectBytes,
    seconds: round(seconds, 4),
    MBps: round(bytes / seconds / 1e6, 1),
    MiBps: round(bytes / seconds / 2 ** 20, 1),
    firstByteMs: first !== undefined ? round(ms(t0, first), 1) : null,
    // From spawning the client to the last byte read (session open included).
    wallSeconds: last !== undefined ? round(ms(t0, last) / 1000, 4) : null,
    exit: exit ?? null,
    // Why the bench stopped the client itself (a stall or the overall timeout), if it did.
    stopped: stopped ?? null,
  };
}

/** Wall time of one whole session: spawn the client, wait for it to exit. */
export function sessionWall([file, args], { env, timeoutMs = 30_000 }) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (out = (out + s).slice(-2000)));
    child.stderr.setEncoding('utf8').on('data', (s) => (out = (out + s).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const t1 = now();
      clearTimeout(timer);
      resolve({ ms: ms(t0, t1), code, signal, out });
    });
  });
}

/**
 * Hold a client's output back: start `cmd` (an endless producer such as `yes`) in a pty or with a
 * piped stdout, do not read for `pauseMs`, then read for `readMs`, then stop it. Used to check that
 * backpressure bounds the memory of everything in between.
 */
export async function slowReader(cmd, { env, tty, pauseMs = 5000, readMs = 3000 }) {
  let bytes = 0;
  if (tty) {
    const term = spawnInPty(cmd, { env });
    term.onData((d) => (bytes += d.length));
    term.pause();
    await sleep(pauseMs);
    const before = bytes;
    term.resume();
    await sleep(readMs);
    const during = bytes - before;
    await killPty(term);
    return {
      bytesBeforeResume: before,
      bytesWhileReading: during,
      MBpsWhileReading: round(during / (readMs / 1000) / 1e6, 1),
    };
  }
  const [file, args] = cmd;
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'], env });
  child.stdout.on('data', (d) => (bytes += d.length));
  child.stdout.pause();
  await sleep(pauseMs);
  const before = bytes;
  child.stdout.resume();
  await sleep(readMs);
  const during = bytes - before;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const ok = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!ok) child.kill('SIGKILL');
  return {
    bytesBeforeResume: before,
    bytesWhileReading: during,
    MBpsWhileReading: round(during / (readMs / 1000) / 1e6, 1),
  };
}
