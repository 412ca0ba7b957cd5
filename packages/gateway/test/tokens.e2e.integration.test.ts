/**
 * API tokens, applications and service tokens end to end: a real gateway, two real agents, the real
 * CLI driven through CORRAL_TOKEN. A token's effective rights are the intersection of its scopes and
 * ACLs with its owner's current rights: a superuser's `servers:read` token cannot run anything.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { request, tempDir } from './helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const AS = IS_ROOT ? ['-u', TEST_OS_USER] : [];

interface AuditItem {
  action: string;
  outcome: string;
  actorType: string;
  actorName: string | null;
  details: Record<string, unknown>;
}

describe('API tokens and service tokens through the CLI', () => {
  const dir = tempDir('corral-tokens-');
  let gateway: Proc;
  const agents: Proc[] = [];
  let url: string;
  let caPem: string;
  const env = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
  const admin = (args: string[]) => run(BIN.cli, args, { env, timeoutMs: 60_000 });
  /** The CLI as a CI job would run it: CORRAL_TOKEN, and the gateway from CORRAL_GATEWAY / CORRAL_CA_FILE. */
  const withToken = (token: string, args: string[]) =>
    run(BIN.cli, args, {
      env: {
        CORRAL_CONFIG_DIR: join(dir.path, 'cli-ci-empty'),
        CORRAL_TOKEN: token,
        CORRAL_GATEWAY: url,
        CORRAL_CA_FILE: join(dir.path, 'ca.pem'),
      },
      timeoutMs: 60_000,
    });
  const createToken = async (args: string[]) => {
    const r = await admin(['token', 'create', ...args, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { id: string; token: string; scopes: string[] };
  };
  const auditItems = async (action?: string): Promise<AuditItem[]> => {
    const r = await admin(['audit', 'ls', '--limit', '500', ...(action ? ['--action', action] : []), '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { items: AuditItem[] }).items;
  };

  beforeAll(async () => {
    if (IS_ROOT) await ensureTestUser();
    gateway = new Proc(BIN.gateway, ['start', '--data', join(dir.path, 'gw'), '--listen', '127.0.0.1:0']);
    url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    const fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    const login = await run(
      BIN.cli,
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      { env, input: password + '\n' },
    );
    expect(login.code, login.stderr).toBe(0);
    caPem = (JSON.parse(readFileSync(join(dir.path, 'cli', 'config.json'), 'utf8')) as { caPem: string }).caPem;
    writeFileSync(join(dir.path, 'ca.pem'), caPem);
    const jt = JSON.parse((await admin(['server', 'token', 'create', '--uses', '2', '-o', 'json'])).stdout) as {
      token: string;
    };
    for (const name of ['tok-a', 'tok-b']) {
      const cfg = join(dir.path, `${name}.json`);
      const reg = await run(BIN.agent, [
        'register',
        '--gateway',
        url,
        '--token',
        jt.token,
        '--ca-fingerprint',
        fp,
        '--config',
        cfg,
        '--name',
        name,
      ]);
      expect(reg.code, reg.stderr).toBe(0);
      agents.push(new Proc(BIN.agent, ['run', '--config', cfg], { CORRAL_METRICS_INTERVAL_MS: '0' }));
    }
    await eventually(
      async () => ((await admin(['server', 'ls'])).stdout.match(/ online /g) ?? []).length === 2,
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await gateway?.stop();
    dir.remove();
  });

  it("a superuser's servers:read token lists servers but cannot run, open terminals or manage users", async () => {
    const t = await createToken(['ro', '--scope', 'servers:read', '--expires', '7d']);
    expect(t.token).toMatch(/^crl_pat_[A-Za-z0-9_-]{43}$/);
    const ls = await withToken(t.token, ['server', 'ls']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/tok-a/);
    expect(ls.stdout).toMatch(/tok-b/);
    const who = await withToken(t.token, ['whoami']);
    expect(who.stdout).toMatch(
      new RegExp(`admin@localhost \\(superuser\\).*with API token ${t.id} \\(ro\\): scopes servers:read`),
    );

    const ex = await withToken(t.token, ['exec', '--servers', 'tok-a', ...AS, '--', 'true']);
    expect(ex.code).not.toBe(0);
    expect(ex.stderr).toMatch(/TOKEN_SCOPE: this token lacks the exec:write scope/);
    const sh = await withToken(t.token, ['websh', 'tok-a', '--', 'true']);
    expect(sh.code).not.toBe(0);
    expect(sh.stderr).toMatch(/TOKEN_SCOPE.*websh:write/);
    const users = await withToken(t.token, ['user', 'ls']);
    expect(users.code).not.toBe(0);
    expect(users.stderr).toMatch(/TOKEN_SCOPE.*users:read/);

    // Each refusal is an access.denied event naming the token and the missing scope.
    const denied = (await auditItems('access.denied')).filter((e) => e.details.tokenId === t.id);
    expect(denied.map((e) => e.details.missingScope).sort()).toEqual(['exec:write', 'users:read', 'websh:write']);

    // Its activity log has every request it made, refusals included.
    const act = await admin(['token', 'activity', t.id, '-o', 'json']);
    expect(act.code, act.stderr).toBe(0);
    const items = (JSON.parse(act.stdout) as { items: Array<{ method: string; route: string; status: number }> }).items;
    expect(items).toContainEqual(expect.objectContaining({ method: 'GET', route: '/api/v1/servers', status: 200 }));
    expect(items).toContainEqual(expect.objectContaining({ method: 'POST', route: '/api/v1/exec', status: 403 }));
    expect(items).toContainEqual(expect.objectContaining({ method: 'GET', route: '/api/v1/users', status: 403 }));
    const table = await admin(['token', 'activity', t.id]);
    expect(table.stdout).toMatch(/TIME\s+METHOD\s+ROUTE\s+STATUS\s+SOURCE/);
    const mine = await admin(['token', 'ls']);
    expect(mine.stdout).toMatch(new RegExp(`${t.id}\\s+ro\\s+crl_pat_\\S+\\s+servers:read`));
  });

  it('a token with a server ACL cannot reach other servers', async () => {
    const t = await createToken(['only-a', '--scope', 'servers:read,exec:write', '--servers', 'tok-a']);
    const ls = await withToken(t.token, ['server', 'ls']);
    expect(ls.stdout).toMatch(/tok-a/);
    expect(ls.stdout).not.toMatch(/tok-b/);
    const both = await withToken(t.token, ['exec', '--servers', 'tok-*', ...AS, '--', 'echo', 'acl-ok']);
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toMatch(/^tok-a\s+\| acl-ok$/m);
    expect(both.stdout + both.stderr).not.toMatch(/tok-b/);
    const b = await withToken(t.token, ['exec', '--servers', 'tok-b', ...AS, '--', 'true']);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toMatch(/matches no server you can see/);
    const show = await withToken(t.token, ['server', 'show', 'tok-b']);
    expect(show.stderr).toMatch(/SERVER_NOT_FOUND/);
    const denied = (await auditItems('access.denied')).find(
      (e) => e.details.tokenId === t.id && String(e.details.reason).includes('server ACL (tok-a)'),
    );
    expect(denied).toBeDefined();
  });

  it('a command ACL refuses `rm *` before dispatch (naming the rule) and lets other commands run', async () => {
    const t = await createToken(['no-rm', '--scope', 'servers:read,exec:write,websh:write', '--deny-command', 'rm *']);
    const rm = await withToken(t.token, ['exec', '--servers', 'tok-a', ...AS, '--', 'rm', '-rf', '/tmp/x']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toMatch(/COMMAND_DENIED.*deny "rm \*"/);
    const ok = await withToken(t.token, ['exec', '--servers', 'tok-a', ...AS, '--', 'echo', 'allowed']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^tok-a\s+\| allowed$/m);
    // Command-mode websh is checked the same way; an interactive terminal cannot be, so it is refused.
    const shRm = await withToken(t.token, ['websh', 'tok-a', ...AS, '--', 'rm', '-rf', '/tmp/x']);
    expect(shRm.code).not.toBe(0);
    expect(shRm.stderr).toMatch(/COMMAND_DENIED/);
    const shOk = await withToken(t.token, ['websh', 'tok-a', ...AS, '--', 'echo', 'websh-ok']);
    expect(shOk.code, shOk.stderr).toBe(0);
    expect(shOk.stdout).toMatch(/websh-ok/);
    // The terminal's own events, written after the request returned, name the token as well.
    await eventually(async () =>
      (await auditItems('session.end')).some((e) => e.details.tokenId === t.id && e.details.tokenKind === 'personal'),
    );
    const pty = await request(url, caPem, 'POST', '/api/v1/servers/tok-a/websh', { token: t.token, body: {} });
    expect(pty.status).toBe(403);
    expect(pty.body.error.code).toBe('COMMAND_DENIED');
    // Nor may it re-attach to (or join) a terminal someone types into.
    const attach = await request(url, caPem, 'POST', '/api/v1/websh/sessions/ses_any/attach', {
      token: t.token,
      body: {},
    });
    expect(attach.status).toBe(403);
    expect(attach.body.error.code).toBe('COMMAND_DENIED');

    const denied = (await auditItems('access.denied')).filter((e) => e.details.tokenId === t.id);
    expect(denied.map((e) => e.details.rule)).toContain('deny "rm *"');
    // Nothing was dispatched for the refused command.
    const jobs = await admin(['exec', 'ls', '-o', 'json']);
    expect(jobs.stdout).not.toMatch(/"rm"/);
  });

  it('a token cannot create a token with more than itself has', async () => {
    const t = await createToken(['minter', '--scope', 'servers:read,tokens:write', '--servers', 'tok-a']);
    const wider = await withToken(t.token, ['token', 'create', 'wider', '--scope', 'exec:write']);
    expect(wider.code).not.toBe(0);
    expect(wider.stderr).toMatch(/TOKEN_SCOPE.*exec:write/);
    const other = await withToken(t.token, ['token', 'create', 'b', '--scope', 'servers:read', '--servers', 'tok-b']);
    expect(other.stderr).toMatch(/TOKEN_SCOPE.*tok-b/);
    const narrow = await withToken(t.token, ['token', 'create', 'narrow', '--scope', 'servers:read', '-o', 'json']);
    expect(narrow.code, narrow.stderr).toBe(0);
    // It inherits the server ACL of the token that made it.
    expect((JSON.parse(narrow.stdout) as { servers: string[] }).servers).toEqual(['tok-a']);
    const refusals = (await auditItems('access.denied')).filter(
      (e) => e.details.tokenId === t.id && e.details.attempted === 'token.create',
    );
    expect(refusals.map((e) => e.details.missingScope).sort()).toEqual(['exec:write', 'servers']);
  });

  it('revocation takes effect at once: the live terminal ends and the next request is refused', async () => {
    const t = await createToken(['live', '--scope', 'servers:read,websh:write']);
    const sh = new Proc(BIN.cli, ['websh', 'tok-a', ...AS, '--', 'sleep', '60'], {
      CORRAL_CONFIG_DIR: join(dir.path, 'cli-ci-empty'),
      CORRAL_TOKEN: t.token,
      CORRAL_GATEWAY: url,
      CORRAL_CA_FILE: join(dir.path, 'ca.pem'),
    });
    await eventually(async () => {
      const r = await admin(['session', 'ls', '--live', '-o', 'json']);
      return r.stdout.includes('sleep 60');
    });
    const t0 = Date.now();
    const rv = await admin(['token', 'revoke', t.id]);
    expect(rv.code, rv.stderr).toBe(0);
    const exit = await sh.exited;
    console.log(`revocation to websh exit: ${Date.now() - t0} ms`);
    expect(exit.code).not.toBe(0);
    expect(sh.err).toMatch(/revoked/);
    const next = await withToken(t.token, ['server', 'ls']);
    expect(next.code).not.toBe(0);
    expect(next.stderr).toMatch(/CORRAL_TOKEN was refused/);
    const raw = await request(url, caPem, 'GET', '/api/v1/servers', { token: t.token });
    expect(raw.status).toBe(401);
    expect(
      (await auditItems('token.revoke')).some((e) => (e as unknown as { targetId: string }).targetId === t.id),
    ).toBe(true);
  });

  it("a service token acts as its application: the application's grant, audited per token", async () => {
    const app = await admin([
      'app',
      'create',
      'deployer',
      '--scope',
      'servers:read,exec:write,work_sessions:write',
      '-o',
      'json',
    ]);
    expect(app.code, app.stderr).toBe(0);
    expect(JSON.parse(app.stdout)).toMatchObject({ principal: 'app:deployer', role: 'member' });
    const g = await admin(['grant', '--user', 'app:deployer', '--servers', 'tok-a', '--level', 'write', '-o', 'json']);
    expect(g.code, g.stderr).toBe(0);
    const grantId = (JSON.parse(g.stdout) as { id: string }).id;
    const st = await admin(['app', 'token', 'create', 'deployer', 'gha', '--expires', '90d', '-o', 'json']);
    expect(st.code, st.stderr).toBe(0);
    const svc = JSON.parse(st.stdout) as { id: string; token: string; scopes: string[] };
    expect(svc.token).toMatch(/^crl_svc_/);
    expect(svc.scopes).toEqual(['servers:read', 'exec:write', 'work_sessions:write']);

    const ls = await withToken(svc.token, ['server', 'ls']);
    expect(ls.stdout).toMatch(/tok-a/);
    expect(ls.stdout).not.toMatch(/tok-b/);
    // A member: exec needs an approved work session, requested with the service token.
    const req = await withToken(svc.token, [
      'work-session',
      'request',
      '--servers',
      'tok-a',
      '--features',
      'exec',
      '--duration',
      '1h',
      '--reason',
      'deploy from CI',
      '-o',
      'json',
    ]);
    expect(req.code, req.stderr).toBe(0);
    const wsId = (JSON.parse(req.stdout) as { id: string; status: string }).id;
    if ((JSON.parse(req.stdout) as { status: string }).status !== 'approved') {
      expect((await admin(['work-session', 'approve', wsId])).code).toBe(0);
    }
    const ex = await withToken(svc.token, ['exec', '--servers', 'tok-a', ...AS, '--', 'echo', 'from-app']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(/^tok-a\s+\| from-app$/m);

    const events = (await auditItems()).filter((e) => e.details.tokenId === svc.id);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.actorType === 'application' && e.actorName === 'app:deployer')).toBe(true);
    expect(events.map((e) => e.action)).toContain('exec.run');

    // The application loses its grant: the token loses it with it.
    expect((await admin(['grant', 'revoke', grantId])).code).toBe(0);
    const after = await withToken(svc.token, ['server', 'ls']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).not.toMatch(/tok-a/);

    // A service token can never sign in with a password, and deleting the application ends its tokens.
    const pw = await request(url, caPem, 'POST', '/api/v1/auth/login', {
      body: { email: 'app:deployer', password: '!application' },
    });
    expect(pw.status).toBe(401);
    expect((await admin(['app', 'delete', 'deployer'])).code).toBe(0);
    const gone = await request(url, caPem, 'GET', '/api/v1/servers', { token: svc.token });
    expect(gone.status).toBe(401);
  });
});
