/**
 * Work sessions against a real gateway (TLS, real SQLite and PostgreSQL) with an injected clock: the
 * lifecycle, expiry at the exact instant, extension, overlapping sessions, policies, notifications.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import type { Principal } from '../src/auth/principal.js';
import { CorralError } from '../src/errors.js';
import { createPgDatabase, DB_KINDS, request, tempDir, type JsonResponse } from './helpers.js';

const HOUR = 3600_000;

describe.each(DB_KINDS)('work sessions on %s (fake clock)', (kind) => {
  let now = Date.UTC(2026, 5, 1, 9, 0, 0);
  let gw: Gateway;
  let url: string;
  let ca: string;
  let drop: (() => Promise<void>) | undefined;
  const dir = tempDir();
  const PW = 'pw-for-work-session-tests';
  const tokens: Record<string, string> = {};
  const principals: Record<string, Principal> = {};
  const hook: { server: Server | null; received: unknown[] } = { server: null, received: [] };

  const api = (who: string, method: string, path: string, body?: unknown): Promise<JsonResponse> =>
    request(url, ca, method, path, { token: tokens[who]!, ...(body !== undefined ? { body } : {}) });

  async function login(email: string, password: string): Promise<string> {
    const r = await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email, password } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.token as string;
  }

  async function onboard(name: string, role: string): Promise<void> {
    const email = `${name}@localhost`;
    const inv = await api('admin', 'POST', '/api/v1/users/invitations', { email, role });
    expect(inv.status, JSON.stringify(inv.body)).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', email)
      .executeTakeFirstOrThrow();
    const token = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
    await request(url, ca, 'POST', '/api/v1/invitations/accept', { body: { token, password: PW } });
    tokens[name] = await login(email, PW);
  }

  async function principal(name: string): Promise<Principal> {
    if (principals[name]) return principals[name];
    const who = (await api(name, 'GET', '/api/v1/auth/whoami')).body;
    const p: Principal = {
      kind: 'user',
      userId: who.user.id,
      email: who.user.email,
      role: who.user.role,
      workspaceId: who.workspace.id,
      workspaceName: who.workspace.name,
      tokenId: 'test',
      tokenExpiresAt: new Date(now + HOUR).toISOString(),
    };
    principals[name] = p;
    return p;
  }

  async function register(name: string): Promise<void> {
    const jt = await api('admin', 'POST', '/api/v1/join-tokens', {});
    const publicKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const r = await request(url, ca, 'POST', '/api/v1/agent/register', {
      body: { token: jt.body.token, name, publicKey },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }

  const server = (name: string) => gw.services.servers.getByName(gw.services.defaultWorkspaceId, name);
  const cover = async (who: string, srv: string, feature: 'terminal' | 'exec' = 'terminal', id?: string) =>
    gw.services.workSessions.cover(await principal(who), await server(srv), feature, id, '127.0.0.1');
  const coverError = async (who: string, srv: string, feature: 'terminal' | 'exec' = 'terminal') => {
    try {
      await cover(who, srv, feature);
    } catch (err) {
      expect(err).toBeInstanceOf(CorralError);
      return err as CorralError;
    }
    throw new Error('expected a refusal');
  };

  beforeAll(async () => {
    let dbUrl: string | undefined;
    if (kind === 'postgres') {
      const pg = await createPgDatabase();
      dbUrl = pg.url;
      drop = pg.drop;
    }
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0', ...(dbUrl ? { db: dbUrl } : {}) }), {
      log: silentLogger,
      clock: { now: () => now },
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    // Sweeps are driven by the test, on the fake clock.
    gw.services.workSessions.stop();
    tokens.admin = await login('admin@localhost', PW);
    await onboard('mia', 'member');
    await onboard('sam', 'staff');
    await onboard('sue', 'superuser');
    await onboard('max', 'member');
    for (const s of ['web-01', 'web-02', 'db-01']) await register(s);
    const g = await api('admin', 'POST', '/api/v1/grants', { user: 'mia@localhost', servers: 'web-*', level: 'write' });
    expect(g.status).toBe(201);
    hook.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hook.received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.server!.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    hook.server?.close();
    await gw?.close();
    await drop?.();
    dir.remove();
  });

  it('a member without a work session is refused with the exact request command (and it is audited)', async () => {
    const err = await coverError('mia', 'web-01');
    expect(err.code).toBe('WORK_SESSION_REQUIRED');
    expect(err.message).toContain(
      "corral work-session request --servers web-01 --features terminal --duration 1h --reason 'describe the work'",
    );
    const audit = await api('admin', 'GET', '/api/v1/audit?action=access.denied');
    expect(JSON.stringify(audit.body)).toMatch(/work session required/);
  });

  it('request -> pending -> approved by staff -> active on first use -> expired at the exact instant', async () => {
    const req = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-01'],
      features: ['terminal'],
      durationSeconds: 3600,
      reason: 'INC-1 disk full',
    });
    expect(req.status, JSON.stringify(req.body)).toBe(201);
    expect(req.body).toMatchObject({
      status: 'pending',
      servers: ['web-01'],
      rule: 'members-need-approval',
      approvalsRequired: 1,
      canApprove: false,
    });
    const id = req.body.id as string;
    // Approvers were told (outbox): staff and superusers, not the requester nor other members.
    const mail = await gw.services.db.selectFrom('outbox').selectAll().where('subject', 'like', '%mia%').execute();
    expect(mail.map((m) => m.recipient).sort()).toEqual(['admin@localhost', 'sam@localhost', 'sue@localhost']);
    expect(mail[0]!.body).toContain(`corral work-session approve ${id}`);
    expect((await coverError('mia', 'web-01')).message).toMatch(new RegExp(`${id} is waiting for approval`));

    // The inbox: staff sees it, the other member and the requester do not.
    expect((await api('sam', 'GET', '/api/v1/approvals')).body.items.map((v: { id: string }) => v.id)).toEqual([id]);
    expect((await api('max', 'GET', '/api/v1/approvals')).body.items).toEqual([]);
    expect((await api('mia', 'GET', '/api/v1/approvals')).body.items).toEqual([]);
    expect((await api('max', 'GET', `/api/v1/work-sessions/${id}`)).status).toBe(404);
    // Members cannot approve (audited), nobody approves their own.
    expect((await api('max', 'POST', `/api/v1/work-sessions/${id}/approve`, {})).status).toBe(404);

    now += 60_000;
    const ok = await api('sam', 'POST', `/api/v1/work-sessions/${id}/approve`, {});
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.status).toBe('approved');
    const expiresAt = Date.parse(ok.body.expiresAt as string);
    expect(expiresAt).toBe(now + HOUR);
    expect((await api('sam', 'POST', `/api/v1/work-sessions/${id}/approve`, {})).body.error.code).toBe(
      'WORK_SESSION_STATE',
    );

    // Covers web-01 terminal only.
    expect((await cover('mia', 'web-01')).id).toBe(id);
    expect((await api('mia', 'GET', `/api/v1/work-sessions/${id}`)).body.status).toBe('active');
    expect((await coverError('mia', 'web-02')).code).toBe('WORK_SESSION_REQUIRED');
    expect((await coverError('mia', 'web-01', 'exec')).code).toBe('WORK_SESSION_REQUIRED');

    now = expiresAt - 1;
    expect((await cover('mia', 'web-01')).id).toBe(id);
    expect(await gw.services.workSessions.stillCovers(id, (await server('web-01')).id, 'terminal')).toBe(true);
    now = expiresAt;
    expect(await gw.services.workSessions.stillCovers(id, (await server('web-01')).id, 'terminal')).toBe(false);
    expect((await api('mia', 'GET', `/api/v1/work-sessions/${id}`)).body.status).toBe('expired');
    expect((await coverError('mia', 'web-01')).code).toBe('WORK_SESSION_REQUIRED');
    expect(await gw.services.workSessions.sweep()).toBe(1);
    expect(await gw.services.workSessions.sweep()).toBe(0);

    const tl = await api('mia', 'GET', `/api/v1/work-sessions/${id}/timeline`);
    expect(tl.body.entries.map((e: { kind: string }) => e.kind)).toEqual([
      'requested',
      'approval',
      'approved',
      'activated',
      'expired',
    ]);
    const audit = await api('admin', 'GET', '/api/v1/audit?limit=200');
    const actions = (audit.body.items as Array<{ action: string; targetId: string | null }>)
      .filter((e) => e.targetId === id)
      .map((e) => e.action)
      .reverse();
    expect(actions).toEqual([
      'worksession.requested',
      'worksession.approval',
      'worksession.approved',
      'worksession.activated',
      'worksession.expired',
    ]);
  });

  it('extends (approved again), refuses an extension beyond the rule maximum, completes early', async () => {
    const id = (
      await api('mia', 'POST', '/api/v1/work-sessions', {
        servers: ['web-02'],
        features: ['terminal'],
        durationSeconds: 3600,
        reason: 'maintenance',
      })
    ).body.id as string;
    await api('sue', 'POST', `/api/v1/work-sessions/${id}/approve`, {});
    const first = Date.parse((await api('mia', 'GET', `/api/v1/work-sessions/${id}`)).body.expiresAt);
    const tooMuch = await api('mia', 'POST', `/api/v1/work-sessions/${id}/extend`, { durationSeconds: 8 * 3600 });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error.message).toMatch(/extend by at most 7h/);
    const ext = await api('mia', 'POST', `/api/v1/work-sessions/${id}/extend`, {
      durationSeconds: 1800,
      reason: 'more logs',
    });
    expect(ext.body.extension).toMatchObject({ durationSeconds: 1800, reason: 'more logs' });
    expect(ext.body.status).toBe('approved');
    expect((await api('sam', 'GET', '/api/v1/approvals')).body.items.map((v: { id: string }) => v.id)).toContain(id);
    // Sue approved the request; a new round lets her approve the extension too.
    const ok = await api('sue', 'POST', `/api/v1/work-sessions/${id}/approve`, {});
    expect(ok.body.extension).toBeNull();
    expect(Date.parse(ok.body.expiresAt)).toBe(first + 1800_000);
    // Only the requester completes; an approver revokes.
    expect((await api('sam', 'POST', `/api/v1/work-sessions/${id}/complete`)).status).toBe(403);
    const done = await api('mia', 'POST', `/api/v1/work-sessions/${id}/complete`);
    expect(done.body.status).toBe('completed');
    expect((await api('mia', 'POST', `/api/v1/work-sessions/${id}/complete`)).body.error.code).toBe(
      'WORK_SESSION_STATE',
    );
    const kinds = (await api('mia', 'GET', `/api/v1/work-sessions/${id}/timeline`)).body.entries.map(
      (e: { kind: string }) => e.kind,
    );
    expect(kinds).toEqual([
      'requested',
      'approval',
      'approved',
      'extension.requested',
      'approval',
      'extended',
      'completed',
    ]);
  });

  it('with overlapping sessions uses the one that lasts longest, and falls back when it ends', async () => {
    const mk = async (seconds: number) => {
      const id = (
        await api('mia', 'POST', '/api/v1/work-sessions', {
          servers: ['web-*'],
          features: ['terminal', 'exec'],
          durationSeconds: seconds,
          reason: 'overlap',
        })
      ).body.id as string;
      await api('sam', 'POST', `/api/v1/work-sessions/${id}/approve`, {});
      return id;
    };
    const short = await mk(600);
    const long = await mk(1200);
    expect((await cover('mia', 'web-01')).id).toBe(long);
    expect((await cover('mia', 'web-01', 'terminal', short)).id).toBe(short);
    // The long one is revoked: the short one still covers.
    const rv = await api('sam', 'POST', `/api/v1/work-sessions/${long}/revoke`, { reason: 'enough' });
    expect(rv.body.status).toBe('revoked');
    expect(rv.body.endReason).toBe(`work session ${long} was revoked by sam@localhost: enough`);
    expect((await cover('mia', 'web-01')).id).toBe(short);
    now += 600_000;
    expect((await coverError('mia', 'web-01')).code).toBe('WORK_SESSION_REQUIRED');
    expect(await gw.services.workSessions.sweep()).toBe(1);
  });

  it('approvers may shorten and narrow; deny and cancel end requests', async () => {
    const r = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-01', 'web-02'],
      features: ['terminal', 'exec'],
      durationSeconds: 7200,
      reason: 'narrow me',
    });
    const longer = await api('sam', 'POST', `/api/v1/work-sessions/${r.body.id}/approve`, { durationSeconds: 9000 });
    expect(longer.status).toBe(400);
    const ok = await api('sam', 'POST', `/api/v1/work-sessions/${r.body.id}/approve`, {
      durationSeconds: 1800,
      servers: ['web-02'],
      features: ['terminal'],
      comment: 'only what you need',
    });
    expect(ok.body).toMatchObject({
      status: 'approved',
      servers: ['web-02'],
      features: ['terminal'],
      durationSeconds: 1800,
    });
    expect(Date.parse(ok.body.expiresAt)).toBe(now + 1800_000);
    expect((await coverError('mia', 'web-01')).code).toBe('WORK_SESSION_REQUIRED');
    expect((await coverError('mia', 'web-02', 'exec')).code).toBe('WORK_SESSION_REQUIRED');
    expect((await cover('mia', 'web-02')).id).toBe(r.body.id);

    const d = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-01'],
      features: ['exec'],
      durationSeconds: 600,
      reason: 'deny me',
    });
    const denied = await api('sue', 'POST', `/api/v1/work-sessions/${d.body.id}/deny`, { reason: 'not now' });
    expect(denied.body).toMatchObject({ status: 'denied', endReason: 'denied: not now' });
    const c = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-01'],
      features: ['exec'],
      durationSeconds: 600,
      reason: 'cancel me',
    });
    expect((await api('sam', 'POST', `/api/v1/work-sessions/${c.body.id}/cancel`)).status).toBe(403);
    expect((await api('mia', 'POST', `/api/v1/work-sessions/${c.body.id}/cancel`)).body.status).toBe('cancelled');
    expect((await api('sam', 'POST', `/api/v1/work-sessions/${c.body.id}/approve`, {})).body.error.code).toBe(
      'WORK_SESSION_STATE',
    );
    // Requests for servers without write scope, or longer than the policy allows, are refused up front.
    const noScope = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['db-01'],
      features: ['terminal'],
      durationSeconds: 600,
      reason: 'x',
    });
    expect(noScope.status).toBe(400);
    expect(noScope.body.error.message).toMatch(/no server you hold write scope on/);
    const tooLong = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-01'],
      features: ['terminal'],
      durationSeconds: 9 * 3600,
      reason: 'x',
    });
    expect(tooLong.body.error.message).toMatch(/at most 8h/);
  });

  it('staff are auto-approved (a session is opened for them on first use); privilege elevation still waits for someone else', async () => {
    const jit = await cover('sam', 'db-01');
    const v = (await api('sam', 'GET', `/api/v1/work-sessions/${jit.id}`)).body;
    expect(v).toMatchObject({
      status: 'active',
      rule: 'staff-auto-approved',
      servers: ['db-01'],
      features: ['terminal'],
    });
    expect((await cover('sam', 'db-01')).id).toBe(jit.id);

    const pe = await api('sue', 'POST', '/api/v1/work-sessions', {
      servers: ['db-01'],
      features: ['terminal', 'privilege_elevation'],
      durationSeconds: 3600,
      reason: 'kernel update',
    });
    expect(pe.body).toMatchObject({ status: 'pending', rule: 'privilege-elevation-needs-approval' });
    const own = await api('sue', 'POST', `/api/v1/work-sessions/${pe.body.id}/approve`, {});
    expect(own.status).toBe(403);
    expect(own.body.error.message).toMatch(/nobody approves their own request/);
    const ok = await api('admin', 'POST', `/api/v1/work-sessions/${pe.body.id}/approve`, {});
    expect(ok.body.status).toBe('approved');
  });

  it('policies: superusers edit them (staff and members cannot); deny rules, group auto-approval, two approvers, webhook', async () => {
    expect((await api('mia', 'GET', '/api/v1/policies/work-sessions')).status).toBe(403);
    const def = await api('sam', 'GET', '/api/v1/policies/work-sessions');
    expect(def.body.isDefault).toBe(true);
    const hookUrl = `http://127.0.0.1:${(hook.server!.address() as AddressInfo).port}/notify`;
    const policy = {
      rules: [
        { name: 'no-db-exec', servers: ['db-*'], features: ['exec'], action: 'deny' },
        {
          name: 'web-two',
          servers: ['web-02'],
          action: 'require_approval',
          approvals: 2,
          approvers: { roles: ['staff', 'superuser'] },
        },
        { name: 'oncall', requester: { groups: ['oncall'] }, action: 'auto_approve', maxDurationSeconds: 7200 },
        ...def.body.rules,
      ],
      webhookUrl: hookUrl,
    };
    expect((await api('sam', 'PUT', '/api/v1/policies/work-sessions', policy)).status).toBe(403);
    const bad = await api('sue', 'PUT', '/api/v1/policies/work-sessions', {
      rules: [{ name: 'x', servers: ['bad selector!'], action: 'deny' }],
    });
    expect(bad.status).toBe(400);
    const put = await api('sue', 'PUT', '/api/v1/policies/work-sessions', policy);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ isDefault: false, updatedBy: 'sue@localhost' });

    const denied = await api('sam', 'POST', '/api/v1/work-sessions', {
      servers: ['db-01'],
      features: ['exec'],
      durationSeconds: 600,
      reason: 'x',
    });
    expect(denied.body).toMatchObject({ status: 'denied', rule: 'no-db-exec' });

    await api('admin', 'POST', '/api/v1/groups', { name: 'oncall' });
    await api('admin', 'POST', '/api/v1/groups/oncall/members', { user: 'mia@localhost' });
    const auto = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-01'],
      features: ['terminal'],
      durationSeconds: 3600,
      reason: 'on call',
    });
    expect(auto.body).toMatchObject({ status: 'approved', rule: 'oncall' });

    const two = await api('mia', 'POST', '/api/v1/work-sessions', {
      servers: ['web-02'],
      features: ['terminal'],
      durationSeconds: 3600,
      reason: 'needs two',
    });
    expect(two.body).toMatchObject({ status: 'pending', rule: 'web-two', approvalsRequired: 2 });
    const one = await api('sam', 'POST', `/api/v1/work-sessions/${two.body.id}/approve`, {});
    expect(one.body).toMatchObject({ status: 'pending', approvals: [{ by: 'sam@localhost' }] });
    expect((await api('sam', 'POST', `/api/v1/work-sessions/${two.body.id}/approve`, {})).status).toBe(409);
    const both = await api('admin', 'POST', `/api/v1/work-sessions/${two.body.id}/approve`, {});
    expect(both.body.status).toBe('approved');

    // The webhook heard about the request that waited.
    for (let i = 0; i < 50 && !hook.received.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(hook.received).toContainEqual(
      expect.objectContaining({
        event: 'work_session.requested',
        workSession: expect.objectContaining({ id: two.body.id, user: 'mia@localhost' }),
      }),
    );
    const reset = await api('sue', 'DELETE', '/api/v1/policies/work-sessions');
    expect(reset.body.isDefault).toBe(true);
    const audit = await api('admin', 'GET', '/api/v1/audit?action=policy.work_sessions.update');
    expect(audit.body.items.length).toBe(2);
  });
});
