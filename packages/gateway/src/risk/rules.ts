/**
 * The rule engine: reads a command line with the shell lexer, scores every simple command (and the
 * text of every substitution, `sh -c` string and `ssh host cmd`) with the built-in rules and the
 * workspace's own, and answers with the highest-scoring finding. Pure and synchronous underneath;
 * `analyze()` is async only to fit {@link RiskAnalyzer}.
 */
import { z } from 'zod';
import { commandPatternToRegExp } from '../exec/command-acl.js';
import type { RiskAnalyzer, RiskContext, RiskVerdict } from './analyzer.js';
import { NO_RISK, RISK_CATEGORIES } from './analyzer.js';
import type { Hit } from './builtin-rules.js';
import { COMMAND_RULES, DOWNLOADERS, ECHOERS, LINE_RULES, readsProgramFromStdin } from './builtin-rules.js';
import type { SimpleCommand } from './shell-lexer.js';
import { parseCommandLine } from './shell-lexer.js';

/** Substitutions inside substitutions are read this deep; deeper text is scored as a whole line only. */
const MAX_DEPTH = 4;
/** Longer lines are cut before reading (a pasted script is scored on its first 16 KiB). */
const MAX_LINE = 16 * 1024;

/**
 * A workspace-defined rule. `pattern` is a regular expression when written `/.../flags`, otherwise a
 * glob (`*` any run, `?` one character) that must match a whole simple command (after `sudo`, `env`
 * and the like are stripped, words joined by one space) or the whole line. Workspace rules can only
 * raise a line's score (the verdict is the maximum over all findings); see docs/RISK.md for why.
 */
export const workspaceRiskRuleSchema = z.object({
  name: z.string().min(1).max(100),
  pattern: z.string().min(1).max(1000),
  score: z.number().int().min(0).max(100),
  category: z.enum(RISK_CATEGORIES),
  reason: z.string().min(1).max(300),
});
export type WorkspaceRiskRule = z.infer<typeof workspaceRiskRuleSchema>;

interface CompiledRule {
  rule: WorkspaceRiskRule;
  re: RegExp;
  glob: boolean;
}

/** Compile workspace rules; throws naming the rule when a pattern is not a valid regular expression. */
export function compileWorkspaceRules(rules: readonly unknown[]): CompiledRule[] {
  return rules.map((raw, i) => {
    const parsed = workspaceRiskRuleSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`risk rule #${i + 1}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const rule = parsed.data;
    const m = /^\/(.*)\/([a-z]*)$/s.exec(rule.pattern);
    if (!m) return { rule, re: commandPatternToRegExp(rule.pattern), glob: true };
    try {
      return { rule, re: new RegExp(m[1] ?? '', (m[2] ?? '').replace(/[gy]/g, '')), glob: false };
    } catch (err) {
      throw new Error(`risk rule "${rule.name}": invalid regular expression (${(err as Error).message})`, {
        cause: err,
      });
    }
  });
}

export interface RuleAnalyzerOptions {
  /** The workspace's own rules (validated here); default none. */
  rules?: readonly unknown[];
}

const better = (a: Hit | null, b: Hit | null): Hit | null => (b && (!a || b.score > a.score) ? b : a);

export class RuleAnalyzer implements RiskAnalyzer {
  readonly #rules: CompiledRule[];

  constructor(opts: RuleAnalyzerOptions = {}) {
    this.#rules = compileWorkspaceRules(opts.rules ?? []);
  }

  analyze(command: string, _ctx?: RiskContext): Promise<RiskVerdict> {
    return Promise.resolve(this.score(command));
  }

  /** The synchronous core of {@link analyze}. */
  score(command: string): RiskVerdict {
    const best = this.#line(command.slice(0, MAX_LINE), 0);
    if (!best) return { ...NO_RISK };
    return { score: best.score, category: best.category, reason: best.reason, rule: best.rule, source: 'rules' };
  }

  #line(line: string, depth: number): Hit | null {
    let best: Hit | null = null;
    for (const { re, hit } of LINE_RULES) if (re.test(line)) best = better(best, hit);
    best = better(best, this.#workspace(line));
    const pipelines = parseCommandLine(line);
    let downloaded = false;
    for (const pipeline of pipelines) {
      pipeline.forEach((cmd, i) => {
        for (const rule of COMMAND_RULES) best = better(best, rule(cmd, pipeline, i));
        best = better(best, this.#workspace(normalize(cmd)));
        if (depth < MAX_DEPTH) for (const s of cmd.substitutions) best = better(best, this.#line(s, depth + 1));
        // `echo 'rm -rf /' | sh`: the echoed text is the program.
        const prev = pipeline[i - 1];
        if (i > 0 && prev && ECHOERS.has(prev.name) && readsProgramFromStdin(cmd) && depth < MAX_DEPTH)
          best = better(best, this.#line(prev.argv.slice(1).join(' '), depth + 1));
        // `wget -O /tmp/x.sh URL && sh /tmp/x.sh`: a download followed by running a fresh file.
        if (downloaded && runsLocalFile(cmd))
          best = better(best, {
            rule: 'dl.fetch-then-run',
            score: 80,
            category: 'download-execute',
            reason: `downloads a file and then runs ${cmd.argv.slice(0, 2).join(' ')}`,
          });
        if (DOWNLOADERS.has(cmd.name)) downloaded = true;
      });
    }
    return best;
  }

  #workspace(text: string): Hit | null {
    let best: Hit | null = null;
    for (const { rule, re } of this.#rules) {
      if (text !== '' && re.test(text))
        best = better(best, {
          rule: `workspace:${rule.name}`,
          score: rule.score,
          category: rule.category,
          reason: rule.reason,
        });
    }
    return best;
  }
}

/** A simple command as workspace globs see it: its words after wrappers, joined by single spaces. */
function normalize(cmd: SimpleCommand): string {
  return cmd.argv.join(' ');
}

function runsLocalFile(cmd: SimpleCommand): boolean {
  const a0 = cmd.argv[0] ?? '';
  if (/^(\.\/|\/tmp\/|\/dev\/shm\/|\/var\/tmp\/)/.test(a0)) return true;
  const script = cmd.argv[1] ?? '';
  return (
    /^(sh|bash|dash|zsh|python[0-9.]*|perl|ruby|source|\.)$/.test(cmd.name) && /\.(sh|py|pl|rb)$|^\/tmp\//.test(script)
  );
}
