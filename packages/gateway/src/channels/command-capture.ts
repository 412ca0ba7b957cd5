import { StringDecoder } from 'node:string_decoder';

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
        if (line && !secret) done.push(line.slice(0, 2000));
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
