/**
 * The shell integration scripts in real bash, zsh and dash (node-pty), with a user's own startup files
 * that set PROMPT_COMMAND, PS1, HISTCONTROL and a DEBUG trap: the marks come with the nonce, the
 * user's settings still work, and nothing of ours leaks into the environment of the commands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nodePty from 'node-pty';
import { installShellIntegration, type ShellIntegration } from '../src/channels/shell-integration.js';
import { planLaunch } from '../src/channels/launch-plan.js';

const NONCE = 'TestNonce_0123456789ab';
const has = (shell: string) => spawnSync(shell, ['-c', 'exit 0']).status === 0;
// eslint-disable-next-line no-control-regex
const MARK = /\x1b\]133;([^\x07]*)\x07/g;

let integration: ShellIntegration;
let parent: string;
let home: string;
beforeAll(() => {
  parent = mkdtempSync(join(tmpdir(), 'corral-si-test-'));
  integration = installShellIntegration(parent);
  home = mkdtempSync(join(tmpdir(), 'corral-si-home-'));
  // A user who keeps history tidy, has a prompt hook that reads $?, and a DEBUG trap of their own.
  writeFileSync(
    join(home, '.bashrc'),
    [
      'HISTCONTROL=ignoreboth',
      'PS1="custom> "',
      "PROMPT_COMMAND='__user_status=$?'",
      "trap '__user_debug=$((__user_debug+1))' DEBUG",
      '',
    ].join('\n'),
  );
  writeFileSync(join(home, '.profile'), '. ~/.bashrc\n');
  writeFileSync(join(home, '.zshrc'), 'PS1="zsh> "\nprecmd() { __user_status=$? }\n');
});
afterAll(() => {
  integration.dispose();
  rmSync(home, { recursive: true, force: true });
  rmSync(parent, { recursive: true, force: true });
});

/** A shell in a pty, planned exactly as the agent plans it, driven line by line. */
class Shell {
  out = '';
  readonly term: nodePty.IPty;
  constructor(shell: string) {
    const plan = planLaunch({
      user: { name: 'u', uid: process.getuid?.() ?? 0, gid: 0, home, shell },
      pty: true,
      switchUser: false,
      homeExists: true,
      shellMarks: { dir: integration.dir, nonce: NONCE },
    });
    this.term = nodePty.spawn(plan.file, plan.args, { cols: 200, rows: 30, cwd: home, env: plan.env });
    this.term.onData((d) => (this.out += d));
  }
  /** The marks' payloads, without their number (`;s=N`, checked by seqs()). */
  marks(): string[] {
    return [...this.out.matchAll(MARK)].map((m) => m[1]!.replace(/;s=\d+/, ''));
  }
  /** The numbers of the A, C and D marks, in order. */
  seqs(): number[] {
    return [...this.out.matchAll(MARK)].flatMap((m) => {
      const n = /;s=(\d+)/.exec(m[1]!);
      return n ? [Number(n[1])] : [];
    });
  }
  async until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output: ${JSON.stringify(this.out)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** Type a line and wait for the next prompt mark. */
  async run(line: string): Promise<void> {
    const prompts = this.marks().filter((m) => m.startsWith('A;')).length;
    this.term.write(line + '\r');
    await this.until(() => this.marks().filter((m) => m.startsWith('A;')).length > prompts, `prompt after ${line}`);
  }
  async exit(): Promise<void> {
    const done = new Promise((r) => this.term.onExit(r));
    this.term.write('exit\r');
    await done;
  }
}

describe('shell integration scripts', () => {
  it('an agent that died without its shutdown leaves a directory that the next start removes', () => {
    const p = mkdtempSync(join(tmpdir(), 'corral-si-stale-'));
    try {
      const dead = installShellIntegration(p);
      // A pid that is not running: a child that has exited.
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
      writeFileSync(join(dead.dir, 'owner.pid'), `${gone}\n`);
      const live = installShellIntegration(p);
      expect(existsSync(dead.dir)).toBe(false);
      // One whose owner still runs (this process) stays.
      const again = installShellIntegration(p);
      expect(existsSync(live.dir)).toBe(true);
      again.dispose();
      live.dispose();
    } finally {
      rmSync(p, { recursive: true, force: true });
    }
  });

  it('are readable by everyone and writable by nobody but the agent user', () => {
    expect(statSync(integration.dir).mode & 0o777).toBe(0o755);
    for (const f of ['bash/corral.bash', 'zsh/.zshenv', 'zsh/corral.zsh', 'sh/corral.sh', 'owner.pid']) {
      expect(statSync(join(integration.dir, f)).mode & 0o777).toBe(0o644);
    }
  });

  it('bash: C with the whole line, D with its status; the user PROMPT_COMMAND, $? and DEBUG trap still work', async () => {
    const sh = new Shell('/bin/bash');
    await sh.until(() => sh.marks().some((m) => m.startsWith('A;')), 'first prompt');
    await sh.run('false');
    await sh.run('echo "a;b\\c" | cat; (exit 3)');
    await sh.run(' echo hidden-from-history');
    await sh.run('');
    await sh.run('(exit 7)');
    await sh.run('echo status=$__user_status debug=$((__user_debug > 0)) env=$(env | grep -c CORRAL_)');
    const marks = sh.marks();
    expect(marks).toContain(`C;n=${NONCE};cmdline=false`);
    expect(marks).toContain(`C;n=${NONCE};cmdline=echo "a\\x3bb\\\\c" | cat\\x3b (exit 3)`);
    // A lone subshell fires no DEBUG trap: its C comes late, right before its D.
    expect(marks).toContain(`C;n=${NONCE};cmdline=(exit 7);late=1`);
    // ignorespace kept the line out of the history: only the first simple command, flagged.
    expect(marks).toContain(`C;n=${NONCE};cmdline=echo hidden-from-history;partial=1`);
    const ds = marks.filter((m) => m.startsWith('D;'));
    expect(ds).toEqual([`D;1;n=${NONCE}`, `D;3;n=${NONCE}`, `D;0;n=${NONCE}`, `D;7;n=${NONCE}`, `D;0;n=${NONCE}`]);
    expect(marks.filter((m) => m.startsWith('C;'))).toHaveLength(5); // the empty line ran nothing
    expect(marks.every((m) => m.includes(`n=${NONCE}`))).toBe(true);
    expect(marks.find((m) => m.startsWith('A;'))).toBe(`A;n=${NONCE};cmd=1`);
    expect(sh.out).toContain('status=7 debug=1 env=0');
    // Every A, C and D mark is numbered 1, 2, 3, ...: a replay after a re-attach repeats numbers.
    const seqs = sh.seqs();
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(seqs.length).toBe(marks.filter((m) => !m.startsWith('B;')).length);
    expect(sh.out).toContain('custom> ');
    await sh.exit();
  });

  it.skipIf(!has('zsh'))(
    'zsh: preexec gives the line as typed (even kept out of history); ZDOTDIR and the nonce do not leak',
    async () => {
      const sh = new Shell('/usr/bin/zsh');
      await sh.until(() => sh.marks().some((m) => m.startsWith('A;')), 'first prompt');
      await sh.run('false');
      await sh.run(' echo x | cat');
      await sh.run('(exit 7)');
      await sh.run('echo zdot=${ZDOTDIR-unset} env=$(env | grep -c CORRAL_) status=$__user_status');
      const marks = sh.marks();
      expect(marks).toContain(`C;n=${NONCE};cmdline=false`);
      expect(marks).toContain(`C;n=${NONCE};cmdline= echo x | cat`);
      expect(marks.filter((m) => m.startsWith('D;'))).toEqual([
        `D;1;n=${NONCE}`,
        `D;0;n=${NONCE}`,
        `D;7;n=${NONCE}`,
        `D;0;n=${NONCE}`,
      ]);
      expect(sh.out).toContain('zdot=unset env=0 status=7');
      expect(sh.out).toContain('zsh> ');
      await sh.exit();
    },
  );

  it.skipIf(!has('dash'))(
    'sh (dash): prompt marks with the status only, no command marks; ENV does not leak',
    async () => {
      const sh = new Shell('/bin/dash');
      await sh.until(() => sh.marks().some((m) => m.startsWith('A;')), 'first prompt');
      await sh.run('false');
      await sh.run('echo env=${ENV-unset}');
      const marks = sh.marks();
      expect(marks.some((m) => m.startsWith('C;'))).toBe(false);
      expect(marks).toContain(`D;1;n=${NONCE}`);
      expect(marks.find((m) => m.startsWith('A;'))).toBe(`A;n=${NONCE}`);
      expect(sh.out).toContain('env=unset');
      await sh.exit();
    },
  );
});
