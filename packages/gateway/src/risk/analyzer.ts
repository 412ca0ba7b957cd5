/**
 * Risk scoring of command lines typed in websh terminals or run through exec. An analyzer reads one
 * command line and says how dangerous it looks (0-100), in which category and why; a score at or above
 * the workspace threshold raises an alert. Analyzers only advise: the session recording stays the
 * ground truth of what ran.
 */

/** What a risky command touches. Kebab-case ids; shown in alerts and counted by the bench. */
export const RISK_CATEGORIES = [
  'destructive-files',
  'disks',
  'users-permissions',
  'privilege',
  'firewall-network',
  'services',
  'packages',
  'download-execute',
  'obfuscation',
  'credential-access',
  'exfiltration',
  'history-tampering',
  'reverse-shell',
  'processes',
  'resource-exhaustion',
  'power',
  'scheduled-tasks',
  'containers',
  'source-control',
  'kernel',
  'system-config',
  'other',
] as const;

export type RiskCategory = (typeof RISK_CATEGORIES)[number];

/** An analyzer's answer for one command line. */
export interface RiskVerdict {
  /** 0 (harmless) to 100 (certainly destructive or hostile); an integer. */
  score: number;
  /** The category of the highest-scoring finding; 'none' when nothing matched. */
  category: RiskCategory | 'none';
  /** One sentence for the alert, naming what was found. */
  reason: string;
  /** The id of the rule that decided the score (`rm.recursive-root`, `workspace:<name>`, `ai:<model>`), or null. */
  rule: string | null;
  /** Which analyzer produced the verdict. */
  source: 'rules' | 'ai';
}

/** Who runs the command where; AI analyzers pass this on, rules ignore it for now. */
export interface RiskContext {
  osUser: string;
  server: string;
}

export interface RiskAnalyzer {
  /** Never rejects: an analyzer that cannot decide answers with a verdict that says so. */
  analyze(command: string, ctx: RiskContext): Promise<RiskVerdict>;
}

/** The default alert threshold: a verdict scoring this or more raises an alert. */
export const DEFAULT_RISK_THRESHOLD = 70;

/** Whether a verdict raises an alert at `threshold` (default {@link DEFAULT_RISK_THRESHOLD}). */
export function isAlert(verdict: RiskVerdict, threshold: number = DEFAULT_RISK_THRESHOLD): boolean {
  return verdict.score >= threshold;
}

/** The verdict for a line no rule matched. */
export const NO_RISK: Readonly<RiskVerdict> = Object.freeze({
  score: 0,
  category: 'none',
  reason: 'no rule matched',
  rule: null,
  source: 'rules',
});

export function isRiskCategory(s: string): s is RiskCategory {
  return (RISK_CATEGORIES as readonly string[]).includes(s);
}
