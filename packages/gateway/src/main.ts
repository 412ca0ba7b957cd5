/**
 * corral-gateway: the only place that reads argv and the environment. Parses flags, builds a frozen
 * config, and hands it to buildApp.
 */
import { Command } from 'commander';
import { writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeConfig, type GatewayConfigInput } from './config.js';
import { buildApp } from './app.js';
import { GATEWAY_VERSION } from './http/api-routes.js';
import { openDatabase } from './db/open.js';
import { JoinTokens } from './servers/join-tokens.js';
import { WorkspaceService } from './workspaces/workspace-service.js';
import { AuditLog } from './audit/audit-log.js';
import { systemClock } from './clock.js';
import { findWorkspace, DEFAULT_WORKSPACE } from './bootstrap.js';
import { parseDurationSeconds } from '@corral/protocol';

const collect = (v: string, prev: string[]) => [...prev, v];
/** Where `npm run build:agent` puts the agent executables in a checkout of the repository. */
const REPO_ARTIFACTS = fileURLToPath(new URL('../../../dist/artifacts', import.meta.url));

function commonOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'data directory (database, TLS material, keys)', process.env.CORRAL_DATA ?? './.corral')
    .option(
      '--db <url>',
      'database: postgres://... or sqlite:PATH (default: SQLite in the data directory)',
      process.env.CORRAL_DB,
    );
}

function configFrom(o: Record<string, unknown>): ReturnType<typeof makeConfig> {
  const input: GatewayConfigInput = {
    data: o.data as string | undefined,
    listen: o.listen as string | undefined,
    tlsCert: o.tlsCert as string | undefined,
    tlsKey: o.tlsKey as string | undefined,
    db: o.db as string | undefined,
    nodeId: o.nodeId as string | undefined,
    san: o.san as string[] | undefined,
    publicUrl: o.publicUrl as string | undefined,
    bus: o.bus as string | undefined,
    advertiseUrl: o.advertiseUrl as string | undefined,
    region: o.region as string | undefined,
    baseDomain: o.baseDomain as string | undefined,
    smtpUrl: o.smtpUrl as string | undefined,
    smtpFrom: o.smtpFrom as string | undefined,
    maxUploadSize: o.maxUploadSize as string | undefined,
    maxEditSize: o.maxEditSize as string | undefined,
    riskAiUrl: o.riskAiUrl as string | undefined,
    riskAiModel: o.riskAiModel as string | undefined,
    riskAiKey: process.env.CORRAL_RISK_AI_KEY,
    smsWebhookUrl: o.smsWebhookUrl as string | undefined,
    smsWebhookSecret: process.env.CORRAL_SMS_WEBHOOK_SECRET,
    artifacts: o.artifacts as string | undefined,
    buildArtifacts: existsSync(REPO_ARTIFACTS) ? REPO_ARTIFACTS : undefined,
  };
  return makeConfig(input);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function writeInitialAdmin(
  dataDir: string,
  info: { url: string; email: string; password: string; caFingerprint: string },
): string {
  const path = join(dataDir, 'initial-admin.json');
  writeFileSync(path, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  return path;
}

const program = new Command()
  .name('corral-gateway')
  .description('Corral gateway: the HTTPS API and WebSocket hub that users and agents connect to.')
  .version(GATEWAY_VERSION);

commonOptions(
  program
    .command('start')
    .description('Run the gateway (first start creates the default workspace and its superuser)')
    .option('--listen <host:port>', 'address to listen on', process.env.CORRAL_LISTEN ?? '127.0.0.1:8443')
    .option('--tls-cert <file>', 'server certificate (PEM, chain allowed); default: a local CA in the data directory')
    .option('--tls-key <file>', 'private key for --tls-cert (PEM)')
    .option('--san <name>', 'extra host name or IP for the local server certificate (repeatable)', collect, [])
    .option('--public-url <url>', 'URL clients use to reach this gateway (default: from --listen)')
    .option(
      '--bus <url>',
      'cluster mode: NATS URL shared by all nodes (with --db postgres://...)',
      process.env.CORRAL_BUS,
    )
    .option('--node-id <id>', 'name of this node in a cluster (default: the host name)')
    .option('--advertise-url <url>', 'URL other nodes use to reach this one (default: from --listen)')
    .option(
      '--region <name>',
      "this deployment's region, e.g. us1 or ap1 (workspaces live at <workspace>.<region>.<base-domain>)",
      process.env.CORRAL_REGION,
    )
    .option(
      '--smtp-url <url>',
      'send mail through this SMTP server: smtp://user:pass@host:587 (default: the outbox)',
      process.env.CORRAL_SMTP_URL,
    )
    .option('--smtp-from <address>', 'sender of the mail', process.env.CORRAL_SMTP_FROM)
    .option(
      '--sms-webhook-url <url>',
      'send SMS/voice MFA codes by POSTing {to, message, channel} here (default: the outbox; bearer secret in CORRAL_SMS_WEBHOOK_SECRET)',
      process.env.CORRAL_SMS_WEBHOOK_URL,
    )
    .option('--max-upload-size <size>', 'largest file upload, e.g. 512M or 16G (default 16G)')
    .option('--max-edit-size <size>', 'largest file the code editor opens or saves (default 2M)')
    .option(
      '--risk-ai-url <url>',
      'AI risk analysis: an OpenAI-compatible endpoint (off by default; key in CORRAL_RISK_AI_KEY)',
    )
    .option('--risk-ai-model <name>', 'the model for AI risk analysis (default gpt-4o-mini)')
    .option(
      '--artifacts <dir>',
      'agent executables to serve for install and upgrade (default: DATA/artifacts, then the build output of this checkout)',
      process.env.CORRAL_ARTIFACTS,
    )
    .option(
      '--base-domain <domain>',
      'base domain for workspace host names (default: only <workspace>.localhost)',
      process.env.CORRAL_BASE_DOMAIN,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  corral-gateway start\n  corral-gateway start --data /var/lib/corral --listen 0.0.0.0:8443\n  corral-gateway start --db postgres://corral@db/corral',
    ),
).action(async (o: Record<string, unknown>) => {
  const config = configFrom(o);
  const gw = await buildApp(config);
  const url = await gw.listen();
  const out = process.stdout;
  out.write(`Corral gateway ${GATEWAY_VERSION} listening on ${url}\n`);
  out.write(`  data:           ${config.dataDir}\n`);
  out.write(
    `  database:       ${config.dbUrl.startsWith('sqlite:') ? config.dbUrl : config.dbUrl.replace(/\/\/[^@/]*@/, '//***@')}\n`,
  );
  out.write(`  CA fingerprint: ${gw.tls.caFingerprint}\n`);
  const artifacts = gw.services.artifacts.list();
  out.write(
    `  agent builds:   ${artifacts.length > 0 ? artifacts.map((a) => `${a.platform} ${a.version}`).join(', ') : 'none'} (from ${config.artifactDirs.join(', ')})\n`,
  );
  out.write(
    `  mode:           ${config.busUrl ? `cluster node "${config.nodeId}" on ${config.busUrl}` : 'single node'}\n`,
  );
  if (gw.createdAdmin) {
    const path = writeInitialAdmin(config.dataDir, { url, ...gw.createdAdmin, caFingerprint: gw.tls.caFingerprint });
    out.write(`\nFirst start: created workspace "${DEFAULT_WORKSPACE}" and superuser ${gw.createdAdmin.email}\n`);
    out.write(`  password:       ${gw.createdAdmin.password}\n`);
    out.write(`  (shown once; also saved to ${path}, mode 0600: delete it once you have signed in)\n`);
  }
  out.write(
    `\nSign in:  npx corral login ${url} --email ${gw.createdAdmin?.email ?? 'admin@localhost'} --ca-fingerprint ${gw.tls.caFingerprint}\n`,
  );
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${sig}: stopping gateway...\n`);
    const t = setTimeout(() => process.exit(1), 10_000);
    t.unref();
    gw.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

commonOptions(
  program
    .command('init')
    .description('Create the default workspace and its superuser with a chosen password (scripted setups)')
    .requiredOption('--admin-email <email>', 'email of the first superuser')
    .option('--admin-password-stdin', 'read the password from standard input')
    .option('--listen <host:port>', 'address the gateway will listen on (for the URL written out)', '127.0.0.1:8443')
    .addHelpText(
      'after',
      '\nExample:\n  printf %s "$PW" | corral-gateway init --data /var/lib/corral --admin-email ops@example.com --admin-password-stdin',
    ),
).action(async (o: Record<string, unknown>) => {
  const config = configFrom(o);
  let password: string | undefined;
  if (o.adminPasswordStdin) {
    password = await readStdin();
    if (password.length < 12) throw new Error('the admin password must have at least 12 characters');
  }
  const gw = await buildApp(config, { admin: { email: String(o.adminEmail), ...(password ? { password } : {}) } });
  try {
    if (!gw.createdAdmin) {
      process.stderr.write(`already initialised: ${config.dataDir} has a default workspace; nothing changed\n`);
      process.exitCode = 1;
      return;
    }
    const url = `https://${config.listenHost === '0.0.0.0' ? 'localhost' : config.listenHost}:${config.listenPort}`;
    const path = writeInitialAdmin(config.dataDir, { url, ...gw.createdAdmin, caFingerprint: gw.tls.caFingerprint });
    process.stdout.write(
      `initialised ${config.dataDir}: workspace "${DEFAULT_WORKSPACE}", superuser ${gw.createdAdmin.email}\n`,
    );
    if (!password) process.stdout.write(`  password:       ${gw.createdAdmin.password}\n`);
    process.stdout.write(`  CA fingerprint: ${gw.tls.caFingerprint}\n  details in ${path} (mode 0600)\n`);
  } finally {
    await gw.close();
  }
});

const wsCmd = program.command('workspace').description('Operator commands for workspaces (direct database access)');
commonOptions(
  wsCmd
    .command('create')
    .description('Create a workspace with its first superuser (password printed once, or read from stdin)')
    .argument('<name>', 'workspace name: a DNS label (a-z, 0-9, "-"), used in its host name')
    .requiredOption('--admin-email <email>', 'email of its first superuser')
    .option('--admin-password-stdin', "read that superuser's password from standard input")
    .option('--region <name>', "the region whose gateways serve it (default: this deployment's)")
    .option('--output <format>', 'text or json', 'text')
    .addHelpText(
      'after',
      '\nExample:\n  corral-gateway workspace create acme --admin-email ops@acme.test\n  then sign in at https://acme.localhost:8443 (or https://acme.<region>.<base-domain>)',
    ),
).action(async (name: string, o: Record<string, unknown>) => {
  const config = configFrom(o);
  let password: string | undefined;
  if (o.adminPasswordStdin) {
    password = await readStdin();
    if (password.length < 12) throw new Error('the admin password must have at least 12 characters');
  }
  const { db, dialect, close } = await openDatabase(config.dbUrl);
  try {
    const svc = new WorkspaceService(db, new AuditLog(db, dialect, systemClock), systemClock);
    const created = await svc.create(
      name,
      { email: String(o.adminEmail), password },
      (o.region as string | undefined) ?? null,
    );
    if (o.output === 'json') {
      const out = {
        workspace: name,
        id: created.workspaceId,
        email: created.email,
        ...(password ? {} : { password: created.password }),
      };
      process.stdout.write(JSON.stringify(out) + '\n');
    } else {
      process.stdout.write(`created workspace "${name}" (${created.workspaceId}) with superuser ${created.email}\n`);
      if (!password) process.stdout.write(`  password: ${created.password}   (shown once)\n`);
      process.stdout.write(
        `  sign in at https://${name}.localhost:PORT, or https://${name}.<region>.<base-domain>:PORT\n`,
      );
    }
  } finally {
    await close();
  }
});
commonOptions(
  wsCmd.command('ls').description('List workspaces').option('--output <format>', 'text or json', 'text'),
).action(async (o: Record<string, unknown>) => {
  const config = configFrom(o);
  const { db, dialect, close } = await openDatabase(config.dbUrl);
  try {
    const items = await new WorkspaceService(db, new AuditLog(db, dialect, systemClock), systemClock).list();
    if (o.output === 'json') process.stdout.write(JSON.stringify({ items }) + '\n');
    else {
      const w = Math.max(4, ...items.map((i) => i.name.length));
      process.stdout.write(`${'NAME'.padEnd(w)}  ${'REGION'.padEnd(8)}  CREATED\n`);
      for (const i of items)
        process.stdout.write(`${i.name.padEnd(w)}  ${(i.region ?? '-').padEnd(8)}  ${i.createdAt}\n`);
    }
  } finally {
    await close();
  }
});

commonOptions(
  program
    .command('outbox')
    .description('Show mail the gateway kept because no SMTP server is configured (invitations, ...)')
    .option('--workspace <name>', 'only this workspace')
    .option('--limit <n>', 'newest N messages', '20')
    .option('--output <format>', 'text or json', 'text'),
).action(async (o: Record<string, unknown>) => {
  const config = configFrom(o);
  const { db, close } = await openDatabase(config.dbUrl);
  try {
    let q = db
      .selectFrom('outbox')
      .innerJoin('workspaces', 'workspaces.id', 'outbox.workspace_id')
      .select([
        'outbox.id',
        'workspaces.name as workspace',
        'outbox.recipient',
        'outbox.subject',
        'outbox.body',
        'outbox.created_at',
      ])
      .orderBy('outbox.created_at', 'desc')
      .limit(Math.max(1, Number(o.limit) || 20));
    if (o.workspace) q = q.where('workspaces.name', '=', String(o.workspace));
    const items = await q.execute();
    if (o.output === 'json') return void process.stdout.write(JSON.stringify({ items }) + '\n');
    if (items.length === 0) return void process.stderr.write('The outbox is empty.\n');
    for (const m of items) {
      process.stdout.write(
        `--- ${m.created_at}  [${m.workspace}]  to: ${m.recipient}\nSubject: ${m.subject}\n\n${m.body}\n\n`,
      );
    }
  } finally {
    await close();
  }
});

const jt = program
  .command('join-token')
  .description('Operator commands for agent join tokens (direct database access)');
commonOptions(
  jt
    .command('create')
    .description('Create a join token without signing in (for the local agent of `npm start`, or provisioning)')
    .option('--name <name>', 'label for the token')
    .option('--expires-in <duration>', 'lifetime, e.g. 30m, 1h, 7d', '1h')
    .option('--uses <n>', 'number of registrations allowed', '1')
    .option('--workspace <name>', 'the workspace the agents join', DEFAULT_WORKSPACE)
    .option('--output <format>', 'text or json', 'text'),
).action(async (o: Record<string, unknown>) => {
  const config = configFrom(o);
  const expires = parseDurationSeconds(String(o.expiresIn));
  if (expires === undefined) throw new Error(`--expires-in: cannot read "${String(o.expiresIn)}" (use 30m, 1h, 7d)`);
  const { db, dialect, close } = await openDatabase(config.dbUrl);
  try {
    const wsName = String(o.workspace ?? DEFAULT_WORKSPACE);
    const ws = await findWorkspace(db, wsName);
    if (!ws)
      throw new Error(
        `no workspace "${wsName}" in the database: run corral-gateway start (or init, or workspace create) first`,
      );
    const { view, token } = await new JoinTokens(db, systemClock).create(ws.id, {
      name: o.name as string | undefined,
      expiresInSeconds: expires,
      uses: Number(o.uses),
      createdBy: 'operator',
    });
    await new AuditLog(db, dialect, systemClock).append({
      workspaceId: ws.id,
      action: 'join_token.create',
      actor: { type: 'system', name: 'operator' },
      target: { type: 'join_token', id: view.id, name: view.name },
      details: { expiresAt: view.expiresAt, uses: view.usesTotal },
    });
    if (o.output === 'json') process.stdout.write(JSON.stringify({ ...view, token }) + '\n');
    else process.stdout.write(`${token}\n`);
  } finally {
    await close();
  }
});

program.showHelpAfterError();
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`corral-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
void existsSync;
void readFileSync;
