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
});
