import { describe, it, expect, afterAll } from 'vitest';
import { statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Proc, run } from './processes.js';
import { request, tempDir } from './helpers.js';

describe('corral-gateway init (scripted setup)', () => {
  const dir = tempDir();
  let gw: Proc | undefined;
  afterAll(async () => {
    await gw?.stop();
    dir.remove();
  });

  it('creates the superuser with the password from stdin; start then reuses the data', async () => {
    const data = join(dir.path, 'd');
    const pw = 'a long scripted password';
    const init = await run(
      BIN.gateway,
      ['init', '--data', data, '--admin-email', 'Ops@Example.com', '--admin-password-stdin'],
      { input: pw + '\n' },
    );
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).not.toContain(pw);
    const file = join(data, 'initial-admin.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ email: 'ops@example.com' });

    const again = await run(BIN.gateway, ['init', '--data', data, '--admin-email', 'x@y.z', '--admin-password-stdin'], {
      input: 'another password!!\n',
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already initialised/);

    gw = new Proc(BIN.gateway, ['start', '--data', data, '--listen', '127.0.0.1:0']);
    const url = (await gw.waitFor(/listening on (\S+)/))[1]!;
    expect(gw.out).not.toMatch(/password:/);
    const ca = readFileSync(join(data, 'tls', 'ca.crt'), 'utf8');
    const ok = await request(url, ca, 'POST', '/api/v1/auth/login', {
      body: { email: 'ops@example.com', password: pw },
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a short password', async () => {
    const r = await run(
      BIN.gateway,
      ['init', '--data', join(dir.path, 'e'), '--admin-email', 'a@b.c', '--admin-password-stdin'],
      { input: 'short\n' },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/at least 12/);
  });
});
