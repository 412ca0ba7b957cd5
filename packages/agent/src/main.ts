/**
 * corral-agent command line: the only file that reads argv and process.env.
 *
 *   corral-agent register --gateway URL --token T [--name N] [--tag k=v]... [--ca-fingerprint SHA256] [--config PATH]
 *   corral-agent run [--config PATH]
 */
import { homedir, hostname, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { Agent, defaultAgentDeps } from './agent.js';
import { configExists, defaultConfigPath, loadAgentConfig, writeAgentConfig } from './config.js';
import { AgentError, AgentErrorCode } from './errors.js';
import { httpsGatewayHttp } from './gateway-http.js';
import { createLogger } from './logger.js';
import { parseTags, registerAgent } from './register.js';
import { AGENT_VERSION, collectSystemInfo } from './sysinfo.js';
import { MAX_METRICS_INTERVAL_MS, MIN_METRICS_INTERVAL_MS } from './metrics-reporter.js';

const uid = process.getuid?.() ?? -1;
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
    http: httpsGatewayHttp,
    print: (line) => process.stderr.write(line + '\n'),
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

async function runCommand(flags: { config?: string }): Promise<void> {
  const path = configPathOf(flags.config);
  const metricsIntervalMs = metricsIntervalFromEnv(process.env.CORRAL_METRICS_INTERVAL_MS);
  const config = loadAgentConfig(path);
  const logger = createLogger();
  if (uid === 0) {
    // Children inherit supplementary groups; node-pty's user switch does not reset them. A root
    // agent needs none (sessions get the user's own groups through setpriv --init-groups).
    try {
      process.setgroups?.([]);
    } catch (err) {
      logger.warn('could not drop supplementary groups', { error: (err as Error).message });
    }
  }
  const agent = new Agent(
    config,
    defaultAgentDeps(config, {
      logger,
      lang: process.env.LANG,
      ...(metricsIntervalMs !== undefined ? { metricsIntervalMs } : {}),
    }),
  );
  logger.info('starting', {
    version: AGENT_VERSION,
    server: config.serverName,
    gateway: [config.gatewayUrl, ...(config.gatewayUrls ?? [])].join(','),
    user: userInfo().username,
  });
  agent.start();
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal });
    agent.stop().then(
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
  .action((flags: RegisterFlags) => registerCommand(flags));

program
  .command('run')
  .description(
    'connect to the gateway and serve sessions until SIGTERM or SIGINT; reports health metrics every 15 s ' +
      '(CORRAL_METRICS_INTERVAL_MS sets the interval, 0 turns metrics off)',
  )
  .option('--config <path>', 'config file (default: /etc/corral/agent.json as root, else ~/.config/corral/agent.json)')
  .action((flags: { config?: string }) => runCommand(flags));

// Internal: the file helper, started by the agent itself as a channel's OS user.
program
  .command('_files-helper', { hidden: true })
  .action(async () => (await import('./files/helper-main.js')).filesHelperMain());

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof AgentError) process.stderr.write(`corral-agent: ${err.code}: ${err.message}\n`);
  else process.stderr.write(`corral-agent: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
