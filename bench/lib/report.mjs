// Machine facts, the summary table (terminal and Markdown), result files and the generated part of
// docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

/** Facts about this machine and checkout that the figures depend on. */
export function machineFacts(root) {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: root }).trim();
    } catch (err) {
      return (err.stderr?.toString() || err.stdout?.toString() || '').trim() || null;
    }
  };
  // ssh -V prints on stderr.
  const sshVersion = sh('sh', ['-c', 'ssh -V 2>&1']);
  const status = sh('git', ['status', '--porcelain']);
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? null,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${sh('uname', ['-sr'])} (${release()})`,
    node: process.version,
    ssh: sshVersion,
    sshd: existsSync('/usr/sbin/sshd')
      ? sh('sh', ['-c', 'dpkg-query -W -f "${Version}" openssh-server 2>/dev/null'])
      : null,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    git: { commit: sh('git', ['rev-parse', '--short', 'HEAD']), dirty: Boolean(status) },
  };
}

const fmt = (v) => (v === undefined || v === null || Number.isNaN(v) ? '-' : String(v));

/** A plain-text table: rows of [label, unit, {target: value}], one column per target id. */
export function textTable(rows, targets) {
  const ids = Object.keys(targets);
  const header = ['', ...ids.map((id) => targets[id])];
  const body = rows.map(([label, unit, vals]) => [`${label} (${unit})`, ...ids.map((id) => fmt(vals[id]))]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The same table in Markdown (columns padded so it reads well as text too). */
export function markdownTable(rows, targets, extraColumns = []) {
  const ids = Object.keys(targets);
  const header = ['figure', 'unit', ...ids.map((id) => targets[id]), ...extraColumns.map((c) => c.header)];
  const body = rows.map(([label, unit, vals], i) => [
    label,
    unit,
    ...ids.map((id) => fmt(vals[id])),
    ...extraColumns.map((c) => c.values[i] ?? ''),
  ]);
  const widths = header.map((_, i) => Math.max(3, ...[header, ...body].map((r) => r[i].length)));
  const right = (i) => i >= 2 && i < 2 + ids.length;
  const line = (r) => `| ${r.map((c, i) => (right(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

/** Write JSON atomically (tmp + rename), so a Ctrl-C never leaves half a file. */
export function writeJson(file, value) {
  mkdirSync(join(file, '..'), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

/**
 * Replace the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in a Markdown file.
 * Returns false (and changes nothing) when the markers are missing.
 */
export function replaceGenerated(file, name, content) {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  const next = `${text.slice(0, a + start.length)}\n${content.trim()}\n${text.slice(b)}`;
  if (next !== text) writeFileSync(file, next);
  return true;
}
