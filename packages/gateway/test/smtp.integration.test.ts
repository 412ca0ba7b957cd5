import { describe, it, expect, afterAll } from 'vitest';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { buildApp, type Gateway } from '../src/app.js';
import { makeConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { request, tempDir } from './helpers.js';

// A real SMTP server (the smtp-server package) on loopback receives the invitation the gateway sends
// through nodemailer; the token in that mail creates the account.
describe('invitations by SMTP', () => {
  const dir = tempDir();
  const mails: string[] = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, cb) {
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (text += d));
      stream.on('end', () => {
        mails.push(text);
        cb();
      });
    },
  });
  let gw: Gateway | undefined;
  afterAll(async () => {
    await gw?.close();
    await new Promise<void>((r) => smtp.close(() => r()));
    dir.remove();
  });

  it('delivers the invitation by mail; the token in it sets the password', async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    const port = (smtp.server.address() as AddressInfo).port;
    gw = await buildApp(
      makeConfig({
        data: dir.path,
        listen: '127.0.0.1:0',
        smtpUrl: `smtp://127.0.0.1:${port}`,
        smtpFrom: 'Corral <noreply@corral.test>',
      }),
      { log: silentLogger, admin: { email: 'admin@localhost', password: 'admin-password-123' } },
    );
    const url = await gw.listen();
    const ca = gw.tls.caPem;
    const admin = (
      await request(url, ca, 'POST', '/api/v1/auth/login', {
        body: { email: 'admin@localhost', password: 'admin-password-123' },
      })
    ).body.token;
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: admin,
      body: { email: 'new@corral.test' },
    });
    expect(inv.status).toBe(201);
    expect(inv.body.delivery).toBe('smtp');
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatch(/To: new@corral\.test/);
    expect(mails[0]).toMatch(/From: Corral <noreply@corral\.test>/);
    const token = /cinv_[A-Za-z0-9_-]+/.exec(mails[0]!.replace(/=\r?\n/g, ''))![0];
    const acc = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token, password: 'a password from mail' },
    });
    expect(acc.status).toBe(201);
    const login = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'new@corral.test', password: 'a password from mail' },
    });
    expect(login.status).toBe(200);
    // Nothing went to the outbox.
    expect(await gw.services.db.selectFrom('outbox').selectAll().execute()).toHaveLength(0);
  });
});
