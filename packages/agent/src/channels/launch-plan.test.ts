import { describe, expect, it } from 'vitest';
import { planLaunch } from './launch-plan.js';

const alice = { name: 'alice', uid: 1000, gid: 1001, home: '/home/alice', shell: '/bin/zsh' };
const root = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' };

describe('launch plan', () => {
  it('pty mode runs a login shell, or the command through `$SHELL -lc`', () => {
    expect(planLaunch({ user: root, pty: true, switchUser: false, homeExists: true })).toMatchObject({
      file: '/bin/bash',
      args: ['-l'],
      cwd: '/root',
    });
    expect(
      planLaunch({ user: root, pty: true, command: ['ls', '-la', '/tmp'], switchUser: false, homeExists: true }).args,
    ).toEqual(['-lc', 'ls -la /tmp']);
  });

  it('pipe mode runs `$SHELL -c "<words joined by spaces>"`, like ssh host cmd', () => {
    expect(
      planLaunch({ user: root, pty: false, command: ['echo', 'a b'], switchUser: false, homeExists: true }).args,
    ).toEqual(['-c', 'echo a b']);
    expect(planLaunch({ user: root, pty: false, switchUser: false, homeExists: true }).args).toEqual([]);
  });

  it('builds the environment from scratch: HOME USER LOGNAME SHELL PATH, TERM in pty mode, LANG when set', () => {
    expect(
      planLaunch({ user: alice, pty: true, term: 'xterm', lang: 'C.UTF-8', switchUser: false, homeExists: true }).env,
    ).toEqual({
      HOME: '/home/alice',
      USER: 'alice',
      LOGNAME: 'alice',
      SHELL: '/bin/zsh',
      PATH: '/usr/local/bin:/usr/bin:/bin',
      TERM: 'xterm',
      LANG: 'C.UTF-8',
    });
    const pipe = planLaunch({ user: root, pty: false, switchUser: false, homeExists: true }).env;
    expect(pipe.TERM).toBeUndefined();
    expect(pipe.PATH).toContain('/usr/sbin');
  });

  it('accepts only plain terminal names for TERM (it is not part of the signed grant)', () => {
    expect(
      planLaunch({ user: root, pty: true, term: 'screen-256color', switchUser: false, homeExists: true }).env.TERM,
    ).toBe('screen-256color');
    expect(
      planLaunch({ user: root, pty: true, term: 'x; rm -rf /', switchUser: false, homeExists: true }).env.TERM,
    ).toBe('xterm-256color');
  });

  it('starts in / when the home directory is missing', () => {
    expect(planLaunch({ user: alice, pty: true, switchUser: false, homeExists: false }).cwd).toBe('/');
  });

  it('switches user through setpriv --init-groups when available (supplementary groups set right)', () => {
    const p = planLaunch({
      user: alice,
      pty: true,
      switchUser: true,
      setprivPath: '/usr/bin/setpriv',
      homeExists: true,
    });
    expect(p).toMatchObject({
      file: '/usr/bin/setpriv',
      args: ['--reuid=1000', '--regid=1001', '--init-groups', '--', '/bin/zsh', '-l'],
    });
    expect(p.uid).toBeUndefined();
  });

  it('falls back to the spawner uid/gid switch without setpriv', () => {
    const p = planLaunch({ user: alice, pty: false, command: ['id'], switchUser: true, homeExists: true });
    expect(p).toMatchObject({ file: '/bin/zsh', args: ['-c', 'id'], uid: 1000, gid: 1001 });
  });

  it('starts an interactive bash, zsh or sh with the shell integration when the gateway asked for it', () => {
    const marks = { dir: '/tmp/corral-shell-x', nonce: 'NONCE_abcdefghijklmn' };
    const bash = planLaunch({ user: root, pty: true, switchUser: false, homeExists: true, shellMarks: marks });
    expect(bash.args).toEqual(['--rcfile', '/tmp/corral-shell-x/bash/corral.bash', '-i']);
    expect(bash.env.CORRAL_SHELL_NONCE).toBe(marks.nonce);
    const zsh = planLaunch({
      user: alice,
      pty: true,
      switchUser: true,
      setprivPath: '/usr/bin/setpriv',
      homeExists: true,
      shellMarks: marks,
    });
    expect(zsh.args.slice(-2)).toEqual(['/bin/zsh', '-l']);
    expect(zsh.env).toMatchObject({ ZDOTDIR: '/tmp/corral-shell-x/zsh', CORRAL_SHELL_NONCE: marks.nonce });
    const dash = planLaunch({
      user: { ...alice, shell: '/usr/bin/dash' },
      pty: true,
      switchUser: false,
      homeExists: true,
      shellMarks: marks,
    });
    expect(dash.args).toEqual(['-l']);
    expect(dash.env.ENV).toBe('/tmp/corral-shell-x/sh/corral.sh');
  });

  it('leaves commands, pipe mode and unknown shells as they were', () => {
    const marks = { dir: '/tmp/corral-shell-x', nonce: 'NONCE_abcdefghijklmn' };
    const cmd = planLaunch({
      user: root,
      pty: true,
      command: ['id'],
      switchUser: false,
      homeExists: true,
      shellMarks: marks,
    });
    expect(cmd.args).toEqual(['-lc', 'id']);
    expect(cmd.env.CORRAL_SHELL_NONCE).toBeUndefined();
    const fish = planLaunch({
      user: { ...alice, shell: '/usr/bin/fish' },
      pty: true,
      switchUser: false,
      homeExists: true,
      shellMarks: marks,
    });
    expect(fish.args).toEqual(['-l']);
    expect(fish.env.CORRAL_SHELL_NONCE).toBeUndefined();
    expect(planLaunch({ user: root, pty: false, switchUser: false, homeExists: true, shellMarks: marks }).args).toEqual(
      [],
    );
  });
});
