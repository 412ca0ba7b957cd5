import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { BIN, Proc } from './processes.js';
import { request, tempDir } from './helpers.js';

// An operator's own certificate chain (made here with openssl): the gateway serves it, and clients pin the
// chain's last certificate.
describe('gateway with --tls-cert and --tls-key', () => {
  const dir = tempDir();
  let gw: Proc | undefined;
  afterAll(async () => {
    await gw?.stop();
    dir.remove();
  });

  it('uses the given chain; /api/v1/ca serves its root and the printed fingerprint matches', async () => {
    const d = dir.path;
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'root.key',
      '-out',
      'root.crt',
      '-days',
      '2',
      '-subj',
      '/CN=Operator Root',
    );
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'gw.key',
      '-out',
      'gw.csr',
      '-subj',
      '/CN=gateway',
    );
    writeFileSync(join(d, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'gw.csr',
      '-CA',
      'root.crt',
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-out',
      'gw.crt',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    );
    writeFileSync(
      join(d, 'chain.pem'),
      readFileSync(join(d, 'gw.crt'), 'utf8') + readFileSync(join(d, 'root.crt'), 'utf8'),
    );

    gw = new Proc(BIN.gateway, [
      'start',
      '--data',
      join(d, 'data'),
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      join(d, 'chain.pem'),
      '--tls-key',
      join(d, 'gw.key'),
    ]);
    const url = (await gw.waitFor(/listening on (\S+)/))[1]!;
    const fp = (await gw.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const root = readFileSync(join(d, 'root.crt'), 'utf8');
    expect(fp).toBe(new X509Certificate(root).fingerprint256);
    const ca = await request(url, root, 'GET', '/api/v1/ca');
    expect(new X509Certificate(ca.body as string).fingerprint256).toBe(fp);
    const health = await request(url, root, 'GET', '/api/v1/health');
    expect(health.body.ok).toBe(true);
  });
});
