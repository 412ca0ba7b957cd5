/**
 * Agent deployment as an operator does it, with real processes: the agent built as a single executable,
 * served by a real gateway, installed with the one-line install (install.sh over the pinned CA), run
 * under a restart-on-failure supervisor like systemd's, upgraded and rolled back; and an agent that
 * reaches the gateway only through a real tinyproxy.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Proc, ROOT, eventually, run } from './processes.js';
import { tempDir } from './helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const PLATFORM = `${process.platform}-${process.arch}`;
const CAN_BUILD = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');

/** Build the agent executable with `version` into `out` (scripts/build-agent.mjs); returns its path. */
function buildAgent(out: string, version: string): string {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/build-agent.mjs'), '--version', version, '--out', out, '--quiet'],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`build-agent failed: ${r.stderr}`);
  return join(out, `corral-agent-${PLATFORM}`);
}

/** Put an artifact (executable + manifest) into the directory the gateway serves. */
function publish(serveDir: string, fromDir: string): void {
  for (const suffix of ['', '.json']) {
    copyFileSync(
      join(fromDir, `corral-agent-${PLATFORM}${suffix}`),
      join(serveDir, `corral-agent-${PLATFORM}${suffix}.tmp`),
    );
  }
  // Manifest last, so the gateway never sees a new manifest with an old file.
  spawnSync('mv', ['-f', join(serveDir, `corral-agent-${PLATFORM}.tmp`), join(serveDir, `corral-agent-${PLATFORM}`)]);
  spawnSync('mv', [
    '-f',
    join(serveDir, `corral-agent-${PLATFORM}.json.tmp`),
    join(serveDir, `corral-agent-${PLATFORM}.json`),
  ]);
}

/** Publish a shell script as a signed "agent" release: a broken build that the rollback must catch. */
function publishScript(serveDir: string, version: string, script: string): void {
  const file = join(serveDir, `corral-agent-${PLATFORM}`);
  writeFileSync(file, script, { mode: 0o755 });
  const bytes = readFileSync(file);
  writeFileSync(
    `${file}.json`,
    JSON.stringify({
      platform: PLATFORM,
      version,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    }),
  );
}

/**
 * Runs a program and starts it again whenever it exits non-zero, like systemd's Restart=on-failure
 * (with CORRAL_AGENT_SUPERVISED set, as the unit sets it). Keeps every exit status.
 */
class Supervisor {
  readonly exits: (number | null)[] = [];
  out = '';
  child: ChildProcess | undefined;
  #stopping = false;

  constructor(
    private readonly exe: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {
    this.#start();
  }

  #start(): void {
    const child = spawn(this.exe, this.args, {
      env: { ...process.env, ...this.env, CORRAL_AGENT_SUPERVISED: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.on('exit', (code) => {
      this.exits.push(code);
      if (!this.#stopping && code !== 0) setTimeout(() => this.#stopping || this.#start(), 300);
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe.skipIf(!CAN_BUILD)('agent deployment (single executable, install.sh, upgrade, rollback)', () => {
  let dir: ReturnType<typeof tempDir>;
  let gateway: Proc;
  let url: string;
  let fp: string;
  let serve: string;
  let agent: Supervisor | undefined;
  const env = () => ({ CORRAL_CONFIG_DIR: join(dir.path, 'cli') });
  const cli = (args: string[], input?: string) =>
    run(BIN.cli, args, { env: env(), ...(input !== undefined ? { input } : {}) });
  const prefix = () => join(dir.path, 'root');
  const installedExe = () => join(prefix(), 'opt/corral/bin/corral-agent');
  const installedConfig = () => join(prefix(), 'etc/corral/agent.json');

  async function serverJson(
    name: string,
  ): Promise<{ status: string; platform: string | null; system: { agentVersion: string } | null }> {
    const r = await cli(['server', 'show', name, '-o', 'json']);
    return JSON.parse(r.stdout) as { status: string; platform: string | null; system: { agentVersion: string } | null };
  }
  async function auditActions(): Promise<{ action: string; details: Record<string, unknown> }[]> {
    const r = await cli(['audit', 'ls', '--limit', '100', '-o', 'json']);
    const body = JSON.parse(r.stdout) as { items: { action: string; details: Record<string, unknown> }[] };
    return body.items;
  }

  beforeAll(async () => {
    dir = tempDir('corral-deploy-');
    serve = join(dir.path, 'serve');
    mkdirSync(serve);
    buildAgent(join(dir.path, 'v1'), '0.1.0');
    buildAgent(join(dir.path, 'v2'), '0.1.1');
    publish(serve, join(dir.path, 'v1'));
    gateway = new Proc(BIN.gateway, [
      'start',
      '--data',
      join(dir.path, 'gw'),
      '--listen',
      '127.0.0.1:0',
      '--artifacts',
      serve,
      '--san',
      'corral-gateway.test',
    ]);
    url = (await gateway.waitFor(/listening on (https:\/\/\S+)/))[1]!;
    fp = (await gateway.waitFor(/CA fingerprint: (\S+)/))[1]!;
    const password = (await gateway.waitFor(/password:\s+(\S+)/))[1]!;
    const login = await cli(
      ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fp],
      password + '\n',
    );
    expect(login.code, login.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await gateway?.stop();
    dir?.remove();
  });

  it('the gateway lists the build it serves, signed', async () => {
    const curl = spawnSync(
      'curl',
      ['-fsS', '--cacert', join(dir.path, 'gw/tls/ca.crt'), `${url}/api/v1/agent/artifacts`],
      {
        encoding: 'utf8',
      },
    );
    const body = JSON.parse(curl.stdout) as { items: { platform: string; version: string }[]; currentVersion: string };
    expect(body.items).toEqual([expect.objectContaining({ platform: PLATFORM, version: '0.1.0' })]);
    expect(body.currentVersion).toBe('0.1.0');
  });

  it('installs with the one-line install from `corral server token create`, and the agent comes online', async () => {
    const tok = await cli(['server', 'token', 'create', '--name', 'deploy', '-o', 'json']);
    const { installCommand } = JSON.parse(tok.stdout) as { installCommand: string };
    expect(installCommand).toContain(`--ca-fingerprint ${fp}`);
    expect(installCommand).toContain('| sudo sh -s --');
    // As a person would paste it, except into a temporary root and without the system service.
    const line = `${installCommand.replace('| sudo sh -s --', '| sh -s --')} --prefix ${prefix()} --no-service --name deploy-01 --tag env=test`;
    const r = spawnSync('sh', ['-c', line], { cwd: dir.path, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('signature verified');
    expect(statMode(installedConfig())).toBe(0o600);
    const v = spawnSync(installedExe(), ['--version'], { encoding: 'utf8' });
    expect(v.stdout.trim()).toBe('0.1.0');

    agent = new Supervisor(installedExe(), ['run', '--config', installedConfig()], {
      CORRAL_AGENT_UPGRADE_WINDOW_MS: '8000',
    });
    const s = await eventually(async () => {
      const j = await serverJson('deploy-01');
      return j.status === 'online' ? j : null;
    });
    // The platform as the OS reports it (os-release here), shown as the server's platform.
    const osRelease = readFileSync('/etc/os-release', 'utf8');
    const name = /^NAME="?([^"\n]+)/m.exec(osRelease)?.[1] ?? '';
    expect(s.platform).toContain(name.split(' ')[0]);
    expect(s.system?.agentVersion).toBe('0.1.0');
    // A terminal through the single executable (node-pty's addon loaded from inside it).
    const t = await cli(['websh', 'deploy-01', '-t', '--', 'tty']);
    expect(t.stdout).toMatch(/\/dev\/pts\//);
  });

  it('refuses to install from a gateway whose CA has another fingerprint', () => {
    const bad = fp.replace(/^../, fp.startsWith('00') ? '11' : '00');
    const target = join(dir.path, 'other-root');
    const r = spawnSync(
      'sh',
      [
        '-c',
        `curl -fsS --cacert ${join(dir.path, 'gw/tls/ca.crt')} ${url}/install.sh | sh -s -- --token x --ca-fingerprint ${bad} --prefix ${target} --no-service`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toMatch(/wrong gateway, or the connection is intercepted/);
    expect(r.status).not.toBe(0);
    expect(existsSync(join(target, 'opt/corral/bin/corral-agent'))).toBe(false);
  });

  it('upgrades in place: `corral server upgrade` -> download, verify, swap, restart, new version online; audited', async () => {
    publish(serve, join(dir.path, 'v2'));
    const r = await cli(['server', 'upgrade', 'deploy-01', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const item = (JSON.parse(r.stdout) as { items: { outcome: string; toVersion: string }[] }).items[0]!;
    expect(item).toMatchObject({ outcome: 'requested', toVersion: '0.1.1' });
    await eventually(async () => (await serverJson('deploy-01')).system?.agentVersion === '0.1.1', 60_000);
    const done = await eventually(
      async () => (await auditActions()).find((e) => e.action === 'agent.upgrade.completed'),
      30_000,
    );
    expect(done.details).toMatchObject({ fromVersion: '0.1.0', toVersion: '0.1.1' });
    expect((await auditActions()).some((e) => e.action === 'agent.upgrade.requested')).toBe(true);
    expect(agent!.exits).toContain(75); // handed over to the supervisor, as systemd would restart it
    expect(spawnSync(installedExe(), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe('0.1.1');
    // `--all` leaves an up-to-date agent alone.
    const all = await cli(['server', 'upgrade', '--all', '-o', 'json']);
    expect((JSON.parse(all.stdout) as { items: { outcome: string }[] }).items[0]!.outcome).toBe('up_to_date');
  });

  it('rolls back a new version that exits at once, and one that never connects (window shortened to 8 s)', async () => {
    for (const [version, script] of [
      ['0.1.2', '#!/bin/sh\necho "broken build" >&2\nexit 3\n'],
      ['0.1.3', '#!/bin/sh\nexec sleep 600\n'],
    ] as const) {
      publishScript(serve, version, script);
      const r = await cli(['server', 'upgrade', '--all', '-o', 'json']);
      expect((JSON.parse(r.stdout) as { items: { outcome: string }[] }).items[0]!.outcome).toBe('requested');
      const back = await eventually(
        async () =>
          (await auditActions()).find(
            (e) => e.action === 'agent.upgrade.rolled_back' && e.details.toVersion === version,
          ),
        60_000,
      );
      expect(back.details.reason).toMatch(
        version === '0.1.2' ? /exited \(code 3\) before connecting/ : /did not connect within 8 s/,
      );
      await eventually(async () => {
        const j = await serverJson('deploy-01');
        return j.status === 'online' && j.system?.agentVersion === '0.1.1';
      }, 30_000);
      expect(spawnSync(installedExe(), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe('0.1.1');
    }
  });

  it('corral-agent install writes a unit that systemd-analyze accepts; without systemd it says so', () => {
    const unit = join(dir.path, 'corral-agent.service');
    const r = spawnSync(
      installedExe(),
      ['install', '--config', installedConfig(), '--service-file', unit, '--no-start'],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(unit, 'utf8')).toContain(`ExecStart=${installedExe()} run --config ${installedConfig()}`);
    if (existsSync('/usr/bin/systemd-analyze')) {
      const v = spawnSync('/usr/bin/systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
      expect(v.stderr.trim()).toBe('');
      expect(v.status).toBe(0);
    }
    const dry = spawnSync(installedExe(), ['install', '--platform', 'darwin', '--dry-run'], { encoding: 'utf8' });
    expect(dry.stdout).toContain('<string>com.corral.agent</string>');
    if (!existsSync('/run/systemd/system')) {
      const start = spawnSync(installedExe(), ['install', '--config', installedConfig(), '--service-file', unit], {
        encoding: 'utf8',
      });
      expect(start.status).toBe(1);
      expect(start.stderr).toMatch(/SERVICE_MANAGER_MISSING: systemd is not running.*run --config/);
    }
  });

  const HAVE_TINYPROXY = existsSync('/usr/bin/tinyproxy');
  it.skipIf(!IS_ROOT || !HAVE_TINYPROXY)(
    'reaches a gateway it cannot reach directly through a real tinyproxy (HTTP CONNECT, Basic auth)',
    async () => {
      // Only the proxy can resolve corral-gateway.test: it runs in its own mount namespace with an
      // /etc/hosts that names it, while for the agent (and everything else here) the name does not
      // exist. So a direct connection fails, and every byte that reaches the gateway came through it.
      const port = await freePort();
      const gwPort = new URL(url).port;
      const pdir = join(dir.path, 'proxy');
      mkdirSync(pdir);
      writeFileSync(join(pdir, 'hosts'), `${readFileSync('/etc/hosts', 'utf8')}\n127.0.0.1 corral-gateway.test\n`);
      writeFileSync(
        join(pdir, 'tinyproxy.conf'),
        [
          `Port ${port}`,
          'Listen 127.0.0.1',
          'Timeout 600',
          'Allow 127.0.0.1',
          `ConnectPort ${gwPort}`,
          'BasicAuth corral s3cret',
          `LogFile "${join(pdir, 'tinyproxy.log')}"`,
          'LogLevel Connect',
          'MaxClients 50',
        ].join('\n') + '\n',
      );
      const proxy = spawn(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          `mount --bind "${join(pdir, 'hosts')}" /etc/hosts && exec tinyproxy -d -c "${join(pdir, 'tinyproxy.conf')}"`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let proxyErr = '';
      proxy.stderr.setEncoding('utf8').on('data', (d: string) => (proxyErr += d));
      let node: Proc | undefined;
      try {
        await eventually(
          async () => {
            return new Promise<boolean>((r) => {
              const c = connect(port, '127.0.0.1');
              c.once('connect', () => (c.destroy(), r(true)));
              c.once('error', () => r(false));
            });
          },
          10_000,
          100,
        ).catch((err: unknown) => {
          throw new Error(`tinyproxy did not start: ${proxyErr} ${String(err)}`);
        });
        const hidden = `https://corral-gateway.test:${gwPort}`;
        const tok = JSON.parse((await cli(['server', 'token', 'create', '--uses', '3', '-o', 'json'])).stdout) as {
          token: string;
        };
        const cfg = join(pdir, 'agent.json');
        const reg = (extra: string[], e: Record<string, string> = {}) =>
          run(
            BIN.agent,
            [
              'register',
              '--gateway',
              hidden,
              '--token',
              tok.token,
              '--ca-fingerprint',
              fp,
              '--config',
              cfg,
              '--name',
              'proxied-01',
              ...extra,
            ],
            {
              env: { HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '', ...e },
            },
          );
        // Directly: the name does not resolve here.
        const direct = await reg([]);
        expect(direct.code).toBe(1);
        expect(direct.stderr).toMatch(/GATEWAY_UNREACHABLE.*(ENOTFOUND|EAI_AGAIN)/);
        // Wrong credentials: the proxy says 407 and the agent says what to do.
        const noAuth = await reg(['--proxy', `http://127.0.0.1:${port}`]);
        expect(noAuth.stderr).toMatch(/407/);
        // Through the proxy, given in the environment for register and kept by --proxy for run.
        const ok = await reg(['--proxy', `http://corral:s3cret@127.0.0.1:${port}`]);
        expect(ok.code, ok.stderr).toBe(0);
        node = new Proc(BIN.agent, ['run', '--config', cfg], { HTTPS_PROXY: '', NO_PROXY: '' });
        await node.waitFor(/using proxy proxy="?http:\/\/127\.0\.0\.1:\d+/);
        await eventually(async () => (await serverJson('proxied-01')).status === 'online');
        // Channels go through the proxy too.
        const w = await cli(['websh', 'proxied-01', '--', 'echo', 'via-proxy']);
        expect(w.stdout).toBe('via-proxy\n');
        const log = readFileSync(join(pdir, 'tinyproxy.log'), 'utf8');
        expect(log).toMatch(new RegExp(`CONNECT corral-gateway\\.test:${gwPort}`));
        // NO_PROXY for the gateway's name sends the agent direct again, where the name does not exist.
        const bypass = await run(
          BIN.agent,
          [
            'register',
            '--gateway',
            hidden,
            '--token',
            tok.token,
            '--ca-fingerprint',
            fp,
            '--config',
            join(pdir, 'b.json'),
          ],
          {
            env: { HTTPS_PROXY: `http://corral:s3cret@127.0.0.1:${port}`, NO_PROXY: '.test' },
          },
        );
        expect(bypass.stderr).toMatch(/ENOTFOUND|EAI_AGAIN/);
      } finally {
        await node?.stop();
        proxy.kill('SIGTERM');
      }
    },
  );
});

function statMode(path: string): number {
  return statSync(path).mode & 0o777;
}
