/**
 * The web UI as people use it: a real gateway serving the built UI, a real agent process, and Debian's
 * chromium driven by playwright-core. One browser for the whole suite; an admin page and a member's
 * page (two contexts, so two cookie sessions).
 *
 * Screenshots of the main pages go to docs/screenshots/ when CORRAL_SCREENSHOTS=1
 * (`npm run screenshots -w @corral/web`).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chownSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildApp, type Gateway } from '../../gateway/src/app.js';
import { makeConfig } from '../../gateway/src/config.js';
import { silentLogger } from '../../gateway/src/log.js';
import { BIN, Proc, ROOT, run, eventually, ensureTestUser, TEST_OS_USER } from '../../gateway/test/processes.js';
import { request, tempDir } from '../../gateway/test/helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const OS_USER = IS_ROOT ? TEST_OS_USER : '';
const SRV = 'web-e2e-01';
const PW = 'admin password for the web suite';
const MEMBER_PW = 'member password for the web suite';
const SHOTS = process.env.CORRAL_SCREENSHOTS === '1' ? join(ROOT, 'docs/screenshots') : null;
const CHROMIUM = process.env.CORRAL_CHROMIUM ?? '/usr/bin/chromium';
const WEB_BUILT = existsSync(join(ROOT, 'packages/web/dist/index.html'));

/** The text of the active xterm buffer (the terminal page's test hook). */
async function termText(page: Page): Promise<string> {
  return page.evaluate(() => {
    const t = window.__corralTerm;
    if (!t) return '';
    const b = t.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  });
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function signIn(page: Page, url: string, email: string, password: string, next = '/servers'): Promise<void> {
  await page.goto(`${url}${next}`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === next.split('?')[0]);
}

describe.skipIf(!WEB_BUILT || !existsSync(CHROMIUM))('web UI in a real browser (gateway, agent, chromium)', () => {
  const dir = tempDir('corral-web-');
  let gw: Gateway;
  let agent: Proc;
  let url: string;
  let ca: string;
  let adminToken: string;
  let browser: Browser;
  let adminCtx: BrowserContext;
  let memberCtx: BrowserContext;
  let admin: Page;
  let member: Page;
  let filesDir: string;
  const marker = `hello-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    gw = await buildApp(makeConfig({ data: join(dir.path, 'gw'), listen: '127.0.0.1:0' }), {
      log: silentLogger,
      admin: { email: 'admin@localhost', password: PW },
    });
    url = await gw.listen();
    ca = gw.tls.caPem;
    adminToken = (
      await request(url, ca, 'POST', '/api/v1/auth/login', { body: { email: 'admin@localhost', password: PW } })
    ).body.token;
    const jt = await request(url, ca, 'POST', '/api/v1/join-tokens', { token: adminToken, body: {} });
    const cfg = join(dir.path, 'agent.json');
    const reg = await run(BIN.agent, [
      'register',
      '--gateway',
      url,
      '--token',
      jt.body.token,
      '--ca-fingerprint',
      gw.tls.caFingerprint,
      '--config',
      cfg,
      '--name',
      SRV,
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    // Samples every second (not 15 s), so the sparklines and charts have points to draw.
    agent = new Proc(BIN.agent, ['run', '--config', cfg], { CORRAL_METRICS_INTERVAL_MS: '1000' });
    await eventually(async () => {
      const r = await request(url, ca, 'GET', '/api/v1/servers', { token: adminToken });
      return r.body.items?.some((s: { status: string }) => s.status === 'online');
    });
    await eventually(async () => {
      const r = await request(url, ca, 'GET', `/api/v1/servers/${SRV}/metrics?range=1h`, { token: adminToken });
      return (r.body.points?.length ?? 0) >= 2;
    });
    if (IS_ROOT) await ensureTestUser();

    // A member with write scope on the server (work sessions need approval for members).
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: adminToken,
      body: { email: 'mia@localhost', role: 'member' },
    });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', 'mia@localhost')
      .executeTakeFirstOrThrow();
    const invToken = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
    const acc = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token: invToken, password: MEMBER_PW },
    });
    expect(acc.status).toBe(201);
    const g = await request(url, ca, 'POST', '/api/v1/grants', {
      token: adminToken,
      body: { user: 'mia@localhost', servers: SRV, level: 'write' },
    });
    expect(g.status, JSON.stringify(g.body)).toBe(201);

    // A directory the terminal's OS user owns, for the file browser.
    filesDir = join(dir.path, 'files');
    mkdirSync(filesDir, { recursive: true });
    if (IS_ROOT) {
      const uid = Number(execFileSync('id', ['-u', TEST_OS_USER]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', TEST_OS_USER]).toString().trim());
      chownSync(filesDir, uid, gid);
      execFileSync('chmod', ['755', dir.path]);
    }

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        // WebAuthn needs a certificate chromium trusts (ignoreHTTPSErrors turns it off): the gateway's, by SPKI.
        `--ignore-certificate-errors-spki-list=${createHash('sha256')
          .update(new X509Certificate(gw.tls.certPem).publicKey.export({ type: 'spki', format: 'der' }))
          .digest('base64')}`,
      ],
    });
    const opts = { ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, acceptDownloads: true };
    adminCtx = await browser.newContext({ ...opts, colorScheme: 'light' });
    memberCtx = await browser.newContext({ ...opts, colorScheme: 'dark' });
    admin = await adminCtx.newPage();
    member = await memberCtx.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await gw?.close();
    dir.remove();
  });

  it('serves the UI with a strict CSP and no framing; client routes fall back to index.html', async () => {
    const root = await request(url, ca, 'GET', '/servers/anything');
    expect(root.status).toBe(200);
    expect(String(root.headers['content-type'])).toContain('text/html');
    expect(root.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(root.headers['content-security-policy']).toContain("script-src 'self'");
    expect(root.headers['x-frame-options']).toBe('DENY');
    expect(root.headers['cache-control']).toBe('no-cache');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(String(root.body))![1]!;
    const a = await request(url, ca, 'GET', asset);
    expect(a.status).toBe(200);
    expect(a.headers['cache-control']).toContain('immutable');
    const api404 = await request(url, ca, 'GET', '/api/v1/no-such-route');
    expect(api404.body.error.code).toBe('NOT_FOUND');
  });

  it('signs in with the session cookie (HttpOnly), honours ?next= and shows the workspace', async () => {
    await signIn(admin, url, 'admin@localhost', PW, '/servers');
    await expect(admin.getByTestId('workspace-name').textContent()).resolves.toBe('default');
    const cookies = await adminCtx.cookies();
    const session = cookies.find((c) => c.name === '__Host-corral_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');
    // The page's script cannot read it.
    expect(await admin.evaluate(() => document.cookie)).not.toContain('corral_session');
    await admin.getByTestId('servers-table').getByText(SRV).waitFor();
    await admin.getByTestId('servers-table').getByText('online').waitFor();
    // Health sparklines (CPU and memory over the last hour) once two samples are in.
    await admin.getByRole('img', { name: new RegExp(`^${SRV} CPU: \\d+ % now$`) }).waitFor({ timeout: 20_000 });
    await shot(admin, 'servers');
    await admin.getByTestId('theme-toggle').click();
    expect(await admin.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await shot(admin, 'servers-dark');
    await admin.getByTestId('theme-toggle').click();
    await admin.goto(`${url}/servers/${SRV}`);
    await admin.getByRole('heading', { name: 'Health' }).waitFor();
    await shot(admin, 'server');
  });

  it('opens a terminal, reads a command back, survives a dropped connection, and shares it read-only', async () => {
    await admin.goto(`${url}/terminal?server=${SRV}${OS_USER ? `&osUser=${OS_USER}` : ''}`);
    await admin.waitForFunction(() => window.__corralTerm !== undefined);
    await admin.locator('[data-state="live"]').waitFor();
    await admin.locator('.xterm-helper-textarea').focus();
    await admin.keyboard.type(`echo ${marker}-$((6*7))\n`);
    await eventually(async () => (await termText(admin)).includes(`${marker}-42`), 10_000);
    await admin.getByTestId('latency').waitFor();
    await shot(admin, 'terminal');
    // A command the risk rules score high (the OS user cannot read the file): a session.risk event.
    await admin.keyboard.type('cat /etc/shadow\n');
    await eventually(async () => /shadow: Permission denied/.test(await termText(admin)), 10_000);

    // The network drops (the gateway side of the browser's socket is destroyed, no close frame): the page
    // re-attaches by itself to the terminal the agent kept, and the shell goes on.
    const hub = gw.services.channels as unknown as { channels: Map<string, { user?: { terminate(): void } }> };
    const users = [...hub.channels.values()].filter((c) => c.user);
    expect(users.length).toBe(1);
    users[0]!.user!.terminate();
    await admin.locator('[data-state="reconnecting"]').waitFor();
    await admin.locator('[data-state="live"]').waitFor({ timeout: 15_000 });
    await admin.locator('.xterm-helper-textarea').focus();
    await admin.keyboard.type(`echo again-${marker}\n`);
    await eventually(async () => (await termText(admin)).includes(`\nagain-${marker}`), 10_000);

    // Share it read-only with the member, who joins and sees what the admin types.
    await admin.getByRole('button', { name: 'Share…' }).click();
    const dialog = admin.getByRole('dialog');
    await dialog.getByLabel('With a user (email)').fill('mia@localhost');
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    await dialog.getByText('Shared with mia@localhost (read-only).').waitFor();
    await shot(admin, 'terminal-share');
    await dialog.getByRole('button', { name: 'Close' }).click();
    const sessionId = await admin.locator('.term-status code').textContent();
    await signIn(member, url, 'mia@localhost', MEMBER_PW, '/servers');
    await member.goto(`${url}/terminal?join=${sessionId}&server=${SRV}`);
    await member.locator('[data-state="live"]').waitFor();
    await member.getByText('Connected, read-only').waitFor();
    await admin.locator('.xterm-helper-textarea').focus();
    await admin.keyboard.type(`echo shared-${marker}\n`);
    await eventually(async () => (await termText(member)).includes(`\nshared-${marker}`), 10_000);
    await member.getByRole('button', { name: /^Close terminal/ }).click();
  });

  it('uploads files (picked and dropped), downloads a file and a folder, makes, renames and deletes, and reports a permission error plainly', async () => {
    const q = `?path=${encodeURIComponent(filesDir)}${OS_USER ? `&osUser=${OS_USER}` : ''}`;
    await admin.goto(`${url}/files/${SRV}${q}`);
    await admin.getByTestId('files-table').waitFor();
    await admin.getByTestId('upload-input').setInputFiles([
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(`notes ${marker}\n`) },
      { name: 'config.yaml', mimeType: 'text/yaml', buffer: Buffer.from('key: value\nlist:\n  - 1\n') },
    ]);
    await admin.getByTestId('upload-result').getByText('Uploaded 2 file(s)').waitFor();
    expect(readFileSync(join(filesDir, 'notes.txt'), 'utf8')).toBe(`notes ${marker}\n`);
    await admin.getByTestId('files-table').getByText('config.yaml').waitFor();
    await shot(admin, 'files');

    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('link', { name: 'Download notes.txt' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    const saved = join(dir.path, 'downloaded.txt');
    await download.saveAs(saved);
    expect(readFileSync(saved, 'utf8')).toBe(`notes ${marker}\n`);

    // New folder, drop a file into it (a real drop event with a DataTransfer), rename it, download it
    // as .tar.gz, delete it.
    await admin.getByRole('button', { name: 'New folder' }).click();
    await admin.getByRole('dialog').getByLabel('Folder name').fill('reports');
    await admin.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
    await admin.getByTestId('files-table').getByRole('link', { name: 'reports/' }).click();
    await admin.waitForURL(/reports/);
    await admin.getByText('This directory is empty.').waitFor();
    const dt = await admin.evaluateHandle(() => {
      const d = new DataTransfer();
      d.items.add(new File(['a,b\n1,2\n'], 'q1.csv', { type: 'text/csv' }));
      d.items.add(new File(['x'.repeat(200_000)], 'big.log'));
      return d;
    });
    await admin.dispatchEvent('section.files', 'drop', { dataTransfer: dt });
    await admin.getByTestId('upload-result').getByText('Uploaded 2 file(s)').waitFor();
    expect(readFileSync(join(filesDir, 'reports', 'q1.csv'), 'utf8')).toBe('a,b\n1,2\n');
    await admin.getByRole('button', { name: 'Rename q1.csv' }).click();
    await admin.getByRole('dialog').getByRole('textbox').fill('q1-final.csv');
    await admin.getByRole('dialog').getByRole('button', { name: 'Rename' }).click();
    await admin.getByTestId('files-table').getByText('q1-final.csv').waitFor();
    await admin.getByRole('button', { name: 'Up to the parent directory' }).click();
    const [tgz] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('link', { name: 'Download reports' }).click(),
    ]);
    expect(tgz.suggestedFilename()).toBe('reports.tar.gz');
    const tgzPath = join(dir.path, 'reports.tar.gz');
    await tgz.saveAs(tgzPath);
    expect(execFileSync('tar', ['-tzf', tgzPath]).toString()).toContain('q1-final.csv');
    await admin.getByRole('button', { name: 'Delete reports' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await admin.getByRole('dialog').waitFor({ state: 'hidden' });
    await eventually(async () => !existsSync(join(filesDir, 'reports')));

    if (IS_ROOT) {
      // /root is not readable by the unprivileged OS user: the kernel says no, the page says so.
      await admin.goto(`${url}/files/${SRV}?path=/root&osUser=${OS_USER}`);
      const err = admin.getByTestId('files-error');
      await err.waitFor();
      expect(await err.textContent()).toMatch(/Permission denied/);
    }
  });

  it('edits a file in CodeMirror, saves it, and asks what to do when it changed on the server', async () => {
    const file = join(filesDir, 'config.yaml');
    await admin.goto(`${url}/edit/${SRV}?path=${encodeURIComponent(file)}${OS_USER ? `&osUser=${OS_USER}` : ''}`);
    await admin.waitForFunction(() => window.__corralEditor !== undefined);
    await admin
      .getByTestId('editor-status')
      .getByText(/Opened/)
      .waitFor();
    await admin.evaluate(() => {
      const v = window.__corralEditor!;
      v.dispatch({ changes: { from: v.state.doc.length, insert: 'added: true\n' } });
    });
    await admin.getByRole('button', { name: /Save/ }).click();
    await admin.getByTestId('editor-status').getByText(/Saved/).waitFor();
    expect(readFileSync(file, 'utf8')).toBe('key: value\nlist:\n  - 1\nadded: true\n');
    await shot(admin, 'editor');

    writeFileSync(file, 'someone else: was here\n');
    await admin.evaluate(() => {
      const v = window.__corralEditor!;
      v.dispatch({ changes: { from: 0, insert: '# mine\n' } });
    });
    await admin.getByRole('button', { name: /Save/ }).click();
    await admin.getByRole('heading', { name: 'The file changed on the server' }).waitFor();
    expect(readFileSync(file, 'utf8')).toBe('someone else: was here\n');
    await admin.getByRole('button', { name: 'Overwrite with my version' }).click();
    await admin.getByTestId('editor-status').getByText(/Saved/).waitFor();
    expect(readFileSync(file, 'utf8')).toContain('# mine\n');
  });

  it('a member asks for a work session from the terminal; another user approves it; the terminal opens; revoking it ends the terminal with the reason', async () => {
    await member.goto(`${url}/terminal?server=${SRV}${OS_USER ? `&osUser=${OS_USER}` : ''}`);
    const prompt = member.getByTestId('work-session-prompt');
    await prompt.waitFor();
    await prompt.getByLabel('Reason').fill('INC-9 web check');
    await prompt.getByRole('button', { name: 'Request work session' }).click();
    await member.getByTestId('work-session-waiting').waitFor();

    await admin.goto(`${url}/work-sessions`);
    const row = admin.getByTestId('approvals-table').locator('tr', { hasText: 'mia@localhost' });
    await row.waitFor();
    await shot(admin, 'work-sessions');
    await row.getByRole('button', { name: 'Approve' }).click();
    const dialog = admin.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await member.locator('[data-state="live"]').waitFor({ timeout: 15_000 });
    await member.locator('.xterm-helper-textarea').focus();
    await member.keyboard.type(`echo member-${marker}\n`);
    await eventually(async () => (await termText(member)).includes(`\nmember-${marker}`), 10_000);
    // Client-side navigation: the terminal keeps running while another page is shown.
    await member.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Work sessions' }).click();
    await member.getByTestId('mine-table').getByTestId('remaining').first().waitFor();
    await shot(member, 'work-sessions-member-dark');

    // Revoking the work session closes the member's terminal with a message saying why.
    await member.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Terminal' }).click();
    await member.locator('[data-state="live"]').waitFor();
    expect(await termText(member)).toContain(`member-${marker}`);
    const ws = await request(url, ca, 'GET', '/api/v1/work-sessions?scope=all', { token: adminToken });
    const wsId = ws.body.items.find((w: { user: string; status: string }) => w.user === 'mia@localhost').id;
    const rv = await request(url, ca, 'POST', `/api/v1/work-sessions/${wsId}/revoke`, {
      token: adminToken,
      body: { reason: 'end of the web test' },
    });
    expect(rv.status, JSON.stringify(rv.body)).toBeLessThan(300);
    const ended = member.getByTestId('terminal-ended');
    await ended.waitFor({ timeout: 10_000 });
    expect(await ended.textContent()).toContain('work session was revoked');
  });

  it('re-attaches the terminal kept since the page was left, ends it, and plays its recording with command markers', async () => {
    // The admin's pages were reloaded since: the terminal was kept on the server, listed for re-attaching.
    await admin.goto(`${url}/terminal`);
    await admin.getByTestId('kept-sessions').getByRole('button', { name: 'Re-attach' }).click();
    await admin.locator('[data-state="live"]').waitFor();
    await eventually(async () => (await termText(admin)).includes(`shared-${marker}`), 10_000);
    await admin.locator('.xterm-helper-textarea').focus();
    await admin.keyboard.type('exit\n');
    const ended = admin.getByTestId('terminal-ended');
    await ended.waitFor();
    expect(await ended.textContent()).toContain('exited with code 0');

    await admin.goto(`${url}/recordings`);
    const row = admin.getByTestId('recordings-table').locator('tr', { hasText: 'admin@localhost' }).first();
    await row.getByRole('link', { name: 'Play' }).click();
    await admin.waitForFunction(() => window.__corralPlayer !== undefined);
    // The command typed above was captured as a marker to jump to.
    const cmd = admin.getByRole('navigation', { name: 'Commands in this recording' }).getByText(`echo ${marker}`);
    await cmd.waitFor();
    await cmd.click();
    await eventually(async () => (await admin.evaluate(() => window.__corralPlayer!.getCurrentTime())) > 0, 10_000);
    await eventually(
      async () => ((await admin.getByTestId('player').textContent()) ?? '').includes(`${marker}-42`),
      15_000,
    );
    await shot(admin, 'recording');
  });

  it('shows the audit log with the verified chain and risk highlighted, filters it, and exports CSV', async () => {
    await admin.goto(`${url}/audit`);
    await admin
      .getByTestId('chain-status')
      .getByText(/Chain verified/)
      .waitFor();
    const table = admin.getByTestId('audit-table');
    await table.getByText('session.start').first().waitFor();
    await table.getByText('worksession.approved').first().waitFor();
    // Risk is highlighted.
    await table.locator('tr.risk', { hasText: 'session.risk' }).first().waitFor();
    expect(await table.locator('tr.risk').first().textContent()).toContain('cat /etc/shadow');
    await admin.getByLabel('Actor').fill('mia@localhost');
    const actors = await eventually(async () => {
      const a = await table.locator('tbody tr td:nth-child(5)').allTextContents();
      return a.length > 0 && a.every((x) => x.includes('mia@localhost')) ? a : null;
    });
    expect(actors.length).toBeGreaterThan(0);
    const [csv] = await Promise.all([
      admin.waitForEvent('download'),
      admin.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    const p = join(dir.path, 'audit.csv');
    await csv.saveAs(p);
    const text = readFileSync(p, 'utf8');
    expect(text.split('\r\n')[0]).toBe(
      'seq,ts,action,outcome,actorType,actorName,targetType,targetName,sourceIp,details,hash',
    );
    expect(text).toContain('mia@localhost');
    await admin.getByLabel('Actor').fill('');
    await admin.getByLabel('Server').fill(SRV);
    await eventually(async () => {
      const t = await table.locator('tbody tr td:nth-child(6)').allTextContents();
      return t.length > 0 && t.every((x) => x.includes(SRV));
    });
    await admin.getByLabel('Server').fill('');
    await table.getByText('auth.login').first().waitFor();
    await shot(admin, 'audit');
  });

  it('administration lists users and the authentication sections (applications, SSO, MFA policy)', async () => {
    await admin.goto(`${url}/admin/users`);
    await admin.getByTestId('users-table').getByText('mia@localhost').waitFor();
    await shot(admin, 'admin');
    // An application made in the UI, and a service token issued for it (the secret once).
    await admin.goto(`${url}/admin/applications`);
    const appForm = admin.getByTestId('app-form');
    await appForm.getByLabel('Name', { exact: true }).fill('deploy-bot');
    await appForm.getByLabel('Description').fill('CI deployments');
    await appForm.getByRole('button', { name: 'Create application' }).click();
    const apps = admin.getByTestId('apps-table');
    await apps.getByText('app:deploy-bot').waitFor();
    await apps.getByRole('button', { name: 'Tokens' }).click();
    const svc = admin.getByTestId('svc-form');
    await svc.getByLabel('Name', { exact: true }).fill('ci');
    await svc.getByRole('button', { name: 'Issue service token' }).click();
    const svcSecret = (await admin.getByTestId('secret-value').textContent())!.trim();
    expect(svcSecret).toMatch(/^crl_svc_/);
    await admin.getByTestId('service-tokens-table').getByText('ci', { exact: true }).waitFor();
    const who = await request(url, ca, 'GET', '/api/v1/auth/whoami', { token: svcSecret });
    expect(who.status).toBe(200);
    expect(who.body.apiToken.kind).toBe('service');
    await shot(admin, 'admin-applications');
    await admin.goto(`${url}/admin/mfa`);
    const policy = admin.getByTestId('mfa-policy-form');
    await policy.getByLabel('Authenticator app').waitFor();
    await policy.getByLabel('changing roles').check();
    await policy.getByRole('button', { name: 'Save' }).click();
    await admin.getByText('The MFA policy was saved.').waitFor();
    await shot(admin, 'admin-mfa');
    const ws = await request(url, ca, 'GET', '/api/v1/workspace', { token: adminToken });
    expect(ws.body.settings.stepUpActions).toEqual(expect.arrayContaining(['privilege_elevation', 'role_change']));
    expect(ws.body.settings.mfaEnforced).toBe(false);
    await policy.getByLabel('changing roles').uncheck();
    await policy.getByRole('button', { name: 'Save' }).click();
    await eventually(async () => {
      const r = await request(url, ca, 'GET', '/api/v1/workspace', { token: adminToken });
      return !r.body.settings.stepUpActions.includes('role_change');
    });
  });

  it('creates an API token, shows it once, lists it with its activity, and revoking it in the UI makes the API refuse it', async () => {
    await admin.goto(`${url}/tokens`);
    const form = admin.getByTestId('token-form');
    await form.getByLabel('Name', { exact: true }).fill('ci-readonly');
    await form.getByLabel('Scope servers', { exact: true }).selectOption('read');
    await form.getByLabel('Scope exec', { exact: true }).selectOption('write');
    await form.getByLabel(/^Servers/).fill(SRV);
    await form.getByLabel(/^Denied commands/).fill('rm *');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = (await admin.getByTestId('secret-value').textContent())!.trim();
    expect(secret).toMatch(/^crl_pat_/);
    const table = admin.getByTestId('tokens-table');
    const row = table.getByRole('row').filter({ hasText: 'ci-readonly' });
    await row.getByText('servers:read').waitFor();
    await row.getByText('exec:write').waitFor();
    await row.getByText('deny rm *').waitFor();
    await shot(admin, 'tokens');

    // The secret works against the API, within its scopes and server ACL.
    const list = await request(url, ca, 'GET', '/api/v1/servers', { token: secret });
    expect(list.status).toBe(200);
    expect(list.body.items.map((x: { name: string }) => x.name)).toEqual([SRV]);
    const users = await request(url, ca, 'GET', '/api/v1/users', { token: secret });
    expect(users.status).toBe(403);
    expect(users.body.error.code).toBe('TOKEN_SCOPE');

    // Done: the secret is gone from the page; the activity shows the request made with it.
    await admin.getByTestId('secret-once').getByRole('button', { name: 'Done' }).click();
    expect(await admin.getByTestId('secret-once').count()).toBe(0);
    await admin.reload();
    await row.getByRole('button', { name: 'Activity' }).click();
    await admin.getByTestId('token-activity').getByText('GET /api/v1/servers').waitFor();
    await admin.keyboard.press('Escape');

    admin.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Revoke ci-readonly' }).click();
    await admin.getByText('“ci-readonly” was revoked.').waitFor();
    const after = await request(url, ca, 'GET', '/api/v1/servers', { token: secret });
    expect(after.status).toBe(401);
  });

  it('shows a sign-in button for each SSO provider and manages providers (superusers)', async () => {
    const add = await request(url, ca, 'POST', '/api/v1/sso/providers', {
      token: adminToken,
      body: {
        kind: 'oidc',
        name: 'acme',
        displayName: 'Acme ID',
        issuer: 'https://idp.acme.example',
        clientId: 'corral',
        clientSecret: 'a client secret for the web suite',
      },
    });
    expect(add.status, JSON.stringify(add.body)).toBe(201);
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    try {
      const p = await ctx.newPage();
      await p.goto(`${url}/login?next=${encodeURIComponent('/recordings')}`);
      const button = p.getByRole('link', { name: 'Sign in with Acme ID' });
      await button.waitFor();
      const href = new URL((await button.getAttribute('href'))!, url);
      expect(href.pathname + href.search).toBe('/api/v1/auth/sso/acme/start?next=%2Frecordings');
      await shot(p, 'login-sso');
    } finally {
      await ctx.close();
    }
    await admin.goto(`${url}/admin/sso`);
    const table = admin.getByTestId('sso-table');
    await table.getByText('Acme ID').waitFor();
    await table.getByRole('button', { name: 'Edit acme' }).click();
    const form = admin.getByTestId('sso-form');
    expect(await form.getByLabel('Client secret').inputValue()).toBe(''); // write-only
    await form.getByLabel('Button text').fill('Acme Workforce');
    await form.getByRole('button', { name: 'Save' }).click();
    await table.getByText('Acme Workforce').waitFor();
    await shot(admin, 'admin-sso');
    const stored = await request(url, ca, 'GET', '/api/v1/sso/providers', { token: adminToken });
    expect(stored.body.items[0].displayName).toBe('Acme Workforce');
    expect(stored.body.items[0].hasClientSecret).toBe(true);
  });

  it('enrols TOTP on the security page (code from oathtool), then signs in with the second step', async () => {
    const email = 'tess@localhost';
    const password = 'tess password for the web suite';
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: adminToken,
      body: { email, role: 'member' },
    });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', email)
      .executeTakeFirstOrThrow();
    const acc = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token: /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!, password },
    });
    expect(acc.status).toBe(201);
    const totp = (secret: string, atMs: number) =>
      execFileSync('oathtool', ['--totp', '-b', '-N', `@${Math.floor(atMs / 1000)}`, secret])
        .toString()
        .trim();

    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    try {
      const p = await ctx.newPage();
      await signIn(p, url, email, password, '/security');
      await p.getByTestId('factor-add').getByRole('button', { name: 'Add factor' }).click();
      const secret = (await p.getByTestId('totp-secret').textContent())!.trim();
      await p.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
      expect(await p.getByTestId('otpauth-uri').textContent()).toContain(`secret=${secret}`);
      await shot(p, 'security-totp');
      const confirm = p.getByTestId('factor-confirm');
      await confirm.getByLabel(/^Code/).fill(totp(secret, Date.now()));
      await confirm.getByRole('button', { name: 'Confirm' }).click();
      await p.getByTestId('recovery-codes').waitFor();
      const recovery = await p.getByTestId('recovery-codes').locator('li').allTextContents();
      expect(recovery).toHaveLength(10);
      await p.getByTestId('recovery-codes').getByRole('button', { name: 'Done' }).click();
      await p.getByTestId('factors-table').getByText('Authenticator app', { exact: true }).waitFor();
      await p.getByTestId('sessions-table').getByText('this one').waitFor();
      await shot(p, 'security');

      // Sign in again: the password, then the code (the next time step: the one just used is spent).
      await p.getByRole('button', { name: 'Sign out' }).click();
      await p.waitForURL(/\/login/);
      await p.goto(`${url}/login?next=%2Frecordings`);
      await p.getByLabel('Email').fill(email);
      await p.getByLabel('Password').fill(password);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('group', { name: 'Second factor' }).waitFor();
      await p.getByLabel('Code', { exact: true }).fill('000000');
      await p.getByRole('button', { name: 'Verify' }).click();
      await p.getByRole('alert').waitFor();
      await shot(p, 'login-second-factor');
      await p.getByLabel('Code', { exact: true }).fill(totp(secret, Date.now() + 30_000));
      await p.getByRole('button', { name: 'Verify' }).click();
      await p.waitForURL((u) => u.pathname === '/recordings');
      expect(await p.getByTestId('whoami').textContent()).toContain(email);
      const sessions = await p.evaluate(async () => (await fetch('/api/v1/auth/sessions')).json());
      expect(sessions.items.find((x: { current: boolean }) => x.current).method).toBe('password+totp');

      // New recovery codes need a fresh proof: the step-up dialog takes one of the old recovery codes.
      await p.goto(`${url}/security`);
      p.once('dialog', (d) => void d.accept());
      await p.getByRole('button', { name: 'New recovery codes' }).click();
      const stepUp = p.getByRole('dialog', { name: 'Confirm it is you' });
      await stepUp.getByLabel('Method').selectOption('recovery');
      await stepUp.getByRole('textbox', { name: 'Recovery code' }).fill(recovery[0]!.trim());
      await shot(p, 'step-up');
      await stepUp.getByRole('button', { name: 'Verify' }).click();
      await p.getByTestId('recovery-codes').waitFor();
      const fresh = await p.getByTestId('recovery-codes').locator('li').allTextContents();
      expect(fresh).toHaveLength(10);
      expect(fresh).not.toContain(recovery[1]);
    } finally {
      await ctx.close();
    }
  });

  it('adds a passkey on the security page and signs in with it (a virtual authenticator at https://localhost)', async () => {
    const email = 'wes@localhost';
    const password = 'wes password for the web suite';
    const inv = await request(url, ca, 'POST', '/api/v1/users/invitations', {
      token: adminToken,
      body: { email, role: 'member' },
    });
    expect(inv.status).toBe(201);
    const mail = await gw.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('recipient', '=', email)
      .executeTakeFirstOrThrow();
    const acc = await request(url, ca, 'POST', '/api/v1/invitations/accept', {
      body: { token: /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!, password },
    });
    expect(acc.status).toBe(201);
    // An IP address cannot be a WebAuthn RP ID: this user's pages are at localhost.
    const local = url.replace('127.0.0.1', 'localhost');
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const p = await ctx.newPage();
      const cdp = await ctx.newCDPSession(p);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
        },
      });
      await signIn(p, local, email, password, '/security');
      const add = p.getByTestId('factor-add');
      await add.getByLabel('Kind').selectOption('webauthn');
      await add.getByLabel('Label (optional)').fill('laptop passkey');
      await add.getByRole('button', { name: 'Add factor' }).click();
      await p.getByTestId('recovery-codes').waitFor();
      await p.getByTestId('factors-table').getByText('laptop passkey').waitFor();
      const creds = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(creds.credentials).toHaveLength(1);
      expect(creds.credentials[0]!.rpId).toBe('localhost');

      await p.getByRole('button', { name: 'Sign out' }).click();
      await p.waitForURL(/\/login/);
      await p.getByLabel('Email').fill(email);
      await p.getByLabel('Password').fill(password);
      await p.getByRole('button', { name: 'Sign in' }).click();
      const second = p.getByRole('group', { name: 'Second factor' });
      await second.getByLabel('Method').selectOption('webauthn');
      await p.getByRole('button', { name: 'Verify' }).click();
      // Signed out from /security: the sign-in page was given ?next=/security.
      await p.getByTestId('factors-table').getByText('laptop passkey').waitFor();
      const sessions = await p.evaluate(async () => (await fetch('/api/v1/auth/sessions')).json());
      expect(sessions.items.find((x: { current: boolean }) => x.current).method).toBe('password+webauthn');
    } finally {
      await ctx.close();
    }
  });

  it('signs out: the cookie is gone and pages send you to sign in again', async () => {
    await admin.goto(`${url}/servers`);
    await admin.getByRole('button', { name: 'Sign out' }).click();
    await admin.waitForURL(/\/login/);
    expect((await adminCtx.cookies()).some((c) => c.name === '__Host-corral_session')).toBe(false);
    await admin.goto(`${url}/audit`);
    await admin.waitForURL(/\/login\?next=%2Faudit/);
  });
});
