/** Shared pieces of the built-in risk rules: the finding type, path classes and argument helpers. */
import type { RiskCategory } from './analyzer.js';
import type { Pipeline, SimpleCommand } from './shell-lexer.js';

export interface Hit {
  score: number;
  category: RiskCategory;
  reason: string;
  rule: string;
}

export const hit = (rule: string, score: number, category: RiskCategory, reason: string): Hit => ({
  rule,
  score,
  category,
  reason,
});

// ---------------------------------------------------------------------------------------------
// Paths

/** The filesystem root, home directories and top-level system directories (optionally with `/*`). */
export const CRITICAL_PATH =
  /^(\/+|\/+\*|~\/?\*?|\$HOME\/?\*?|\$\{HOME\}\/?\*?|\/(bin|boot|dev|etc|home|lib|lib32|lib64|opt|proc|root|run|sbin|srv|sys|usr|var|usr\/[a-z]+|var\/lib)\/?\*?)$/;
export const BLOCK_DEVICE =
  /^\/dev\/(sd[a-z]|nvme\d|vd[a-z]|xvd[a-z]|hd[a-z]|mmcblk\d|md\d|dm-\d|mapper\/|disk\/|loop\d|root)/;
export const HISTORY_FILE =
  /(^|\/)\.(bash|zsh|sh|ash|python|mysql|psql|node_repl|lesshst|sqlite)_?history$|(^|\/)\.zhistory$/;
export const LOG_FILE = /^\/var\/log\/|^\/var\/run\/utmp$|^\/run\/utmp$/;
export const SECRET_FILE =
  /^\/etc\/(g?shadow-?|sudoers(\.d\/.*)?|ssh\/ssh_host_[a-z0-9]+_key|ssl\/private\/.*)$|(^|\/)\.ssh\/(id_[a-z0-9]+|[^/]*\.pem)$|(^|\/)\.aws\/credentials$|(^|\/)\.kube\/config$|(^|\/)\.docker\/config\.json$|(^|\/)\.(netrc|pgpass|git-credentials|my\.cnf)$|(^|\/)\.gnupg\/|^\/proc\/[^/]+\/environ$|(^|\/)\.vault-token$/;
export const ACCOUNT_FILE = /^\/etc\/(passwd|shadow|group|gshadow)-?$/;

export function isSecret(path: string): boolean {
  return SECRET_FILE.test(path) && !path.endsWith('.pub');
}

/** Where output lands: redirections, `tee` files, the destination of `cp`/`mv`/`install`/`ln`/`dd`. */
export function writeTargets(cmd: SimpleCommand): string[] {
  const out = cmd.redirects.filter((r) => /^(>|>>|&>|&>>|>\||<>)$/.test(r.op)).map((r) => r.target);
  const args = operands(cmd);
  if (cmd.name === 'tee') out.push(...args);
  if (['cp', 'mv', 'install', 'ln', 'rsync'].includes(cmd.name) && args.length >= 2) out.push(args.at(-1) ?? '');
  if (cmd.name === 'dd') out.push(...cmd.argv.filter((a) => a.startsWith('of=')).map((a) => a.slice(3)));
  if (cmd.name === 'truncate') out.push(...args);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arguments

/** Non-option arguments (everything after `--` counts). */
export function operands(cmd: SimpleCommand): string[] {
  const out: string[] = [];
  let dashdash = false;
  for (const a of cmd.argv.slice(1)) {
    if (!dashdash && a === '--') dashdash = true;
    else if (dashdash || !a.startsWith('-') || a === '-') out.push(a);
  }
  return out;
}

/** Whether a short flag letter (in any cluster like `-rf`) or one of the long names is present. */
export function hasFlag(cmd: SimpleCommand, short: string, ...long: string[]): boolean {
  return cmd.argv
    .slice(1)
    .some((a) => (/^-[A-Za-z0-9]+$/.test(a) && short !== '' && a.slice(1).includes(short)) || long.includes(a));
}

export const sub = (cmd: SimpleCommand, i = 1): string => cmd.argv[i] ?? '';

// ---------------------------------------------------------------------------------------------
// Rules for one simple command

export type CommandRule = (cmd: SimpleCommand, pipeline: Pipeline, index: number) => Hit | null;
