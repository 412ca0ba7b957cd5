/**
 * WebFTP end to end: a real gateway and agent process, the real CLI and the HTTP API, files on this
 * machine's disk, a real non-root OS user.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { WebSocket } from 'ws';
import { FsClient, FsClientError } from '@corral/protocol';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { BIN, Proc, run, eventually, ensureTestUser, TEST_OS_USER } from './processes.js';
import { request, tempDir } from './helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const SRV = 'files-01';

describe.runIf(IS_ROOT)('WebFTP: files as the OS user, streamed, audited', () => {
  const dir = tempDir('corral-files-');
  // Server-side scratch directory (same machine): world-writable so the test user can work in it too.
  const remote = join(dir.path, 'remote');
  let gateway: Proc;
  let agent: Proc;
  let url: string;
  let fp: string;
  let ca: string;
  let token: string;
  const env = { CORRAL_CONFIG_DIR: join(dir.path, 'cli') };
  const cli = (args: string[], extra: Record<string, string> = {}) => run(BIN.cli, args, { env: { ...env, ...extra } });
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    request(url, ca, method, `/api/v1/servers/${SRV}/files${path}`, {
      token,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
  const auditOf = async (action: string) =>
    (
      JSON.parse((await cli(['audit', 'ls', '--action', action, '--limit', '50', '-o', 'json'])).stdout) as {
        items: Array<{ action: string; outcome: string; details: Record<string, unknown> }>;
      }
    ).items;

  beforeAll(async () => {
    await ensureTestUser();
    mkdirSync(remote, { recursive: true });
    chmodSync(dir.path, 0o755);
    chmodSync(remote, 0o1777);
    gateway = new Proc(BIN.gateway, [
      'start',
      '--data',
      join(dir.path, 'gw'),
      '--listen',
      '127.0.0.1:0',
      '--max-upload-size',
      '300M',
    ]);
    url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    ca = readFileSync(join(dir.path, 'gw', 'tls', 'ca.crt'), 'utf8');
    const login = await run(
      BIN.cli,
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      {
        env,
        input: password + '\n',
      },
    );
    expect(login.code, login.stderr).toBe(0);
    token = (JSON.parse(readFileSync(join(dir.path, 'cli', 'config.json'), 'utf8')) as { token: string }).token;
    const tok = JSON.parse((await cli(['server', 'token', 'create', '-o', 'json'])).stdout) as { token: string };
    const cfg = join(dir.path, 'agent.json');
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
      SRV,
    ]);
    expect(reg.code, reg.stderr).toBe(0);
    agent = new Proc(BIN.agent, ['run', '--config', cfg]);
    await eventually(async () => (await cli(['server', 'ls'])).stdout.includes('online'));
  });

  afterAll(async () => {
    await agent?.stop();
    await gateway?.stop();
    dir.remove();
  });

  it('copies up and down with cp, lists with ls, keeps odd names intact, overwrites only when asked', async () => {
    const local = join(dir.path, 'local');
    mkdirSync(local, { recursive: true });
    const names = [
      'plain.txt',
      'with space.txt',
      'quote\'and"double',
      'ünïcødé-名前.txt',
      '-leading-dash',
      'new\nline',
    ];
    for (const n of names) writeFileSync(join(local, n), `content of ${n}\n`);
    const up = await cli(['cp', ...names.map((n) => join(local, n)), `${SRV}:${remote}/`, '-o', 'json']);
    expect(up.code, up.stderr).toBe(0);
    const summary = JSON.parse(up.stdout) as { files: Array<{ destination: string; sha256: string; bytes: number }> };
    expect(summary.files).toHaveLength(names.length);
    for (const n of names) expect(readFileSync(join(remote, n), 'utf8')).toBe(`content of ${n}\n`);
    const sha = createHash('sha256').update(`content of plain.txt\n`).digest('hex');
    expect(summary.files[0]!.sha256).toBe(sha);

    const ls = await cli(['ls', `${SRV}:${remote}`, '-o', 'json']);
    expect(ls.code, ls.stderr).toBe(0);
    const listed = (
      JSON.parse(ls.stdout) as { entries: Array<{ name: string; type: string; owner: string; mode: number }> }
    ).entries;
    expect(listed.map((e) => e.name).sort()).toEqual([...names].sort());
    expect(listed.find((e) => e.name === 'plain.txt')).toMatchObject({ type: 'file', owner: 'root', mode: 0o644 });
    const table = await cli(['ls', `${SRV}:${remote}`]);
    expect(table.stdout).toMatch(/MODE\s+OWNER\s+GROUP\s+SIZE\s+MODIFIED\s+NAME/);
    expect(table.stdout).toMatch(/-rw-r--r--\s+root\s+root\s+\d+ B .*with space\.txt/);

    // Existing target: refused without --overwrite, replaced with it.
    writeFileSync(join(local, 'plain.txt'), 'second version\n');
    const again = await cli(['cp', join(local, 'plain.txt'), `${SRV}:${remote}/`]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists \(add --overwrite to replace it\)/);
    expect(readFileSync(join(remote, 'plain.txt'), 'utf8')).toBe('content of plain.txt\n');
    expect((await cli(['cp', '--overwrite', join(local, 'plain.txt'), `${SRV}:${remote}/`])).code).toBe(0);
    expect(readFileSync(join(remote, 'plain.txt'), 'utf8')).toBe('second version\n');

    // Down again, odd names included.
    const back = join(dir.path, 'back');
    mkdirSync(back);
    const down = await cli(['cp', ...names.map((n) => `${SRV}:${remote}/${n}`), back]);
    expect(down.code, down.stderr).toBe(0);
    for (const n of names.slice(1)) expect(readFileSync(join(back, n), 'utf8')).toBe(`content of ${n}\n`);

    const audit = await auditOf('file.upload');
    const ev = audit.find((e) => e.details.path === `${remote}/with space.txt`);
    expect(ev).toMatchObject({
      outcome: 'success',
      details: { osUser: 'root', size: Buffer.byteLength('content of with space.txt\n') },
    });
    expect(ev!.details.sha256).toBe(createHash('sha256').update('content of with space.txt\n').digest('hex'));
    expect((await auditOf('file.download')).length).toBeGreaterThanOrEqual(names.length);
  });

  it('copies directories both ways as tar.gz streams (-r)', async () => {
    const src = join(dir.path, 'tree');
    mkdirSync(join(src, 'a', 'b'), { recursive: true });
    writeFileSync(join(src, 'a', 'b', 'deep.txt'), 'deep\n');
    writeFileSync(join(src, 'top.txt'), 'top\n');
    const up = await cli(['cp', '-r', src, `${SRV}:${remote}/tree-copy`]);
    expect(up.code, up.stderr).toBe(0);
    expect(readFileSync(join(remote, 'tree-copy', 'a', 'b', 'deep.txt'), 'utf8')).toBe('deep\n');
    const down = await cli(['cp', '-r', `${SRV}:${remote}/tree-copy`, join(dir.path, 'tree-back')]);
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(join(dir.path, 'tree-back', 'top.txt'), 'utf8')).toBe('top\n');
    expect(readFileSync(join(dir.path, 'tree-back', 'a', 'b', 'deep.txt'), 'utf8')).toBe('deep\n');
    const noR = await cli(['cp', `${SRV}:${remote}/tree-copy`, join(dir.path, 'x')]);
    expect(noR.stderr).toMatch(/is a directory: use -r/);
  });

  it("runs as the OS user: another user's 0600 file is refused with a clear error, root reads it", async () => {
    const secret = join(remote, 'secret.txt');
    writeFileSync(secret, 'top secret\n', { mode: 0o600 });
    chownSync(secret, 65534, 65534); // nobody's
    const as = await cli(['cp', `${SRV}:${secret}`, join(dir.path, 'stolen'), '-u', TEST_OS_USER]);
    expect(as.code).not.toBe(0);
    expect(as.stderr).toMatch(new RegExp(`${SRV}:${secret}: permission denied`));
    expect(existsSync(join(dir.path, 'stolen'))).toBe(false);
    const root = await cli(['cp', `${SRV}:${secret}`, join(dir.path, 'as-root')]);
    expect(root.code, root.stderr).toBe(0);
    expect(readFileSync(join(dir.path, 'as-root'), 'utf8')).toBe('top secret\n');
    // Files the test user creates are theirs.
    writeFileSync(join(dir.path, 'mine.txt'), 'mine\n');
    const mine = await cli(['cp', join(dir.path, 'mine.txt'), `${SRV}:${remote}/`, '-u', TEST_OS_USER]);
    expect(mine.code, mine.stderr).toBe(0);
    const ls = JSON.parse(
      (await cli(['ls', `${SRV}:${remote}/mine.txt`, '-o', 'json', '-u', TEST_OS_USER])).stdout,
    ) as {
      entries: Array<{ owner: string }>;
    };
    expect(ls.entries[0]!.owner).toBe(TEST_OS_USER);
    const denied = await auditOf('file.download');
    expect(denied.find((e) => e.outcome === 'failure' && e.details.osUser === TEST_OS_USER)).toMatchObject({
      details: { error: 'EACCES', path: secret },
    });
  });

  it('leaves `..` and symlinks to the kernel, as the user would see them', async () => {
    mkdirSync(join(remote, 'real', 'inner'), { recursive: true });
    writeFileSync(join(remote, 'real', 'marker-real'), '');
    symlinkSync(join(remote, 'real', 'inner'), join(remote, 'link'));
    const r = JSON.parse((await cli(['ls', `${SRV}:${remote}/link/..`, '-o', 'json'])).stdout) as {
      entries: Array<{ name: string }>;
    };
    // The kernel resolves link/.. to real/, where string arithmetic would have said remote/.
    expect(r.entries.map((e) => e.name)).toContain('marker-real');
    const l = JSON.parse((await cli(['ls', `${SRV}:${remote}`, '-o', 'json'])).stdout) as {
      entries: Array<{ name: string; type: string; target?: string }>;
    };
    expect(l.entries.find((e) => e.name === 'link')).toMatchObject({
      type: 'symlink',
      target: join(remote, 'real', 'inner'),
    });
  });

  it('streams big files with bounded memory; a broken upload leaves nothing; the size limit holds', async () => {
    const big = join(dir.path, 'big.bin');
    // Sparse: 280 MiB of zeros without the disk traffic.
    execFileSync('truncate', ['-s', '280M', big]);
    const rss = (pid: number) =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const peak = { gateway: 0, agent: 0 };
    const timer = setInterval(() => {
      peak.gateway = Math.max(peak.gateway, rss(gateway.child.pid!));
      peak.agent = Math.max(peak.agent, rss(agent.child.pid!));
    }, 50);
    try {
      const up = await cli(['cp', big, `${SRV}:${remote}/big.bin`]);
      expect(up.code, up.stderr).toBe(0);
      const down = await cli(['cp', `${SRV}:${remote}/big.bin`, join(dir.path, 'big-back.bin')]);
      expect(down.code, down.stderr).toBe(0);
    } finally {
      clearInterval(timer);
    }
    console.log(
      `280 MiB up and down: peak RSS gateway ${(peak.gateway / 2 ** 20).toFixed(0)} MiB, agent ${(peak.agent / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(peak.gateway).toBeLessThan(200 * 2 ** 20);
    expect(peak.agent).toBeLessThan(200 * 2 ** 20);

    // Kill the CLI in the middle of an upload: no half file under the name, no temporary left over.
    const slow = spawn(process.execPath, [BIN.cli, 'cp', big, `${SRV}:${remote}/broken.bin`], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    await eventually(async () => readdirSync(remote).some((n) => n.startsWith('.broken.bin.corral-upload-')), 20_000);
    slow.kill('SIGKILL');
    await eventually(async () => !readdirSync(remote).some((n) => n.includes('broken.bin')), 20_000);
    expect(existsSync(join(remote, 'broken.bin'))).toBe(false);

    // Over the gateway's --max-upload-size (300M): refused, nothing written.
    execFileSync('truncate', ['-s', '310M', join(dir.path, 'huge.bin')]);
    const huge = await cli(['cp', join(dir.path, 'huge.bin'), `${SRV}:${remote}/`]);
    expect(huge.code).not.toBe(0);
    expect(huge.stderr).toMatch(/upload limit/);
    expect(readdirSync(remote).some((n) => n.includes('huge.bin'))).toBe(false);
  });

  it('edits a file in $EDITOR: saves a change, refuses to overwrite a file changed meanwhile', async () => {
    const file = join(remote, 'config.ini');
    writeFileSync(file, 'a=1\n');
    const appendEditor = join(dir.path, 'append.sh');
    writeFileSync(appendEditor, '#!/bin/sh\necho "b=2" >> "$1"\n', { mode: 0o755 });
    const ok = await cli(['edit', `${SRV}:${file}`], { EDITOR: appendEditor });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/Saved files-01:.*config\.ini/);
    expect(readFileSync(file, 'utf8')).toBe('a=1\nb=2\n');

    const noop = join(dir.path, 'noop.sh');
    writeFileSync(noop, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const unchanged = await cli(['edit', `${SRV}:${file}`], { EDITOR: noop });
    expect(unchanged.stderr).toMatch(/No changes/);

    // Someone changes the server's file while the editor is open.
    const racer = join(dir.path, 'racer.sh');
    writeFileSync(racer, `#!/bin/sh\necho "theirs=1" >> "${file}"\necho "mine=1" >> "$1"\n`, { mode: 0o755 });
    const conflict = await cli(['edit', `${SRV}:${file}`], { EDITOR: racer });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/changed on the server while you edited it; nothing was overwritten/);
    expect(readFileSync(file, 'utf8')).toBe('a=1\nb=2\ntheirs=1\n');
  });

  it('serves the browser API: list, download, multipart upload, mkdir, rename, chmod, delete, text with ETag', async () => {
    const base = join(remote, 'web');
    const mk = await api('POST', '/mkdir', { path: base });
    expect(mk.status, JSON.stringify(mk.body)).toBe(201);
    // Multipart, two files.
    const boundary = 'corral-test-boundary';
    const form =
      `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="one.txt"\r\nContent-Type: text/plain\r\n\r\nfirst\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="two words.txt"\r\nContent-Type: text/plain\r\n\r\nsecond\r\n` +
      `--${boundary}--\r\n`;
    const up = await request(url, ca, 'POST', `/api/v1/servers/${SRV}/files/upload?path=${encodeURIComponent(base)}`, {
      token,
      rawBody: form,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(up.body.items.map((i: { name: string }) => i.name)).toEqual(['one.txt', 'two words.txt']);
    const again = await request(
      url,
      ca,
      'POST',
      `/api/v1/servers/${SRV}/files/upload?path=${encodeURIComponent(base)}`,
      {
        token,
        rawBody: form,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      },
    );
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('FILE_EXISTS');

    const list = await api('GET', `/list?path=${encodeURIComponent(base)}`);
    expect(list.body.entries.map((e: { name: string }) => e.name)).toEqual(['one.txt', 'two words.txt']);
    const dl = await api('GET', `/download?path=${encodeURIComponent(base + '/two words.txt')}`);
    expect(dl.status).toBe(200);
    expect(dl.headers['content-disposition']).toBe(
      `attachment; filename="two words.txt"; filename*=UTF-8''two%20words.txt`,
    );
    expect(dl.body).toBe('second');
    const missing = await api('GET', `/download?path=${encodeURIComponent(base + '/nope')}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('FILE_NOT_FOUND');

    expect((await api('POST', '/rename', { from: `${base}/one.txt`, to: `${base}/two words.txt` })).status).toBe(409);
    expect((await api('POST', '/rename', { from: `${base}/one.txt`, to: `${base}/uno.txt` })).status).toBe(200);
    expect((await api('POST', '/chmod', { path: `${base}/uno.txt`, mode: 0o600 })).status).toBe(200);
    expect((await api('GET', `/list?path=${encodeURIComponent(base + '/uno.txt')}`)).body.entries[0].mode).toBe(0o600);

    const text = await api('GET', `/text?path=${encodeURIComponent(base + '/uno.txt')}`);
    expect(text.body).toMatchObject({ content: 'first', size: 5 });
    expect(text.headers.etag).toBe(`"${text.body.etag}"`);
    const saved = await api(
      'PUT',
      `/text?path=${encodeURIComponent(base + '/uno.txt')}`,
      { content: 'first, edited' },
      { 'if-match': text.headers.etag as string },
    );
    expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    const stale = await api(
      'PUT',
      `/text?path=${encodeURIComponent(base + '/uno.txt')}`,
      { content: 'lost update' },
      { 'if-match': text.headers.etag as string },
    );
    expect(stale.status).toBe(412);
    expect(stale.body.error.code).toBe('FILE_CHANGED');
    expect(readFileSync(`${base}/uno.txt`, 'utf8')).toBe('first, edited');
    expect((await api('POST', '/delete', { path: base })).status).toBe(409);
    expect((await api('POST', '/delete', { path: base, recursive: true })).status).toBe(200);
    expect(existsSync(base)).toBe(false);
    const kinds = new Set((await auditOf('file.rename')).map((e) => e.details.path));
    expect(kinds).toContain(`${base}/uno.txt`);
  });

  it('needs a work session: a member without one is told the request command; the code editor cannot delete', async () => {
    const inv = await cli(['user', 'invite', 'dev@localhost']);
    expect(inv.code, inv.stderr).toBe(0);
    const out = await run(BIN.gateway, ['outbox', '--data', join(dir.path, 'gw'), '--output', 'json']);
    const itok = /cinv_[A-Za-z0-9_-]+/.exec(out.stdout)![0];
    const devEnv = { CORRAL_CONFIG_DIR: join(dir.path, 'cli-dev') };
    const acc = await run(BIN.cli, ['accept-invite', url, itok, '--password-stdin', '--ca-fingerprint', fp], {
      env: devEnv,
      input: 'dev password 123456\n',
    });
    expect(acc.code, acc.stderr).toBe(0);
    expect((await cli(['grant', '--user', 'dev@localhost', '--servers', SRV, '--level', 'write'])).code).toBe(0);
    const refused = await run(BIN.cli, ['ls', `${SRV}:/tmp`], { env: devEnv });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`corral work-session request --servers ${SRV} --features file_transfer`);
    // Code-editor channels only read and save: the gateway refuses anything else.
    const open = await request(url, ca, 'POST', `/api/v1/servers/${SRV}/files`, {
      token,
      body: { purpose: 'code_editor' },
    });
    expect(open.status, JSON.stringify(open.body)).toBe(201);
    const ws = new WebSocket(url.replace('https:', 'wss:') + (open.body.path as string), { ca });
    let flushed: Promise<void> = Promise.resolve();
    const client = new FsClient({
      sendText: (t) => ws.send(t),
      sendBinary: (d) => {
        flushed = new Promise((r) => ws.send(d, () => r()));
      },
      bufferedAmount: () => ws.bufferedAmount,
      drained: () => flushed,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    });
    ws.on('message', (d, bin) => (bin ? client.handleBinary(d as Buffer) : client.handleText(d.toString())));
    ws.on('close', (c, r) => client.handleClose(c, r.toString()));
    await client.ready();
    writeFileSync(join(remote, 'keep.txt'), 'keep\n');
    const err = await client.remove(join(remote, 'keep.txt')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FsClientError);
    expect((err as FsClientError).code).toBe('EACCES');
    expect(existsSync(join(remote, 'keep.txt'))).toBe(true);
    expect((await client.stat(join(remote, 'keep.txt'))).entry.size).toBe(5);
    ws.close();
  });
});
