#!/usr/bin/env node
// `npm run bench -- agent`: the agent's memory footprint. Starts a gateway on 127.0.0.1, registers the
// agent twice (run from sources with node, and as the single executable from `npm run build:agent`),
// and reports each one's RSS and private memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup:
// what the process alone costs; RSS also counts the executable's pages shared with the page cache)
// idle after settling, and with one open terminal. Variants with V8 flags show what they buy.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as pty from 'node-pty';
import { ROOT } from '../lib/corral.mjs';
import { machineFacts, replaceGenerated, writeJson } from '../lib/report.mjs';

const { values: o } = parseArgs({
  options: {
    settle: { type: 'string', default: '15' },
    'no-docs': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (o.help) {
  console.log('usage: npm run bench -- agent [--settle SECONDS] [--no-docs]');
  process.exit(0);
}
const settleMs = Number(o.settle) * 1000;
const bin = (p, n) => join(ROOT, 'packages', p, 'bin', `${n}.js`);
const GW = bin('gateway', 'corral-gateway');
const AGENT = bin('agent', 'corral-agent');
const CLI = bin('cli', 'corral');
const SEA = join(ROOT, 'dist', 'artifacts', `corral-agent-${process.platform}-${process.arch}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'corral-bench-agent-'));
const children = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

function start(cmd, args, env = {}) {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  c.out = '';
  c.stdout.on('data', (d) => (c.out += d));
  c.stderr.on('data', (d) => (c.out += d));
  children.push(c);
  return c;
}
async function waitFor(c, re, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = re.exec(c.out);
    if (m) return m;
    if (c.exitCode !== null) throw new Error(`exited: ${c.out}`);
    await sleep(50);
  }
  throw new Error(`timeout waiting for ${re}: ${c.out}`);
}
const cliEnv = { CORRAL_CONFIG_DIR: join(dir, 'cli') };
function cli(args, input) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...cliEnv },
    input,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`corral ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** RSS and private memory of a process, in bytes. */
function memory(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), private: kb('Private_Clean') + kb('Private_Dirty'), anon: kb('Anonymous') };
}
const mib = (b) => (b / 1024 / 1024).toFixed(1);

const gw = start(process.execPath, [GW, 'start', '--data', join(dir, 'gw'), '--listen', '127.0.0.1:0']);
const url = (await waitFor(gw, /listening on (https:\/\/\S+)/))[1];
const fp = (await waitFor(gw, /CA fingerprint: (\S+)/))[1];
const password = (await waitFor(gw, /password:\s+(\S+)/))[1];
cli(['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp], password + '\n');

const variants = [
  { name: 'node (from sources)', cmd: process.execPath, pre: [AGENT], env: {} },
  { name: 'node --max-semi-space-size=1', cmd: process.execPath, pre: ['--max-semi-space-size=1', AGENT], env: {} },
];
if (existsSync(SEA)) {
  variants.push({ name: 'single executable', cmd: SEA, pre: [], env: {} });
  for (const [label, env] of [
    ['NODE_OPTIONS=--max-semi-space-size=1', { NODE_OPTIONS: '--max-semi-space-size=1' }],
    ['NODE_OPTIONS=--jitless', { NODE_OPTIONS: '--jitless' }],
    [
      'MALLOC_ARENA_MAX=1 + --v8-pool-size=1 + semi-space 1',
      { MALLOC_ARENA_MAX: '1', NODE_OPTIONS: '--v8-pool-size=1 --max-semi-space-size=1' },
    ],
  ]) {
    variants.push({ name: `single executable, ${label}`, cmd: SEA, pre: [], env });
  }
} else {
  console.error(`bench agent: ${SEA} missing; run npm run build:agent to measure the single executable`);
}

const rows = [];
for (const [i, v] of variants.entries()) {
  const name = `bench-agent-${i}`;
  const token = JSON.parse(cli(['server', 'token', 'create', '-o', 'json'])).token;
  const config = join(dir, `${name}.json`);
  const reg = spawnSync(
    v.cmd,
    [
      ...v.pre,
      'register',
      '--gateway',
      url,
      '--token',
      token,
      '--ca-fingerprint',
      fp,
      '--config',
      config,
      '--name',
      name,
    ],
    {
      encoding: 'utf8',
    },
  );
  if (reg.status !== 0) throw new Error(reg.stderr);
  const a = start(v.cmd, [...v.pre, 'run', '--config', config], v.env);
  await waitFor(a, /connected/);
  await sleep(settleMs);
  const idle = memory(a.pid);
  // One open terminal: an interactive shell through websh, kept open while we measure.
  const term = pty.spawn(process.execPath, [CLI, 'websh', name, '-t', '--', 'sh'], {
    env: { ...process.env, ...cliEnv },
    cols: 120,
    rows: 40,
  });
  let screen = '';
  term.onData((d) => (screen += d));
  term.write('echo BENCH_$((40+2))\r');
  const end = Date.now() + 20_000;
  while (!screen.includes('BENCH_42') && Date.now() < end) await sleep(50);
  if (!screen.includes('BENCH_42')) throw new Error(`terminal did not answer: ${screen}`);
  await sleep(3000);
  const withTerm = memory(a.pid);
  term.write('exit\r');
  await sleep(500);
  term.kill();
  a.kill('SIGTERM');
  await new Promise((r) => a.once('exit', r));
  rows.push({ variant: v.name, idle, withTerminal: withTerm });
  console.log(
    `${v.name.padEnd(62)} idle RSS ${mib(idle.rss).padStart(5)} private ${mib(idle.private).padStart(5)} anon ${mib(idle.anon).padStart(5)} | one terminal RSS ${mib(withTerm.rss).padStart(5)} private ${mib(withTerm.private).padStart(5)} anon ${mib(withTerm.anon).padStart(5)} (MiB)`,
  );
}

const seaSize = existsSync(SEA)
  ? Number(spawnSync('stat', ['-c', '%s', SEA], { encoding: 'utf8' }).stdout.trim())
  : null;
const at = new Date().toISOString();
const result = { suite: 'agent', at, machine: machineFacts(ROOT), settleMs, artifactBytes: seaSize, rows };
const stamp = at.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
writeJson(join(ROOT, 'bench', 'results', `agent-${stamp}.json`), result);
writeJson(join(ROOT, 'bench', 'results', 'agent-latest.json'), result);
if (!o['no-docs']) {
  const table = [
    '| agent | idle RSS | idle private | idle anonymous | one terminal: RSS | private | anonymous |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.variant} | ${mib(r.idle.rss)} | ${mib(r.idle.private)} | ${mib(r.idle.anon)} | ${mib(r.withTerminal.rss)} | ${mib(r.withTerminal.private)} | ${mib(r.withTerminal.anon)} |`,
    ),
    '',
    'MiB, from /proc/PID/smaps_rollup. RSS counts every resident page; private (Private_Clean + Private_Dirty) the pages',
    'no other process maps: for the single executable this includes its own code, which no other process shares,',
    'while node from sources shares /usr/bin/node with the gateway and CLI; anonymous is heap and stacks.',
    '',
    `Measured ${at} after ${settleMs / 1000} s idle; single executable ${seaSize ? `${mib(seaSize)} MiB` : 'not built'}.`,
  ].join('\n');
  if (!replaceGenerated(join(ROOT, 'docs', 'BENCHMARKS.md'), 'agent-results', table)) {
    console.error('bench agent: docs/BENCHMARKS.md has no agent-results markers; table not written');
  }
}
gw.kill('SIGTERM');
await new Promise((r) => gw.once('exit', r));
