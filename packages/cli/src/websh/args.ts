/**
 * A minimal parser for the common shapes of `corral websh ...`, so that main.ts can start a session
 * without loading commander (~25 ms here). It accepts only what it is sure of and returns undefined
 * for everything else (help, unknown options, a missing server), which then goes through commander
 * as usual. args.test.ts checks it gives commander's answer on every shape it accepts.
 *
 *   websh [-t|--tty] [-u USER|-uUSER|--user USER|--user=USER] SERVER [COMMAND ...] [-- COMMAND ...]
 */
export interface WebshArgs {
  server: string;
  command: string[];
  user?: string;
  tty: boolean;
}

/** Words after `websh` that name a subcommand, not a server (`corral websh open ls` reaches a server "ls"). */
export const WEBSH_SUBCOMMANDS: ReadonlySet<string> = new Set([
  'open',
  'ls',
  'attach',
  'share',
  'shares',
  'unshare',
  'join',
  'watch',
  'kill',
  'help',
]);

/** @param args the words after `websh` */
export function parseWebshArgs(args: readonly string[]): WebshArgs | undefined {
  const operands: string[] = [];
  let user: string | undefined;
  let tty = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      if (operands.length === 0) return undefined;
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a === '-t' || a === '--tty') tty = true;
    else if (a === '-u' || a === '--user') {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('-')) return undefined;
      user = v;
      i++;
    } else if (a.startsWith('--user=')) user = a.slice('--user='.length);
    else if (a.startsWith('-u') && a.length > 2) user = a.slice(2);
    else if (a.startsWith('-') && a !== '-') return undefined;
    else operands.push(a);
  }
  const [server, ...command] = operands;
  if (server === undefined || server === '' || WEBSH_SUBCOMMANDS.has(server)) return undefined;
  return { server, command, tty, ...(user !== undefined ? { user } : {}) };
}
