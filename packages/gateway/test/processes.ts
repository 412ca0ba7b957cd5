import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const BIN = {
  gateway: join(ROOT, 'packages/gateway/bin/corral-gateway.js'),
  agent: join(ROOT, 'packages/agent/bin/corral-agent.js'),
  cli: join(ROOT, 'packages/cli/bin/corral.js'),
};

/** A long-running child whose output is collected, with a way to wait for a line. */
export class Proc {
  out = '';
  err = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(bin: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
  }

  async waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out) ?? re.exec(this.err);
      if (m) return m;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${re}\nstdout: ${this.out}\nstderr: ${this.err}`);
      if (this.child.exitCode !== null)
        throw new Error(
          `process exited (${this.child.exitCode}) before ${re}\nstdout: ${this.out}\nstderr: ${this.err}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion with optional stdin. */
export function run(
  bin: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string | Buffer; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timeout: ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolvePromise({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Poll `fn` until it returns a truthy value. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  stepMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A plain /bin/sh OS user for sessions in tests run as root (root's dotfiles here are slow and not ours). */
export const TEST_OS_USER = 'corral-e2e';

/** Create TEST_OS_USER if missing (as root); safe when two suites race to do it. */
export async function ensureTestUser(): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const exists = () => {
    try {
      execFileSync('id', [TEST_OS_USER], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (exists()) return;
  try {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', TEST_OS_USER], { stdio: 'ignore' });
  } catch {
    if (!exists()) throw new Error(`could not create OS user ${TEST_OS_USER}`);
  }
}
