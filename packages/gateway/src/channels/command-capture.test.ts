import { describe, expect, it } from 'vitest';
import { CommandCapture } from './command-capture.js';

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
