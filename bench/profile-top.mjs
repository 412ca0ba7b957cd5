#!/usr/bin/env node
// Summarise V8 CPU profiles (from `npm run bench -- --profile`, or any `node --cpu-prof`):
// self time by function and by package/file, so "where the time goes" needs no browser.
//   node bench/profile-top.mjs bench/results/profiles/<stamp>/*.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const top = topIdx >= 0 ? Number(args.splice(topIdx, 2)[1]) : 25;
if (args.length === 0) {
  console.error('usage: node bench/profile-top.mjs FILE.cpuprofile... [--top N]');
  process.exit(2);
}

/** Where a function lives, shortened: node:internal/..., ws/lib/sender.js, agent/dist/... */
function place(url) {
  if (!url) return '(native/VM)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const pk = u.indexOf('/packages/');
  if (pk >= 0) return u.slice(pk + '/packages/'.length);
  return u;
}

for (const file of args) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  // timeDeltas[i] is the time before samples[i]; attribute it to that sample's node.
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fnTime = new Map();
  const fileTime = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const where = place(cf.url);
    const fn = `${cf.functionName || '(anonymous)'}  ${where}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fnTime.set(fn, (fnTime.get(fn) ?? 0) + us);
    const group = cf.url
      ? where
          .split('/')
          .slice(0, where.startsWith('node:') ? 2 : 1)
          .join('/')
      : cf.functionName;
    fileTime.set(group, (fileTime.get(group) ?? 0) + us);
  }
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const idle = [...fnTime].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  console.log(
    `\n== ${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(100 - (100 * idle) / total).toFixed(1)}% busy`,
  );
  console.log('-- self time by package / area');
  for (const [k, v] of [...fileTime].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${pct(v)}  ${k}`);
  console.log(`-- top ${top} functions (self time)`);
  for (const [k, v] of [...fnTime].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
}
