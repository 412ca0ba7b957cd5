#!/usr/bin/env node
// `npm run bench [-- SUITE...] [options]`: Corral's benchmarks, each beside OpenSSH in the same run.
// Everything runs on 127.0.0.1 with temporary keys and data directories, which are removed at the end;
// every process the bench starts is stopped on exit, on error and on Ctrl-C.
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startCorral } from './lib/corral.mjs';
import { BENCH_USER, ensureBenchUser } from './lib/benchuser.mjs';
import { startOpenSsh } from './lib/openssh.mjs';
import { machineFacts, markdownTable, replaceGenerated, textTable, writeJson } from './lib/report.mjs';
import { installSignalHandlers, runCleanups } from './lib/util.mjs';

// `npm run bench -- scale|agent|exec [options]`: these suites have their own options and run on their own
// (scale and exec: simulated agents against one gateway node; agent: the agent's memory footprint).
if (process.argv[2] === 'scale' || process.argv[2] === 'agent' || process.argv[2] === 'exec') {
  const { spawnSync } = await import('node:child_process');
  const suite = join(ROOT, 'bench', 'suites', `${process.argv[2]}.mjs`);
  const r = spawnSync(process.execPath, [suite, ...process.argv.slice(3)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const SUITES = {
  websh: () => import('./suites/websh.mjs'),
  // Pure computation on the built gateway; starts no services (see `standalone` below).
  risk: () => import('./suites/risk.mjs'),
  files: () => import('./suites/files.mjs'),
};
/** Targets each suite knows (its columns); --targets picks a subset for every suite of the run. */
const SUITE_TARGETS = {
  websh: ['corral', 'ssh', 'ssh-jump'],
  files: ['corral', 'scp', 'sftp'],
};

const USAGE = `usage: npm run bench [-- [SUITE...] [options]]     (node bench/run.mjs ... once built)

suites: ${Object.keys(SUITES).join(', ')} (default: all), and scale, agent and exec (each run alone:
        npm run bench -- scale --help, npm run bench -- agent --help, npm run bench -- exec --help)

options:
  --targets LIST   comma-separated subset of each suite's targets: websh corral,ssh,ssh-jump;
                   files corral,scp,sftp (default: all of them)
  --big            websh: also push 1 GiB through websh (pty and pipe) and run \`yes\` against a stalled
                   reader, reporting the peak RSS of gateway and agent (adds ~1 minute)
  --quick          a smoke run (docs are not updated): websh fewer keystrokes, 32 MiB, one run
                   each; files 128 MiB, one run each
  --keys N         keystrokes for the echo test (default 2000)
  --runs N         throughput runs per target (default 3; files: copies each way per target, 3)
  --mib N          MiB per throughput run (default 256; files: the file's size, 1024)
  --dir DIR        files: where the test file and the copies go (default: the system's temp
                   directory; /dev/shm takes the disk out of the figures)
  --os-user NAME   the account both ssh and websh log in as (default: a temporary ${BENCH_USER} user
                   with bash and an empty home, removed at the end; root's dotfiles would skew it)
  --wait-idle      first wait (up to 10 minutes) for the 1-minute load average to fall under 0.5
  --hops           also break the keystroke round trip down by hop (needs tcpdump: apt-get install
                   tcpdump): which process holds a keystroke for how long
  --profile        start gateway and agent (and the CLI, for files) with --cpu-prof; profiles go to
                   bench/results/profiles/
  --no-docs        do not rewrite the generated table in docs/BENCHMARKS.md
  -h, --help       this text

Results: bench/results/SUITE-<timestamp>.json and SUITE-latest.json; the table goes to stdout and,
after a complete full run, into docs/BENCHMARKS.md.`;

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string' },
    big: { type: 'boolean' },
    quick: { type: 'boolean' },
    keys: { type: 'string' },
    runs: { type: 'string' },
    mib: { type: 'string' },
    profile: { type: 'boolean' },
    hops: { type: 'boolean' },
    'wait-idle': { type: 'boolean' },
    'os-user': { type: 'string' },
    dir: { type: 'string' },
    'no-docs': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (o.help) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = positionals.filter((s) => !SUITES[s]);
if (unknown.length > 0) {
  console.error(`bench: unknown suite ${unknown.join(', ')}\n\n${USAGE}`);
  process.exit(2);
}
const int = (name) => {
  if (o[name] === undefined) return undefined;
  const n = Number(o[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --${name} wants a positive integer`);
    process.exit(2);
  }
  return n;
};
const opts = {
  big: o.big,
  hops: o.hops,
  quick: o.quick,
  keys: int('keys'),
  runs: int('runs'),
  mib: int('mib'),
  dir: o.dir,
};
const allTargets = [...new Set(Object.values(SUITE_TARGETS).flat())];
const targets = o.targets?.split(',').map((s) => s.trim());
const badTarget = targets?.find((t) => !allTargets.includes(t));
if (badTarget) {
  console.error(`bench: unknown target ${badTarget} (${allTargets.join(', ')})`);
  process.exit(2);
}
/** The targets a suite runs: --targets' subset of its own, or all of them. */
const targetsOf = (name) => SUITE_TARGETS[name].filter((t) => !targets || targets.includes(t));

const t0 = Date.now();
const log = (msg) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
const stamp = new Date()
  .toISOString()
  .replace(/\.\d+Z$/, 'Z')
  .replace(/:/g, '-');
const resultsDir = join(ROOT, 'bench', 'results');

// Shared services, started on first use and stopped at the end (one set for all suites of a run).
const memo = (fn) => {
  let p;
  return () => (p ??= fn());
};
const services = {
  user: memo(() => ensureBenchUser({ log, name: o['os-user'] ?? BENCH_USER })),
  openssh: memo(async () => {
    const { name: user } = await services.user();
    log(`openssh: starting sshd on a free loopback port (sessions as ${user})`);
    return startOpenSsh({ log, user });
  }),
  corral: memo(async () => {
    const { name: osUser } = await services.user();
    const nodeFlags = [];
    if (o.profile) {
      const dir = join(resultsDir, 'profiles', stamp);
      mkdirSync(dir, { recursive: true });
      nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
      log(`corral: CPU profiles of gateway and agent go to ${dir} (written when they stop)`);
    }
    return startCorral({ log, nodeFlags, osUser });
  }),
};

// The whole run is bounded: a watchdog stops everything if it takes far longer than it should.
const suiteNames = positionals.length > 0 ? positionals : Object.keys(SUITES);
const SUITE_MINUTES = { websh: opts.big ? 30 : 20, files: 15 };
const limitMin = suiteNames.reduce((a, n) => a + SUITE_MINUTES[n], 0) + (o['wait-idle'] ? 10 : 0);
const watchdog = setTimeout(() => {
  log(`bench: still running after ${limitMin} minutes; stopping everything`);
  runCleanups().finally(() => process.exit(1));
}, limitMin * 60_000);
watchdog.unref();

installSignalHandlers();
let failed = false;
try {
  if (o['wait-idle']) {
    const until = Date.now() + 10 * 60_000;
    while (loadavg()[0] >= 0.5 && Date.now() < until) {
      log(`waiting for the machine to go idle (load average ${loadavg()[0].toFixed(2)})`);
      await new Promise((r) => setTimeout(r, 15_000));
    }
  }
  const facts = machineFacts(ROOT);
  log(
    `machine: ${facts.nproc} CPUs (${facts.cpu}), ${facts.kernel}, node ${facts.node}, ${facts.ssh}, commit ${facts.git.commit}${facts.git.dirty ? ' (dirty)' : ''}`,
  );
  if (facts.loadAverageAtStart[0] > 0.5) {
    log(
      `warning: load average ${facts.loadAverageAtStart.join(' ')} on ${facts.nproc} CPUs: other work on this machine will skew the figures`,
    );
  }
  for (const name of suiteNames) {
    const suite = await SUITES[name]();
    if (suite.standalone) {
      log(`suite ${name}: ${suite.description}`);
      await suite.runStandalone({ resultsDir, stamp, log });
      continue;
    }
    const startedAt = new Date();
    log(`suite ${name}: ${suite.description}`);
    const result = await suite.run({ opts, log, services, targets: targetsOf(name) });
    const finishedAt = new Date();
    const doc = {
      suite: name,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: Math.round((finishedAt - startedAt) / 100) / 10,
      options: { ...opts, targets: targetsOf(name), osUser: (await services.user()).name },
      machine: { ...facts, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      ...result,
    };
    const file = join(resultsDir, `${name}-${stamp}.json`);
    writeJson(file, doc);
    writeJson(join(resultsDir, `${name}-latest.json`), doc);

    const rows = suite.tableRows(doc);
    console.log(`\n${name} (${facts.nproc} CPUs, ${facts.kernel}, node ${facts.node}, ${facts.ssh})\n`);
    console.log(textTable(rows, doc.targets));
    if (doc.errors.length > 0) {
      failed = true;
      console.log(`\nproblems (${doc.errors.length}):`);
      for (const e of doc.errors) console.log(`  - ${e.target} ${e.phase}: ${e.message}`);
    }
    console.log(`\nresults: ${file.slice(ROOT.length + 1)} (and ${name}-latest.json)`);

    const skip = o['no-docs'] ? '--no-docs' : suite.docsSkipReason?.(doc, opts);
    if (skip) {
      console.log(`docs/BENCHMARKS.md not updated: ${skip}`);
    } else {
      const md = [
        `Run ${doc.startedAt.replace(/\.\d+Z$/, 'Z')} (${doc.durationSeconds} s), commit ${facts.git.commit}${facts.git.dirty ? ' with local changes' : ''}:`,
        `${facts.nproc} CPUs (${facts.cpu}), ${facts.memoryGiB} GiB, ${facts.kernel}, Node ${facts.node}, ${facts.ssh}.`,
        `Raw figures: \`bench/results/${name}-${stamp}.json\`.`,
        '',
        markdownTable(rows, doc.targets, [
          { header: suite.aimHeader ?? 'aim (issue 2)', values: rows.map(([label]) => suite.aimFor(label)) },
        ]),
        suite.docsExtra?.(doc) ?? '',
        `\nLoad average at start ${facts.loadAverageAtStart.join(' ')}, at end ${doc.machine.loadAverageAtEnd.join(' ')}.`,
        ...(doc.errors.length > 0
          ? [
              '',
              `Problems in this run (${doc.errors.length}):`,
              '',
              ...doc.errors.map((e) => `- ${e.target} ${e.phase}: ${e.message}`),
            ]
          : []),
      ].join('\n');
      const ok = replaceGenerated(join(ROOT, 'docs', 'BENCHMARKS.md'), `${name}-results`, md);
      console.log(
        ok ? 'docs/BENCHMARKS.md: table updated' : `docs/BENCHMARKS.md has no ${name}-results markers; not updated`,
      );
    }
  }
} catch (err) {
  failed = true;
  console.error(`\nbench: ${err.stack ?? err}`);
} finally {
  log('stopping everything');
  await runCleanups();
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
