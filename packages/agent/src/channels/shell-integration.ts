import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { BASH_SCRIPT, SH_SCRIPT, ZSH_ENV_SCRIPT, ZSH_HOOKS_SCRIPT } from './shell-scripts.js';

/** Which integration a login shell gets, from the basename of its path; undefined: none (fish, tcsh, ...). */
export type ShellKind = 'bash' | 'zsh' | 'sh';

/** Shells by basename. `sh` covers dash, ash and bash running as sh (all read ENV when interactive). */
export function shellKind(shellPath: string): ShellKind | undefined {
  const name = basename(shellPath);
  if (name === 'bash') return 'bash';
  if (name === 'zsh') return 'zsh';
  if (name === 'sh' || name === 'dash' || name === 'ash') return 'sh';
  return undefined;
}

/** Paths of the installed scripts, relative to the integration directory. */
export const SHELL_FILES = {
  bash: 'bash/corral.bash',
  zshDir: 'zsh',
  zshEnv: 'zsh/.zshenv',
  zshHooks: 'zsh/corral.zsh',
  sh: 'sh/corral.sh',
} as const;

const PREFIX = 'corral-shell-';
/** The agent process that owns a directory: an agent killed without its shutdown leaves it behind. */
const OWNER_FILE = 'owner.pid';

/**
 * Remove the directories of agents of this user that died without cleaning up (SIGKILL, a crash):
 * only directories we own, named like ours, whose owner process is gone.
 */
function removeStale(parent: string): void {
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(parent, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      const pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* not ours, or already gone */
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The environment variable that hands the session nonce to the scripts (they unset it at once). */
export const NONCE_ENV = 'CORRAL_SHELL_NONCE';

/** An installed copy of the scripts; remove it with dispose() when the agent stops. */
export interface ShellIntegration {
  /** Directory holding the scripts (mode 0755, files 0644, owned by the agent's user). */
  readonly dir: string;
  dispose(): void;
}

/**
 * Write the scripts to a fresh directory: `mkdtemp` under the temporary directory (a name nobody can
 * guess or create first; /tmp's sticky bit keeps other users from renaming or removing it), opened to
 * 0755 after the files are in place so the shells, which run as the session's OS user, can read them,
 * and nobody but the agent's own user can change them. One directory per agent run, none per session:
 * the nonce travels in the environment. Directories left by agents of this user that died without
 * their shutdown (their `owner.pid` names no live process) are removed first.
 */
export function installShellIntegration(parent: string = tmpdir()): ShellIntegration {
  removeStale(parent);
  const dir = mkdtempSync(join(parent, PREFIX));
  const put = (rel: string, text: string): void => writeFileSync(join(dir, rel), text, { mode: 0o644, flag: 'wx' });
  for (const sub of ['bash', 'zsh', 'sh']) mkdirSync(join(dir, sub), { mode: 0o755 });
  put(SHELL_FILES.bash, BASH_SCRIPT);
  put(SHELL_FILES.zshEnv, ZSH_ENV_SCRIPT);
  put(SHELL_FILES.zshHooks, ZSH_HOOKS_SCRIPT);
  put(SHELL_FILES.sh, SH_SCRIPT);
  put(OWNER_FILE, `${process.pid}\n`);
  // mkdtemp made it 0700; the umask may have narrowed the others.
  chmodSync(dir, 0o755);
  for (const sub of ['bash', 'zsh', 'sh']) chmodSync(join(dir, sub), 0o755);
  for (const rel of [SHELL_FILES.bash, SHELL_FILES.zshEnv, SHELL_FILES.zshHooks, SHELL_FILES.sh, OWNER_FILE]) {
    chmodSync(join(dir, rel), 0o644);
  }
  return {
    dir,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * How to start an interactive shell with the integration: its arguments and extra environment.
 * bash: `--rcfile` (so it is not a login shell; the rc file reads the login files itself); zsh: a login
 * shell whose ZDOTDIR is ours; sh: a login shell with ENV set. undefined for shells we do not know.
 */
export function integratedShell(
  shellPath: string,
  dir: string,
  nonce: string,
): { args: string[]; env: Record<string, string> } | undefined {
  const kind = shellKind(shellPath);
  if (!kind) return undefined;
  if (kind === 'bash') return { args: ['--rcfile', join(dir, SHELL_FILES.bash), '-i'], env: { [NONCE_ENV]: nonce } };
  if (kind === 'zsh') return { args: ['-l'], env: { [NONCE_ENV]: nonce, ZDOTDIR: join(dir, SHELL_FILES.zshDir) } };
  return { args: ['-l'], env: { [NONCE_ENV]: nonce, ENV: join(dir, SHELL_FILES.sh) } };
}
