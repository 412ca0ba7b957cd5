// `npm run bench -- websh`: Corral's websh against OpenSSH direct and OpenSSH through a jump host,
// all in the same run on this machine. See docs/BENCHMARKS.md for what each figure means.
import { childrenOf, median, round, sampleCpu, sampleMemory, sleep, summarize } from '../lib/util.mjs';
import { breakdown, capture, haveTcpdump, socketOwners } from '../lib/hops.mjs';
import { ECHO_REMOTE, echoRoundTrip, pipeThroughput, ptyThroughput, sessionWall, slowReader } from '../lib/measure.mjs';

export const TARGETS = {
  corral: 'Corral websh',
  ssh: 'OpenSSH direct',
  'ssh-jump': 'OpenSSH -J (2 hops)',
};

const MiB = 2 ** 20;

export const description = 'keystroke echo, pty and pipe throughput, session open: Corral websh vs ssh and ssh -J';

/** Defaults; `--quick` shrinks them for a smoke run (and then docs are not updated). */
export function config(opts) {
  const quick = Boolean(opts.quick);
  return {
    keys: opts.keys ?? (quick ? 300 : 2000),
    warmupKeys: quick ? 50 : 200,
    gapMs: 10,
    ptyBytes: (opts.mib ?? (quick ? 32 : 256)) * MiB,
    pipeBytes: (opts.mib ?? (quick ? 32 : 256)) * MiB,
    throughputRuns: opts.runs ?? (quick ? 1 : 3),
    sessionOpenRuns: quick ? 5 : 20,
    sessionOpenWarmup: 2,
    bigBytes: 1024 * MiB,
  };
}

/**
 * Run the suite. `ctx` = {opts, log, services: {openssh(), corral()}, targets: [...ids]}.
 * Returns the result object (every figure), with failures recorded per target rather than thrown.
 */
export async function run(ctx) {
  const { log, opts } = ctx;
  const cfg = config(opts);
  const result = {
    config: cfg,
    targets: {},
    echo: {},
    ptyThroughput: {},
    pipeThroughput: {},
    sessionOpen: {},
    memory: {},
    errors: [],
  };

  // --- set up the targets ---------------------------------------------------------------------------
  const clients = {};
  let corral;
  if (ctx.targets.includes('ssh') || ctx.targets.includes('ssh-jump')) {
    const ssh = await ctx.services.openssh();
    result.openssh = { version: ssh.version, port: ssh.port };
    // CPU accounting: the sshd listener's descendants are the sessions (sshd, shell, command).
    const servers = [{ group: 'server', pid: ssh.sshd.pid, tree: true }];
    const common = { env: process.env, servers, port: ssh.port, roles: {} };
    if (ctx.targets.includes('ssh')) clients.ssh = { cmd: ssh.direct, ...common };
    if (ctx.targets.includes('ssh-jump')) clients['ssh-jump'] = { cmd: ssh.jump, ...common };
  }
  if (ctx.targets.includes('corral')) {
    try {
      corral = await ctx.services.corral();
      clients.corral = {
        cmd: corral.websh,
        env: corral.env,
        servers: [
          { group: 'gateway', pid: corral.gateway.pid, tree: false },
          // The agent and what it spawns (shell, command).
          { group: 'server', pid: corral.agent.pid, tree: true },
        ],
        port: Number(new URL(corral.url).port),
        roles: { [corral.gateway.pid]: 'gateway', [corral.agent.pid]: 'agent' },
      };
      result.corral = { url: corral.url, serverName: corral.serverName };
    } catch (err) {
      result.errors.push({ target: 'corral', phase: 'setup', message: err.message });
      log(`corral setup FAILED: ${err.message}`);
    }
  }
  const ids = Object.keys(TARGETS).filter((id) => clients[id]);
  for (const id of ids) result.targets[id] = TARGETS[id];
  const memPids = corral ? { gateway: corral.gateway.pid, agent: corral.agent.pid } : null;

  const attempt = async (id, phase, fn) => {
    try {
      return await fn();
    } catch (err) {
      result.errors.push({ target: id, phase, message: err.message });
      log(`  ${TARGETS[id]}: ${phase} FAILED: ${err.message}`);
      return undefined;
    }
  };

  // --- keystroke echo -------------------------------------------------------------------------------
  log(`echo: ${cfg.keys} keystrokes ${cfg.gapMs} ms apart (+${cfg.warmupKeys} warm-up) per target`);
  for (const id of ids) {
    const { cmd, env } = clients[id];
    const r = await attempt(id, 'echo', () =>
      echoRoundTrip(cmd([ECHO_REMOTE], { tty: true }), {
        env,
        keys: cfg.keys,
        warmup: cfg.warmupKeys,
        gapMs: cfg.gapMs,
      }),
    );
    if (r) {
      result.echo[id] = r;
      log(`  ${TARGETS[id].padEnd(20)} p50 ${r.p50} ms  p90 ${r.p90}  p99 ${r.p99}  mean ${r.mean}  (lost ${r.lost})`);
    }
  }

  // --- --hops: the echo round trip broken down by hop (tcpdump on lo) -----------------------------------
  if (opts.hops) {
    if (!haveTcpdump()) {
      result.errors.push({ target: '-', phase: 'hops', message: 'tcpdump is not installed (apt-get install tcpdump)' });
    } else {
      result.hops = {};
      const keys = Math.min(cfg.keys, 500);
      log(`hops: ${keys} keystrokes per target with tcpdump on lo`);
      for (const id of ids) {
        const { cmd, env, port, roles } = clients[id];
        await attempt(id, 'hops', async () => {
          const cap = await capture(port);
          const wallClock = [];
          let owners = {};
          let clientPid;
          try {
            await echoRoundTrip(cmd([ECHO_REMOTE], { tty: true }), {
              env,
              keys,
              warmup: 50,
              gapMs: cfg.gapMs,
              wallClock,
              onReady: (term) => {
                clientPid = term.pid;
                owners = socketOwners();
              },
            });
          } finally {
            const packets = await cap.stop();
            const b = breakdown(wallClock, packets, owners, { ...roles, [clientPid]: 'client' });
            result.hops[id] = b;
            log(`  ${TARGETS[id]} (${b.n} of ${b.of} keystrokes on the main path):`);
            for (const seg of b.segments) log(`    ${seg.label.padEnd(34)} p50 ${seg.p50} ms  mean ${seg.mean}`);
          }
        });
      }
    }
  }

  // --- throughput, pty then pipe; runs interleaved across targets so drift hits all alike ---------
  for (const [kind, bytes, fn, tty] of [
    ['ptyThroughput', cfg.ptyBytes, ptyThroughput, true],
    ['pipeThroughput', cfg.pipeBytes, pipeThroughput, false],
  ]) {
    log(`${kind}: ${bytes / MiB} MiB of zeros, ${cfg.throughputRuns} run(s) per target`);
    const runs = Object.fromEntries(ids.map((id) => [id, []]));
    const mem = [];
    for (let i = 0; i < cfg.throughputRuns; i++) {
      for (const id of ids) {
        const { cmd, env, servers } = clients[id];
        const sampler = id === 'corral' && memPids ? sampleMemory(memPids) : null;
        const cpu = sampleCpu();
        cpu.add('bench', process.pid);
        for (const srv of servers) cpu.add(srv.group, srv.pid, { tree: srv.tree });
        const r = await attempt(id, kind, () =>
          fn(cmd([`head -c ${bytes} /dev/zero`], { tty }), {
            env,
            expectBytes: bytes,
            onSpawn: (pid) => cpu.add('client', pid, { tree: true, fresh: true }),
          }),
        );
        const cpuUsed = cpu.stop();
        if (sampler) mem.push(sampler.stop());
        if (!r) continue;
        r.cpuSeconds = cpuUsed;
        // CPU seconds per GiB moved, all processes but the bench's own reader.
        r.cpuPerGiB = round(
          Object.entries(cpuUsed)
            .filter(([g]) => g !== 'bench')
            .reduce((a, [, v]) => a + v.total, 0) /
            (r.bytes / 2 ** 30),
          2,
        );
        if (r.stopped) {
          result.errors.push({ target: id, phase: kind, message: `run ${i + 1}: ${r.stopped} after ${r.bytes} bytes` });
        } else if (r.exit && (r.exit.code !== 0 || r.exit.signal)) {
          result.errors.push({ target: id, phase: kind, message: `client exit ${JSON.stringify(r.exit)}`, detail: r });
        }
        if (!r.complete) {
          result.errors.push({
            target: id,
            phase: kind,
            message: `received ${r.bytes} bytes, expected ${r.expectBytes} (${r.bytes - r.expectBytes})`,
          });
        }
        runs[id].push(r);
        log(
          `  ${TARGETS[id].padEnd(20)} ${String(r.MBps).padStart(6)} MB/s  ${r.bytes} bytes${r.complete ? '' : ' (INCOMPLETE)'}  first byte ${r.firstByteMs} ms  wall ${r.wallSeconds} s`,
        );
      }
    }
    for (const id of ids) {
      if (runs[id].length === 0) continue;
      // Only runs that delivered every byte count; a stalled run's rate would flatter it.
      const ok = runs[id].filter((r) => r.complete && !r.stopped);
      result[kind][id] = {
        MBps: ok.length ? round(median(ok.map((r) => r.MBps)), 1) : null,
        MBpsMin: ok.length ? round(Math.min(...ok.map((r) => r.MBps)), 1) : null,
        MBpsMax: ok.length ? round(Math.max(...ok.map((r) => r.MBps)), 1) : null,
        cpuPerGiB: ok.length ? round(median(ok.map((r) => r.cpuPerGiB)), 2) : null,
        completeRuns: ok.length,
        // What the table shows when no run completed.
        ...(ok.length ? {} : { shown: `failed (${runs[id].length}/${runs[id].length} runs)` }),
        runs: runs[id],
      };
    }
    if (mem.length > 0) result.memory[kind] = peakOf(mem);
  }

  // --- session open -----------------------------------------------------------------------------------
  log(`session open: \`true\`, ${cfg.sessionOpenRuns} runs per target (+${cfg.sessionOpenWarmup} warm-up)`);
  {
    const walls = Object.fromEntries(ids.map((id) => [id, []]));
    const failures = Object.fromEntries(ids.map((id) => [id, []]));
    for (let i = 0; i < cfg.sessionOpenWarmup + cfg.sessionOpenRuns; i++) {
      for (const id of ids) {
        const { cmd, env } = clients[id];
        const r = await attempt(id, 'sessionOpen', () => sessionWall(cmd(['true']), { env }));
        if (!r) continue;
        if (r.code !== 0) {
          failures[id].push({ code: r.code, signal: r.signal, out: r.out });
          continue;
        }
        if (i >= cfg.sessionOpenWarmup) walls[id].push(r.ms);
      }
    }
    for (const id of ids) {
      if (failures[id].length > 0) {
        result.errors.push({
          target: id,
          phase: 'sessionOpen',
          message: `${failures[id].length} run(s) failed; first: exit ${failures[id][0].signal ?? failures[id][0].code}: ${failures[id][0].out.trim()}`,
        });
      }
      if (walls[id].length === 0) continue;
      const s = summarize(walls[id]);
      result.sessionOpen[id] = {
        n: s.n,
        p50: round(s.p50, 1),
        p90: round(s.p90, 1),
        mean: round(s.mean, 1),
        min: round(s.min, 1),
        max: round(s.max, 1),
        failures: failures[id].length,
      };
      log(`  ${TARGETS[id].padEnd(20)} p50 ${round(s.p50, 1)} ms  p90 ${round(s.p90, 1)} ms`);
    }
  }

  // --- --big: 1 GiB through a pty and a pipe, and `yes` with a stalled reader (memory bounds) ------
  if (opts.big && clients.corral) {
    result.big = await big(
      clients.corral,
      memPids,
      cfg,
      log,
      (phase, fn) => attempt('corral', phase, fn),
      result.errors,
    );
  }

  // --- anything left running on the agent's side? (sessions whose clients were killed) --------------
  if (corral) {
    await sleep(1000);
    const left = childrenOf(corral.agent.pid);
    result.agentChildrenAfter = left;
    if (left.length > 0) {
      result.errors.push({
        target: 'corral',
        phase: 'cleanup',
        message: `${left.length} process(es) still children of the agent 1 s after the last session: ${left.map((c) => c.cmd).join('; ')}`,
      });
    }
  }
  return result;
}

async function big(client, memPids, cfg, log, attempt, errors) {
  const out = {};
  const { cmd, env } = client;
  const cases = [
    ['pty1GiB', `head -c ${cfg.bigBytes} /dev/zero`, true, ptyThroughput],
    ['pipe1GiB', `head -c ${cfg.bigBytes} /dev/zero`, false, pipeThroughput],
  ];
  for (const [name, remote, tty, fn] of cases) {
    log(`big: ${name}: corral websh${tty ? ' -t' : ''} -- ${remote}`);
    const sampler = sampleMemory(memPids);
    const r = await attempt(`big.${name}`, () =>
      fn(cmd([remote], { tty }), { env, expectBytes: cfg.bigBytes, timeoutMs: 300_000 }),
    );
    const memory = sampler.stop();
    out[name] = { ...(r ?? { failed: true }), memory };
    if (r && (r.stopped || !r.complete)) {
      errors.push({
        target: 'corral',
        phase: `big.${name}`,
        message: `${r.stopped ?? 'incomplete'}: ${r.bytes} of ${r.expectBytes} bytes`,
      });
    }
    log(
      `  ${r ? `${r.MBps} MB/s, ${r.bytes} bytes${r.complete ? '' : ' (INCOMPLETE)'}` : 'failed'}; peak RSS gateway ${memory.gateway.hwmMB} MB, agent ${memory.agent.hwmMB} MB`,
    );
  }
  for (const tty of [true, false]) {
    const name = tty ? 'yesStalledPty' : 'yesStalledPipe';
    log(`big: ${name}: corral websh${tty ? ' -t' : ''} -- yes, reader stalled 5 s then reading 3 s`);
    const sampler = sampleMemory(memPids);
    const r = await attempt(`big.${name}`, () => slowReader(cmd(['yes'], { tty }), { env, tty }));
    const memory = sampler.stop();
    out[name] = { ...(r ?? { failed: true }), memory };
    if (r && r.bytesWhileReading === 0) {
      errors.push({
        target: 'corral',
        phase: `big.${name}`,
        message: 'no output at all once the reader resumed (stalled)',
      });
    }
    log(
      `  ${r ? `${r.MBpsWhileReading} MB/s once reading` : 'failed'}; peak RSS gateway ${memory.gateway.hwmMB} MB, agent ${memory.agent.hwmMB} MB`,
    );
  }
  return out;
}

/** Peak over several memory samples: {gateway: {peakRssMB, hwmMB}, agent: {...}}. */
function peakOf(samples) {
  const out = {};
  for (const s of samples) {
    for (const [name, m] of Object.entries(s)) {
      out[name] ??= { peakRssMB: 0, hwmMB: 0 };
      out[name].peakRssMB = Math.max(out[name].peakRssMB, m.peakRssMB ?? 0);
      out[name].hwmMB = Math.max(out[name].hwmMB, m.hwmMB ?? 0);
    }
  }
  return out;
}

/** Rows for the summary table: [label, unit, {target: value}]. */
export function tableRows(r) {
  const get = (section, key) =>
    Object.fromEntries(Object.entries(r[section] ?? {}).map(([id, v]) => [id, v?.[key] ?? v?.shown]));
  const rows = [
    ['keystroke echo p50', 'ms', get('echo', 'p50')],
    ['keystroke echo p90', 'ms', get('echo', 'p90')],
    ['keystroke echo p99', 'ms', get('echo', 'p99')],
    ['keystroke echo mean', 'ms', get('echo', 'mean')],
    [`pty output, ${r.config.ptyBytes / MiB} MiB`, 'MB/s', get('ptyThroughput', 'MBps')],
    [`pipe output, ${r.config.pipeBytes / MiB} MiB`, 'MB/s', get('pipeThroughput', 'MBps')],
    ['CPU per GiB, pty (all processes)', 's', get('ptyThroughput', 'cpuPerGiB')],
    ['CPU per GiB, pipe (all processes)', 's', get('pipeThroughput', 'cpuPerGiB')],
    ['session open p50 (`true`)', 'ms', get('sessionOpen', 'p50')],
    ['session open p90 (`true`)', 'ms', get('sessionOpen', 'p90')],
  ];
  const memRow = (label, key) => {
    const peaks = ['ptyThroughput', 'pipeThroughput']
      .map((k) => r.memory?.[k]?.[key]?.hwmMB)
      .filter((x) => typeof x === 'number');
    return [label, 'MB', { corral: peaks.length ? Math.max(...peaks) : undefined }];
  };
  rows.push(memRow('gateway peak RSS (throughput runs)', 'gateway'));
  rows.push(memRow('agent peak RSS (throughput runs)', 'agent'));
  if (r.big) {
    for (const [name, label] of [
      ['pty1GiB', '1 GiB pty'],
      ['pipe1GiB', '1 GiB pipe'],
      ['yesStalledPty', '`yes`, reader stalled, pty'],
      ['yesStalledPipe', '`yes`, reader stalled, pipe'],
    ]) {
      const b = r.big[name];
      if (!b) continue;
      if (b.MBps !== undefined) {
        rows.push([`--big ${label}`, 'MB/s', { corral: b.complete ? b.MBps : `failed: ${b.stopped ?? 'incomplete'}` }]);
      }
      if (b.MBpsWhileReading !== undefined) {
        rows.push([`--big ${label}: output once reading`, 'MB/s', { corral: b.MBpsWhileReading }]);
      }
      rows.push([
        `--big ${label}: peak RSS gateway / agent`,
        'MB',
        { corral: `${b.memory?.gateway?.hwmMB} / ${b.memory?.agent?.hwmMB}` },
      ]);
    }
  }
  return rows;
}

/** What issue 2 asks for, beside each row of the table (same order as tableRows). */
const AIMS = {
  'keystroke echo p50': 'beat the bare prototype (0.9-1.1); match ssh -J',
  'keystroke echo p90': 'match ssh -J',
  'keystroke echo p99': 'beat the prototype (2.4-3.7); match ssh -J',
  'keystroke echo mean': 'match ssh -J',
  'pty output': '>= OpenSSH; prototype 60-80',
  'pipe output': 'prototype ~360',
  'CPU per GiB': 'lower is better',
  'session open p50': '< half of ssh',
  'session open p90': '< half of ssh',
  'gateway peak RSS': '< 200',
  'agent peak RSS': '< 200',
  'peak RSS gateway / agent': '< 200 each',
  'output once reading': 'flows again (> 0)',
};

export function aimFor(label) {
  const key = Object.keys(AIMS).find((k) => label.startsWith(k) || (label.startsWith('--big') && label.endsWith(k)));
  return key ? AIMS[key] : '';
}

/** Why the docs should not be rewritten from this run (undefined when they should). */
export function docsSkipReason(r, opts) {
  if (opts.quick || opts.keys || opts.runs || opts.mib) return 'a reduced run (--quick/--keys/--runs/--mib)';
  const missing = Object.keys(TARGETS).filter(
    (id) => !r.echo[id] || !r.ptyThroughput[id] || !r.pipeThroughput[id] || !r.sessionOpen[id],
  );
  if (missing.length > 0) return `no complete figures for ${missing.join(', ')}`;
  return undefined;
}

/** Markdown for the --hops breakdown (empty when it was not run). */
export function docsExtra(r) {
  if (!r.hops) return '';
  const out = ['', 'Keystroke round trip by hop (`--hops`, tcpdump on lo; p50 / mean in ms):', ''];
  for (const [id, h] of Object.entries(r.hops)) {
    out.push(`- ${TARGETS[id]} (${h.n} of ${h.of} keystrokes on this path):`);
    for (const s of h.segments) out.push(`  - ${s.label}: ${s.p50} / ${s.mean}`);
  }
  return out.join('\n');
}
