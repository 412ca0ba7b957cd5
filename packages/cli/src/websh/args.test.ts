import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../program.js';
import { parseWebshArgs, type WebshArgs } from './args.js';

/** What the real command tree (program.ts) makes of the same words; stops before the action runs. */
async function viaCommander(args: string[]): Promise<WebshArgs> {
  const out = new PassThrough();
  const ctx = {
    stdin: new PassThrough(),
    stdout: out,
    stderr: out,
    configDir: '/nonexistent',
    color: false,
    term: undefined,
    now: () => 0,
  };
  const program = buildProgram(ctx, () => {}).exitOverride();
  let seen: WebshArgs | undefined;
  program.hook('preAction', (_root, cmd) => {
    const [server, command] = cmd.processedArgs as [string, string[]];
    const opts = cmd.opts<{ user?: string; tty?: boolean }>();
    seen = { server, command, tty: Boolean(opts.tty), ...(opts.user !== undefined ? { user: opts.user } : {}) };
    throw new Error('stop before the action');
  });
  await program.parseAsync(['websh', ...args], { from: 'user' }).catch(() => {});
  return seen!;
}

const accepted: string[][] = [
  ['web-01'],
  ['web-01', '--', 'true'],
  ['web-01', '--', 'ls', '-la', '--', 'x'],
  ['-t', 'web-01', '--', 'htop'],
  ['web-01', '-t', '--', 'htop'],
  ['web-01', '--tty'],
  ['-u', 'deploy', 'web-01'],
  ['web-01', '-u', 'deploy', '--', 'id'],
  ['-udeploy', 'web-01'],
  ['--user', 'deploy', 'web-01'],
  ['--user=deploy', 'web-01', '--', 'id', '-u'],
  ['-u', 'a', '-u', 'b', 'web-01'],
  ['web-01', 'uptime'],
  ['web-01', 'echo', '--', '-n'],
  ['web-01', '--', '-'],
];

describe('parseWebshArgs (the fast path) agrees with commander', () => {
  it.each(accepted.map((a) => [a.join(' '), a]))('%s', async (_label, args) => {
    const ours = parseWebshArgs(args as string[]);
    expect(ours).toBeDefined();
    expect(ours).toEqual(await viaCommander(args as string[]));
  });

  it.each([
    [[]],
    [['--help']],
    [['web-01', '-h']],
    [['web-01', '-x']],
    [['-u']],
    [['--', 'web-01']],
    [['web-01', '--verbose']],
    [['-tu', 'x', 'web-01']],
    [['ls']],
    [['attach', 'ses_1']],
    [['kill', 'ses_1', '--reason', 'x']],
    [['open', 'ls']],
  ])('leaves %j to commander (help, errors, unusual shapes, subcommands)', (args) => {
    expect(parseWebshArgs(args)).toBeUndefined();
  });
});
