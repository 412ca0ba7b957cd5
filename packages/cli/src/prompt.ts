import { StringDecoder } from 'node:string_decoder';
import { CliError } from './errors.js';
import type { InputStream, OutputStream } from './context.js';

/**
 * Questions on the terminal. Prompts go to stderr so that stdout stays clean for output and pipes.
 */

export interface PromptIo {
  stdin: InputStream;
  stderr: OutputStream;
}

const cancelled = (): CliError => new CliError('cancelled');

/** Ask for one line of text (echoed). Rejects with "cancelled" on Ctrl-C or end of input. */
export async function promptLine(io: PromptIo, question: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: Boolean(io.stdin.isTTY) });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('close', () => reject(cancelled()));
      rl.once('SIGINT', () => reject(cancelled()));
      rl.question(question, (answer) => resolve(answer.trim()));
    });
  } finally {
    rl.close();
    io.stdin.pause();
  }
}

/** Ask a yes/no question; only "y" or "yes" (any case) is a yes. */
export async function confirm(io: PromptIo, question: string): Promise<boolean> {
  const answer = await promptLine(io, `${question} [y/N] `);
  return /^y(es)?$/i.test(answer);
}

/**
 * Ask for a secret without echoing it: the terminal goes into raw mode and we read key by key
 * (Enter ends, Backspace deletes, Ctrl-U clears, Ctrl-C or Ctrl-D on an empty line cancels).
 * The terminal mode is restored however it ends.
 */
export function promptHidden(io: PromptIo, question: string): Promise<string> {
  const { stdin, stderr } = io;
  if (!stdin.isTTY || !stdin.setRawMode) return Promise.reject(new CliError('no terminal to ask for the password on'));
  return new Promise<string>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let secret = '';
    const wasRaw = stdin.isRaw ?? false;
    const finish = (err: Error | null): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(wasRaw);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(secret);
    };
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\x03') return finish(cancelled());
        if (ch === '\x04') {
          if (secret === '') return finish(cancelled());
          return finish(null);
        }
        if (ch === '\x7f' || ch === '\b') secret = [...secret].slice(0, -1).join('');
        else if (ch === '\x15') secret = '';
        else if (ch >= ' ') secret += ch;
      }
    };
    stderr.write(question);
    stdin.setRawMode!(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** Read a whole stream as UTF-8 and drop one trailing newline (`echo pw | corral login --password-stdin`). */
export async function readAllTrimmed(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
