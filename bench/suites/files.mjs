// `npm run bench -- files`: `corral cp` up and down through the gateway beside scp and sftp (batch mode)
// against the bench's OpenSSH on loopback, in the same run, with the same file and the same OS user.
// See docs/BENCHMARKS.md ("File transfer") for what each figure means.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  createReadStream,
  linkSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_BIN } from '../lib/corral.mjs';
import { descendants, median, memOf, onCleanup, round, runOk, sampleCpu, sampleMemory } from '../lib/util.mjs';

export const TARGETS = {
  corral: 'corral cp',
  scp: 'scp',
  sftp: 'sftp -b',
};

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export const description = 'upload and download of one big file: corral cp vs scp and sftp -b (OpenSSH on loopback)';

/** Defaults; `--quick` shrinks them for a smoke run (and then docs are not updated). */
export function config(opts) {
  const quick = Boolean(opts.quick);
  return {
    bytes: (opts.mib ?? (quick ? 128 : 1024)) * MiB,
    runs: opts.runs ?? (quick ? 1 : 3),
    // The fixed cost of one copy (process start, log-in, channel or session set-up): a 1-byte file.
    smallRuns: quick ? 2 : 5,
    timeoutMs: 600_000,
  };
}

/**
 * Write `bytes` of pseudo-random data to `file` (AES-128-CTR over zeros with a fixed key: fast, the same
 * every run, and incompressible, unlike a sparse file of zeros). Returns its SHA-256.
 */
async function makeFile(file, bytes) {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(4 * MiB);
  const fd = openSync(file, 'w', 0o644);
  try {
    for (let left = bytes; left > 0;) {
      const n = Math.min(left, zeros.length);
      const block = cipher.update(zeros.subarray(0, n));
      hash.update(block);
      for (let off = 0; off < block.length;) off += writeSync(fd, block, off);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

async function sha256Of(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk);
  return hash.digest('hex');
}

/** Spawn [file, args]; resolve {code, signal, ms, stdout, stderr} at exit. `onSpawn(pid)` right after the spawn. */
function timed([file, args], { env, onSpawn, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (stdout = (stdout + s).slice(-20000)));
    child.stderr.setEncoding('utf8').on('data', (s) => (stderr = (stderr + s).slice(-20000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      // Let the pipes drain (the output is small).
      setImmediate(() => resolve({ code, signal, ms, stdout, stderr }));
    });
  });
}

/**
 * The peak RSS of processes that come and go during a measurement (the CLI, the file helper): every
 * `everyMs` the pids of each group are listed and their VmHWM read (a fresh process's VmHWM is its
 * whole life's peak, so the last sample before it exits catches spikes between samples too).
 */
function samplePeaks(groups, everyMs = 50) {
  const peaks = Object.fromEntries(Object.keys(groups).map((g) => [g, 0]));
  const tick = () => {
    for (const [g, pids] of Object.entries(groups)) {
      for (const pid of pids()) {
        const m = memOf(pid);
        if (m) peaks[g] = Math.max(peaks[g], m.hwm, m.rss);
      }
    }
  };
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return Object.fromEntries(Object.entries(peaks).map(([g, b]) => [g, b ? round(b / 1e6, 1) : null]));
    },
  };
}

/**
 * Run the suite. `ctx` = {opts, log, services: {user(), openssh(), corral()}}. Returns every figure;
 * failures are recorded per target rather than thrown.
 */
export async function run(ctx) {
  const { log, opts } = ctx;
  const cfg = config(opts);
  const result = {
    config: cfg,
    targets: {},
    upload: {},
    download: {},
    small: {},
    errors: [],
  };
  const user = await ctx.services.user();

  // --- files: one source, a remote directory the OS user owns, a local directory for downloads ------
  const base = mkdtempSync(join(opts.dir ?? tmpdir(), 'corral-bench-files-'));
  chmodSync(base, 0o755);
  onCleanup('remove file bench directory', () => rmSync(base, { recursive: true, force: true }));
  const local = join(base, 'local');
  const remote = join(base, 'remote');
  for (const d of [local, remote]) {
    await runOk('mkdir', ['-m', '0755', d]);
  }
  chownSync(remote, user.uid, user.gid);
  const src = join(local, 'source.bin');
  const t0 = Date.now();
  const sourceSha256 = await makeFile(src, cfg.bytes);
  // The download source is the same inode (a hard link, readable by the OS user): no second GiB.
  const remoteSrc = join(remote, 'source.bin');
  linkSync(src, remoteSrc);
  const tiny = join(local, 'tiny.bin');
  await writeFile(tiny, 'x', { mode: 0o644 });
  const remoteTiny = join(remote, 'tiny.bin');
  linkSync(tiny, remoteTiny);
  log(
    `files: ${cfg.bytes / MiB} MiB of AES-CTR output in ${Date.now() - t0} ms (sha256 ${sourceSha256.slice(0, 16)}…)`,
  );
  result.file = { bytes: cfg.bytes, sha256: sourceSha256, dir: base, filesystem: await fsType(base) };

  // --- targets ----------------------------------------------------------------------------------------
  const clients = {};
  let corral;
  if (ctx.targets.includes('scp') || ctx.targets.includes('sftp')) {
    const ssh = await ctx.services.openssh();
    result.openssh = { version: ssh.version, port: ssh.port };
    const servers = [{ group: 'server', pid: ssh.sshd.pid, childrenOnly: true }];
    const batch = async (name, line) => {
      const f = join(base, `${name}.sftp`);
      await writeFile(f, `${line}\n`);
      return f;
    };
    if (ctx.targets.includes('scp'))
      clients.scp = {
        env: process.env,
        servers,
        upload: async (from, to) => ssh.scp(from, `${ssh.dest}:${to}`),
        download: async (from, to) => ssh.scp(`${ssh.dest}:${from}`, to),
      };
    if (ctx.targets.includes('sftp'))
      clients.sftp = {
        env: process.env,
        servers,
        upload: async (from, to) => ssh.sftp(await batch('put', `put ${from} ${to}`)),
        download: async (from, to) => ssh.sftp(await batch('get', `get ${from} ${to}`)),
      };
  }
  if (ctx.targets.includes('corral')) {
    try {
      corral = await ctx.services.corral();
      const cliArgs = (a, b) => [process.execPath, [...corral.nodeFlags, CLI_BIN, 'cp', '-u', user.name, a, b]];
      clients.corral = {
        env: corral.env,
        servers: [
          { group: 'gateway', pid: corral.gateway.pid },
          { group: 'server', pid: corral.agent.pid },
          // setpriv, then the file helper (node) it execs into.
          { group: 'helper', pid: corral.agent.pid, childrenOnly: true },
        ],
        upload: async (from, to) => cliArgs(from, `${corral.serverName}:${to}`),
        download: async (from, to) => cliArgs(`${corral.serverName}:${from}`, to),
      };
      result.corral = { url: corral.url, serverName: corral.serverName };
    } catch (err) {
      result.errors.push({ target: 'corral', phase: 'setup', message: err.message });
      log(`corral setup FAILED: ${err.message}`);
    }
  }
  const ids = Object.keys(TARGETS).filter((id) => clients[id]);
  for (const id of ids) result.targets[id] = TARGETS[id];

  /** One copy, timed, with CPU and memory accounting; the result is checked (size and SHA-256). */
  const copy = async (id, direction, from, to, { bytes, sha256, check = true }) => {
    const c = clients[id];
    const cpu = sampleCpu(50);
    for (const s of c.servers) cpu.add(s.group, s.pid, { childrenOnly: s.childrenOnly });
    let clientPid;
    const mem = id === 'corral' ? sampleMemory({ gateway: corral.gateway.pid, agent: corral.agent.pid }) : null;
    const peaks =
      id === 'corral'
        ? samplePeaks({
            helper: () => descendants(corral.agent.pid).slice(1),
            client: () => (clientPid ? descendants(clientPid) : []),
          })
        : null;
    let r;
    let cpuUsed;
    let memory = null;
    try {
      r = await timed(await c[direction](from, to), {
        env: c.env,
        timeoutMs: cfg.timeoutMs,
        onSpawn: (pid) => {
          clientPid = pid;
          cpu.add('client', pid, { tree: true, fresh: true });
        },
      });
    } finally {
      cpuUsed = cpu.stop();
      if (mem) memory = { ...mem.stop(), ...peaks.stop() };
    }
    if (r.code !== 0 || r.signal) {
      throw new Error(`exit ${r.signal ?? r.code}: ${(r.stderr || r.stdout).trim().slice(-500)}`);
    }
    if (check) {
      const got = await sha256Of(to);
      if (got !== sha256) throw new Error(`${to}: SHA-256 ${got} is not the source's ${sha256}`);
    }
    return {
      ms: round(r.ms, 1),
      MBps: round(bytes / 1e6 / (r.ms / 1000), 1),
      cpuSeconds: cpuUsed,
      memory,
    };
  };
  const attempt = async (id, phase, fn) => {
    try {
      return await fn();
    } catch (err) {
      result.errors.push({ target: id, phase, message: err.message });
      log(`  ${TARGETS[id]}: ${phase} FAILED: ${err.message}`);
      return undefined;
    }
  };
  // Written pages go to the disk between runs, not during the next one; each copy starts from the same
  // state (source in the page cache, no dirty pages).
  const settle = async () => runOk('sync', []);

  // --- the fixed cost of one copy ----------------------------------------------------------------------
  log(`small: a 1-byte upload, ${cfg.smallRuns} runs per target (+1 warm-up)`);
  {
    const walls = Object.fromEntries(ids.map((id) => [id, []]));
    for (let i = 0; i <= cfg.smallRuns; i++) {
      for (const id of ids) {
        const to = join(remote, `tiny-${id}-${i}.bin`);
        const r = await attempt(id, 'small', () =>
          copy(id, 'upload', tiny, to, { bytes: 1, sha256: null, check: false }),
        );
        rmSync(to, { force: true });
        if (r && i > 0) walls[id].push(r.ms);
      }
    }
    for (const id of ids) {
      if (walls[id].length === 0) continue;
      result.small[id] = { p50ms: round(median(walls[id]), 1), runs: walls[id].map((x) => round(x, 1)) };
      log(`  ${TARGETS[id].padEnd(10)} ${round(median(walls[id]), 1)} ms`);
    }
  }

  // --- the big copies: up then down, runs interleaved across targets so drift hits all alike ----------
  log(`big: ${cfg.bytes / MiB} MiB up and down, ${cfg.runs} run(s) per target`);
  const runs = { upload: {}, download: {} };
  for (const d of Object.keys(runs)) for (const id of ids) runs[d][id] = [];
  for (let i = 0; i < cfg.runs; i++) {
    for (const id of ids) {
      for (const direction of ['upload', 'download']) {
        const [from, to] =
          direction === 'upload' ? [src, join(remote, `up-${id}.bin`)] : [remoteSrc, join(local, `down-${id}.bin`)];
        await settle();
        const r = await attempt(id, direction, () =>
          copy(id, direction, from, to, { bytes: cfg.bytes, sha256: sourceSha256 }),
        );
        rmSync(to, { force: true });
        if (!r) continue;
        runs[direction][id].push(r);
        const cpu = Object.entries(r.cpuSeconds)
          .map(([g, v]) => `${g} ${v.total}`)
          .join(', ');
        const mem = r.memory
          ? `; peak RSS ${Object.entries(r.memory)
              .map(([g, m]) => `${g} ${typeof m === 'object' && m !== null ? m.hwmMB : m}`)
              .join(', ')} MB`
          : '';
        log(
          `  ${TARGETS[id].padEnd(10)} ${direction.padEnd(8)} ${String(r.MBps).padStart(6)} MB/s  (${(r.ms / 1000).toFixed(2)} s; CPU s: ${cpu}${mem})`,
        );
      }
    }
  }
  await settle();
  for (const direction of Object.keys(runs)) {
    for (const id of ids) {
      const ok = runs[direction][id];
      if (ok.length === 0) continue;
      const perGiB = (r, g) => (r.cpuSeconds[g]?.total ?? 0) / (cfg.bytes / GiB);
      const groups = [...new Set(ok.flatMap((r) => Object.keys(r.cpuSeconds)))];
      result[direction][id] = {
        MBps: round(median(ok.map((r) => r.MBps)), 1),
        MBpsMin: round(Math.min(...ok.map((r) => r.MBps)), 1),
        MBpsMax: round(Math.max(...ok.map((r) => r.MBps)), 1),
        cpuPerGiB: Object.fromEntries(groups.map((g) => [g, round(median(ok.map((r) => perGiB(r, g))), 2)])),
        cpuPerGiBTotal: round(median(ok.map((r) => groups.reduce((a, g) => a + perGiB(r, g), 0))), 2),
        ...(id === 'corral' ? { peakRssMB: peakOf(ok.map((r) => r.memory)) } : {}),
        completeRuns: ok.length,
        runs: ok,
      };
    }
  }
  if (result.upload.corral && result.upload.scp) {
    result.upload.corral.ratioToScp = round(result.upload.corral.MBps / result.upload.scp.MBps, 2);
  }
  if (result.download.corral && result.download.scp) {
    result.download.corral.ratioToScp = round(result.download.corral.MBps / result.download.scp.MBps, 2);
  }
  return result;
}

/** The filesystem type of a directory (the copies' speed depends on it). */
async function fsType(dir) {
  try {
    // `stat -f` says ext2/ext3 for ext4 too; df reads the mount table.
    return (await runOk('df', ['--output=fstype', dir])).stdout.trim().split('\n').pop().trim();
  } catch {
    return null;
  }
}

/** Peak RSS over runs: {gateway, agent, helper, client} in MB. */
function peakOf(samples) {
  const out = {};
  for (const s of samples) {
    if (!s) continue;
    for (const [name, m] of Object.entries(s)) {
      const v = typeof m === 'object' && m !== null ? m.hwmMB : m;
      if (typeof v === 'number') out[name] = Math.max(out[name] ?? 0, v);
    }
  }
  return out;
}

/** Rows for the summary table: [label, unit, {target: value}]. */
export function tableRows(r) {
  const size = r.config.bytes >= GiB ? `${r.config.bytes / GiB} GiB` : `${r.config.bytes / MiB} MiB`;
  const pick = (d, f) => Object.fromEntries(Object.entries(r[d] ?? {}).map(([id, v]) => [id, f(v)]));
  const cpu = (d, group) => pick(d, (v) => v.cpuPerGiB?.[group]);
  const rows = [];
  for (const d of ['upload', 'download']) {
    rows.push([`${d}, ${size}`, 'MB/s', pick(d, (v) => v.MBps)]);
    rows.push([`${d}: range over runs`, 'MB/s', pick(d, (v) => `${v.MBpsMin}-${v.MBpsMax}`)]);
  }
  rows.push(['corral / scp, upload', 'x', { corral: r.upload?.corral?.ratioToScp }]);
  rows.push(['corral / scp, download', 'x', { corral: r.download?.corral?.ratioToScp }]);
  for (const d of ['upload', 'download']) {
    rows.push([`${d} CPU per GiB, all processes`, 's', pick(d, (v) => v.cpuPerGiBTotal)]);
    rows.push([`${d} CPU per GiB: client (CLI / scp+ssh / sftp+ssh)`, 's', cpu(d, 'client')]);
    rows.push([`${d} CPU per GiB: gateway`, 's', cpu(d, 'gateway')]);
    rows.push([`${d} CPU per GiB: agent / sshd`, 's', cpu(d, 'server')]);
    rows.push([`${d} CPU per GiB: file helper / sftp-server`, 's', cpu(d, 'helper')]);
  }
  // sshd's share splits into sshd and sftp-server by command name.
  for (const d of ['upload', 'download']) {
    for (const id of ['scp', 'sftp']) {
      const v = r[d]?.[id];
      if (!v) continue;
      const by = (name) =>
        round(median(v.runs.map((x) => x.cpuSeconds.server?.byCommand?.[name] ?? 0)) / (r.config.bytes / GiB), 2);
      const row = rows.find((x) => x[0] === `${d} CPU per GiB: agent / sshd`);
      row[2][id] = by('sshd');
      rows.find((x) => x[0] === `${d} CPU per GiB: file helper / sftp-server`)[2][id] = by('sftp-server');
    }
  }
  for (const d of ['upload', 'download']) {
    const p = r[d]?.corral?.peakRssMB;
    if (!p) continue;
    rows.push([
      `${d}: peak RSS gateway / agent / helper / CLI`,
      'MB',
      { corral: `${p.gateway ?? '-'} / ${p.agent ?? '-'} / ${p.helper ?? '-'} / ${p.client ?? '-'}` },
    ]);
  }
  rows.push(['a 1-byte upload (fixed cost), p50', 'ms', pick('small', (v) => v.p50ms)]);
  return rows;
}

export const aimHeader = 'aim (WebFTP issue)';

const AIMS = {
  'upload, ': '>= 0.8x scp',
  'download, ': '>= 0.8x scp',
  'corral / scp': '>= 0.8',
  'CPU per GiB, all': 'lower is better',
  'peak RSS': '< 200 each (gateway, agent)',
};

export function aimFor(label) {
  const key = Object.keys(AIMS).find((k) => label.includes(k));
  return key ? AIMS[key] : '';
}

/** Why the docs should not be rewritten from this run (undefined when they should). */
export function docsSkipReason(r, opts) {
  if (opts.quick || opts.runs || opts.mib) return 'a reduced run (--quick/--runs/--mib)';
  if (opts.dir) return 'files elsewhere than the default (--dir)';
  const missing = Object.keys(TARGETS).filter((id) => !r.upload[id] || !r.download[id]);
  if (missing.length > 0) return `no complete figures for ${missing.join(', ')}`;
  return undefined;
}

/** Markdown under the table: how the runs went. */
export function docsExtra(r) {
  const out = ['', `Runs (MB/s, in order; ${r.file.filesystem ?? '?'} file system, \`sync\` before each copy):`, ''];
  for (const d of ['upload', 'download']) {
    for (const [id, v] of Object.entries(r[d] ?? {})) {
      out.push(`- ${d}, ${TARGETS[id]}: ${v.runs.map((x) => x.MBps).join(', ')}`);
    }
  }
  return out.join('\n');
}
