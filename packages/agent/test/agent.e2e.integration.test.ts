import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, PROTOCOL_VERSION } from '@corral/protocol';
import { Agent, defaultAgentDeps } from '../src/agent.js';
import { loadAgentConfig, writeAgentConfig, type AgentConfig } from '../src/config.js';
import { certFingerprint } from '../src/fingerprint.js';
import { httpsGatewayHttp } from '../src/gateway-http.js';
import { silentLogger } from '../src/logger.js';
import { registerAgent } from '../src/register.js';
import { collectSystemInfo } from '../src/sysinfo.js';
import { FakeClock } from '../src/testing/fake-clock.js';
import { FakeGateway, makePki, opensslAvailable, type TestPki } from './fake-gateway.js';
import { hermeticPasswd, removeTempHomes, waitFor } from './channel-harness.js';

const me = userInfo().username;
const tempDirs: string[] = [];
/** A temporary directory removed after the suite. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
/** The built CLI (npm test builds first; `npx tsc -b packages/agent` otherwise). */
const BIN = fileURLToPath(new URL('../bin/corral-agent.js', import.meta.url));

/** Run the CLI without blocking this process (which hosts the gateway). */
function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function register(
  gw: FakeGateway,
  pki: TestPki,
  over: { token?: string; caFingerprint?: string } = {},
): Promise<AgentConfig> {
  return registerAgent({
    gatewayUrl: gw.url,
    token: over.token ?? gw.validToken,
    caFingerprint: over.caFingerprint ?? certFingerprint(pki.caPem),
    hostname: hostname(),
    system: collectSystemInfo(),
    http: httpsGatewayHttp,
  });
}

describe.skipIf(!opensslAvailable())('agent end to end against a TLS 1.3 gateway stand-in', () => {
  let pki: TestPki;
  let gw: FakeGateway;
  beforeAll(async () => {
    pki = makePki();
    gw = await FakeGateway.start(pki);
  });
  afterAll(async () => {
    await gw.close();
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    removeTempHomes();
  });

  it('registers, connects, authenticates, serves channels, refuses a forged grant, and stops with 1001', async () => {
    const config = await register(gw, pki);
    const path = join(tempDir('corral-e2e-'), 'agent.json');
    writeAgentConfig(path, config);
    const loaded = loadAgentConfig(path);

    const authed = gw.authenticated();
    const passwd = hermeticPasswd();
    const agent = new Agent(loaded, defaultAgentDeps(loaded, { logger: silentLogger, readPasswd: () => passwd }));
    agent.start();
    await authed;
    await waitFor(() => agent.state === 'connected');
    expect(gw.controlFrames[0]).toMatchObject({
      type: 'hello',
      agentId: config.agentId,
      protocolVersion: PROTOCOL_VERSION,
    });
    // This stand-in welcomes with protocol 1, which has no `metrics` frame: none may be sent to it.
    expect(agent.reportingMetrics).toBe(false);

    const pipe = gw.openChannel({ pty: false, osUser: me, command: ['echo hello; echo oops >&2; exit 4'] });
    const t1 = await pipe.transcript;
    expect(t1.output.toString()).toBe('hello\n');
    expect(t1.controls).toEqual([
      { type: 'stderr', data: Buffer.from('oops\n').toString('base64') },
      { type: 'exit', code: 4, signal: null },
    ]);
    expect(t1.closeCode).toBe(1000);

    const pty = gw.openChannel({ pty: true, osUser: me, command: ['printf "<<x>>%s<<y>>" $((6*7))'] });
    const t2 = await pty.transcript;
    expect(t2.output.toString()).toContain('<<x>>42<<y>>');
    expect(t2.controls.at(-1)).toEqual({ type: 'exit', code: 0, signal: null });

    const forged = gw.openChannel({
      pty: false,
      osUser: me,
      command: ['id'],
      signature: Buffer.alloc(64, 1).toString('base64'),
    });
    await waitFor(() => gw.controlFrames.some((f) => f.type === 'channel.reject'));
    expect(gw.controlFrames.find((f) => f.type === 'channel.reject')).toMatchObject({
      channelId: forged.channelId,
      code: 'GRANT_INVALID_SIGNATURE',
    });

    await agent.stop();
    expect(await gw.controlClose).toBe(1001);
    expect(agent.state).toBe('closed');
  });

  it('reports metrics to a gateway that speaks protocol 2, every interval, each frame valid', async () => {
    const config = await register(gw, pki);
    gw.welcomeVersion = 2;
    const from = gw.controlFrames.length;
    const authed = gw.authenticated();
    const agent = new Agent(config, defaultAgentDeps(config, { logger: silentLogger, metricsIntervalMs: 300 }));
    try {
      agent.start();
      await authed;
      const metrics = () => gw.controlFrames.slice(from).filter((f) => f.type === 'metrics');
      await waitFor(() => metrics().length >= 3);
      expect(agent.reportingMetrics).toBe(true);
      for (const m of metrics()) expect(Metrics.safeParse(m).success, JSON.stringify(m)).toBe(true);
    } finally {
      await agent.stop();
      gw.welcomeVersion = 1;
    }
    expect(agent.reportingMetrics).toBe(false);
  });

  it('security: registration refuses a gateway whose CA does not match --ca-fingerprint', async () => {
    await expect(register(gw, pki, { caFingerprint: 'AB'.repeat(32) })).rejects.toMatchObject({
      code: 'CA_FINGERPRINT_MISMATCH',
    });
  });

  it('shows the gateway error for a bad join token', async () => {
    await expect(register(gw, pki, { token: 'nope' })).rejects.toMatchObject({
      code: 'JOIN_TOKEN_INVALID',
      status: 401,
    });
  });

  it('security: the agent does not talk to a gateway whose certificate is not from the pinned CA', async () => {
    const other = await FakeGateway.start(makePki());
    try {
      const config = await register(gw, pki);
      const impostor = { ...config, gatewayUrl: other.url };
      const clock = new FakeClock();
      const agent = new Agent(impostor, defaultAgentDeps(impostor, { logger: silentLogger, clock }));
      agent.start();
      await waitFor(() => agent.state === 'backoff');
      expect(other.controlFrames).toEqual([]);
      expect(other.upgrades).toBe(0);
      await agent.stop();
    } finally {
      await other.close();
    }
  });

  it('security: registration refuses a gateway that only speaks TLS 1.2', async () => {
    const old = await FakeGateway.start(pki, { maxVersion: 'TLSv1.2' });
    try {
      await expect(register(old, pki)).rejects.toMatchObject({ code: 'GATEWAY_UNREACHABLE' });
    } finally {
      await old.close();
    }
  });

  it('the CLI registers (0600 config), runs, and exits 0 on SIGTERM after closing with 1001', async () => {
    const path = join(tempDir('corral-cli-'), 'agent.json');
    const reg = await runCli([
      'register',
      '--gateway',
      gw.url,
      '--token',
      gw.validToken,
      '--name',
      'cli-test',
      '--tag',
      'env=test',
      '--ca-fingerprint',
      certFingerprint(pki.caPem),
      '--config',
      path,
    ]);
    expect(reg.stderr).toBe('');
    expect(reg.status).toBe(0);
    expect(reg.stdout).toMatch(/^registered as cli-test \(server id srv_e2e\)/);
    expect(reg.stdout).toContain(`corral-agent run --config ${path}`);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const again = await runCli(['register', '--gateway', gw.url, '--token', gw.validToken, '--config', path]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/CONFIG_EXISTS/);

    const noTty = await runCli(['register', '--gateway', gw.url, '--token', gw.validToken, '--config', path + '.2']);
    expect(noTty.status).toBe(1);
    expect(noTty.stderr).toMatch(/pass --ca-fingerprint/);

    const authed = gw.authenticated();
    const run = spawn(process.execPath, [BIN, 'run', '--config', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    run.stderr.on('data', (d: Buffer) => (log += d.toString()));
    await authed;
    await waitFor(() => log.includes(' connected '));
    const closed = gw.controlClose!;
    const exited = new Promise<number | null>((r) => run.on('exit', (code) => r(code)));
    run.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await closed).toBe(1001);
    expect(log).toMatch(/info shutting down signal=SIGTERM/);
  });
});
