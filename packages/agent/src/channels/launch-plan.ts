import type { OsUser } from './passwd.js';
import { integratedShell } from './shell-integration.js';

/** Exactly what to exec for a channel: file, argv, directory, environment, and identity. */
export interface LaunchPlan {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Set only when the spawner itself must switch user (no setpriv available). */
  uid?: number;
  gid?: number;
}

/** Inputs of {@link planLaunch}. */
export interface LaunchInput {
  user: OsUser;
  /** true: pty mode (login shell); false: pipes. */
  pty: boolean;
  /** Command words from the signed grant; joined by spaces and run by the shell, like ssh. */
  command?: readonly string[];
  /** TERM for pty mode. Default xterm-256color. */
  term?: string;
  /** The agent's LANG, passed on when set. */
  lang?: string;
  /** The process must run as `user` while the agent is root. */
  switchUser: boolean;
  /**
   * Path of util-linux setpriv, when present. Used to switch user because it also sets the user's
   * supplementary groups (`--init-groups`); node-pty's and Node's own uid/gid switch do not
   * (node-pty keeps root's groups, Node drops them all).
   */
  setprivPath?: string;
  /** Whether the home directory exists; if not the process starts in `/` (as sshd does). */
  homeExists: boolean;
  /**
   * Interactive pty shells only: start bash, zsh or sh with the shell integration installed in `dir`,
   * its marks carrying `nonce` (see shell-integration.ts). Ignored for commands and other shells.
   */
  shellMarks?: { dir: string; nonce: string };
}

/** TERM comes from the unsigned ptyParams: accept plain terminal names only. */
const TERM_RE = /^[a-zA-Z0-9][a-zA-Z0-9._+-]{0,63}$/;

const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const USER_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Plan the process for a channel. Pty mode runs `$SHELL -l` or `$SHELL -lc "<command>"` (an interactive
 * bash, zsh or sh with `shellMarks` gets the shell integration instead, see integratedShell); pipe mode
 * runs `$SHELL -c "<command>"` (or a bare `$SHELL` reading stdin when there is no command, like
 * `ssh -T`). The environment is built from scratch: nothing of the agent's own leaks through.
 */
export function planLaunch(input: LaunchInput): LaunchPlan {
  const { user } = input;
  const shell = user.shell;
  const cmd = input.command && input.command.length > 0 ? input.command.join(' ') : undefined;
  let shellArgs = input.pty ? (cmd !== undefined ? ['-lc', cmd] : ['-l']) : cmd !== undefined ? ['-c', cmd] : [];
  const integrated =
    input.pty && cmd === undefined && input.shellMarks
      ? integratedShell(shell, input.shellMarks.dir, input.shellMarks.nonce)
      : undefined;
  if (integrated) shellArgs = integrated.args;
  const env: Record<string, string> = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: shell,
    PATH: user.uid === 0 ? ROOT_PATH : USER_PATH,
  };
  if (input.pty) env.TERM = input.term && TERM_RE.test(input.term) ? input.term : 'xterm-256color';
  if (input.lang) env.LANG = input.lang;
  if (integrated) Object.assign(env, integrated.env);
  const cwd = input.homeExists ? user.home : '/';
  if (!input.switchUser) return { file: shell, args: shellArgs, cwd, env };
  if (input.setprivPath) {
    return {
      file: input.setprivPath,
      args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', shell, ...shellArgs],
      cwd,
      env,
    };
  }
  return { file: shell, args: shellArgs, cwd, env, uid: user.uid, gid: user.gid };
}
