import { describe, expect, it } from 'vitest';
import { MAX_MARK_BYTES, ShellMarkParser, unescapeCommandLine } from './shell-marks.js';

const NONCE = 'n0nce-AAAAAAAAAAAAAAAA';
const mark = (body: string, end = '\x07') => `\x1b]133;${body}${end}`;
const A = mark(`A;n=${NONCE};cmd=1`);
const C = (cmd: string) => mark(`C;n=${NONCE};cmdline=${cmd}`);
const D = (code: number) => mark(`D;${code};n=${NONCE}`);

/** Feed `chunks` and return everything shown plus all marks. */
function run(p: ShellMarkParser, chunks: Array<string | Buffer>) {
  let shown = Buffer.alloc(0);
  const marks = [];
  for (const c of chunks) {
    const r = p.feed(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    shown = Buffer.concat([shown, r.data]);
    marks.push(...r.marks);
  }
  return { shown: shown.toString('utf8'), marks };
}

describe('ShellMarkParser', () => {
  it('takes marks with the session nonce out of the stream and reports them in order', () => {
    const p = new ShellMarkParser(NONCE);
    const r = run(p, [`${A}$ ${mark(`B;n=${NONCE}`)}false\r\n${C('false')}${D(1)}${A}$ `]);
    expect(r.shown).toBe('$ false\r\n$ ');
    expect(r.marks).toEqual([
      { kind: 'A', reportsCommands: true },
      { kind: 'B' },
      { kind: 'C', commandLine: 'false', partial: false, late: false },
      { kind: 'D', exitCode: 1 },
      { kind: 'A', reportsCommands: true },
    ]);
  });

  it('accepts ST (ESC \\) as the terminator too', () => {
    const r = run(new ShellMarkParser(NONCE), [`x${mark(`D;0;n=${NONCE}`, '\x1b\\')}y`]);
    expect(r).toEqual({ shown: 'xy', marks: [{ kind: 'D', exitCode: 0 }] });
  });

  it('reassembles a mark split at every possible byte across two frames', () => {
    const stream = Buffer.from(`out1${C('echo a\\x3bb ✓')}out2${D(0)}tail`, 'utf8');
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = run(new ShellMarkParser(NONCE), [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(r.shown, `cut at ${cut}`).toBe('out1out2tail');
      expect(r.marks, `cut at ${cut}`).toEqual([
        { kind: 'C', commandLine: 'echo a;b ✓', partial: false, late: false },
        { kind: 'D', exitCode: 0 },
      ]);
    }
  });

  it('survives a stream fed one byte at a time', () => {
    const stream = Buffer.from(`${A}$ ${C('sleep 1')}${D(0)}${A}$ `);
    const p = new ShellMarkParser(NONCE);
    const r = run(
      p,
      [...stream].map((b) => Buffer.from([b])),
    );
    expect(r.shown).toBe('$ $ ');
    expect(r.marks.map((m) => m.kind)).toEqual(['A', 'C', 'D', 'A']);
    expect(p.heldBytes).toBe(0);
  });

  it('security: leaves marks without the nonce, or with another one, in the stream and reports nothing', () => {
    const fake = `${mark('D;0')}${mark('C;cmdline=rm -rf /')}${mark('D;0;n=someone-elses-nonce00')}${mark('A;n=' + NONCE.slice(0, -1))}`;
    const r = run(new ShellMarkParser(NONCE), [`a${fake}b`]);
    expect(r.marks).toEqual([]);
    expect(r.shown).toBe(`a${fake}b`);
  });

  it('passes other escape sequences through untouched (colours, titles, other OSC)', () => {
    const other = '\x1b[1;31mred\x1b[0m\x1b]0;title\x07\x1b]1337;x\x07\x1b]133\x1b[K';
    expect(run(new ShellMarkParser(NONCE), [other]).shown).toBe(other);
  });

  it('holds back only a trailing piece of the prefix, and lets it go when the next frame shows it is not a mark', () => {
    const p = new ShellMarkParser(NONCE);
    expect(p.feed(Buffer.from('abc\x1b]13')).data.toString()).toBe('abc');
    expect(p.heldBytes).toBe(4);
    expect(p.feed(Buffer.from('7;x\x07')).data.toString()).toBe('\x1b]137;x\x07');
    expect(p.heldBytes).toBe(0);
    // A lone ESC at the end (a colour code cut in two) is held and completed.
    expect(p.feed(Buffer.from('x\x1b')).data.toString()).toBe('x');
    expect(p.feed(Buffer.from('[0m')).data.toString()).toBe('\x1b[0m');
  });

  it('bounds what it holds: an unterminated OSC 133 longer than the limit goes through as output', () => {
    const p = new ShellMarkParser(NONCE, 64);
    const open = `\x1b]133;C;n=${NONCE};cmdline=`;
    expect(p.feed(Buffer.from(open)).data.length).toBe(0);
    const r = p.feed(Buffer.from('x'.repeat(100)));
    expect(r.data.toString()).toBe(open + 'x'.repeat(100));
    expect(r.marks).toEqual([]);
    expect(p.heldBytes).toBe(0);
    expect(MAX_MARK_BYTES).toBeGreaterThan(4096 * 4);
  });

  it('treats a mark broken by another control character or escape as ordinary output', () => {
    const broken = `\x1b]133;D;0;n=${NONCE}\r\n`;
    const r = run(new ShellMarkParser(NONCE), [`${broken}${D(2)}`]);
    expect(r.shown).toBe(broken);
    expect(r.marks).toEqual([{ kind: 'D', exitCode: 2 }]);
  });

  it('drops a mark with the nonce it does not understand; reads partial=1, late=1 and a missing exit status', () => {
    const r = run(new ShellMarkParser(NONCE), [
      `${mark(`Z;n=${NONCE}`)}${mark(`C;n=${NONCE};cmdline=echo;partial=1`)}${mark(`D;;n=${NONCE}`)}`,
      `${mark(`C;n=${NONCE};cmdline=(exit 7);late=1`)}`,
    ]);
    expect(r.shown).toBe('');
    expect(r.marks).toEqual([
      { kind: 'C', commandLine: 'echo', partial: true, late: false },
      { kind: 'D', exitCode: null },
      { kind: 'C', commandLine: '(exit 7)', partial: false, late: true },
    ]);
  });

  it('reads the mark number s=', () => {
    const r = run(new ShellMarkParser(NONCE), [mark(`C;n=${NONCE};s=12;cmdline=ls`), mark(`D;0;n=${NONCE};s=13`)]);
    expect(r.marks).toEqual([
      { kind: 'C', commandLine: 'ls', partial: false, late: false, seq: 12 },
      { kind: 'D', exitCode: 0, seq: 13 },
    ]);
  });
});

describe('unescapeCommandLine', () => {
  it('undoes the scripts escaping: \\\\, \\xHH, UTF-8', () => {
    expect(unescapeCommandLine('a\\\\b\\x3bc\\x0ad\\x1b')).toBe('a\\b;c\nd\x1b');
    expect(unescapeCommandLine(Buffer.from('echo ✓', 'utf8').toString('latin1'))).toBe('echo ✓');
    expect(unescapeCommandLine('\\xZZ\\')).toBe('\\xZZ\\');
  });
});
