import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { grantSigningString, type AgentToGateway, type Grant } from '@corral/protocol';
import { systemClock } from '../clock.js';
import { silentLogger } from '../logger.js';
import { createProcessSpawner } from '../channels/spawner.js';
import { ExecRunner } from './exec-runner.js';

type Out = Extract<AgentToGateway, { type: 'exec.output' | 'exec.exit' }>;

function setup(online: () => boolean) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const sent: Out[] = [];
  const me = userInfo();
  const runner = new ExecRunner({
    serverId: 'srv_1',
    gatewayKey: publicKey,
    spawner: createProcessSpawner(systemClock),
    readPasswd: () => readFileSync('/etc/passwd', 'utf8'),
    homeExists: (p) => existsSync(p),
    identity: { uid: me.uid, username: me.username },
    clock: systemClock,
    logger: silentLogger,
    send: (m) => {
      if (!online()) return false;
      sent.push(m);
      return true;
    },
  });
  const start = (execId: string, command: string[], over: Partial<Grant> = {}) => {
    const grant: Grant = {
      v: 1,
      channelId: execId,
      serverId: 'srv_1',
      kind: 'exec',
      osUser: me.username,
      expiresAt: Date.now() + 60_000,
      command,
      ...over,
    };
    runner.handle({
      type: 'exec.start',
      execId,
      grant,
      signature: sign(null, Buffer.from(grantSigningString(grant)), privateKey).toString('base64'),
      timeoutMs: 10_000,
    });
  };
  return { runner, sent, start };
}

const exited = async (sent: Out[], execId: string) => {
  for (let i = 0; i < 200; i++) {
    if (sent.some((m) => m.execId === execId && m.type === 'exec.exit')) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no exit');
};

describe('ExecRunner', () => {
  it('runs the command, numbers its output and exit, and forgets it after the ack', async () => {
    const { runner, sent, start } = setup(() => true);
    start('exj_a.0', ['echo one; echo two >&2; exit 3']);
    await exited(sent, 'exj_a.0');
    expect(sent.map((m) => m.seq)).toEqual(sent.map((_, i) => i));
    const out = sent
      .filter((m) => m.type === 'exec.output')
      .map((m) => [m.stream, Buffer.from(m.data, 'base64').toString()]);
    expect(out).toContainEqual(['stdout', 'one\n']);
    expect(out).toContainEqual(['stderr', 'two\n']);
    expect(sent.at(-1)).toMatchObject({ type: 'exec.exit', code: 3, timedOut: false, truncated: false });
    expect(runner.size).toBe(1);
    runner.handle({ type: 'exec.ack', execId: 'exj_a.0' });
    expect(runner.size).toBe(0);
  });

  it('keeps what could not be sent and sends it all again after a reconnect, in order', async () => {
    let online = false;
    const { runner, sent, start } = setup(() => online);
    start('exj_b.0', ['echo lost-while-down']);
    // The command runs and exits while the connection is down.
    for (let i = 0; i < 400 && !runner.finished('exj_b.0'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(runner.finished('exj_b.0')).toBe(true);
    expect(sent).toEqual([]);
    online = true;
    runner.resend();
    expect(sent.map((m) => [m.type, m.seq])).toEqual([
      ['exec.output', 0],
      ['exec.exit', 1],
    ]);
    // A second reconnect before the ack repeats the same frames (the gateway drops seen seqs).
    runner.resend();
    expect(sent.map((m) => m.seq)).toEqual([0, 1, 0, 1]);
  });

  it('refuses grants for another server with an exit carrying the error', async () => {
    const { sent, start } = setup(() => true);
    start('exj_c.0', ['true'], { serverId: 'srv_other' });
    expect(sent[0]).toMatchObject({ type: 'exec.exit', code: null, error: { code: 'GRANT_WRONG_SERVER' } });
  });
});
