/**
 * Multi-server commands end to end: one gateway, twenty real agent processes (two of them stopped),
 * the real CLI for a member working under work sessions, one of which denies the command by ACL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { BIN, Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { tempDir } from './helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const AS = IS_ROOT ? ['-u', TEST_OS_USER] : [];
const N = 20;
const name = (i: number) => `exec-${String(i).padStart(2, '0')}`;

describe('exec across servers', () => {
  const dir = tempDir('corral-exec-');
  let gateway: Proc;
  const agents: Proc[] = [];
  let url: string;
  let fp: string;
  const env = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
  const devEnv = { CORRAL_CONFIG_DIR: join(dir.path, 'cli-dev') };
  const cli = (args: string[]) => run(BIN.cli, args, { env, timeoutMs: 60_000 });
  const dev = (args: string[]) => run(BIN.cli, args, { env: devEnv, timeoutMs: 60_000 });

  beforeAll(async () => {
    if (IS_ROOT) await ensureTestUser();
    gateway = new Proc(BIN.gateway, ['start', '--data', join(dir.path, 'gw'), '--listen', '127.0.0.1:0']);
    url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    const login = await run(
      BIN.cli,
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      {
        env,
        input: password + '\n',
      },
    );
    expect(login.code, login.stderr).toBe(0);
    const tok = JSON.parse((await cli(['server', 'token', 'create', '--uses', String(N), '-o', 'json'])).stdout) as {
      token: string;
    };
    await Promise.all(
      Array.from({ length: N }, async (_, k) => {
        const cfg = join(dir.path, `agent-${k + 1}.json`);
        const reg = await run(BIN.agent, [
          'register',
          '--gateway',
          url,
          '--token',
          tok.token,
          '--ca-fingerprint',
          fp,
          '--config',
          cfg,
          '--name',
          name(k + 1),
        ]);
        expect(reg.code, reg.stderr).toBe(0);
      }),
    );
    for (let k = 1; k <= N; k++) {
      agents.push(
        new Proc(BIN.agent, ['run', '--config', join(dir.path, `agent-${k}.json`)], {
          CORRAL_METRICS_INTERVAL_MS: '0',
        }),
      );
    }
    await eventually(async () => ((await cli(['server', 'ls'])).stdout.match(/ online /g) ?? []).length === N, 60_000);
    // Two servers go away.
    await agents[16]!.stop();
    await agents[17]!.stop();
    await eventually(async () => ((await cli(['server', 'ls'])).stdout.match(/ offline /g) ?? []).length === 2);

    // A member with write scope on exec-*; a work session for 01-18 and one for 19 that denies `echo`.
    expect((await cli(['user', 'invite', 'dev@localhost'])).code).toBe(0);
    const out = await run(BIN.gateway, ['outbox', '--data', join(dir.path, 'gw'), '--output', 'json']);
    const itok = /cinv_[A-Za-z0-9_-]+/.exec(out.stdout)![0];
    const acc = await run(BIN.cli, ['accept-invite', url, itok, '--password-stdin', '--ca-fingerprint', fp], {
      env: devEnv,
      input: 'dev password 123456\n',
    });
    expect(acc.code, acc.stderr).toBe(0);
    expect((await cli(['grant', '--user', 'dev@localhost', '--servers', 'exec-*', '--level', 'write'])).code).toBe(0);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await gateway?.stop();
    dir.remove();
  });

  it('staff run a command everywhere at once: live prefixed output, a summary, a job kept', async () => {
    const r = await cli(['exec', '--servers', 'exec-0*', ...AS, '--', 'echo', 'hi from $(hostname)']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /^exec-0\d \| hi from /.test(l))).toHaveLength(9);
    expect(r.stderr).toMatch(/SERVER\s+STATUS\s+EXIT\s+DURATION\s+REASON/);
  });

  it('reports offline servers and ACL refusals, exits non-zero, and keeps per-server results', async () => {
    const ws1 = JSON.parse(
      (
        await dev([
          'work-session',
          'request',
          '--servers',
          Array.from({ length: 19 }, (_, k) => name(k + 1)).join(','),
          '--features',
          'exec',
          '--duration',
          '1h',
          '--reason',
          'fleet check',
          '-o',
          'json',
        ])
      ).stdout,
    ) as { id: string };
    const ws2 = JSON.parse(
      (
        await dev([
          'work-session',
          'request',
          '--servers',
          'exec-20',
          '--features',
          'exec',
          '--duration',
          '1h',
          '--reason',
          'careful',
          '--deny-command',
          'echo *',
          '-o',
          'json',
        ])
      ).stdout,
    ) as { id: string };
    for (const id of [ws1.id, ws2.id]) expect((await cli(['work-session', 'approve', id])).code).toBe(0);

    const r = await dev(['exec', '--servers', 'exec-*', ...AS, '--parallel', '8', '--', 'echo', 'fleet ok']);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.split('\n').filter((l) => l.includes('| fleet ok'));
    expect(lines).toHaveLength(17);
    expect(r.stderr).toMatch(/exec-20\s+refused\s+-\s+-\s+the command matches deny "echo \*"/);
    expect(r.stderr).toMatch(/exec-17\s+offline\s+-\s+-\s+the agent is not connected/);
    expect(r.stderr).toMatch(/exec-18\s+offline/);
    expect(r.stderr).toMatch(/17 ok, 0 failed, 2 offline, 1 refused/);

    const json = await dev(['exec', '--servers', 'exec-*', ...AS, '-o', 'json', '--', 'echo', 'fleet ok']);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; summary?: Record<string, number>; jobId?: string });
    const done = events.find((e) => e.type === 'done')!;
    expect(done.summary).toMatchObject({ servers: 20, ok: 17, offline: 2, refused: 1, failed: 0 });
    const show = JSON.parse((await dev(['exec', 'show', done.jobId!, '-o', 'json'])).stdout) as {
      results: Array<{ server: string; status: string; stdout: string; workSessionId: string | null }>;
    };
    expect(show.results.find((x) => x.server === 'exec-01')).toMatchObject({
      status: 'ok',
      stdout: 'fleet ok\n',
      workSessionId: ws1.id,
    });
    expect(show.results.find((x) => x.server === 'exec-20')!.status).toBe('refused');
    expect(show.results.find((x) => x.server === 'exec-17')!.status).toBe('offline');
    const ls = await dev(['exec', 'ls']);
    expect(ls.stdout).toMatch(
      new RegExp(`${done.jobId}\\s+dev@localhost\\s+exec-\\*\\s+echo fleet ok\\s+17/20 ok, 3 not`),
    );

    const audit = JSON.parse((await cli(['audit', 'ls', '--action', 'access.denied', '-o', 'json'])).stdout) as {
      items: Array<{ details: { rule?: string; attempted?: string } }>;
    };
    expect(audit.items.some((e) => e.details.attempted === 'exec.run' && e.details.rule === 'deny "echo *"')).toBe(
      true,
    );
  });

  it('passes exit codes and stderr through, and enforces the timeout', async () => {
    const r = await cli([
      'exec',
      '--servers',
      'exec-01,exec-02',
      ...AS,
      '--timeout',
      '2s',
      '--',
      'echo out; echo err >&2; sleep 30',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/exec-01 \| out/);
    expect(r.stderr).toMatch(/exec-01 \| err/);
    expect(r.stderr).toMatch(/exec-01\s+failed\s+SIG\w+\s+[\d.]+s\s+timed out after 2 s/);
  });

  it('Ctrl-C stops the commands still running on every server, which are kept as cancelled', async () => {
    const live = new Proc(
      BIN.cli,
      ['exec', '--servers', 'exec-01,exec-02', ...AS, '--', 'echo started; sleep 60'],
      env,
    );
    const job = (await live.waitFor(/Job (exj_\S+):/))[1]!;
    await live.waitFor(/exec-01 \| started/);
    await live.waitFor(/exec-02 \| started/);
    await live.stop('SIGINT');
    expect((await live.exited).code).toBe(130);
    // The gateway goes on without the caller: it cancels both commands and finishes the job.
    const show = await eventually(async () => {
      const j = JSON.parse((await cli(['exec', 'show', job, '-o', 'json'])).stdout) as {
        finishedAt: string | null;
        results: Array<{ server: string; status: string; exitCode: number | null }>;
      };
      return j.finishedAt ? j : undefined;
    });
    expect(show.results.map((x) => [x.server, x.status, x.exitCode])).toEqual([
      ['exec-01', 'cancelled', null],
      ['exec-02', 'cancelled', null],
    ]);
  });

  it('needs a work session: a member without one is refused per server with the reason', async () => {
    const r = await dev(['exec', '--servers', 'exec-10', ...AS, '--', 'true']);
    // exec-10 is covered by the first work session: it runs.
    expect(r.code, r.stderr).toBe(0);
    // exec-20's work session ends: it is refused there, with the request to make.
    const mine = JSON.parse((await dev(['work-session', 'ls', '-o', 'json'])).stdout) as {
      items: Array<{ id: string; servers: string[] }>;
    };
    const ws2 = mine.items.find((w) => w.servers.includes('exec-20'))!;
    expect((await dev(['work-session', 'complete', ws2.id])).code).toBe(0);
    const refused = await dev(['exec', '--servers', 'exec-20', ...AS, '--', 'true']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/exec-20\s+refused\s+-\s+-\s+exec on exec-20 needs an approved work session/);
    const none = await dev(['exec', '--servers', 'nomatch-*', '--', 'true']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/matches no server/);
  });
});
