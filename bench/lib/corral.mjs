// Corral under test: a gateway on a temporary data directory, one agent registered with a join token
// and running, and the CLI logged in with a temporary CORRAL_CONFIG_DIR. All on 127.0.0.1.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, onCleanup, run, runOk, startServer, until } from './util.mjs';

export const ROOT = join(import.meta.dirname, '..', '..');
const bin = (pkg, name) => join(ROOT, 'packages', pkg, 'bin', `${name}.js`);
export const GATEWAY_BIN = bin('gateway', 'corral-gateway');
export const AGENT_BIN = bin('agent', 'corral-agent');
export const CLI_BIN = bin('cli', 'corral');

/** Which built pieces are missing (empty when all are there). */
export function missingBuilds() {
  return ['gateway', 'agent', 'cli']
    .map((p) => join(ROOT, 'packages', p, 'dist', 'main.js'))
    .filter((f) => !existsSync(f))
    .map((f) => f.slice(ROOT.length + 1));
}

/**
 * Start gateway + agent, log the CLI in; websh() sessions log in as `osUser` (default: the agent's). Returns
 * {url, fingerprint, serverName, env, nodeFlags, gateway, agent, websh(cmd, {tty}), cli(args), stop()}.
 * `nodeFlags` (e.g. ['--cpu-prof', '--cpu-prof-dir=D']) go to the gateway and agent processes.
 */
export async function startCorral({ log, serverName = 'bench-host', nodeFlags = [], osUser }) {
  const missing = missingBuilds();
  if (missing.length > 0) throw new Error(`not built: ${missing.join(', ')} (run npm run build)`);

  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-'));
  onCleanup('remove corral temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'gateway');
  const configDir = join(dir, 'cli');
  const agentConfig = join(dir, 'agent.json');
  const env = { ...process.env, CORRAL_CONFIG_DIR: configDir, NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  // Some machines (this sandbox among them) export NODE_EXTRA_CA_CERTS with the whole system bundle;
  // Node then parses it at every start (+90 ms per CLI call here). Corral pins its own CA and needs
  // none of it, and a user's machine would not have it, so the bench leaves it out.
  delete env.NODE_EXTRA_CA_CERTS;

  const port = await freePort();
  log(`corral: gateway on 127.0.0.1:${port}`);
  const gateway = startServer(
    'gateway',
    process.execPath,
    [...nodeFlags, GATEWAY_BIN, 'start', '--data', dataDir, '--listen', `127.0.0.1:${port}`],
    { cwd: ROOT, env },
  );
  const [, url] = await gateway.waitFor(/listening on (\S+)/, 30_000);
  const [, fingerprint] = await gateway.waitFor(/CA fingerprint: (\S+)/, 5_000);
  const [, password] = await gateway.waitFor(/password:\s+(\S+)/, 5_000);

  const jt = await runOk(
    process.execPath,
    [GATEWAY_BIN, 'join-token', 'create', '--data', dataDir, '--name', 'bench agent', '--expires-in', '10m'],
    { cwd: ROOT, env },
  );
  const token = jt.stdout.trim().split('\n').pop().trim();

  await runOk(
    process.execPath,
    [
      AGENT_BIN,
      'register',
      '--gateway',
      url,
      '--token',
      token,
      '--ca-fingerprint',
      fingerprint,
      '--config',
      agentConfig,
      '--name',
      serverName,
    ],
    { cwd: ROOT, env, timeoutMs: 30_000 },
  );
  const agent = startServer('agent', process.execPath, [...nodeFlags, AGENT_BIN, 'run', '--config', agentConfig], {
    cwd: ROOT,
    env,
  });

  const cli = (args, opts = {}) => run(process.execPath, [CLI_BIN, ...args], { cwd: ROOT, env, ...opts });
  const login = await cli(
    ['login', url, '--email', 'admin@localhost', '--password-stdin', '--ca-fingerprint', fingerprint],
    { input: password },
  );
  if (login.code !== 0) throw new Error(`corral login failed (exit ${login.code}):\n${login.stdout}${login.stderr}`);

  await until(
    async () => {
      if (agent.child.exitCode !== null)
        throw new Error(`agent exited (${agent.child.exitCode}):\n${agent.out.stderr}`);
      const r = await cli(['server', 'ls', '--output', 'json'], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`corral server ls: exit ${r.code}: ${r.stderr}`);
      const s = JSON.parse(r.stdout).items?.find((i) => i.name === serverName);
      return s?.status === 'online';
    },
    30_000,
    300,
    `server ${serverName} to be online`,
  );

  const websh = (cmd, { tty = false } = {}) => [
    process.execPath,
    [
      CLI_BIN,
      'websh',
      serverName,
      ...(osUser && osUser !== 'root' ? ['-u', osUser] : []),
      ...(tty ? ['-t'] : []),
      '--',
      ...cmd,
    ],
  ];
  return {
    url,
    fingerprint,
    serverName,
    dir,
    env,
    nodeFlags,
    gateway,
    agent,
    websh,
    cli,
    async stop() {
      await agent.stop();
      await gateway.stop();
    },
  };
}
