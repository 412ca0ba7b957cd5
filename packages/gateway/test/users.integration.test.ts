import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';

const PW = 'admin-password-123';

describe('users: invite, accept, roles, deactivate', () => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let admin: string;
  const dir = tempDir();
  const login = async (email: string, password: string) =>
    request(url, ca, 'POST', '/api/v1/auth/login', { body: { email, password } });

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    admin = (await login('admin@localhost', PW)).body.token;
  });
  afterAll(async () => {
    await gw.close();
    dir.remove();
  });

  /** Invite, read the token out of the outbox message, accept. Returns the new user's token. */
  async function onboard(by: string, email: string, role: string): Promise<string> {
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', { token: by, body: { email, role } });
    expect(inv.status, JSON.stringify(inv.body)).toBe(201);
    expect(inv.body.delivery).toBe('outbox');
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', email)
      .executeTakeFirstOrThrow();
    const token = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
    const acc = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token, password: 'a brand new password' },
    });
    expect(acc.status).toBe(201);
    expect(acc.body.role).toBe(role);
    const again = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token, password: 'another new password' },
    });
    expect(again.body.error.code).toBe('INVITATION_INVALID');
    return (await login(email, 'a brand new password')).body.token;
  }

  it('invites by email through the outbox; the one-time token sets the password', async () => {
    const staff = await onboard(admin, 'staff@localhost', 'staff');
    const list = await request(url, ca, 'GET', '/api/v1/users', { token: staff });
    expect(list.body.items.map((u: { email: string }) => u.email)).toEqual(['admin@localhost', 'staff@localhost']);
  });

  it('lets staff invite members but not superusers, and members invite nobody (each refusal audited)', async () => {
    const staff = (await login('staff@localhost', 'a brand new password')).body.token;
    const up = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: staff,
      body: { email: 'boss@localhost', role: 'superuser' },
    });
    expect(up.status).toBe(403);
    const member = await onboard(staff, 'member@localhost', 'member');
    const m = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: member,
      body: { email: 'x@localhost' },
    });
    expect(m.status).toBe(403);
    const denied = await request(url, ca, 'GET', '/api/v1/audit?action=access.denied', { token: admin });
    expect(denied.body.items.length).toBeGreaterThanOrEqual(2);
  });

  it('changes roles (superusers only)', async () => {
    const staff = (await login('staff@localhost', 'a brand new password')).body.token;
    expect(
      (await request(url, ca, 'POST', '/api/v1/users/member@localhost/role', { token: staff, body: { role: 'staff' } }))
        .status,
    ).toBe(403);
    const r = await request(url, ca, 'POST', '/api/v1/users/member@localhost/role', {
      token: admin,
      body: { role: 'staff' },
    });
    expect(r.body.role).toBe('staff');
    const ev = await request(url, ca, 'GET', '/api/v1/audit?action=iam.user.role', { token: admin });
    expect(ev.body.items[0].details).toMatchObject({ before: 'member', after: 'staff' });
  });

  it('deactivates a user: their tokens stop working at once and they cannot sign in', async () => {
    const member = (await login('member@localhost', 'a brand new password')).body.token;
    expect((await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: member })).status).toBe(200);
    const d = await request(url, ca, 'POST', '/api/v1/users/member@localhost/deactivate', { token: admin });
    expect(d.body.deactivatedAt).not.toBeNull();
    expect((await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: member })).status).toBe(401);
    expect((await login('member@localhost', 'a brand new password')).status).toBe(401);
    const self = await request(url, ca, 'POST', '/api/v1/users/admin@localhost/deactivate', { token: admin });
    expect(self.status).toBe(403);
  });
});
