// `npm run bench -- risk`: the built-in risk rules against the labelled table
// (packages/gateway/src/risk/risk-table.ts): precision and recall at the default threshold, the
// confusion matrix and per-category counts. Pure computation on the built gateway: no gateway, agent
// or ssh is started. Also runs alone: `node bench/suites/risk.mjs`.
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeJson } from '../lib/report.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dist = (f) => pathToFileURL(join(ROOT, 'packages', 'gateway', 'dist', 'risk', f)).href;

export const description = 'risk scoring: precision and recall of the built-in rules on the labelled table';
/** Needs none of the bench's shared services (bench/run.mjs runs it on its own). */
export const standalone = true;

/** Score every labelled command; returns the result document (also written to bench/results). */
export async function runStandalone({ resultsDir, stamp, log = () => {} }) {
  const { RuleAnalyzer } = await import(dist('rules.js'));
  const { RISK_TABLE } = await import(dist('risk-table.js'));
  const { DEFAULT_RISK_THRESHOLD } = await import(dist('analyzer.js'));
  const threshold = DEFAULT_RISK_THRESHOLD;
  const rules = new RuleAnalyzer();
  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const rows = RISK_TABLE.map((t) => ({ ...t, verdict: rules.score(t.command) }));
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const m = { tp: 0, fp: 0, fn: 0, tn: 0 };
  const categories = {};
  const mistakes = [];
  for (const r of rows) {
    const alert = r.verdict.score >= threshold;
    const key = alert ? (r.risky ? 'tp' : 'fp') : r.risky ? 'fn' : 'tn';
    m[key]++;
    const cat = r.category ?? (r.risky ? '(unlabelled)' : 'benign/medium');
    const c = (categories[cat] ??= { labelled: 0, alerts: 0, categoryMatches: 0 });
    c.labelled++;
    if (alert) c.alerts++;
    if (r.category && r.verdict.category === r.category) c.categoryMatches++;
    if (key === 'fp' || key === 'fn' || (r.category && r.verdict.category !== r.category))
      mistakes.push({ command: r.command, risky: r.risky, expected: r.category ?? null, verdict: r.verdict });
  }
  const precision = m.tp + m.fp === 0 ? 1 : m.tp / (m.tp + m.fp);
  const recall = m.tp + m.fn === 0 ? 1 : m.tp / (m.tp + m.fn);
  const round = (x) => Math.round(x * 1000) / 1000;

  const doc = {
    suite: 'risk',
    startedAt: startedAt.toISOString(),
    threshold,
    commands: rows.length,
    precision: round(precision),
    recall: round(recall),
    f1: round(precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall)),
    confusion: m,
    categories,
    mistakes,
    microsecondsPerCommand: Math.round((elapsedMs * 1000) / rows.length),
    errors: [],
  };

  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  console.log(`\nrisk: built-in rules on ${rows.length} labelled commands, alert threshold ${threshold}\n`);
  console.log(`precision ${pct(precision)}   recall ${pct(recall)}   F1 ${doc.f1}`);
  console.log(`\n                 alert   no alert`);
  console.log(`labelled risky   ${String(m.tp).padStart(5)}   ${String(m.fn).padStart(8)}`);
  console.log(`labelled benign  ${String(m.fp).padStart(5)}   ${String(m.tn).padStart(8)}`);
  console.log(`\n${'category'.padEnd(20)} labelled  alerts  category right`);
  for (const [cat, c] of Object.entries(categories).sort(([a], [b]) => a.localeCompare(b)))
    console.log(
      `${cat.padEnd(20)} ${String(c.labelled).padStart(8)}  ${String(c.alerts).padStart(6)}  ${String(c.categoryMatches).padStart(14)}`,
    );
  if (mistakes.length > 0) {
    console.log(`\nmistakes (${mistakes.length}):`);
    for (const x of mistakes)
      console.log(
        `  ${JSON.stringify(x.command)}: ${x.verdict.score} ${x.verdict.category} (${x.verdict.rule}), labelled ${x.risky ? 'risky' : 'not risky'} ${x.expected ?? ''}`,
      );
  }
  const file = join(resultsDir, `risk-${stamp}.json`);
  writeJson(file, doc);
  writeJson(join(resultsDir, 'risk-latest.json'), doc);
  console.log(`\nresults: ${file.slice(ROOT.length)} (and risk-latest.json)`);
  log(`risk: ${rows.length} commands scored in ${elapsedMs.toFixed(1)} ms`);
  return doc;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  await runStandalone({ resultsDir: join(ROOT, 'bench', 'results'), stamp });
}
