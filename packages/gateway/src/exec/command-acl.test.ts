import { describe, expect, it } from 'vitest';
import { checkCommand } from './command-acl.js';

describe('command ACLs', () => {
  const acl = { allow: ['systemctl status *', 'uptime', 'df -?'], deny: ['* --force*', 'rm -rf *'] };
  it.each([
    [['uptime'], true],
    [['systemctl', 'status', 'nginx'], true],
    [['df', '-h'], true],
    [['df', '-hT'], false],
    [['systemctl', 'restart', 'nginx'], false],
    [['rm', '-rf', '/'], false],
    [['systemctl', 'status', 'x', '--force'], false],
    [['uptime;', 'reboot'], false],
  ])('%j -> %s', (cmd, ok) => {
    expect(checkCommand(acl, cmd).allow).toBe(ok);
  });
  it('names the rule', () => {
    const r = checkCommand(acl, ['rm', '-rf', '/tmp']);
    expect(r).toEqual({ allow: false, rule: 'deny "rm -rf *"', reason: 'the command matches deny "rm -rf *"' });
  });
  it('treats regex characters literally', () => {
    expect(checkCommand({ allow: ['echo (a|b).c'] }, ['echo', '(a|b).c']).allow).toBe(true);
    expect(checkCommand({ allow: ['echo (a|b).c'] }, ['echo', 'a']).allow).toBe(false);
  });
  it('admits everything without a list', () => {
    expect(checkCommand(null, ['anything']).allow).toBe(true);
    expect(checkCommand({ deny: ['reboot'] }, ['uptime']).allow).toBe(true);
  });
});
