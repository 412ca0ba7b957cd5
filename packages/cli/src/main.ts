import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CliContext } from './context.js';
import { describeError } from './errors.js';
import { parseWebshArgs } from './websh/args.js';

/**
 * `corral`: the entry point. The only place that reads process.env and argv; it builds the CliContext
 * and hands over to the command tree in program.ts. `corral websh` in its common shapes skips
 * commander entirely (see websh/args.ts): its startup is benchmarked against ssh.
 */

/** The real world, read once. */
function processContext(): CliContext {
  const env = process.env;
  const color = Boolean(process.stdout.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
  return {
    // process.stdin is created on first access; websh without input never touches it.
    get stdin() {
      return process.stdin;
    },
    stdout: process.stdout,
    stderr: process.stderr,
    configDir: env.CORRAL_CONFIG_DIR || join(homedir(), '.config', 'corral'),
    color,
    term: env.TERM || undefined,
    editor: env.VISUAL || env.EDITOR || undefined,
    envToken: env.CORRAL_TOKEN
      ? {
          token: env.CORRAL_TOKEN.trim(),
          gateway: env.CORRAL_GATEWAY || undefined,
          caFile: env.CORRAL_CA_FILE || undefined,
        }
      : undefined,
    browserOpener: process.platform === 'darwin' ? 'open' : env.DISPLAY || env.WAYLAND_DISPLAY ? 'xdg-open' : undefined,
    now: () => Date.now(),
  };
}

function flush(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

async function main(): Promise<void> {
  // A closed pipe (`corral server ls | head -1`) is not an error worth a stack trace.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const ctx = processContext();
  let exitCode = 0;
  try {
    const argv = process.argv.slice(2);
    const fast = argv[0] === 'websh' ? parseWebshArgs(argv.slice(1)) : undefined;
    if (fast) {
      const { websh } = await import('./commands/websh.js');
      exitCode = await websh(ctx, fast.server, fast.command, {
        tty: fast.tty,
        ...(fast.user !== undefined ? { user: fast.user } : {}),
      });
    } else {
      const { buildProgram } = await import('./program.js');
      await buildProgram(ctx, (code) => (exitCode = code)).parseAsync(process.argv);
    }
  } catch (err) {
    const { message, exitCode: code } = describeError(err);
    process.stderr.write(`corral: ${message}\n`);
    exitCode = code;
  }
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
  // Exit now: a websh whose remote side ended must not wait for a local stdin that never ends.
  process.exit(exitCode);
}

await main();
