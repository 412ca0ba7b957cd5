/**
 * Work sessions as people use them: a real gateway (its clock can be moved forward), a real agent
 * process, and the real CLI for a member, a staff user and a superuser.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { BIN, type Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { tempDir } from './helpers.js';
import { cliPeople, onboard, startAgent } from './stack.js';

const IS_ROOT = process.getuid?.() === 0;
const AS = IS_ROOT ? ['-u', TEST_OS_USER] : [];
const SRV = 'ws-e2e-01';

describe('work sessions end to end (gateway, agent, CLI)', () => {
  const dir = tempDir();
  let offset = 0;
  let gw: Gateway;
  let agent: Proc;
  let url: string;
  let fp: string;
  const PW = 'admin password for ws e2e';
  const people = cliPeople(dir.path, () => fp);
  const { envOf } = people;
  const as = (who: string, args: string[], timeoutMs?: number) => people.as(who, args, timeoutMs ? { timeoutMs } : {});

  const liveSessions = async () =>
    (JSON.parse((await as('admin', ['session', 'ls', '--live', '-o', 'json'])).stdout) as { items: unknown[] }).items
      .length;

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: '127.0.0.1:0' }), {
      log: silentLogger,
      clock: { now: () => Date.now() + offset },
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    fp = gw.tls.caFingerprint;
    await people.login('admin', url, 'admin@localhost', PW);
    agent = await startAgent(people, 'admin', { url, fp, dir: dir.path, name: SRV });
    if (IS_ROOT) await ensureTestUser();
    await onboard(people, gw.services.db, { inviter: 'admin', url, fp, name: 'mia', role: 'member' });
    await onboard(people, gw.services.db, { inviter: 'admin', url, fp, name: 'sam', role: 'staff' });
    const g = await as('admin', ['grant', '--user', 'mia@localhost', '--servers', 'ws-e2e-*', '--level', 'write']);
    expect(g.code, g.stderr).toBe(0);
  });

  afterAll(async () => {
    await agent?.stop();
    await gw?.close();
    dir.remove();
  });

  it('member requests, staff approves, the terminal works; staff revokes and it closes within 2 s with the reason', async () => {
    const refused = await as('mia', ['websh', SRV, ...AS, '--', 'true']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain('WORK_SESSION_REQUIRED');
    expect(refused.stderr).toContain(`corral work-session request --servers ${SRV} --features terminal --duration 1h`);
    expect(refused.stderr).toContain(`corral websh ${SRV} --request`);

    const waiting = as(
      'mia',
      [
        'work-session',
        'request',
        '--servers',
        SRV,
        '--features',
        'terminal',
        '--duration',
        '2h',
        '--reason',
        'INC-7 disk full',
        '--wait',
      ],
      30_000,
    );
    const id = await eventually(async () => {
      const r = await as('sam', ['approvals', '-o', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ id: string; user: string }> }).items.find(
        (v) => v.user === 'mia@localhost',
      )?.id;
    });
    const table = await as('sam', ['approvals']);
    expect(table.stdout).toMatch(/ID\s+USER\s+ASKS\s+SERVERS\s+FEATURES\s+APPROVALS\s+WAITING\s+REASON/);
    expect(table.stdout).toContain('INC-7 disk full');
    const ok = await as('sam', ['work-session', 'approve', id!]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/mia@localhost may work until/);
    const got = await waiting;
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(new RegExp(`${id} is approved until`));

    const echo = await as('mia', ['websh', SRV, ...AS, '--', 'echo hello from a work session']);
    expect(echo.code, echo.stderr).toBe(0);
    expect(echo.stdout).toBe('hello from a work session\n');

    const before = await liveSessions();
    const live = as('mia', ['websh', SRV, ...AS, '--', 'echo up; sleep 60'], 30_000);
    await eventually(async () => (await liveSessions()) > before);
    const t0 = Date.now();
    const rv = await as('sam', ['work-session', 'revoke', id!, '--reason', 'incident closed']);
    expect(rv.code, rv.stderr).toBe(0);
    const ended = await live;
    const ms = Date.now() - t0;
    console.log(`terminal closed ${ms} ms after the revoke command returned`);
    expect(ended.code).toBe(255);
    expect(ended.stderr).toMatch(
      new RegExp(`WORK_SESSION_REVOKED: work session ${id} was revoked by sam@localhost: incident closed`),
    );

    const tl = await as('mia', ['work-session', 'timeline', id!]);
    expect(tl.code, tl.stderr).toBe(0);
    for (const kind of ['requested', 'approval', 'approved', 'activated', 'channel', 'revoked']) {
      expect(tl.stdout).toMatch(new RegExp(`\\s${kind.replace('.', '\\.')}\\s`));
    }
    expect(tl.stdout).toMatch(/terminal ses_\S+ on ws-e2e-01/);
    const again = await as('mia', ['websh', SRV, ...AS, '--', 'true']);
    expect(again.stderr).toContain('WORK_SESSION_REQUIRED');
  });

  it('websh --request files the request, waits for approval, then opens', async () => {
    const run1 = as(
      'mia',
      ['websh', SRV, ...AS, '--request', '--reason', 'quick look', '--', 'echo approved run'],
      30_000,
    );
    const id = await eventually(async () => {
      const r = await as('sam', ['approvals', '-o', 'json']);
      return (JSON.parse(r.stdout) as { items: Array<{ id: string; reason: string }> }).items.find(
        (v) => v.reason === 'quick look',
      )?.id;
    });
    expect((await as('sam', ['work-session', 'approve', id!])).code).toBe(0);
    const r = await run1;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('approved run\n');
    expect(r.stderr).toMatch(/Waiting for approval/);
    const ls = await as('mia', ['work-session', 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`${id}\\s+active`));
    const done = await as('mia', ['work-session', 'complete', id!]);
    expect(done.code, done.stderr).toBe(0);
  });

  it("staff open terminals at once (auto-approved); a superuser's privilege_elevation request waits for someone else", async () => {
    const staff = await as('sam', ['websh', SRV, ...AS, '--', 'echo staff']);
    expect(staff.code, staff.stderr).toBe(0);
    expect((await as('sam', ['work-session', 'ls'])).stdout).toMatch(/active\s+ws-e2e-01\s+terminal/);

    const pe = await as('admin', [
      'work-session',
      'request',
      '--servers',
      SRV,
      '--features',
      'privilege_elevation',
      '--duration',
      '1h',
      '--reason',
      'kernel update',
      '-o',
      'json',
    ]);
    expect(pe.code, pe.stderr).toBe(0);
    const v = JSON.parse(pe.stdout) as { id: string; status: string; rule: string };
    expect(v).toMatchObject({ status: 'pending', rule: 'privilege-elevation-needs-approval' });
    const own = await as('admin', ['work-session', 'approve', v.id]);
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/nobody approves their own request/);
    const ok = await as('sam', ['work-session', 'approve', v.id]);
    expect(ok.code, ok.stderr).toBe(0);

    // Root needs the approved privilege_elevation AND a fresh step-up (the password again).
    const noStep = await as('admin', ['websh', SRV, '--root', '--', 'id', '-u']);
    expect(noStep.code).toBe(255);
    expect(noStep.stderr).toMatch(
      /STEP_UP_REQUIRED: Root on ws-e2e-01 needs a fresh proof that it is you: run `corral step-up`/,
    );
    const bad = await run(BIN.cli, ['step-up', '--password-stdin'], { env: envOf('admin'), input: 'wrong\n' });
    expect(bad.code).not.toBe(0);
    const step = await run(BIN.cli, ['step-up', '--password-stdin'], { env: envOf('admin'), input: PW + '\n' });
    expect(step.code, step.stderr).toBe(0);
    expect(step.stdout).toMatch(/Stepped up until/);
    const root = await as('admin', ['websh', SRV, '--root', '--', 'id', '-u']);
    expect(root.code, root.stderr).toBe(0);
    expect(root.stdout).toBe('0\n');
    const rootExec = await as('admin', ['exec', '--servers', SRV, '--root', '--', 'id', '-u']);
    expect(rootExec.code, rootExec.stderr).toBe(0);
    expect(rootExec.stdout).toMatch(/ws-e2e-01 \| 0/);
    const audit = JSON.parse(
      (await as('admin', ['audit', 'ls', '--action', 'privilege.elevate', '-o', 'json'])).stdout,
    ) as {
      items: Array<{ details: { via: string; workSessionId: string } }>;
    };
    expect(audit.items.map((e) => e.details.via).sort()).toEqual(['exec', 'terminal']);
    expect(audit.items[0]!.details.workSessionId).toBe(v.id);
    // A member without privilege_elevation is refused root even with a terminal session.
    const memberRoot = await as('mia', ['websh', SRV, '--root', '--', 'true']);
    expect(memberRoot.code).toBe(255);
    expect(memberRoot.stderr).toMatch(/WORK_SESSION_REQUIRED|SERVER_NOT_FOUND|FORBIDDEN/);
    const policy = await as('sam', ['policy', 'show']);
    expect(policy.stdout).toMatch(/privilege-elevation-needs-approval/);
    const notAllowed = await as('sam', ['policy', 'reset']);
    expect(notAllowed.stderr).toMatch(/FORBIDDEN/);
  });
  // Last: moving the gateway's clock 30 min on also makes it drop the (silent-looking) agent connection.
  it('a live terminal closes when its work session expires, and says so', async () => {
    const req = await as('mia', [
      'work-session',
      'request',
      '--servers',
      SRV,
      '--features',
      'terminal',
      '--duration',
      '1h',
      '--reason',
      'short job',
      '-o',
      'json',
    ]);
    const id = (JSON.parse(req.stdout) as { id: string }).id;
    const ok = await as('sam', ['work-session', 'approve', id, '--duration', '30m']);
    expect(ok.code, ok.stderr).toBe(0);
    const before = await liveSessions();
    const live = as('mia', ['websh', SRV, ...AS, '--work-session', id, '--', 'echo up; sleep 60'], 30_000);
    await eventually(async () => (await liveSessions()) > before);
    offset += 30 * 60_000; // the gateway's clock reaches the expiry
    const t0 = Date.now();
    const ended = await live;
    console.log(`terminal closed ${Date.now() - t0} ms after the expiry instant`);
    expect(ended.code).toBe(255);
    expect(ended.stderr).toContain(`WORK_SESSION_EXPIRED: work session ${id} expired`);
    const show = await as('mia', ['work-session', 'show', id]);
    expect(show.stdout).toMatch(/Status:\s+expired/);
  });
});
