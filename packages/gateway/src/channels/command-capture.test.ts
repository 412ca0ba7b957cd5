import { describe, expect, it } from 'vitest';
import { CommandCapture, CommandTracker, type CapturedCommand } from './command-capture.js';

const feed = (c: CommandCapture, s: string) => c.input(Buffer.from(s));

describe('CommandCapture', () => {
  it('turns keystrokes into command lines', () => {
    const c = new CommandCapture();
    expect(feed(c, 'ls -l')).toEqual([]);
    expect(feed(c, 'x\x7fa\r')).toEqual(['ls -la']);
    expect(feed(c, 'rm -rf /tmp/x\rwhoami\r')).toEqual(['rm -rf /tmp/x', 'whoami']);
    expect(feed(c, 'oops\x03\r')).toEqual([]);
    expect(feed(c, '\x1b[Aecho hi\r')).toEqual(['echo hi']);
  });
  it('keeps multi-byte characters split across frames', () => {
    const c = new CommandCapture();
    const b = Buffer.from('echo ✓\r');
    expect([...c.input(b.subarray(0, 6)), ...c.input(b.subarray(6))]).toEqual(['echo ✓']);
  });
  it('never captures what is typed at a password prompt', () => {
    const c = new CommandCapture();
    expect(feed(c, 'sudo id\r')).toEqual(['sudo id']);
    c.output(Buffer.from('[sudo] password for alice: '));
    expect(feed(c, 'hunter2\r')).toEqual([]);
    c.output(Buffer.from('uid=0(root)\r\n$ '));
    expect(feed(c, 'uptime\r')).toEqual(['uptime']);
    c.output(Buffer.from('Enter passphrase for key /root/.ssh/id_ed25519: '));
    expect(feed(c, 's3cret\r')).toEqual([]);
  });
});

describe('CommandTracker', () => {
  const NONCE = 'tracker-nonce-AAAAAAAA';
  const A = `\x1b]133;A;n=${NONCE};cmd=1\x07`;
  const C = (cmd: string) => `\x1b]133;C;n=${NONCE};cmdline=${cmd}\x07`;
  const D = (code: number) => `\x1b]133;D;${code};n=${NONCE}\x07`;
  const setup = (nonce: string | null = NONCE) => {
    let now = 1000;
    const started: CapturedCommand[] = [];
    const finished: CapturedCommand[] = [];
    const t = new CommandTracker({
      ...(nonce ? { nonce } : {}),
      clock: { now: () => now },
      hooks: { started: (c) => started.push(c), finished: (c) => finished.push(c) },
    });
    return { t, started, finished, tick: (ms: number) => (now += ms) };
  };
  const out = (t: CommandTracker, s: string) => t.output(Buffer.from(s)).toString();

  it('reports each command from the marks with exit status and duration, and strips the marks', () => {
    const { t, started, finished, tick } = setup();
    expect(out(t, `${A}$ `)).toBe('$ ');
    t.input(Buffer.from('sleep 1\r'));
    expect(started).toEqual([]); // at a reporting shell's prompt the keystrokes are not used
    expect(out(t, `sleep 1\r\n${C('sleep 1')}`)).toBe('sleep 1\r\n');
    expect(started).toEqual([{ command: 'sleep 1', source: 'shell' }]);
    tick(1005);
    expect(out(t, `${D(0)}${A}$ `)).toBe('$ ');
    expect(finished).toEqual([{ command: 'sleep 1', source: 'shell', exitCode: 0, durationMs: 1005 }]);
    expect(t.reporting).toBe(true);
  });

  it('security: a shell whose hooks were removed still has its typed commands audited, from keystrokes', () => {
    const { t, finished } = setup();
    out(t, `${A}$ `);
    t.input(Buffer.from('trap - DEBUG; PROMPT_COMMAND=\r'));
    out(t, `${C('trap - DEBUG\\x3b PROMPT_COMMAND=')}${D(0)}${A}$ `);
    // From here the shell sends no marks at all: each line is audited when the next one is typed, or at the end.
    t.input(Buffer.from('curl x | sh\r'));
    out(t, '$ ');
    t.input(Buffer.from('id\r'));
    t.end();
    expect(finished.map((c) => [c.command, c.source, c.unreported])).toEqual([
      ['trap - DEBUG; PROMPT_COMMAND=', 'shell', undefined],
      ['curl x | sh', 'keystrokes', true],
      ['id', 'keystrokes', true],
    ]);
  });

  it('security: a line typed ahead behind one that removes the preexec hook is still audited', () => {
    const { t, finished } = setup();
    out(t, `${A}$ `);
    // Both typed before the shell read the first; the first removes the DEBUG trap (C comes, then D and A).
    t.input(Buffer.from('trap - DEBUG\rrm -rf /tmp/x\r'));
    out(t, `${C('trap - DEBUG')}${D(0)}${A}$ `);
    // The shell then runs the second line without a C; the prompt after it shows a cycle without any.
    out(t, `${A}$ `);
    expect(finished.map((c) => [c.command, c.source, c.unreported])).toEqual([
      ['trap - DEBUG', 'shell', undefined],
      ['rm -rf /tmp/x', 'keystrokes', true],
    ]);
  });

  it('a pasted block: each line reported once, by its own C', () => {
    const { t, finished } = setup();
    out(t, `${A}$ `);
    t.input(Buffer.from('echo a\recho b\r'));
    out(t, `${C('echo a')}a\r\n${D(0)}${A}$ ${C('echo b')}b\r\n${D(0)}${A}$ `);
    expect(finished.map((c) => [c.command, c.source])).toEqual([
      ['echo a', 'shell'],
      ['echo b', 'shell'],
    ]);
  });

  it('a line the shell ran no command for (only the DEBUG trap removed, a comment) is audited at the next prompt', () => {
    const { t, finished } = setup();
    out(t, `${A}$ `);
    t.input(Buffer.from('# note\r'));
    out(t, `${A}$ `);
    expect(finished).toEqual([{ command: '# note', source: 'keystrokes', unreported: true }]);
  });

  it('a multi-line command typed line by line is one command, reported by its C', () => {
    const { t, finished } = setup();
    out(t, `${A}$ `);
    t.input(Buffer.from('for i in 1 2\r'));
    out(t, '> ');
    t.input(Buffer.from('do echo $i\r'));
    out(t, '> ');
    t.input(Buffer.from('done\r'));
    out(t, `${C('for i in 1 2\\x3b do echo $i\\x3b done')}1\r\n2\r\n${D(0)}${A}$ `);
    out(t, `${A}$ `);
    t.end();
    expect(finished.map((c) => [c.command, c.source])).toEqual([['for i in 1 2; do echo $i; done', 'shell']]);
  });

  it('reconstructs lines typed into a running command (a nested shell, a REPL) and names that command', () => {
    const { t, finished } = setup();
    out(t, `${A}$ ${C('sudo -i')}`);
    t.input(Buffer.from('rm -rf /tmp/x\r'));
    expect(finished).toEqual([{ command: 'rm -rf /tmp/x', source: 'keystrokes', typedInto: 'sudo -i' }]);
  });

  it('falls back to keystrokes when no marks come (no integration) and for prompt-only marks (sh)', () => {
    const none = setup();
    out(none.t, '$ ');
    none.t.input(Buffer.from('ls\r'));
    expect(none.finished).toEqual([{ command: 'ls', source: 'keystrokes' }]);
    const sh = setup();
    expect(out(sh.t, `\x1b]133;D;0;n=${NONCE}\x07\x1b]133;A;n=${NONCE}\x07$ `)).toBe('$ ');
    sh.t.input(Buffer.from('ls\r'));
    expect(sh.finished).toEqual([{ command: 'ls', source: 'keystrokes' }]);
    const off = setup(null);
    expect(off.t.nonce).toBeUndefined();
    expect(out(off.t, `${A}$ `)).toBe(`${A}$ `);
  });

  it('security: a forged mark without the nonce neither reports a command nor disables the fallback', () => {
    const { t, started, finished } = setup();
    const forged = `\x1b]133;A;cmd=1\x07\x1b]133;C;cmdline=ls\x07\x1b]133;D;0\x07`;
    expect(out(t, forged)).toBe(forged);
    t.input(Buffer.from('whoami\r'));
    expect(started).toEqual([{ command: 'whoami', source: 'keystrokes' }]);
    expect(finished).toEqual([{ command: 'whoami', source: 'keystrokes' }]);
  });

  it('reports a command still running at the end (or the shell exited) as unfinished, once', () => {
    const { t, finished, tick } = setup();
    out(t, `${A}$ ${C('exit')}`);
    tick(5);
    t.end();
    t.end();
    expect(finished).toEqual([{ command: 'exit', source: 'shell', exitCode: null, durationMs: 5 }]);
  });

  it('completes a partial C mark (bash: first simple command only) from the line typed at that prompt', () => {
    const { t, started } = setup();
    out(t, `${A}$ `);
    t.input(Buffer.from(' curl -s x | sh\r'));
    out(t, `\x1b]133;C;n=${NONCE};cmdline=curl -s x;partial=1\x07${D(0)}${A}$ `);
    // History recall (arrows are not followed): the typed text does not hold the command, so it is not used.
    t.input(Buffer.from('\x1b[A | sh\r'));
    out(t, `\x1b]133;C;n=${NONCE};cmdline=wget y;partial=1\x07`);
    expect(started).toEqual([
      { command: 'curl -s x | sh', source: 'shell', partial: true, firstCommand: 'curl -s x' },
      { command: 'wget y', source: 'shell', partial: true },
    ]);
  });

  it('reports no duration for a command whose start mark came late (after it ran)', () => {
    const { t, finished, tick } = setup();
    out(t, `${A}$ `);
    tick(3000);
    out(t, `\x1b]133;C;n=${NONCE};cmdline=(sleep 3);late=1\x07${D(0)}`);
    expect(finished).toEqual([{ command: '(sleep 3)', source: 'shell', exitCode: 0 }]);
  });

  it('skips marks it handled before (a persistent terminal replays its output after a re-attach)', () => {
    const { t, finished } = setup();
    const live = (seq: number, body: string) => `\x1b]133;${body.replace('n=N', `n=${NONCE};s=${seq}`)}\x07`;
    const before = `${live(1, 'A;n=N;cmd=1')}$ ${live(2, 'C;n=N;cmdline=ls')}x\r\n${live(3, 'D;0;n=N')}${live(4, 'A;n=N;cmd=1')}$ `;
    expect(out(t, before)).toBe('$ x\r\n$ ');
    // Re-attached: the replay repeats it all (stripped again), then live output goes on.
    expect(out(t, before + `${live(5, 'C;n=N;cmdline=id')}${live(6, 'D;0;n=N')}`)).toBe('$ x\r\n$ ');
    expect(finished.map((c) => c.command)).toEqual(['ls', 'id']);
  });

  it('keeps going when a hook throws', () => {
    const errors: unknown[] = [];
    const t = new CommandTracker({
      nonce: NONCE,
      clock: { now: () => 0 },
      hooks: {
        started: () => {
          throw new Error('boom');
        },
        finished: () => {},
        onError: (e) => errors.push(e),
      },
    });
    expect(out(t, `${A}${C('x')}${D(0)}ok`)).toBe('ok');
    expect(errors).toHaveLength(1);
  });
});
