import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../clock.js';
import { ShellMarkParser, type ShellMark } from './shell-marks.js';

/** A prompt that asks for a secret: the line typed next is not a command and is never captured. */
const SECRET_PROMPT = /(pass(word|phrase)|passcode|pin|token|secret|otp|verification code)[^\n:]*:\s*$/i;

/**
 * Reconstructs command lines from what a user types into a terminal (the fallback for shells without
 * prompt/command marks): printable characters build the line, backspace edits it, Ctrl-C / Ctrl-U clear
 * it, Enter ends it. Escape sequences (arrow keys, ...) are skipped, so history recall and line editing
 * beyond backspace are not followed: the recording stays the ground truth. A line typed right after a
 * password-like prompt in the output is dropped, so secrets do not end up in the audit log.
 */
export class CommandCapture {
  readonly #input = new StringDecoder('utf8');
  readonly #output = new StringDecoder('utf8');
  #line = '';
  #tail = '';
  #inEscape = false;

  /** Feed terminal output (to notice secret prompts). */
  output(data: Buffer): void {
    this.#tail = (this.#tail + this.#output.write(data)).slice(-200);
  }

  /** Feed keystrokes; returns the command lines completed by them. */
  input(data: Buffer): string[] {
    const done: string[] = [];
    for (const ch of this.#input.write(data)) {
      if (this.#inEscape) {
        // CSI/SS3 sequences end with a letter or ~.
        if (/[A-Za-z~]/.test(ch)) this.#inEscape = false;
        continue;
      }
      if (ch === '\x1b') {
        this.#inEscape = true;
      } else if (ch === '\r' || ch === '\n') {
        const line = this.#line.trim();
        // eslint-disable-next-line no-control-regex
        const secret = SECRET_PROMPT.test(this.#tail.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
        if (line && !secret) done.push(line.slice(0, MAX_COMMAND_CHARS));
        this.#line = '';
        this.#tail = '';
      } else if (ch === '\x7f' || ch === '\b') {
        this.#line = this.#line.slice(0, -1);
      } else if (ch === '\x03' || ch === '\x15') {
        this.#line = '';
      } else if (ch >= ' ') {
        this.#line += ch;
      }
    }
    return done;
  }
}

/** A command the session ran, as the gateway learnt it. */
export interface CapturedCommand {
  /** The command line (at most 2000 characters). */
  command: string;
  /** `shell`: reported by the shell integration's marks; `keystrokes`: reconstructed from typing. */
  source: 'shell' | 'keystrokes';
  /** shell: the exit status; null when it never finished (the shell or the session ended first). */
  exitCode?: number | null;
  /**
   * shell: from the command's start mark to its end mark (or the session's end), in ms, as the gateway
   * saw them; absent when the start mark came only after the command ran (bash, a lone `( subshell )`).
   */
  durationMs?: number;
  /**
   * shell: bash could not read the line from its history and reported only its first simple command.
   * `command` is then the line reconstructed from the keystrokes typed at that prompt when it contains
   * that first command (`firstCommand` says what bash reported), else the first command itself.
   */
  partial?: boolean;
  firstCommand?: string;
  /**
   * keystrokes typed while, as far as the marks tell, a shell-reported command ran: that command (a
   * nested shell, sudo -i, ssh, a REPL; or a command that switched the shell's hooks off, whose end
   * never came).
   */
  typedInto?: string;
  /**
   * keystrokes: typed at the prompt of a shell that reports its commands, but it reported none for this
   * line (its hooks were removed, a comment, or one line of a multi-line command).
   */
  unreported?: boolean;
}

/** What a {@link CommandTracker} reports. Errors thrown by these are caught and given to `onError`. */
export interface CommandTrackerHooks {
  /** A command starts (the shell's C mark, or Enter when reconstructing): recording marker, risk scoring. */
  started(c: CapturedCommand): void;
  /** A command is over (D mark, session end) or, for keystrokes, typed: the audit event. */
  finished(c: CapturedCommand): void;
  onError?(err: unknown): void;
}

/** Longest command line kept, in characters. */
export const MAX_COMMAND_CHARS = 2000;

/**
 * The commands of one interactive terminal session, from its shell integration's marks when the shell has
 * them, otherwise from the keystrokes:
 *
 *   output -> ShellMarkParser -> marks stripped from the stream
 *             A (cmd=1) ......... the shell reports its commands: lines typed at its prompt wait for
 *                                 their C (which gives the exact line); lines no C covered by the next
 *                                 prompt are audited from keystrokes ({unreported: true})
 *             C ................. started({source: 'shell'})
 *             D ................. finished({exitCode, durationMs})
 *   input  -> CommandCapture   -> at the prompt of a reporting shell: dropped; otherwise (no integration,
 *                                 sh's prompt-only marks, or typed into a running command such as
 *                                 `sudo -i`) started + finished({source: 'keystrokes'})
 *   end()  -> a command still running is finished with exitCode null
 */
export class CommandTracker {
  /** The nonce the agent puts into the marks; undefined: keystrokes only (no integration asked for). */
  readonly nonce: string | undefined;
  readonly #parser: ShellMarkParser | undefined;
  readonly #keys = new CommandCapture();
  readonly #hooks: CommandTrackerHooks;
  readonly #clock: Clock;
  /** The shell reports each command line (bash and zsh marks: `A;...;cmd=1`). */
  #reporting = false;
  /** Between a prompt mark and the next command's C mark. */
  #atPrompt = false;
  /** startedAt null: the C mark came late (after the command ran), so no duration. */
  #running: { c: CapturedCommand; startedAt: number | null } | null = null;
  /**
   * Lines typed at a reporting shell's prompt that no C mark has covered yet, oldest first. A C takes
   * those its line contains (a multi-line command's lines, a pasted block's first line) and completes a
   * `partial` line from the one that contains it. Lines still waiting when a prompt cycle ends without
   * any C (A to A), or at the end, were run unreported: they are audited from the keystrokes, so
   * removing the preexec hook hides no command.
   */
  #pending: string[] = [];
  /** A C mark came since the last A. */
  #cSinceA = false;
  #ended = false;
  /** Highest mark number handled: a persistent terminal's replay repeats marks, skipped by it. */
  #lastSeq = 0;

  constructor(opts: { nonce?: string; clock: Clock; hooks: CommandTrackerHooks }) {
    this.nonce = opts.nonce;
    this.#parser = opts.nonce ? new ShellMarkParser(opts.nonce) : undefined;
    this.#hooks = opts.hooks;
    this.#clock = opts.clock;
  }

  /** Whether the shell's own marks are the source of its commands. */
  get reporting(): boolean {
    return this.#reporting;
  }

  /** Terminal output from the server; returns it without the integration's marks. */
  output(data: Buffer): Buffer {
    if (!this.#parser) {
      this.#keys.output(data);
      return data;
    }
    const { data: shown, marks } = this.#parser.feed(data);
    for (const m of marks) this.#mark(m);
    if (shown.length > 0) this.#keys.output(shown);
    return shown;
  }

  /** Keystrokes from the user. */
  input(data: Buffer): void {
    for (const line of this.#keys.input(data)) {
      // At a reporting shell's prompt, the C mark will carry this very line, exactly.
      if (this.#reporting && this.#atPrompt) {
        this.#pending.push(line);
        continue;
      }
      this.#keystrokes({
        command: line,
        source: 'keystrokes',
        ...(this.#running ? { typedInto: this.#running.c.command } : {}),
      });
    }
  }

  #keystrokes(c: CapturedCommand): void {
    this.#call('started', c);
    this.#call('finished', c);
  }

  /** Lines typed at the prompt that the shell did not report: audit them from the keystrokes. */
  #flushPending(): void {
    const lines = this.#pending;
    this.#pending = [];
    for (const command of lines) this.#keystrokes({ command, source: 'keystrokes', unreported: true });
  }

  /** The session is over: a command still running is reported as unfinished. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#finish(null);
    this.#flushPending();
  }

  #mark(m: ShellMark): void {
    if (this.#ended) return;
    if (m.seq !== undefined) {
      if (m.seq <= this.#lastSeq) return;
      this.#lastSeq = m.seq;
    }
    switch (m.kind) {
      case 'A':
        if (m.reportsCommands) this.#reporting = true;
        this.#atPrompt = true;
        // A line typed ahead (a pasted block) gets its C after the next prompt; one that a whole prompt
        // cycle passed without any C never will.
        if (!this.#cSinceA) this.#flushPending();
        this.#cSinceA = false;
        return;
      case 'B':
        return;
      case 'C': {
        this.#reporting = true;
        this.#atPrompt = false;
        this.#cSinceA = true;
        // A C without a D before it: the previous command's end was never marked.
        this.#finish(null);
        const line = m.commandLine.trim();
        // bash knew only the first simple command (` curl x | sh` -> `curl x`): the keystrokes may hold more.
        const completed = m.partial ? (this.#pending.find((p) => p.includes(line)) ?? null) : null;
        this.#pending = this.#pending.filter((p) => p !== completed && !line.includes(p));
        const c: CapturedCommand = {
          command: (completed ?? line).slice(0, MAX_COMMAND_CHARS),
          source: 'shell',
          ...(m.partial ? { partial: true } : {}),
          ...(completed !== null ? { firstCommand: line.slice(0, MAX_COMMAND_CHARS) } : {}),
        };
        this.#running = { c, startedAt: m.late ? null : this.#clock.now() };
        this.#call('started', c);
        return;
      }
      case 'D':
        this.#finish(m.exitCode);
        this.#atPrompt = true;
        return;
    }
  }

  #finish(exitCode: number | null): void {
    const r = this.#running;
    if (!r) return;
    this.#running = null;
    this.#call('finished', {
      ...r.c,
      exitCode,
      ...(r.startedAt !== null ? { durationMs: Math.max(0, this.#clock.now() - r.startedAt) } : {}),
    });
  }

  #call(hook: 'started' | 'finished', c: CapturedCommand): void {
    try {
      this.#hooks[hook](c);
    } catch (err) {
      this.#hooks.onError?.(err);
    }
  }
}
