/**
 * Command capture through the shell integration, end to end: a real gateway, agent and CLI, the CLI in a
 * real pty, sessions as OS users whose login shells are bash, zsh and sh. Each command typed at a bash or
 * zsh prompt becomes one session.command event (source "shell") with its exit status and duration and
 * one recording marker; the marks never reach the user's screen or the recording; a mark a user prints
 * without the session's nonce changes nothing; sh (prompt marks only) keeps the keystroke fallback.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Proc, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { tempDir } from './helpers.js';
import { cliPeople, startAgent } from './stack.js';

const IS_ROOT = process.getuid?.() === 0;
const HAVE_ZSH = spawnSync('zsh', ['-c', 'exit 0']).status === 0;
const BASH_USER = 'corral-e2e-bash';
const ZSH_USER = 'corral-e2e-zsh';

/** An OS user with the given login shell (as root; safe when suites race). */
function ensureUser(name: string, shell: string): void {
  if (spawnSync('id', [name]).status === 0) return;
  spawnSync('useradd', ['-m', '-s', shell, name]);
  if (spawnSync('id', [name]).status !== 0) throw new Error(`could not create OS user ${name}`);
}

/** A prompt at the end of the screen, maybe followed by mode switches (zsh: keypad, bracketed paste). */
// eslint-disable-next-line no-control-regex
const PROMPT = /[$#>%] (?:\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>])*$/;
const after = (re: RegExp) => new RegExp(`${re.source}[\\s\\S]*${PROMPT.source}`);

interface CommandEvent {
  details: {
    sessionId: string;
    command: string;
    source: string;
    exitCode?: number | null;
    durationMs?: number;
    partial?: boolean;
    firstCommand?: string;
    typedInto?: string;
    osUser: string;
  };
}

describe.skipIf(!IS_ROOT)('shell integration: command capture from OSC 133 marks', () => {
  const dir = tempDir('corral-osc133-');
  let gateway: Proc;
  let agent: Proc;
  let fp = '';
  const people = cliPeople(dir.path, () => fp);
  const env = people.envOf('admin');
  const cli = (args: string[]) => people.as('admin', args);

  beforeAll(async () => {
    await ensureTestUser();
    ensureUser(BASH_USER, '/bin/bash');
    if (HAVE_ZSH) ensureUser(ZSH_USER, execFileSync('sh', ['-c', 'command -v zsh']).toString().trim());
    gateway = new Proc(BIN.gateway, ['start', '--data', join(dir.path, 'gw'), '--listen', '127.0.0.1:0']);
    const url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    await people.login('admin', url, 'admin@localhost', password);
    agent = await startAgent(people, 'admin', {
      url,
      fp,
      dir: dir.path,
      name: 'marks-01',
      env: { CORRAL_METRICS_INTERVAL_MS: '0' },
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await gateway?.stop();
    dir.remove();
  });

  /** An interactive websh session as `osUser` in a real pty; each line is typed once `ready` matches. */
  async function session(osUser: string, lines: Array<{ type: string; then: RegExp | null }>) {
    const pty = await import('node-pty');
    const term = pty.spawn(process.execPath, [BIN.cli, 'websh', 'marks-01', '-u', osUser], {
      cols: 120,
      rows: 30,
      env: { ...process.env, ...env, TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    term.onData((d) => (screen += d));
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    await eventually(async () => PROMPT.test(screen), 15_000, 50);
    for (const l of lines) {
      const before = screen.length;
      term.write(l.type + '\r');
      const then = l.then ?? PROMPT;
      await eventually(async () => then.test(screen.slice(before)), 15_000, 50);
    }
    term.write('exit\r');
    expect(await exited).toBe(0);
    return screen;
  }

  /** The session.command events of the newest session of `osUser`, oldest first. */
  async function commandsOf(osUser: string, count: number): Promise<CommandEvent['details'][]> {
    return eventually(async () => {
      const a = JSON.parse(
        (await cli(['audit', 'ls', '--action', 'session.command', '--limit', '200', '-o', 'json'])).stdout,
      ) as { items: CommandEvent[] };
      const mine = a.items.filter((e) => e.details.osUser === osUser);
      const sessionId = mine[0]?.details.sessionId;
      const events = mine
        .filter((e) => e.details.sessionId === sessionId)
        .map((e) => e.details)
        .reverse();
      return events.length >= count ? events : undefined;
    });
  }

  /** The recording of a session: its output bytes and its markers. */
  async function recordingOf(sessionId: string): Promise<{ output: string; markers: string[] }> {
    const cast = await eventually(async () => {
      const e = await cli(['recording', 'export', sessionId]);
      return e.code === 0 ? e.stdout : undefined;
    });
    const events = cast
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string]);
    return {
      output: events
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
      markers: events.filter((e) => e[1] === 'm').map((e) => e[2]),
    };
  }

  const FORGED = "printf '\\033]133;C;cmdline=forged\\007\\033]133;D;0\\007'; echo forged-$((1+1))";
  const SCRIPT = [
    { type: 'false', then: PROMPT },
    { type: 'echo hi-$((40+2))', then: after(/hi-42/) },
    { type: 'sleep 1', then: PROMPT },
    { type: FORGED, then: after(/forged-2/) },
    // A leading space keeps the line out of bash's history (Debian's HISTCONTROL=ignoreboth).
    { type: ' echo spaced-$((1+2)) | cat', then: after(/spaced-3/) },
  ];
  const TYPED = ['false', 'echo hi-$((40+2))', 'sleep 1', FORGED, 'echo spaced-$((1+2)) | cat'];

  /** Runs SCRIPT, then switches the shell's hooks off with `disable`, types one more command and exits. */
  async function checkShellSession(osUser: string, disable: string): Promise<CommandEvent['details'][]> {
    const screen = await session(osUser, [
      ...SCRIPT,
      { type: disable, then: null },
      { type: 'echo after-$((2+3))', then: after(/after-5/) },
    ]);
    const all = await commandsOf(osUser, TYPED.length + 3);
    const events = all.slice(0, TYPED.length);
    // One event per command typed at the prompt, from the shell's marks only (no keystroke duplicates).
    expect(events.map((e) => e.command)).toEqual(TYPED);
    expect(events.every((e) => e.source === 'shell')).toBe(true);
    expect(events.map((e) => e.exitCode)).toEqual([1, 0, 0, 0, 0]);
    // With the hooks gone the shell reports nothing more, and what is typed is audited from keystrokes.
    const rest = all.slice(TYPED.length);
    expect(rest).toHaveLength(3);
    expect(rest).toEqual(
      expect.arrayContaining([
        // Its C came, its D never did.
        expect.objectContaining({ command: disable, source: 'shell', exitCode: null }),
        // As far as the marks tell, that command still runs: lines are read as typed into it.
        expect.objectContaining({ command: 'echo after-$((2+3))', source: 'keystrokes', typedInto: disable }),
        expect.objectContaining({ command: 'exit', source: 'keystrokes', typedInto: disable }),
      ]),
    );
    const sleep = events[2]!;
    expect(sleep.durationMs).toBeGreaterThanOrEqual(900);
    expect(events[0]!.durationMs).toBeGreaterThanOrEqual(0);

    // The user saw no mark of ours; the one they printed themselves went through untouched.
    const escMarks = (s: string) => s.match(/\x1b\]133;[^\x07]*\x07/g) ?? []; // eslint-disable-line no-control-regex
    expect(escMarks(screen)).toEqual(['\x1b]133;C;cmdline=forged\x07', '\x1b]133;D;0\x07']);
    expect(screen).not.toMatch(/133;[ABCD];n=/);

    const rec = await recordingOf(events[0]!.sessionId);
    expect(rec.markers).toEqual([...TYPED, disable, 'echo after-$((2+3))', 'exit']);
    expect(escMarks(rec.output)).toEqual(['\x1b]133;C;cmdline=forged\x07', '\x1b]133;D;0\x07']);
    expect(rec.output).toContain('hi-42');
    // The recording is what the user saw: the CLI's terminal shows the same bytes (its tty may turn a
    // lone \n into \r\n, nothing else).
    const norm = (s: string) => s.replace(/\r*\n/g, '\n');
    expect(norm(screen)).toContain(norm(rec.output));
    return events;
  }

  it('bash: each command with its exit status and duration, marks stripped, forged marks ignored, hooks removed still audited', async () => {
    const events = await checkShellSession(BASH_USER, 'trap - DEBUG; PROMPT_COMMAND=');
    // bash knew only the first command of the line kept out of its history; the keystrokes completed it.
    expect(events[4]).toMatchObject({ partial: true, firstCommand: 'echo spaced-$((1+2))' });
    expect(events.filter((e) => e.partial)).toHaveLength(1);
  });

  it.skipIf(!HAVE_ZSH)('zsh: the same through precmd/preexec hooks', async () => {
    const events = await checkShellSession(ZSH_USER, 'precmd_functions=(); preexec_functions=()');
    expect(events.some((e) => e.partial)).toBe(false);
  });

  it('a re-attached terminal replays its screen without reporting its commands again', async () => {
    const pty = await import('node-pty');
    const open = (args: string[]) => {
      const term = pty.spawn(process.execPath, [BIN.cli, ...args], {
        cols: 120,
        rows: 30,
        env: { ...process.env, ...env, TERM: 'xterm' } as Record<string, string>,
      });
      const t = { term, screen: '', exited: new Promise<number>((r) => term.onExit((e) => r(e.exitCode))) };
      term.onData((d) => (t.screen += d));
      return t;
    };
    const a = open(['websh', 'marks-01', '-u', BASH_USER]);
    await eventually(async () => PROMPT.test(a.screen), 15_000, 50);
    a.term.write('echo one-$((0+1))\r');
    const [first] = await commandsOf(BASH_USER, 1);
    expect(first!.command).toBe('echo one-$((0+1))');
    const b = open(['websh', 'attach', first!.sessionId]);
    await eventually(async () => b.screen.includes('one-1') && PROMPT.test(b.screen), 15_000, 50);
    expect(await a.exited).toBe(255);
    b.term.write('echo two-$((1+1))\r');
    await eventually(async () => b.screen.includes('two-2'), 15_000, 50);
    b.term.write('exit\r');
    expect(await b.exited).toBe(0);
    const events = await commandsOf(BASH_USER, 3);
    expect(events.map((e) => [e.command, e.source])).toEqual([
      ['echo one-$((0+1))', 'shell'],
      ['echo two-$((1+1))', 'shell'],
      ['exit', 'shell'],
    ]);
    expect(b.screen).not.toMatch(/133;[ABCD];n=/);
  });

  it('sh: prompt marks only, so commands are still reconstructed from keystrokes', async () => {
    const screen = await session(TEST_OS_USER, [
      { type: 'false', then: PROMPT },
      { type: 'echo sh-$((40+2))', then: after(/sh-42/) },
    ]);
    const events = await commandsOf(TEST_OS_USER, 3);
    expect(events.map((e) => [e.command, e.source])).toEqual([
      ['false', 'keystrokes'],
      ['echo sh-$((40+2))', 'keystrokes'],
      ['exit', 'keystrokes'],
    ]);
    expect(screen).not.toMatch(/\]133;/);
    const rec = await recordingOf(events[0]!.sessionId);
    expect(rec.markers).toEqual(['false', 'echo sh-$((40+2))', 'exit']);
    expect(rec.output).not.toMatch(/\]133;/);
  });

  it('the integration files are in one root-owned directory, not writable by session users', () => {
    const dirs = execFileSync('sh', ['-c', 'ls -d /tmp/corral-shell-* 2>/dev/null || true'])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
    expect(dirs.length).toBeGreaterThan(0);
    const mine = dirs.filter((d) => {
      try {
        return readFileSync(join(d, 'bash', 'corral.bash'), 'utf8').includes('Corral shell integration');
      } catch {
        return false;
      }
    });
    expect(mine.length).toBeGreaterThan(0);
    const w = spawnSync('setpriv', [
      '--reuid',
      BASH_USER,
      '--regid',
      BASH_USER,
      '--init-groups',
      'sh',
      '-c',
      `test -r ${mine[0]}/bash/corral.bash && ! test -w ${mine[0]}/bash/corral.bash && ! test -w ${mine[0]}/bash`,
    ]);
    expect(w.status).toBe(0);
  });
});
