/**
 * A forgiving reader of POSIX shell command lines, enough to score them: it splits a line into
 * pipelines of simple commands (`|`, `;`, `&&`, `||`, `&`, newlines, subshells and groups), removes
 * quotes, collects redirections, and hands back the text of command and process substitutions
 * (`$(...)`, backticks, `<(...)`) for the caller to read in turn. It never executes or expands
 * anything and never throws: unbalanced quotes run to the end of the line.
 *
 *   "sudo curl -s x | bash; ls $(pwd)"
 *     -> pipeline [ {argv: [curl -s x], elevated}, {argv: [bash]} ]
 *        pipeline [ {argv: [ls $(pwd)], substitutions: ["pwd"]} ]
 */

export interface Redirect {
  /** The operator without its file descriptor: `>`, `>>`, `<`, `<<`, `<<<`, `>&`, `&>`, `&>>`, `>|`, `<>`. */
  op: string;
  /** The file (quotes removed), or the descriptor for `>&1`. */
  target: string;
}

export interface SimpleCommand {
  /** Words after quote removal and after wrapper prefixes (`sudo`, `env`, `nohup`, `xargs`, ...). */
  argv: string[];
  /** The command name without its directory (`/usr/bin/rm` -> `rm`); '' for a bare assignment. */
  name: string;
  /** `NAME=value` words before the command (including those given to `env`). */
  assignments: string[];
  redirects: Redirect[];
  /** Run through `sudo`, `doas` or similar. */
  elevated: boolean;
  /** Inner text of `$(...)`, backticks and `<(...)`/`>(...)`, and of `sh -c`/`su -c`/`ssh host` commands. */
  substitutions: string[];
}

export type Pipeline = SimpleCommand[];

interface Word {
  value: string;
  /** Whether any part was quoted or escaped (so `"|"` is a word, not a pipe). */
  quoted: boolean;
}

type Token = { kind: 'word'; word: Word; subs: string[] } | { kind: 'op'; op: string };

const CONTROL_OPS = ['&&', '||', '|&', ';;', '|', ';', '&', '(', ')', '\n'];
const REDIRECT_OPS = ['&>>', '<<<', '&>', '>>', '<<', '>&', '<&', '>|', '<>', '>', '<'];
const SEPARATORS = new Set(['&&', '||', ';;', ';', '&', '(', ')', '\n']);
const SKIPPED_KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '!', '{', '}']);

/** Find the end of a `(`...`)` group starting after `open` (index of the char after `(`); quote-aware. */
function matchParen(s: string, start: number): number {
  let depth = 1;
  let i = start;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') i += 2;
    else if (c === "'") {
      const j = s.indexOf("'", i + 1);
      i = j < 0 ? s.length : j + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      if (depth === 0) return i;
      i++;
    } else i++;
  }
  return s.length;
}

function lex(line: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let cur: { word: Word; subs: string[] } | null = null;
  const flush = (): void => {
    if (cur) tokens.push({ kind: 'word', ...cur });
    cur = null;
  };
  const word = (): { word: Word; subs: string[] } => (cur ??= { word: { value: '', quoted: false }, subs: [] });
  // `$(`, `<(`, `>(` and backticks: keep the raw text in the word, hand the inside to the caller.
  const substitution = (at: number, w: { word: Word; subs: string[] }): number => {
    const end = matchParen(line, at + 2);
    w.subs.push(line.slice(at + 2, end));
    w.word.value += line.slice(at, end + 1);
    return end + 1;
  };
  const backtick = (at: number, w: { word: Word; subs: string[] }): number => {
    let j = at + 1;
    while (j < line.length && line[j] !== '`') j += line[j] === '\\' ? 2 : 1;
    w.subs.push(line.slice(at + 1, Math.min(j, line.length)));
    w.word.value += line.slice(at, j + 1);
    return j + 1;
  };

  while (i < line.length) {
    const c = line[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\r') {
      flush();
      i++;
    } else if (c === '#' && !cur) {
      while (i < line.length && line[i] !== '\n') i++;
    } else if (c === '\\') {
      if (line[i + 1] === '\n') i += 2;
      else {
        const w = word();
        w.word.value += line[i + 1] ?? '';
        w.word.quoted = true;
        i += 2;
      }
    } else if (c === "'") {
      const j = line.indexOf("'", i + 1);
      const end = j < 0 ? line.length : j;
      const w = word();
      w.word.value += line.slice(i + 1, end);
      w.word.quoted = true;
      i = end + 1;
    } else if (c === '"') {
      const w = word();
      w.word.quoted = true;
      i++;
      while (i < line.length && line[i] !== '"') {
        const d = line[i];
        if (d === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1] ?? '')) {
          w.word.value += line[i + 1];
          i += 2;
        } else if (d === '$' && line[i + 1] === '(') i = substitution(i, w);
        else if (d === '`') i = backtick(i, w);
        else {
          w.word.value += d;
          i++;
        }
      }
      i++;
    } else if (c === '$' && line[i + 1] === '(') {
      i = substitution(i, word());
    } else if ((c === '<' || c === '>') && line[i + 1] === '(') {
      // Process substitution: a word of its own.
      flush();
      const w = word();
      i = substitution(i, w);
      flush();
    } else if (c === '`') {
      i = backtick(i, word());
    } else {
      const redirect = REDIRECT_OPS.find((op) => line.startsWith(op, i));
      const control = CONTROL_OPS.find((op) => line.startsWith(op, i));
      if (redirect) {
        // A word of digits right before the operator is its file descriptor (`2>`), not an argument.
        const w = cur as { word: Word; subs: string[] } | null;
        if (w && !w.word.quoted && /^\d+$/.test(w.word.value)) cur = null;
        else flush();
        tokens.push({ kind: 'op', op: redirect });
        i += redirect.length;
      } else if (control) {
        flush();
        tokens.push({ kind: 'op', op: control });
        i += control.length;
      } else {
        word().word.value += c;
        i++;
      }
    }
  }
  flush();
  return tokens;
}

const basename = (s: string): string => s.slice(s.lastIndexOf('/') + 1);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Options of wrapper commands that take a value, so the value is not mistaken for the command. */
const WRAPPERS: Record<string, { valued: RegExp; positional?: number }> = {
  sudo: { valued: /^-[ugCDprtUTh]$|^--(user|group|chdir|prompt|role|type|other-user|host|close-from)$/ },
  doas: { valued: /^-[uC]$/ },
  env: { valued: /^-[uCS]$|^--(unset|chdir|split-string)$/ },
  nohup: { valued: /^$/ },
  time: { valued: /^-[fo]$/ },
  command: { valued: /^$/ },
  builtin: { valued: /^$/ },
  exec: { valued: /^-a$/ },
  nice: { valued: /^-n$/ },
  ionice: { valued: /^-[cnp]$/ },
  timeout: { valued: /^-[sk]$|^--(signal|kill-after)$/, positional: 1 },
  stdbuf: { valued: /^-[ioe]$/ },
  setsid: { valued: /^$/ },
  unbuffer: { valued: /^$/ },
  chrt: { valued: /^$/, positional: 1 },
  taskset: { valued: /^$/, positional: 1 },
  watch: { valued: /^-[nd]$|^--(interval|differences)$/ },
  xargs: { valued: /^-[IiEeLlnPsad]$|^--(replace|max-args|max-procs|delimiter|arg-file|max-lines)$/ },
  busybox: { valued: /^$/ },
  strace: { valued: /^-[eopsS]$/ },
  flock: { valued: /^-[wE]$/, positional: 1 },
};
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'fish', 'su', 'runuser']);

/** Strip wrappers (`sudo -u x`, `env A=1`, `nohup`, `xargs -0`, ...) and note `sh -c`/`ssh host cmd` texts. */
function unwrap(cmd: SimpleCommand): void {
  for (let guard = 0; guard < 8; guard++) {
    while (cmd.argv[0] !== undefined && ASSIGNMENT.test(cmd.argv[0])) cmd.assignments.push(cmd.argv.shift() ?? '');
    const name = basename(cmd.argv[0] ?? '');
    const spec = WRAPPERS[name];
    if (!spec) break;
    let j = 1;
    const args = cmd.argv;
    while (j < args.length) {
      const a = args[j] ?? '';
      if (a === '--') {
        j++;
        break;
      }
      if (name === 'env' && ASSIGNMENT.test(a)) cmd.assignments.push(a);
      else if (!a.startsWith('-') || a === '-') break;
      else if (spec.valued.test(a)) j++;
      j++;
    }
    j += Math.min(spec.positional ?? 0, args.length - j);
    // `sudo -i` / `sudo -s` with no command open a root shell: keep it visible as `sudo`.
    if (j >= args.length) break;
    if (name === 'sudo' || name === 'doas') cmd.elevated = true;
    cmd.argv = args.slice(j);
  }
  cmd.name = basename(cmd.argv[0] ?? '');
  // Commands handed to another shell as a string are read as command lines of their own.
  const a = cmd.argv;
  if (SHELLS.has(cmd.name) || /^(python|perl|ruby|php|node)/.test(cmd.name)) {
    const c = a.findIndex((w, k) => k > 0 && /^-[a-z]*c$/.test(w));
    if (SHELLS.has(cmd.name) && c > 0 && a[c + 1] !== undefined) cmd.substitutions.push(a[c + 1] ?? '');
  } else if (cmd.name === 'ssh') {
    // ssh [options] host command...: options taking a value are the usual single letters.
    let k = 1;
    while (k < a.length && (a[k] ?? '').startsWith('-')) k += /^-[bcDEeFIiJLlmOopQRSWw]$/.test(a[k] ?? '') ? 2 : 1;
    if (k + 1 < a.length) cmd.substitutions.push(a.slice(k + 1).join(' '));
  }
}

/**
 * Split a command line into pipelines of simple commands. `&&`, `||`, `;`, `&`, newlines and
 * parentheses separate pipelines; `|` and `|&` join commands into one.
 */
export function parseCommandLine(line: string): Pipeline[] {
  const pipelines: Pipeline[] = [];
  let pipeline: Pipeline = [];
  let cmd: SimpleCommand | null = null;
  const fresh = (): SimpleCommand => ({
    argv: [],
    name: '',
    assignments: [],
    redirects: [],
    elevated: false,
    substitutions: [],
  });
  const endCommand = (): void => {
    if (cmd && (cmd.argv.length > 0 || cmd.redirects.length > 0 || cmd.substitutions.length > 0)) {
      unwrap(cmd);
      pipeline.push(cmd);
    }
    cmd = null;
  };
  const endPipeline = (): void => {
    endCommand();
    if (pipeline.length > 0) pipelines.push(pipeline);
    pipeline = [];
  };
  const tokens = lex(line);
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t];
    if (!tok) continue;
    if (tok.kind === 'op') {
      if (SEPARATORS.has(tok.op)) endPipeline();
      else if (tok.op === '|' || tok.op === '|&') endCommand();
      else {
        const next = tokens[t + 1];
        const c: SimpleCommand = (cmd ??= fresh());
        if (next?.kind === 'word') {
          c.redirects.push({ op: tok.op, target: next.word.value });
          c.substitutions.push(...next.subs);
          t++;
        }
      }
      continue;
    }
    const c: SimpleCommand = (cmd ??= fresh());
    if (c.argv.length === 0 && !tok.word.quoted && SKIPPED_KEYWORDS.has(tok.word.value)) continue;
    c.argv.push(tok.word.value);
    c.substitutions.push(...tok.subs);
  }
  endPipeline();
  return pipelines;
}
