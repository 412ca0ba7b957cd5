/**
 * corral-agent command line: the only file that reads argv and process.env.
 *
 *   corral-agent register --gateway URL --token T [--name N] [--tag k=v]... [--ca-fingerprint SHA256] [--config PATH] [--proxy URL]
 *   corral-agent run [--config PATH] [--proxy URL]
 *   corral-agent install|uninstall [--platform linux|darwin|win32] [--dry-run] [--bin PATH] [--config PATH]
 *   corral-agent verify-artifact --file F --platform P --version V --signature B64 --key PEMFILE
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { isSea } from 'node:sea';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { Agent, defaultAgentDeps } from './agent.js';
import { configExists, defaultConfigPath, loadAgentConfig, writeAgentConfig } from './config.js';
import { AgentError, AgentErrorCode } from './errors.js';
import { createGatewayHttp, downloadFile } from './gateway-http.js';
import { loadEd25519Key } from './agent-keys.js';
import { parseProxyUrl } from './proxy.js';
import type { ProxySettings } from './socket-factory.js';
import { DEFAULT_PATHS, type ServicePlatform } from './deploy/service-files.js';
import { installService, uninstallService, type ServiceDeps } from './deploy/service-install.js';
import { checkArtifact, DEFAULT_UPGRADE_WINDOW_MS, Upgrader } from './deploy/upgrader.js';
import { httpUrl } from './urls.js';
import { createLogger } from './logger.js';
import { parseTags, registerAgent } from './register.js';
import { AGENT_VERSION, collectSystemInfo } from './sysinfo.js';
import { MAX_METRICS_INTERVAL_MS, MIN_METRICS_INTERVAL_MS } from './metrics-reporter.js';

const uid = process.getuid?.() ?? -1;
const env = process.env;
/** Proxy settings: --proxy (or the config's) wins over HTTPS_PROXY; NO_PROXY exempts hosts. */
function proxySettings(explicit: string | undefined): ProxySettings {
  if (explicit) {
    try {
      parseProxyUrl(explicit);
    } catch (err) {
      throw new AgentError(AgentErrorCode.USAGE, `--proxy: ${(err as Error).message}`);
    }
  }
  return {
    explicit,
    httpsProxy: env.HTTPS_PROXY || env.https_proxy || undefined,
    noProxy: env.NO_PROXY ?? env.no_proxy,
  };
}
const configPathOf = (given: string | undefined): string => given ?? defaultConfigPath(uid, homedir());

async function askYesNo(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

interface RegisterFlags {
  gateway: string[];
  token?: string;
  name?: string;
  tag: string[];
  caFingerprint?: string;
  config?: string;
  force?: boolean;
  proxy?: string;
}

async function registerCommand(flags: RegisterFlags): Promise<void> {
  const path = configPathOf(flags.config);
  const token = flags.token ?? process.env.CORRAL_JOIN_TOKEN;
  if (!token) throw new AgentError(AgentErrorCode.USAGE, 'a join token is required: --token T (or CORRAL_JOIN_TOKEN)');
  if (configExists(path) && !flags.force) {
    throw new AgentError(
      AgentErrorCode.CONFIG_EXISTS,
      `${path} already exists (this machine is registered); pass --force to register again`,
    );
  }
  const tags = parseTags(flags.tag);
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  const config = await registerAgent({
    gatewayUrl: flags.gateway[0] ?? '',
    extraGatewayUrls: flags.gateway.slice(1),
    token,
    name: flags.name,
    tags,
    caFingerprint: flags.caFingerprint,
    confirmFingerprint: interactive ? () => askYesNo('Trust this CA? [y/N] ') : undefined,
    hostname: hostname(),
    system: collectSystemInfo(),
    http: createGatewayHttp(proxySettings(flags.proxy)),
    print: (line) => process.stderr.write(line + '\n'),
    ...(flags.proxy ? { proxy: flags.proxy } : {}),
  });
  writeAgentConfig(path, config);
  process.stdout.write(
    `registered as ${config.serverName} (server id ${config.serverId})\n` +
      `config written to ${path}\n` +
      `start the agent with: corral-agent run --config ${path}\n`,
  );
}

/**
 * CORRAL_METRICS_INTERVAL_MS: time between metrics samples (default 15000; 0 turns metrics off).
 * @throws AgentError USAGE when it is not 0 or a whole number in the allowed range
 */
function metricsIntervalFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (n === 0) return 0;
  if (!Number.isInteger(n) || n < MIN_METRICS_INTERVAL_MS || n > MAX_METRICS_INTERVAL_MS) {
    throw new AgentError(
      AgentErrorCode.USAGE,
      `CORRAL_METRICS_INTERVAL_MS must be 0 (off) or ${MIN_METRICS_INTERVAL_MS}..${MAX_METRICS_INTERVAL_MS} ms (got "${value}")`,
    );
  }
  return n;
}

async function runCommand(flags: { config?: string; proxy?: string }): Promise<void> {
  const path = configPathOf(flags.config);
  const metricsIntervalMs = metricsIntervalFromEnv(process.env.CORRAL_METRICS_INTERVAL_MS);
  const config = loadAgentConfig(path);
  const logger = createLogger();
  const proxy = proxySettings(flags.proxy ?? config.proxy);
  if (proxy.explicit || proxy.httpsProxy) {
    const p = parseProxyUrl((proxy.explicit ?? proxy.httpsProxy)!);
    logger.info('using proxy', { proxy: p.display, no_proxy: proxy.noProxy || undefined });
  }
  // The upgrader (made first: it may roll back before anything starts) reaches the agent made below.
  const ref: { agent?: Agent } = {};
  const single = isSea();
  const windowMs = Number(env.CORRAL_AGENT_UPGRADE_WINDOW_MS ?? DEFAULT_UPGRADE_WINDOW_MS);
  const upgrader = new Upgrader({
    exe: process.execPath,
    isSingleExecutable: single,
    runArgs: ['run', '--config', path, ...(flags.proxy ? ['--proxy', flags.proxy] : [])],
    currentVersion: AGENT_VERSION,
    supervised: Boolean(env.CORRAL_AGENT_SUPERVISED),
    windowMs: Number.isFinite(windowMs) && windowMs > 0 ? windowMs : DEFAULT_UPGRADE_WINDOW_MS,
    artifactKey: config.artifactSigningKeyPem
      ? loadEd25519Key(config.artifactSigningKeyPem, 'public', 'artifactSigningKeyPem')
      : undefined,
    download: (p, dest, maxBytes) => downloadFile(httpUrl(config.gatewayUrl, p), config.caPem, dest, maxBytes, proxy),
    stopAgent: () => ref.agent?.stop() ?? Promise.resolve(),
    send: (m) => ref.agent?.send(m) ?? false,
    logger,
    exit: (code) => process.exit(code),
  });
  if (single && upgrader.recoverAtStart()) return;
  if (uid === 0) {
    // Children inherit supplementary groups; node-pty's user switch does not reset them. A root
    // agent needs none (sessions get the user's own groups through setpriv --init-groups).
    try {
      process.setgroups?.([]);
    } catch (err) {
      logger.warn('could not drop supplementary groups', { error: (err as Error).message });
    }
  }
  const running = new Agent(
    config,
    defaultAgentDeps(
      config,
      {
        logger,
        lang: process.env.LANG,
        ...(metricsIntervalMs !== undefined ? { metricsIntervalMs } : {}),
        // CORRAL_SHELL_INTEGRATION=0: shells start without marks; the gateway reads keystrokes instead.
        ...(env.CORRAL_SHELL_INTEGRATION === '0' ? { installShellIntegration: undefined } : {}),
        ...(single ? { upgrades: { onWelcome: () => upgrader.onWelcome(), handle: (m) => upgrader.handle(m) } } : {}),
      },
      proxy,
    ),
  );
  ref.agent = running;
  logger.info('starting', {
    version: AGENT_VERSION,
    server: config.serverName,
    gateway: [config.gatewayUrl, ...(config.gatewayUrls ?? [])].join(','),
    user: userInfo().username,
  });
  running.start();
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal });
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { error: (err as Error).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const PROXY_FLAG = '--proxy <url>';
const PROXY_HELP = 'HTTP CONNECT proxy, http://[user:pass@]host:port';

const program = new Command('corral-agent')
  .description('Corral agent: connects this server to a Corral gateway (outbound WSS only).')
  .version(AGENT_VERSION)
  .showHelpAfterError();

program
  .command('register')
  .description('register this server with a gateway using a join token, and write the agent config')
  .requiredOption(
    '--gateway <url>',
    'gateway URL, https://...; repeat for the other nodes of a cluster (the agent fails over between them)',
    (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
  )
  .option('--token <token>', 'join token (or set CORRAL_JOIN_TOKEN, which keeps it out of the process list)')
  .option('--name <name>', 'server name (default: the host name)')
  .option('--tag <key=value>', 'a tag for the server; repeat for more', collect, [] as string[])
  .option('--ca-fingerprint <sha256>', "expected SHA-256 fingerprint of the gateway's CA (as the gateway printed it)")
  .option(
    '--config <path>',
    'where to write the config (default: /etc/corral/agent.json as root, else ~/.config/corral/agent.json)',
  )
  .option('--force', 'replace an existing config (the old registration stops working here)')
  .option(PROXY_FLAG, PROXY_HELP + ' (stored in the config for `run`)')
  .action((flags: RegisterFlags) => registerCommand(flags));

program
  .command('run')
  .description(
    'connect to the gateway and serve sessions until SIGTERM or SIGINT; reports health metrics every 15 s ' +
      '(CORRAL_METRICS_INTERVAL_MS sets the interval, 0 turns metrics off)',
  )
  .option('--config <path>', 'config file (default: /etc/corral/agent.json as root, else ~/.config/corral/agent.json)')
  .option(PROXY_FLAG, PROXY_HELP + ' (default: the one given at register, else HTTPS_PROXY)')
  .addHelpText(
    'after',
    '\nEnvironment: HTTPS_PROXY / https_proxy, NO_PROXY / no_proxy (host, .domain, *, host:port),\n' +
      'CORRAL_AGENT_UPGRADE_WINDOW_MS (how long a new version has to connect before rollback; default 60000).\n',
  )
  .action((flags: { config?: string; proxy?: string }) => runCommand(flags));

interface ServiceFlags {
  platform?: string;
  dryRun?: boolean;
  bin?: string;
  config?: string;
  serviceFile?: string;
  start: boolean;
}

function servicePlatform(flag: string | undefined): ServicePlatform {
  const p = flag ?? process.platform;
  if (p !== 'linux' && p !== 'darwin' && p !== 'win32') {
    throw new AgentError(AgentErrorCode.USAGE, `--platform must be linux, darwin or win32 (got ${p})`);
  }
  return p;
}

const realServiceDeps: ServiceDeps = {
  exists: (p) => existsSync(p),
  writeFile: (p, text) => writeFileSync(p, text, { mode: 0o644 }),
  removeFile: (p) => rmSync(p, { force: true }),
  run: (argv) => {
    try {
      const output = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return { code: 0, output };
    } catch (err) {
      const e = err as { status?: number; stderr?: string; message: string };
      return { code: e.status ?? 1, output: e.stderr || e.message };
    }
  },
  print: (line) => process.stdout.write(line + '\n'),
};

function serviceOptions(flags: ServiceFlags) {
  const platform = servicePlatform(flags.platform);
  const defaults = DEFAULT_PATHS[platform];
  const own = platform === process.platform;
  return {
    platform,
    paths: {
      bin: flags.bin ?? (own && isSea() ? process.execPath : defaults.bin),
      config: flags.config ?? (own ? configPathOf(undefined) : defaults.config),
    },
    serviceFile: flags.serviceFile ?? defaults.serviceFile,
    // Another platform's files can only be shown, never installed here.
    dryRun: Boolean(flags.dryRun) || !own,
    start: flags.start,
  };
}

const SERVICE_HELP =
  '\nFiles: Linux /etc/systemd/system/corral-agent.service (systemctl enable --now), macOS\n' +
  '/Library/LaunchDaemons/com.corral.agent.plist (launchctl bootstrap), Windows a Task Scheduler task\n' +
  '(schtasks /Create /XML). macOS and Windows are untried on real hosts (docs/install.md).\n\nExamples:\n' +
  '  sudo corral-agent install\n  corral-agent install --dry-run\n  corral-agent install --platform darwin --dry-run\n';

program
  .command('install')
  .description('install and start the agent as a system service (systemd, launchd, Windows task)')
  .option('--platform <os>', 'linux, darwin or win32 (default: this one; others are only printed)')
  .option('--dry-run', 'print the service file and the commands instead of installing')
  .option('--print', 'same as --dry-run')
  .option('--bin <path>', 'the agent executable the service runs (default: this executable)')
  .option('--config <path>', 'the config the service uses (default: /etc/corral/agent.json as root)')
  .option('--service-file <path>', "where to write the service file (default: the platform's place)")
  .option('--no-start', 'write the file only; do not enable or start the service')
  .addHelpText('after', SERVICE_HELP)
  .action((flags: ServiceFlags & { print?: boolean }) => {
    installService(serviceOptions({ ...flags, dryRun: flags.dryRun || flags.print }), realServiceDeps);
  });

program
  .command('uninstall')
  .description('stop the service and remove its file (the config and executable stay)')
  .option('--platform <os>', 'linux, darwin or win32 (default: this one)')
  .option('--dry-run', 'print what would be done')
  .option('--service-file <path>', "the service file to remove (default: the platform's place)")
  .action((flags: ServiceFlags) => {
    const o = serviceOptions({ ...flags, start: false });
    uninstallService({ platform: o.platform, serviceFile: o.serviceFile, dryRun: o.dryRun }, realServiceDeps);
  });

program
  .command('verify-artifact')
  .description('check an agent artifact: size, SHA-256 and Ed25519 signature (install.sh uses it when openssl cannot)')
  .requiredOption('--file <path>', 'the executable')
  .requiredOption('--platform <p>', 'e.g. linux-x64')
  .requiredOption('--version <v>', 'the version it claims')
  .requiredOption('--signature <base64>', 'the signature the gateway published')
  .requiredOption('--key <pemfile>', 'the artifact-signing public key (PEM)')
  .option('--sha256 <hex>', "the expected SHA-256 (default: the file's own)")
  .action((f: { file: string; platform: string; version: string; signature: string; key: string; sha256?: string }) => {
    const bytes = readFileSync(f.file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = loadEd25519Key(readFileSync(f.key, 'utf8'), 'public', '--key');
    const bad = checkArtifact(
      {
        platform: f.platform,
        version: f.version,
        sha256: f.sha256 ?? sha256,
        size: bytes.length,
        signature: f.signature,
      },
      { sha256, size: bytes.length },
      key,
    );
    if (bad) throw new AgentError(AgentErrorCode.ARTIFACT_INVALID, bad);
    process.stdout.write(`ok: ${f.platform} ${f.version} sha256 ${sha256}\n`);
  });

// Internal: the file helper, started by the agent itself as a channel's OS user.
program
  .command('_files-helper', { hidden: true })
  .action(async () => (await import('./files/helper-main.js')).filesHelperMain());

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof AgentError) process.stderr.write(`corral-agent: ${err.code}: ${err.message}\n`);
  else process.stderr.write(`corral-agent: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
