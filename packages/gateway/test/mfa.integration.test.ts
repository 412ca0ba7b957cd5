import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { hashPassword } from '../src/auth/passwords.js';
import { newId } from '../src/ids.js';
import { createPgDatabase, DB_KINDS, request, tempDir } from './helpers.js';

// Second factors against independent implementations of the other side: TOTP codes come from Debian's
// oathtool, email codes arrive on a real SMTP server (smtp-server), SMS codes on a local HTTP server
// standing in for the operator's SMS gateway. The gateway runs with a clock the test can move forward,
// and oathtool is told the same time (--now), so codes of the next 30-second step need no waiting.

const PW = 'admin-password-123';
const USER_PW = 'a user password 123';

/** A TOTP code made by oathtool for the given time (ms). */
function oathtool(secret: string, atMs: number): string {
  return execFileSync('oathtool', ['--totp', '-b', '-N', `@${Math.floor(atMs / 1000)}`, secret], {
    encoding: 'utf8',
  }).trim();
}

describe.each(DB_KINDS)('MFA end to end (%s)', (dbKind) => {
  let gw: Gateway;
  let url: string;
  let ca: string;
  let offset = 0;
  const clock = { now: () => Date.now() + offset };
  /** Move the gateway's clock (and so oathtool's time) on by `ms`. */
  const advance = (ms: number) => (offset += ms);
  const dir = tempDir();
  let dropDb: (() => Promise<void>) | undefined;
  const mails: string[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, cb) {
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (text += d));
      stream.on('end', () => {
        mails.push(text.replace(/=\r?\n/g, ''));
        cb();
      });
    },
  });
  const texts: { to: string; message: string; channel: string; auth?: string }[] = [];
  const hook: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      texts.push({
        ...(JSON.parse(body) as { to: string; message: string; channel: string }),
        auth: req.headers.authorization,
      });
      res.writeHead(204).end();
    });
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    request(url, ca, method, path, { ...(token ? { token } : {}), ...(body !== undefined ? { body } : {}) });
  const login = (email: string, password: string) => call('POST', '/api/v1/auth/login', undefined, { email, password });
  const auditActions = async (action: string) =>
    (await gw.services.db.selectFrom('audit_events').selectAll().where('action', '=', action).execute()).map((e) => ({
      outcome: e.outcome,
      details: JSON.parse(e.details) as Record<string, unknown>,
      actor: e.actor_name,
    }));

  async function addUser(email: string, role = 'member'): Promise<void> {
    await gw.services.db
      .insertInto('users')
      .values({
        id: newId('usr'),
        workspace_id: gw.services.defaultWorkspaceId,
        email,
        password_hash: await hashPassword(USER_PW),
        role,
        created_at: new Date().toISOString(),
        deactivated_at: null,
      })
      .execute();
  }

  /** Enrol TOTP for the session's user with oathtool's code; returns the secret and the recovery codes. */
  async function enrolTotp(token: string): Promise<{ secret: string; recoveryCodes: string[] }> {
    const add = await call('POST', '/api/v1/auth/mfa/factors', token, { kind: 'totp' });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    const secret = add.body.secret as string;
    expect(add.body.otpauthUri).toContain(`secret=${secret}`);
    const ok = await call('POST', `/api/v1/auth/mfa/factors/${add.body.factor.id}/confirm`, token, {
      code: oathtool(secret, clock.now()),
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.factor.confirmed).toBe(true);
    return { secret, recoveryCodes: ok.body.recoveryCodes ?? [] };
  }

  beforeAll(async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    let db: string | undefined;
    if (dbKind === 'postgres') {
      const pg = await createPgDatabase();
      db = pg.url;
      dropDb = pg.drop;
    }
    gw = await buildApp(
      makeConfig({
        data: dir.path,
        listen: '127.0.0.1:0',
        ...(db ? { db } : {}),
        smtpUrl: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
        smtpFrom: 'Corral <noreply@corral.test>',
        smsWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/sms`,
        smsWebhookSecret: 'hook-secret',
      }),
      { log: silentLogger, clock, admin: { email: 'admin@localhost', password: PW } },
    );
    url = await gw.listen();
    ca = gw.tls.caPem;
  });
  afterAll(async () => {
    await gw?.close();
    await new Promise<void>((r) => smtp.close(() => r()));
    await new Promise<void>((r) => hook.close(() => r()));
    await dropDb?.();
    dir.remove();
  });

  let adminSecret = '';
  let adminRecovery: string[] = [];

  it('enrols TOTP confirmed by an oathtool code; the secret is encrypted at rest', async () => {
    const admin = (await login('admin@localhost', PW)).body.token as string;
    const wrong = await call('POST', '/api/v1/auth/mfa/factors', admin, { kind: 'totp' });
    const bad = await call('POST', `/api/v1/auth/mfa/factors/${wrong.body.factor.id}/confirm`, admin, {
      code: '000000',
    });
    expect(bad.body.error.code).toBe('MFA_INVALID');
    await call('DELETE', `/api/v1/auth/mfa/factors/${wrong.body.factor.id}`, admin);
    const { secret, recoveryCodes } = await enrolTotp(admin);
    adminSecret = secret;
    adminRecovery = recoveryCodes;
    expect(recoveryCodes).toHaveLength(10);
    const row = await gw.services.db
      .selectFrom('mfa_factors')
      .selectAll()
      .where('kind', '=', 'totp')
      .executeTakeFirstOrThrow();
    expect(row.secret_enc).toMatch(/^v1\./);
    expect(row.secret_enc).not.toContain(secret);
    const codes = await gw.services.db.selectFrom('mfa_recovery_codes').select('code_hash').execute();
    expect(codes.map((c) => c.code_hash)).not.toContain(recoveryCodes[0]);
    const status = await call('GET', '/api/v1/auth/mfa', admin);
    expect(status.body.recoveryCodesLeft).toBe(10);
    expect(status.body.factors.map((f: { kind: string }) => f.kind)).toEqual(['totp']);
  });

  it('signs in with password then an oathtool TOTP code; the same code is refused the second time', async () => {
    advance(30_000); // the next time step: the enrolment used this one
    const first = await login('admin@localhost', PW);
    expect(first.body).toMatchObject({ mfaRequired: true, methods: ['totp', 'recovery'] });
    expect(first.body.token).toBeUndefined();
    const code = oathtool(adminSecret, clock.now());
    const done = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: first.body.challenge,
      method: 'totp',
      code,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.token).toMatch(/^crl_/);
    // The challenge is single use.
    const reuse = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: first.body.challenge,
      method: 'totp',
      code,
    });
    expect(reuse.body.error.code).toBe('MFA_CHALLENGE_INVALID');
    // Replay: a fresh challenge, the same (still current) code.
    const second = await login('admin@localhost', PW);
    const replay = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: second.body.challenge,
      method: 'totp',
      code,
    });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('MFA_INVALID');
    const verify = await auditActions('auth.mfa.verify');
    expect(verify.some((v) => v.outcome === 'success' && v.details.method === 'totp')).toBe(true);
    expect(verify.some((v) => v.outcome === 'failure' && v.details.method === 'totp')).toBe(true);
    const logins = await auditActions('auth.login');
    expect(logins.some((l) => l.details.method === 'password+totp')).toBe(true);
    // A replay in the audit reads as a failure, and the account's budget is shared with passwords.
    advance(30_000);
    const ok = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: second.body.challenge,
      method: 'totp',
      code: oathtool(adminSecret, clock.now()),
    });
    expect(ok.status).toBe(200);
  });

  it('finishes a browser sign-in with the session cookie when the second step asks for it', async () => {
    advance(30_000);
    const first = await call('POST', '/api/v1/auth/login', undefined, {
      email: 'admin@localhost',
      password: PW,
      cookie: true,
    });
    expect(first.body.mfaRequired).toBe(true);
    expect(first.headers['set-cookie']).toBeUndefined();
    const done = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: first.body.challenge,
      method: 'totp',
      code: oathtool(adminSecret, clock.now()),
      cookie: true,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ cookie: true, user: { email: 'admin@localhost' } });
    expect(done.body.token).toBeUndefined();
    const cookie = String(done.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toMatch(/^__Host-corral_session=crl_/);
    const me = await request(url, ca, 'GET', '/api/v1/auth/whoami', { headers: { cookie } });
    expect(me.body.csrfToken).toBe(done.body.csrfToken);
  });

  it('signs in with a recovery code once; regenerating makes the old ones useless', async () => {
    const c1 = await login('admin@localhost', PW);
    const used = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c1.body.challenge,
      method: 'recovery',
      code: adminRecovery[0]!.toUpperCase(),
    });
    expect(used.status, JSON.stringify(used.body)).toBe(200);
    const c2 = await login('admin@localhost', PW);
    const again = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c2.body.challenge,
      method: 'recovery',
      code: adminRecovery[0],
    });
    expect(again.body.error.code).toBe('MFA_INVALID');
    const token = used.body.token as string;
    // Regeneration needs a fresh proof; a recovery-code sign-in a moment ago is not one for an account with factors.
    const noProof = await call('POST', '/api/v1/auth/mfa/recovery-codes', token);
    expect(noProof.body.error.code).toBe('STEP_UP_REQUIRED');
    const pwOnly = await call('POST', '/api/v1/auth/step-up', token, { password: PW });
    expect(pwOnly.body.error.code).toBe('MFA_REQUIRED');
    advance(30_000);
    const up = await call('POST', '/api/v1/auth/step-up', token, {
      method: 'totp',
      code: oathtool(adminSecret, clock.now()),
    });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    const regen = await call('POST', '/api/v1/auth/mfa/recovery-codes', token);
    expect(regen.body.recoveryCodes).toHaveLength(10);
    const c3 = await login('admin@localhost', PW);
    const old = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c3.body.challenge,
      method: 'recovery',
      code: adminRecovery[1],
    });
    expect(old.body.error.code).toBe('MFA_INVALID');
    const fresh = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c3.body.challenge,
      method: 'recovery',
      code: regen.body.recoveryCodes[1],
    });
    expect(fresh.status).toBe(200);
    expect((await auditActions('mfa.recovery_code.use')).length).toBe(2);
    expect((await auditActions('mfa.recovery_codes.regenerate')).map((e) => e.details.reason)).toEqual([
      'first factor',
      'regenerated',
    ]);
    expect((await auditActions('auth.step_up')).some((e) => e.details.method === 'totp')).toBe(true);
  });

  it('sends email codes over SMTP; the code from the mail signs in; five wrong answers burn the challenge', async () => {
    await addUser('mail@localhost');
    const t = (await login('mail@localhost', USER_PW)).body.token as string;
    const add = await call('POST', '/api/v1/auth/mfa/factors', t, { kind: 'email' });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    expect(add.body.sentTo).toBe('m***@localhost');
    const enrolMail = mails.at(-1)!;
    expect(enrolMail).toMatch(/To: mail@localhost/);
    const enrolCode = /code is (\d{6})/.exec(enrolMail)![1]!;
    const ok = await call('POST', `/api/v1/auth/mfa/factors/${add.body.factor.id}/confirm`, t, { code: enrolCode });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const c = await login('mail@localhost', USER_PW);
    expect(c.body.methods).toEqual(['email', 'recovery']);
    const sent = await call('POST', '/api/v1/auth/login/mfa/send', undefined, {
      challenge: c.body.challenge,
      method: 'email',
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const code = /code is (\d{6})/.exec(mails.at(-1)!)![1]!;
    const done = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c.body.challenge,
      method: 'email',
      code,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    // Bounded attempts: a send plus four wrong codes use up the challenge's five; the right code is then refused.
    const c2 = await login('mail@localhost', USER_PW);
    await call('POST', '/api/v1/auth/login/mfa/send', undefined, { challenge: c2.body.challenge, method: 'email' });
    const right = /code is (\d{6})/.exec(mails.at(-1)!)![1]!;
    const wrong = right === '000000' ? '111111' : '000000';
    for (let i = 0; i < 4; i++) {
      const r = await call('POST', '/api/v1/auth/login/mfa', undefined, {
        challenge: c2.body.challenge,
        method: 'email',
        code: wrong,
      });
      expect(r.body.error.code).toBe('MFA_INVALID');
    }
    const late = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c2.body.challenge,
      method: 'email',
      code: right,
    });
    expect(late.body.error.code).toBe('MFA_CHALLENGE_INVALID');
    // Those failures count toward the account's sign-in limit (5 per 15 min): one wrong password more
    // and even the right one has to wait.
    expect((await login('mail@localhost', 'wrong password')).status).toBe(401);
    const c3 = await login('mail@localhost', USER_PW);
    expect(c3.status).toBe(429);
    advance(16 * 60_000);
  });

  it('sends SMS and voice codes through the operator webhook; the texted code signs in', async () => {
    await addUser('phone@localhost');
    const t = (await login('phone@localhost', USER_PW)).body.token as string;
    const bad = await call('POST', '/api/v1/auth/mfa/factors', t, { kind: 'sms', phone: '555-1234' });
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    const add = await call('POST', '/api/v1/auth/mfa/factors', t, { kind: 'sms', phone: '+15551234567' });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    const msg = texts.at(-1)!;
    expect(msg).toMatchObject({ to: '+15551234567', channel: 'sms', auth: 'Bearer hook-secret' });
    const ok = await call('POST', `/api/v1/auth/mfa/factors/${add.body.factor.id}/confirm`, t, {
      code: /code is (\d{6})/.exec(msg.message)![1],
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const voice = await call('POST', '/api/v1/auth/mfa/factors', t, {
      kind: 'sms',
      phone: '+15557654321',
      channel: 'voice',
    });
    expect(voice.status).toBe(403); // a second factor needs a fresh proof now that there is a first
    expect(voice.body.error.code).toBe('STEP_UP_REQUIRED');
    const c = await login('phone@localhost', USER_PW);
    expect(c.body.methods).toEqual(['sms', 'recovery']);
    await call('POST', '/api/v1/auth/login/mfa/send', undefined, { challenge: c.body.challenge, method: 'sms' });
    const done = await call('POST', '/api/v1/auth/login/mfa', undefined, {
      challenge: c.body.challenge,
      method: 'sms',
      code: /code is (\d{6})/.exec(texts.at(-1)!.message)![1],
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const sends = await auditActions('mfa.code.send');
    expect(sends.some((s) => s.details.method === 'sms' && s.details.to === '+1******4567')).toBe(true);
  });

  it('with MFA enforced, a user without a factor reaches nothing but enrolment until they enrol', async () => {
    const admin = (
      await call('POST', '/api/v1/auth/login/mfa', undefined, {
        challenge: (await login('admin@localhost', PW)).body.challenge,
        method: 'totp',
        code: oathtool(adminSecret, clock.now()),
      })
    ).body.token as string;
    // Two password-only sessions of a user from before enforcement; the user enrols TOTP in the first.
    await addUser('old@localhost');
    const old1 = (await login('old@localhost', USER_PW)).body.token as string;
    const old2 = (await login('old@localhost', USER_PW)).body.token as string;
    const oldSecret = (await enrolTotp(old1)).secret;
    const set = await call('PATCH', '/api/v1/workspace', admin, { mfaEnforced: true, mfaMethods: ['totp', 'email'] });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.settings).toMatchObject({ mfaEnforced: true, mfaMethods: ['totp', 'email'] });
    await addUser('new@localhost');
    const s = await login('new@localhost', USER_PW);
    expect(s.status).toBe(200);
    expect(s.body.enrollmentRequired).toBe(true);
    const t = s.body.token as string;
    for (const [m, p] of [
      ['GET', '/api/v1/servers'],
      ['GET', '/api/v1/users'],
      ['GET', '/api/v1/auth/sessions'],
      ['POST', '/api/v1/join-tokens'],
      ['GET', '/api/v1/workspace'],
    ] as const) {
      const r = await call(m, p, t, m === 'POST' ? {} : undefined);
      expect(r.status, `${m} ${p}`).toBe(403);
      expect(r.body.error.code, `${m} ${p}`).toBe('MFA_ENROLLMENT_REQUIRED');
    }
    const me = await call('GET', '/api/v1/auth/whoami', t);
    expect(me.body.enrollmentRequired).toBe(true);
    // The sms method is not allowed by the policy.
    const sms = await call('POST', '/api/v1/auth/mfa/factors', t, { kind: 'sms', phone: '+15550000000' });
    expect(sms.body.error.code).toBe('MFA_METHOD_NOT_ALLOWED');
    // The SMS user's factor is not allowed now either: with no allowed factor they are in enrolment too.
    const phone = await login('phone@localhost', USER_PW);
    expect(phone.body.enrollmentRequired).toBe(true);
    // The session that proved a factor goes on; the other one is held to enrolment until it steps up with one.
    expect((await call('GET', '/api/v1/servers', old1)).status).toBe(200);
    expect((await call('GET', '/api/v1/servers', old2)).body.error.code).toBe('MFA_ENROLLMENT_REQUIRED');
    advance(30_000);
    const oldUp = await call('POST', '/api/v1/auth/step-up', old2, {
      method: 'totp',
      code: oathtool(oldSecret, clock.now()),
    });
    expect(oldUp.status, JSON.stringify(oldUp.body)).toBe(200);
    expect((await call('GET', '/api/v1/servers', old2)).status).toBe(200);
    const { secret } = await enrolTotp(t);
    expect((await call('GET', '/api/v1/servers', t)).status).toBe(200);
    expect((await call('GET', '/api/v1/auth/whoami', t)).body.enrollmentRequired).toBeUndefined();
    // The last factor stays while MFA is enforced.
    const mine = await call('GET', '/api/v1/auth/mfa', t);
    advance(30_000);
    await call('POST', '/api/v1/auth/step-up', t, { method: 'totp', code: oathtool(secret, clock.now()) });
    const del = await call('DELETE', `/api/v1/auth/mfa/factors/${mine.body.factors[0].id}`, t);
    expect(del.body.error.code).toBe('MFA_LAST_FACTOR');
    const off = await call('PATCH', '/api/v1/workspace', admin, { mfaEnforced: false, mfaMethods: null as never });
    expect(off.status).toBe(400); // null is not a value of mfaMethods
    const off2 = await call('PATCH', '/api/v1/workspace', admin, {
      mfaEnforced: false,
      mfaMethods: ['totp', 'webauthn', 'email', 'sms'],
    });
    expect(off2.status).toBe(200);
  });

  it('puts policy-listed actions behind a fresh step-up; refusals are audited', async () => {
    advance(30_000);
    const admin = (
      await call('POST', '/api/v1/auth/login/mfa', undefined, {
        challenge: (await login('admin@localhost', PW)).body.challenge,
        method: 'totp',
        code: oathtool(adminSecret, clock.now()),
      })
    ).body.token as string;
    const set = await call('PATCH', '/api/v1/workspace', admin, {
      stepUpActions: ['role_change', 'policy_change', 'token_create'],
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const users = await call('GET', '/api/v1/users', admin);
    const member = users.body.items.find((u: { email: string }) => u.email === 'mail@localhost');
    const role = await call('POST', `/api/v1/users/${member.id}/role`, admin, { role: 'staff' });
    expect(role.status).toBe(403);
    expect(role.body.error.code).toBe('STEP_UP_REQUIRED');
    expect((await call('POST', '/api/v1/join-tokens', admin, {})).body.error.code).toBe('STEP_UP_REQUIRED');
    const pat = { name: 'ci', scopes: ['servers:read'] };
    expect((await call('POST', '/api/v1/tokens', admin, pat)).body.error.code).toBe('STEP_UP_REQUIRED');
    expect((await call('PATCH', '/api/v1/workspace', admin, { stepUpActions: [] })).body.error.code).toBe(
      'STEP_UP_REQUIRED',
    );
    advance(30_000);
    const up = await call('POST', '/api/v1/auth/step-up', admin, {
      method: 'totp',
      code: oathtool(adminSecret, clock.now()),
    });
    expect(up.status).toBe(200);
    expect((await call('POST', `/api/v1/users/${member.id}/role`, admin, { role: 'staff' })).status).toBe(200);
    expect((await call('POST', '/api/v1/join-tokens', admin, {})).status).toBe(201);
    expect((await call('POST', '/api/v1/tokens', admin, pat)).status).toBe(201);
    // The grace window passes: the step-up no longer counts.
    advance(6 * 60_000);
    expect((await call('POST', `/api/v1/users/${member.id}/role`, admin, { role: 'member' })).body.error.code).toBe(
      'STEP_UP_REQUIRED',
    );
    const denied = await auditActions('access.denied');
    expect(denied.filter((d) => d.details.attempted === 'role_change')).toHaveLength(2);
    // Email step-up: the code goes out by mail, bound to this session's challenge.
    const mailUser = (await login('mail@localhost', USER_PW)).body;
    await call('POST', '/api/v1/auth/login/mfa/send', undefined, { challenge: mailUser.challenge, method: 'email' });
    const mt = (
      await call('POST', '/api/v1/auth/login/mfa', undefined, {
        challenge: mailUser.challenge,
        method: 'email',
        code: /code is (\d{6})/.exec(mails.at(-1)!)![1],
      })
    ).body.token as string;
    const begin = await call('POST', '/api/v1/auth/step-up/begin', mt, { method: 'email' });
    expect(begin.body).toMatchObject({ mfa: true, sentTo: 'm***@localhost' });
    const stepped = await call('POST', '/api/v1/auth/step-up', mt, {
      method: 'email',
      challenge: begin.body.challenge,
      code: /code is (\d{6})/.exec(mails.at(-1)!)![1],
    });
    expect(stepped.status, JSON.stringify(stepped.body)).toBe(200);
    await call('PATCH', '/api/v1/workspace', admin, { stepUpActions: [] }).then(async (r) => {
      expect(r.body.error.code).toBe('STEP_UP_REQUIRED');
      advance(30_000);
      await call('POST', '/api/v1/auth/step-up', admin, { method: 'totp', code: oathtool(adminSecret, clock.now()) });
      expect((await call('PATCH', '/api/v1/workspace', admin, { stepUpActions: [] })).status).toBe(200);
    });
  });

  it('lists my sign-in sessions, revokes one, and a password change revokes the others', async () => {
    await addUser('sess@localhost');
    const a = (
      await request(url, ca, 'POST', '/api/v1/auth/login', {
        body: { email: 'sess@localhost', password: USER_PW },
        headers: { 'user-agent': 'corral-cli/test A' },
      })
    ).body.token as string;
    const b = (await login('sess@localhost', USER_PW)).body.token as string;
    const c = (await login('sess@localhost', USER_PW)).body.token as string;
    const list = await call('GET', '/api/v1/auth/sessions', a);
    expect(list.body.items).toHaveLength(3);
    const mine = list.body.items.find((s: { current: boolean }) => s.current);
    expect(mine).toMatchObject({ userAgent: 'corral-cli/test A', sourceIp: '127.0.0.1', method: 'password' });
    // Another user's session id is not mine to revoke.
    const me = (await call('GET', '/api/v1/auth/whoami', a)).body.user.id as string;
    const other = await gw.services.db
      .selectFrom('auth_tokens')
      .select('id')
      .where('user_id', '!=', me)
      .executeTakeFirstOrThrow();
    const notMine = await call('DELETE', `/api/v1/auth/sessions/${other.id}`, a);
    expect(notMine.body.error.code).toBe('AUTH_SESSION_NOT_FOUND');
    const bId = (await call('GET', '/api/v1/auth/sessions', b)).body.items.find(
      (s: { current: boolean }) => s.current,
    ).id;
    expect((await call('DELETE', `/api/v1/auth/sessions/${bId}`, a)).status).toBe(204);
    expect((await call('GET', '/api/v1/auth/whoami', b)).status).toBe(401);
    const wrong = await call('POST', '/api/v1/auth/password', a, {
      current: 'not it at all',
      new: 'a new password 456',
    });
    expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');
    const changed = await call('POST', '/api/v1/auth/password', a, { current: USER_PW, new: 'a new password 456' });
    expect(changed.body).toEqual({ revokedSessions: 1 });
    expect((await call('GET', '/api/v1/auth/whoami', c)).status).toBe(401);
    expect((await call('GET', '/api/v1/auth/whoami', a)).status).toBe(200);
    expect((await login('sess@localhost', 'a new password 456')).status).toBe(200);
    expect((await auditActions('auth.password.change')).map((e) => e.outcome)).toEqual(['failure', 'success']);
    expect(await auditActions('auth.session.revoke')).toHaveLength(1);
  });
});

describe('SMS codes without a webhook go to the operator outbox', () => {
  const dir = tempDir();
  let gw: Gateway;
  afterAll(async () => {
    await gw?.close();
    dir.remove();
  });

  it('keeps the text in the outbox, and its code confirms the phone', async () => {
    gw = await buildApp(makeConfig({ data: dir.path, listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    const url = await gw.listen();
    const ca = gw.tls.caPem;
    const t = (
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } })
    ).body.token as string;
    const add = await request(url, ca, 'POST', '/api/v1/auth/mfa/factors', {
      token: t,
      body: { kind: 'sms', phone: '+4930123456', channel: 'voice' },
    });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    const msg = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', '+4930123456')
      .executeTakeFirstOrThrow();
    expect(msg.subject).toBe('Voice call');
    const ok = await request(url, ca, 'POST', `/api/v1/auth/mfa/factors/${add.body.factor.id}/confirm`, {
      token: t,
      body: { code: /code is (\d{6})/.exec(msg.body)![1] },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.factor).toMatchObject({ kind: 'sms', channel: 'voice', confirmed: true, label: '+4930123456' });
  });
});
