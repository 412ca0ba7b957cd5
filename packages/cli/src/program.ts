import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import type { CliContext } from './context.js';
import { CliError } from './errors.js';
import type { WebshOptions } from './commands/websh.js';
import type { WorkspaceUpdateOptions } from './commands/workspace.js';
import type { CpOptions, FilesOptions } from './commands/files.js';
import type { ExecOptions } from './commands/exec.js';
import { addTokenCommands } from './token-program.js';
import type { ActionOptions, AddRuleOptions, RequestOptions } from './commands/work-sessions.js';
import type { SsoFlags } from './commands/sso.js';

/**
 * The command tree: commander wired to the command modules, which are imported lazily so that each
 * command loads just what it needs (`corral websh` never loads zod). No process.env or argv here:
 * main.ts reads those and passes a CliContext in.
 */

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
}

function collectList(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function examples(lines: string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  $ ${l}`).join('\n') + '\n';
}

/**
 * Build the command tree. `setExitCode` receives the status a command wants the process to end with.
 */
export function buildProgram(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command('corral')
    .description('Corral: reach your servers through the gateway (terminals, commands, join tokens, audit).')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      examples([
        'corral login https://gateway.example.com:8443',
        'corral server ls',
        'corral websh web-01',
        'corral websh web-01 -- uptime',
      ]) + '\nConfiguration lives in $CORRAL_CONFIG_DIR (default ~/.config/corral).\n',
    );

  // --- login / logout / whoami --------------------------------------------------------------------
  program
    .command('login')
    .description('log in to a gateway, pinning its CA certificate on first use')
    .argument('<url>', 'gateway URL, e.g. https://gateway.example.com:8443')
    .option('--email <email>', 'account email (asked for when omitted)')
    .option('--password-stdin', 'read the password from stdin (all of it, one trailing newline dropped)')
    .option(
      '--ca-fingerprint <sha256>',
      "expected SHA-256 fingerprint of the gateway's CA (64 hex digits, colons allowed)",
    )
    .option('--totp <code>', 'second factor for scripts: a code from your authenticator app')
    .option('--recovery-code <code>', 'second factor: one of your recovery codes (used up)')
    .addHelpText(
      'after',
      examples([
        'corral login https://gateway.example.com:8443',
        'corral login https://10.0.0.5:8443 --ca-fingerprint 3A:9F:...:C2 --email me@example.com',
        'printf %s "$PW" | corral login https://gw:8443 --email me@example.com --password-stdin --ca-fingerprint 3A9F...C2',
        'corral login https://acme.example.com:8443 --browser',
      ]) +
        '\n--browser prints a URL and a code (and opens the browser when it can); sign in there by any method the\n' +
        'workspace allows (SSO included), check the code and approve: this terminal then gets its own session.\n' +
        '\nThe first login to a gateway shows its CA fingerprint and asks whether to trust it (or checks\n' +
        '--ca-fingerprint). Later logins to the same URL reuse the pinned CA and refuse if it changed.\n' +
        'When the account has a second factor, login asks for it: the code from your authenticator app,\n' +
        '"email" or "sms" to have a code sent, or a recovery code (--totp / --recovery-code in scripts).\n',
    )
    .option('--browser', 'sign in in a browser (SSO, passkeys, ...) and approve this terminal with a one-time code')
    .option('--no-open', 'with --browser: only print the URL, do not open a browser')
    .action(
      async (
        url: string,
        opts: {
          email?: string;
          passwordStdin?: boolean;
          caFingerprint?: string;
          totp?: string;
          recoveryCode?: string;
          browser?: boolean;
          open?: boolean;
        },
      ) => {
        if (opts.browser) {
          if (opts.email || opts.passwordStdin)
            throw new CliError('--browser signs in in the browser: drop --email / --password-stdin');
          const { loginBrowser } = await import('./commands/login-browser.js');
          return loginBrowser(ctx, url, { caFingerprint: opts.caFingerprint, open: opts.open });
        }
        const { login } = await import('./commands/auth.js');
        await login(ctx, url, opts);
      },
    );

  program
    .command('logout')
    .description('end the session on the gateway and forget the token')
    .addHelpText('after', examples(['corral logout']))
    .action(async () => {
      const { logout } = await import('./commands/auth.js');
      await logout(ctx);
    });

  program
    .command('whoami')
    .description('show the logged-in user, workspace and gateway')
    .addOption(outputOption())
    .addHelpText('after', examples(['corral whoami', 'corral whoami --output json']))
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { whoami } = await import('./commands/auth.js');
      await whoami(ctx, opts);
    });

  // --- server ------------------------------------------------------------------------------------
  const server = program
    .command('server')
    .description('list and inspect servers; manage join tokens')
    .addHelpText(
      'after',
      examples(['corral server ls', 'corral server show web-01', 'corral server token create --expires-in 1h']),
    );

  server
    .command('ls')
    .alias('list')
    .description('list servers: NAME STATUS HEALTH PLATFORM ADDRESS LAST SEEN TAGS')
    .addOption(outputOption())
    .addHelpText('after', examples(['corral server ls', "corral server ls -o json | jq -r '.items[].name'"]))
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { serverLs } = await import('./commands/server.js');
      await serverLs(ctx, opts);
    });

  server
    .command('show')
    .description(
      'show one server: the system facts its agent reports, its health, and CPU, memory, disk, load and ' +
        'network with a sparkline each',
    )
    .argument('<name>', 'server name')
    .addOption(
      new Option('--range <range>', 'window of the sparklines: raw samples (1h), 1-minute (24h) or hourly (7d) points')
        .choices(['1h', '24h', '7d'])
        .default('1h'),
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral server show web-01',
        'corral server show web-01 --range 7d',
        'corral server show web-01 -o json',
      ]) +
        '\nHealth: critical when CPU, memory or a disk is at 97 % or more, warning from 90 %, unknown when the\n' +
        'server is offline or has sent no metrics for 45 s.\n',
    )
    .action(async (name: string, opts: { output: 'table' | 'json'; range: '1h' | '24h' | '7d' }) => {
      const { serverShow } = await import('./commands/server.js');
      await serverShow(ctx, name, opts);
    });

  const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
  server
    .command('update')
    .description('set or remove tags, change server groups, rename (write scope)')
    .argument('<name>', 'server name')
    .option('--tag <key=value>', 'set a tag (repeatable)', collect)
    .option('--untag <key>', 'remove a tag (repeatable)', collect)
    .option('--group <group>', 'add to a server group, created on first use (repeatable)', collect)
    .option('--ungroup <group>', 'remove from a server group (repeatable)', collect)
    .option('--name <new>', 'rename the server')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral server update web-01 --tag env=prod --group production',
        'corral server update web-01 --name web-02',
      ]),
    )
    .action(
      async (
        name: string,
        opts: {
          output: 'table' | 'json';
          tag?: string[];
          untag?: string[];
          group?: string[];
          ungroup?: string[];
          name?: string;
        },
      ) => {
        const { serverUpdate } = await import('./commands/server.js');
        await serverUpdate(ctx, name, opts);
      },
    );
  server
    .command('delete')
    .description('delete a server; its agent is disconnected and must register again (owner scope or staff)')
    .argument('<name>', 'server name')
    .action(async (name: string) => {
      const { serverDelete } = await import('./commands/server.js');
      await serverDelete(ctx, name);
    });

  server
    .command('upgrade')
    .description("upgrade a server's agent (or every outdated one) to the build the gateway serves (staff+)")
    .argument('[name]', 'server name')
    .option('--all', "every online server whose agent is older than the gateway's build")
    .option('--version <v>', 'insist on this version (default: whatever the gateway serves)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nThe agent downloads the new executable from the gateway over the pinned CA, checks its SHA-256 and\n' +
        'signature, swaps it in and restarts; if the new version does not connect within 60 s it rolls back.\n' +
        'Outcomes are audited: agent.upgrade.requested, then .completed, .rolled_back or .failed.\n' +
        examples([
          'corral server upgrade web-01',
          'corral server upgrade --all',
          'corral server upgrade --all -o json',
        ]),
    )
    .action(async (name: string | undefined, opts: { all?: boolean; version?: string; output: 'table' | 'json' }) => {
      const { serverUpgrade } = await import('./commands/upgrade.js');
      await serverUpgrade(ctx, name, opts);
    });

  const serverGroup = program.command('server-group').description('server groups: production, web, backend, ...');
  serverGroup
    .command('ls')
    .alias('list')
    .description('list server groups and their servers')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { serverGroupLs } = await import('./commands/server.js');
      await serverGroupLs(ctx, opts);
    });
  for (const op of ['create', 'delete'] as const) {
    serverGroup
      .command(op)
      .description(`${op} a server group (staff and superusers)`)
      .argument('<name>', 'group name')
      .action(async (name: string) => {
        const { serverGroupChange } = await import('./commands/server.js');
        await serverGroupChange(ctx, op, name);
      });
  }

  const token = server
    .command('token')
    .description('join tokens: one-time secrets that let an agent register a server')
    .addHelpText(
      'after',
      examples([
        'corral server token create --name web --expires-in 1h',
        'corral server token ls',
        'corral server token revoke jt_123',
      ]),
    );

  token
    .command('create')
    .description('create a join token; the secret is printed once, with the command that registers a server')
    .option('--name <name>', 'a label to recognise the token by')
    .option('--expires-in <duration>', 'lifetime: 30m, 1h, 7d or seconds (default 1h, at least 1m)')
    .option('--uses <n>', 'how many servers may register with it (default 1)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral server token create',
        'corral server token create --name db-fleet --expires-in 7d --uses 20',
        'corral server token create -o json | jq -r .token',
      ]),
    )
    .action(async (opts: { name?: string; expiresIn?: string; uses?: string; output: 'table' | 'json' }) => {
      const { tokenCreate } = await import('./commands/join-token.js');
      await tokenCreate(ctx, opts);
    });

  token
    .command('ls')
    .alias('list')
    .description('list join tokens: ID NAME STATUS USES (left/total) EXPIRES CREATED')
    .addOption(outputOption())
    .addHelpText('after', examples(['corral server token ls']))
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { tokenLs } = await import('./commands/join-token.js');
      await tokenLs(ctx, opts);
    });

  token
    .command('revoke')
    .description('revoke a join token so no more servers can register with it')
    .argument('<id>', 'token id (see `corral server token ls`)')
    .addHelpText('after', examples(['corral server token revoke jt_123']))
    .action(async (id: string) => {
      const { tokenRevoke } = await import('./commands/join-token.js');
      await tokenRevoke(ctx, id);
    });

  // --- websh -------------------------------------------------------------------------------------
  const webshCmd = program
    .command('websh')
    .description('terminals on servers (like ssh): open, list, re-attach, share, join, watch, kill')
    .addHelpText(
      'after',
      examples([
        'corral websh web-01',
        'corral websh web-01 -- uptime',
        'corral websh ls',
        'corral websh attach ses_abc',
        'corral websh share ses_abc --user ana@example.com --read-write',
        'corral websh join ses_abc',
        'corral websh watch ses_abc',
        'corral websh kill ses_abc --reason "INC-42: stop"',
      ]) +
        '\n`corral websh SERVER` is `corral websh open SERVER`; for a server named like a subcommand, say\n' +
        '`corral websh open ls`.\n',
    );
  webshCmd
    .command('open', { isDefault: true })
    .description('open a terminal on a server, or run a command there (like ssh)')
    .argument('<server>', 'server name')
    .argument('[command...]', 'command and arguments, after --')
    .option('-u, --user <osuser>', "OS account on the server (default: the agent's account)")
    .option('-t, --tty', 'allocate a terminal for the command (for full-screen programs)')
    .option('--work-session <id>', 'use this work session (default: the covering one that lasts longest)')
    .option('--root', 'run as root: needs privilege_elevation in a work session and a fresh step-up (asked here)')
    .option('--request', 'without a covering work session: request one and wait for approval')
    .option('--reason <text>', 'with --request: what the work is')
    .option('--duration <d>', 'with --request: how long (default 1h)')
    .addHelpText(
      'after',
      examples([
        'corral websh web-01',
        'corral websh web-01 -u deploy',
        'corral websh web-01 -- uptime',
        'corral websh db-01 -- pg_dump app > app.sql',
        'tar cz dir | corral websh web-01 -- tar xz -C /tmp',
        'corral websh web-01 -t -- htop',
        'corral websh web-01 --request --reason "INC-42" --duration 30m',
      ]) +
        '\nA terminal needs an approved work session covering the server (see `corral work-session --help`).\n' +
        '\nAn interactive terminal survives a dropped connection: the server keeps it (10 minutes by default)\n' +
        'and corral re-attaches by itself; from another terminal: corral websh attach SESSION.\n' +
        '\nWith a command, local stdin is sent to it unless stdin is a terminal (use -t for interactive\n' +
        "programs). The exit status is the command's; 255 means corral itself failed, as with ssh.\n",
    )
    .action(async (name: string, command: string[], opts: WebshOptions) => {
      const { websh } = await import('./commands/websh.js');
      setExitCode(await websh(ctx, name, command, opts));
    });
  webshCmd
    .command('ls')
    .description("my live terminal sessions, attached and detached (--all: everyone's, staff)")
    .option('--all', "everyone's sessions (staff and superusers)")
    .option('--ended', 'include sessions that have ended')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' } & { all?: boolean; ended?: boolean }) => {
      const { webshLs } = await import('./commands/websh-sessions.js');
      await webshLs(ctx, opts);
    });
  webshCmd
    .command('attach')
    .description('re-attach my terminal session here (after a dropped connection, or from another terminal)')
    .argument('<session>', 'session id (corral websh ls)')
    .addHelpText('after', examples(['corral websh attach ses_abc']))
    .action(async (id: string) => {
      const { webshAttach } = await import('./commands/websh.js');
      setExitCode(await webshAttach(ctx, id));
    });
  webshCmd
    .command('share')
    .description('share my live terminal with a workspace user, or make a link (read-only unless --read-write)')
    .argument('<session>', 'session id')
    .option('--user <email>', 'the user to share with')
    .option('--link', 'make a link for anyone signed in to this workspace and allowed on the server')
    .option('--read-write', 'let them type too')
    .option('--expires <d>', 'for how long, e.g. 30m, 2h (links: 1h by default; users: until the session ends)')
    .addHelpText(
      'after',
      examples([
        'corral websh share ses_abc --user ana@example.com',
        'corral websh share ses_abc --user ana@example.com --read-write',
        'corral websh share ses_abc --link --expires 30m',
      ]),
    )
    .addOption(outputOption())
    .action(
      async (
        id: string,
        opts: { output: 'table' | 'json' } & { user?: string; link?: boolean; readWrite?: boolean; expires?: string },
      ) => {
        const { webshShare } = await import('./commands/websh-sessions.js');
        await webshShare(ctx, id, opts);
      },
    );
  webshCmd
    .command('shares')
    .description('who a session is shared with')
    .argument('<session>', 'session id')
    .addOption(outputOption())
    .action(async (id: string, opts: { output: 'table' | 'json' }) => {
      const { webshShares } = await import('./commands/websh-sessions.js');
      await webshShares(ctx, id, opts);
    });
  webshCmd
    .command('unshare')
    .description('remove a participant (or a link) from my session; they are disconnected at once')
    .argument('<session>', 'session id')
    .argument('<who>', 'the user email, or the share id (corral websh shares)')
    .addHelpText('after', examples(['corral websh unshare ses_abc ana@example.com']))
    .action(async (id: string, who: string) => {
      const { webshUnshare } = await import('./commands/websh-sessions.js');
      await webshUnshare(ctx, id, who);
    });
  webshCmd
    .command('join')
    .description('join a terminal session shared with me (Ctrl-] leaves; the session goes on)')
    .argument('<session>', 'session id')
    .option('--link <token>', 'the token of a share link')
    .addHelpText('after', examples(['corral websh join ses_abc', 'corral websh join ses_abc --link cws_...']))
    .action(async (id: string, opts: { link?: string }) => {
      const { webshJoin } = await import('./commands/websh.js');
      setExitCode(await webshJoin(ctx, id, opts));
    });
  webshCmd
    .command('watch')
    .description('watch any live terminal session read-only (staff and superusers; its user is told)')
    .argument('<session>', 'session id (corral websh ls --all)')
    .addHelpText('after', examples(['corral websh ls --all', 'corral websh watch ses_abc']))
    .action(async (id: string) => {
      const { webshJoin } = await import('./commands/websh.js');
      setExitCode(await webshJoin(ctx, id, { watch: true }));
    });
  webshCmd
    .command('kill')
    .description(
      'terminate a live terminal session, attached or detached (staff and superusers); its user sees the reason',
    )
    .argument('<session>', 'session id')
    .requiredOption('--reason <text>', 'why (shown to the user and kept in the audit log)')
    .addHelpText('after', examples(['corral websh kill ses_abc --reason "INC-42: runaway job"']))
    .action(async (id: string, opts: { reason?: string }) => {
      const { webshKill } = await import('./commands/websh-sessions.js');
      await webshKill(ctx, id, opts);
    });

  program
    .command('step-up')
    .description(
      'prove it is you again (your second factor, or the password without one) before root and other privileged actions; lasts the grace window',
    )
    .option('--totp <code>', 'a code from your authenticator app (for scripts)')
    .option('--recovery-code <code>', 'one of your recovery codes (used up)')
    .option('--password-stdin', 'read the password from stdin (accounts without a second factor)')
    .addHelpText(
      'after',
      examples(['corral step-up', 'corral step-up --totp 123456', 'corral step-up && corral websh db-01 --root']) +
        '\nAsks for the code from your authenticator app, or "email"/"sms" to have a code sent, or a recovery\n' +
        'code. Commands that need a step-up ask for it themselves on a terminal and then carry on.\n',
    )
    .action(async (opts: { passwordStdin?: boolean; totp?: string; recoveryCode?: string }) => {
      const { stepUp } = await import('./commands/auth.js');
      await stepUp(ctx, opts);
    });

  // --- second factors, sign-in sessions, password ----------------------------------------------------
  const mfa = program
    .command('mfa')
    .description(
      'your second factors (authenticator app, passkey, email, SMS), recovery codes, the workspace MFA policy',
    )
    .addHelpText(
      'after',
      examples([
        'corral mfa ls',
        'corral mfa add totp',
        'corral mfa add sms --phone +15551234567',
        'corral mfa remove mfa_5J8...',
        'corral mfa recovery-codes',
        'corral mfa policy set --enforce on --methods totp,webauthn',
      ]) + '\nAdding, removing and new recovery codes need a fresh proof: on a terminal the CLI asks for a step-up.\n',
    );
  mfa
    .command('ls')
    .alias('list')
    .description('list your second factors: ID KIND LABEL STATUS ADDED LAST USED; recovery codes left')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { mfaLs } = await import('./commands/mfa.js');
      await mfaLs(ctx, opts);
    });
  mfa
    .command('add')
    .description('add a second factor: totp (authenticator app), email, sms (--phone), webauthn (in the browser)')
    .argument('<kind>', 'totp, email, sms or webauthn')
    .option('--label <name>', 'a name for it (totp)')
    .option('--phone <number>', 'sms: an international number, e.g. +15551234567')
    .option('--voice', 'sms: have the code read out by a voice call')
    .option('--code <code>', 'confirm at once with this code (otherwise asked for, or `corral mfa confirm`)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(['corral mfa add totp', 'corral mfa add email', 'corral mfa add sms --phone +15551234567 --voice']) +
        '\ntotp prints the secret and otpauth:// URI for your app, then asks for its first code. email and sms\n' +
        'send a code to confirm. Your first factor also prints ten recovery codes, shown once.\n',
    )
    .action(
      async (
        kind: string,
        opts: { output: 'table' | 'json'; label?: string; phone?: string; voice?: boolean; code?: string },
      ) => {
        const { mfaAdd } = await import('./commands/mfa.js');
        await mfaAdd(ctx, kind, opts);
      },
    );
  mfa
    .command('confirm')
    .description('confirm a pending factor with its first code')
    .argument('<id>', 'the factor id (corral mfa ls)')
    .argument('<code>', 'the code from the app, the mail or the text')
    .addOption(outputOption())
    .action(async (id: string, code: string, opts: { output: 'table' | 'json' }) => {
      const { mfaConfirm } = await import('./commands/mfa.js');
      await mfaConfirm(ctx, id, code, opts);
    });
  mfa
    .command('remove')
    .alias('rm')
    .description('remove one of your second factors (not the last one while the workspace enforces MFA)')
    .argument('<id>', 'the factor id (corral mfa ls)')
    .action(async (id: string) => {
      const { mfaRemove } = await import('./commands/mfa.js');
      await mfaRemove(ctx, id);
    });
  mfa
    .command('recovery-codes')
    .description('make ten new recovery codes (shown once); the old ones stop working')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { mfaRecoveryCodes } = await import('./commands/mfa.js');
      await mfaRecoveryCodes(ctx, opts);
    });
  const mfaPolicyCmd = mfa.command('policy').description("the workspace's MFA policy (superusers change it)");
  mfaPolicyCmd
    .command('show')
    .description('MFA at sign-in, allowed methods, actions that need a step-up, the grace window')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { mfaPolicyShow } = await import('./commands/mfa.js');
      await mfaPolicyShow(ctx, opts);
    });
  mfaPolicyCmd
    .command('set')
    .description('change the MFA policy (superusers)')
    .option('--enforce <on|off>', 'on: users without a second factor can only enrol one')
    .option('--methods <list>', 'allowed factors, comma-separated: totp,webauthn,email,sms')
    .option(
      '--step-up-for <list>',
      'actions that need a fresh step-up: privilege_elevation,token_create,role_change,policy_change,user_deactivate,password_change (or none; root always needs one)',
    )
    .option('--step-up-grace <d>', 'how long a step-up lasts, e.g. 5m (1m..1h)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral mfa policy set --enforce on --methods totp,webauthn',
        'corral mfa policy set --step-up-for role_change,token_create,policy_change --step-up-grace 10m',
      ]) + '\nEnforcing MFA needs an allowed factor of your own first (corral mfa add totp).\n',
    )
    .action(
      async (opts: {
        output: 'table' | 'json';
        enforce?: string;
        methods?: string;
        stepUpFor?: string;
        stepUpGrace?: string;
      }) => {
        const { mfaPolicySet } = await import('./commands/mfa.js');
        await mfaPolicySet(ctx, opts);
      },
    );

  const signins = program
    .command('signins')
    .description('your sign-in sessions (CLI and browser logins): list them, revoke one')
    .addHelpText('after', examples(['corral signins ls', 'corral signins revoke tok_5J8...']));
  signins
    .command('ls')
    .alias('list')
    .description('list your sign-in sessions: ID SIGNED IN LAST USED FROM METHOD CLIENT (* marks this one)')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { signinsLs } = await import('./commands/mfa.js');
      await signinsLs(ctx, opts);
    });
  signins
    .command('revoke')
    .description('revoke one of your sign-in sessions (it stops working at once)')
    .argument('<id>', 'the session id (corral signins ls)')
    .action(async (id: string) => {
      const { signinsRevoke } = await import('./commands/mfa.js');
      await signinsRevoke(ctx, id);
    });

  program
    .command('passwd')
    .description('change your password; your other sign-in sessions are revoked')
    .option('--stdin', 'read two lines from stdin: the current password, then the new one')
    .addHelpText('after', examples(['corral passwd', 'printf "%s\\n%s\\n" "$OLD" "$NEW" | corral passwd --stdin']))
    .action(async (opts: { stdin?: boolean }) => {
      const { passwd } = await import('./commands/mfa.js');
      await passwd(ctx, opts);
    });

  // --- exec --------------------------------------------------------------------------------------
  program
    .command('exec')
    .description('run a command on many servers at once; output streams live, a summary follows')
    .argument('[command...]', 'the command and its arguments, after --')
    .option('--servers <selectors>', 'servers, comma-separated: web-01, web-*, group:NAME, tag:K=V')
    .option('-u, --user <osuser>', "OS account on the servers (default: each agent's account)")
    .option('--root', 'run as root (privilege_elevation in a work session and `corral step-up` first)')
    .option('--parallel <n>', 'commands running at once (default 100)')
    .option('--timeout <d>', 'per server, e.g. 30s, 5m (default 30s)')
    .option('--work-session <id>', 'use this work session (needs the exec feature)')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral exec --servers "web-*" -- uptime',
        'corral exec --servers group:production --parallel 10 --timeout 5m -- sudo apt-get -y upgrade',
        'corral exec --servers tag:env=staging -o json -- df -h /',
        'corral exec ls',
        'corral exec show exj_abc',
      ]) +
        '\nEach output line is prefixed with its server; stderr goes to stderr. Exit status: 0 when every server\n' +
        'ran the command with status 0, 1 otherwise (failed, offline, refused and lost servers are listed),\n' +
        '130 when interrupted (commands still running are stopped).\n' +
        '\nEvery run is kept:\n' +
        '  corral exec ls [-o json]          jobs, newest first\n' +
        '  corral exec show JOB [-o json]    every server with status, exit code and output\n',
    )
    .action(async (command: string[], opts: ExecOptions) => {
      const m = await import('./commands/exec.js');
      // Without --servers, `exec ls` and `exec show JOB` read past runs (with it, `ls` is the command).
      if (!opts.servers && command[0] === 'ls' && command.length === 1) return m.execLs(ctx, opts);
      if (!opts.servers && command[0] === 'show' && command.length === 2) return m.execShow(ctx, command[1]!, opts);
      setExitCode(await m.exec(ctx, command, opts));
    });

  // --- tunnel ------------------------------------------------------------------------------------
  program
    .command('tunnel')
    .description('forward local ports to HOST:PORT as seen from a server (like ssh -L); runs until Ctrl-C')
    .argument('<server>', 'server name')
    .option('-L, --forward <spec>', '[BIND:]LOCAL_PORT:TARGET_HOST:TARGET_PORT; repeat for more', collectList, [])
    .option('--work-session <id>', 'use this work session (needs the port_forward feature)')
    .addHelpText(
      'after',
      examples([
        'corral tunnel db-01 -L 5432:127.0.0.1:5432',
        'corral tunnel web-01 -L 8080:localhost:80 -L 0.0.0.0:9090:localhost:9090',
      ]) +
        "\nEvery TCP connection is its own channel, audited with its byte counts. Targets are the server's own\n" +
        'addresses unless a superuser allows any (corral workspace update --tunnel-targets any).\n',
    )
    .action(async (server: string, opts: { forward?: string[]; workSession?: string }) => {
      const { tunnel } = await import('./commands/tunnel.js');
      setExitCode(await tunnel(ctx, server, opts));
    });

  // --- recordings --------------------------------------------------------------------------------
  const recording = program
    .command('recording')
    .description('terminal recordings (asciicast v2): list, play here, export')
    .addHelpText(
      'after',
      examples([
        'corral recording ls',
        'corral recording play ses_abc --speed 2 --idle-limit 1',
        'corral recording export ses_abc > session.cast && asciinema play session.cast',
      ]),
    );
  recording
    .command('ls')
    .alias('list')
    .description('recordings, newest first (members: their own)')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { recordingLs } = await import('./commands/recordings.js');
      await recordingLs(ctx, opts);
    });
  recording
    .command('play')
    .description('replay a recording in this terminal')
    .argument('<session>', 'session id (ses_...)')
    .option('--speed <x>', 'playback speed (default 1)')
    .option('--idle-limit <seconds>', 'cut pauses longer than this (default 2; 0: no pauses)')
    .action(async (id: string, opts: { speed?: string; idleLimit?: string }) => {
      const { recordingPlay } = await import('./commands/recordings.js');
      await recordingPlay(ctx, id, opts);
    });
  recording
    .command('export')
    .description('write the recording to stdout as asciicast v2 (plays with asciinema)')
    .argument('<session>', 'session id (ses_...)')
    .option('--gz', 'the stored .cast.gz as is (its SHA-256 is in the session.end audit event)')
    .action(async (id: string, opts: { gz?: boolean }) => {
      const { recordingExport } = await import('./commands/recordings.js');
      await recordingExport(ctx, id, opts);
    });

  // --- files -------------------------------------------------------------------------------------
  program
    .command('ls')
    .description('list a directory on a server (as an OS user; needs a file_transfer work session)')
    .argument('<server:path>', "SERVER:PATH; a relative PATH starts at the OS user's home")
    .option('-u, --user <osuser>', "OS account on the server (default: the agent's account)")
    .option('-a, --all', 'include names starting with a dot')
    .option('--work-session <id>', 'use this work session')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(['corral ls web-01:/var/log', 'corral ls web-01: -u deploy -a', 'corral ls web-01:/etc -o json']),
    )
    .action(async (target: string, opts: FilesOptions & { all?: boolean }) => {
      const { ls } = await import('./commands/files.js');
      await ls(ctx, target, opts);
    });
  program
    .command('cp')
    .description('copy files to or from a server, streamed, with a progress bar (like scp)')
    .argument('<paths...>', 'SRC... DST, with SERVER:PATH on one side')
    .option('-r, --recursive', 'copy directories (sent as a tar.gz stream)')
    .option('-f, --overwrite', 'replace files that exist (without it, an existing target is an error)')
    .option('-u, --user <osuser>', "OS account on the server (default: the agent's account)")
    .option('--work-session <id>', 'use this work session')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral cp app.tar.gz web-01:/tmp/',
        'corral cp -r ./site web-01:/var/www/site -u deploy',
        'corral cp web-01:/var/log/syslog .',
        'corral cp -r web-01:/etc/nginx ./nginx-backup',
        'corral cp a.txt b.txt web-01:/tmp/ -o json',
      ]) +
        '\nUploads land in a temporary file that is renamed into place only when complete; a broken copy\n' +
        'never leaves half a file under the target name. Every transfer is audited with its SHA-256.\n',
    )
    .action(async (paths: string[], opts: CpOptions) => {
      const { cp } = await import('./commands/files.js');
      await cp(ctx, paths, opts);
    });
  program
    .command('edit')
    .description('edit a file on a server in $EDITOR; saved back only if it changed and nobody else changed it')
    .argument('<server:path>', 'SERVER:PATH')
    .option('-u, --user <osuser>', "OS account on the server (default: the agent's account)")
    .option('--work-session <id>', 'use this work session (needs the code_editor feature)')
    .addHelpText(
      'after',
      examples(['corral edit web-01:/etc/nginx/nginx.conf', 'EDITOR=nano corral edit web-01:notes.txt -u deploy']),
    )
    .action(async (target: string, opts: FilesOptions) => {
      const { edit } = await import('./commands/files.js');
      setExitCode(await edit(ctx, target, { ...opts, output: 'table', editor: ctx.editor ?? 'vi' }));
    });

  // --- the workspace ---------------------------------------------------------------------------
  const workspace = program
    .command('workspace')
    .description('the workspace you are signed in to: show it; plan, settings and deletion (superusers)')
    .addHelpText(
      'after',
      examples([
        'corral workspace show',
        'corral workspace update --plan enterprise --billing-email ap@example.com',
        'corral workspace delete --confirm acme',
      ]),
    );
  workspace
    .command('show')
    .description('name, region, plan and settings')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { workspaceShow } = await import('./commands/workspace.js');
      await workspaceShow(ctx, opts);
    });
  workspace
    .command('update')
    .description('change the plan (billing) or settings (superusers; audited with before and after)')
    .option('--plan <plan>', 'essentials or enterprise')
    .option('--display-name <name>', 'shown in the UI ("" clears it)')
    .option('--billing-email <email>', 'where invoices go ("" clears it)')
    .option('--tunnel-targets <which>', 'port forwarding may reach: server (its own addresses) or any')
    .option('--root-elevation <when>', 'privilege elevation for root: explicit (-u root/--root) or always')
    .option('--step-up-grace <d>', 'how long a step-up lasts, e.g. 5m (1m..1h)')
    .option('--record-input <on|off>', 'record keystrokes and command markers in terminal recordings')
    .option(
      '--session-persist <d>',
      'how long a terminal outlives a dropped connection for re-attach (default 10m; 0: off)',
    )
    .option('--recording-retention <days>', 'days recordings are kept (default 365, enterprise 1825)')
    .option('--risk-threshold <n>', 'commands scoring at least this (1-100, default 70) raise session.risk')
    .option('--risk-action <action>', 'at the threshold: alert (default) or terminate the session')
    .option('--risk-webhook <url>', 'POST session.risk alerts to this URL')
    .addOption(outputOption())
    .action(async (opts: WorkspaceUpdateOptions) => {
      const { workspaceUpdate } = await import('./commands/workspace.js');
      await workspaceUpdate(ctx, opts);
    });
  workspace
    .command('delete')
    .description('delete this workspace: sign-ins and join tokens revoked, servers removed (superusers)')
    .option('--confirm <name>', "the workspace's name, to confirm")
    .action(async (opts: { confirm?: string }) => {
      const { workspaceDelete } = await import('./commands/workspace.js');
      await workspaceDelete(ctx, opts);
    });

  // --- work sessions -----------------------------------------------------------------------------
  const workSession = program
    .command('work-session')
    .description('time-bound, approved access: request, approve, extend and end work sessions')
    .addHelpText(
      'after',
      examples([
        'corral work-session request --servers web-01 --features terminal --duration 2h --reason "deploy 1.4" --wait',
        'corral approvals',
        'corral work-session approve wks_abc --duration 1h',
        'corral work-session timeline wks_abc',
      ]) +
        '\nA terminal (and, with their issues, files, exec, editor and tunnels) opens only under an approved work\n' +
        'session that covers the server and the feature. Who must approve is the workspace policy\n' +
        '(`corral policy show`); people it auto-approves get one opened for them on first use.\n',
    );
  workSession
    .command('request')
    .description('ask for features on servers for a while, with a reason')
    .requiredOption('--servers <selectors>', 'server selectors, comma-separated: web-01, web-*, group:NAME, tag:K=V')
    .requiredOption('--features <list>', 'terminal,file_transfer,exec,code_editor,port_forward,privilege_elevation')
    .option('--duration <d>', 'how long, e.g. 30m, 2h', '1h')
    .requiredOption('--reason <text>', 'what the work is (approvers see it)')
    .option('--wait', 'wait until the request is approved or denied')
    .option('--allow-command <pattern>', 'exec: only commands matching (* and ?); repeat for more', collectList, [])
    .option('--deny-command <pattern>', 'exec: never commands matching (* and ?); repeat for more', collectList, [])
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral work-session request --servers web-01 --features terminal --duration 2h --reason "INC-42 disk full"',
        'corral work-session request --servers "production-*" --features terminal,file_transfer --reason "deploy" --wait',
      ]) + '\nExit status: 0 approved or pending, 1 denied (or, with --wait, not approved).\n',
    )
    .action(async (opts: RequestOptions) => {
      const { wsRequest } = await import('./commands/work-sessions.js');
      setExitCode(await wsRequest(ctx, opts));
    });
  workSession
    .command('ls')
    .alias('list')
    .description("my work sessions, newest first (--all: everyone's, for staff and approvers)")
    .option('--all', "everyone's (staff), or those you may approve (members)")
    .option('--status <status>', 'only this status: pending, approved, active, expired, ...')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json'; all?: boolean; status?: string }) => {
      const { wsLs } = await import('./commands/work-sessions.js');
      await wsLs(ctx, opts);
    });
  workSession
    .command('show')
    .description('one work session in full')
    .argument('<id>', 'work session id (wks_...)')
    .addOption(outputOption())
    .action(async (id: string, opts: { output: 'table' | 'json' }) => {
      const { wsShow } = await import('./commands/work-sessions.js');
      await wsShow(ctx, id, opts);
    });
  workSession
    .command('approve')
    .description('approve a request or an extension; you may shorten it or narrow servers and features')
    .argument('<id>', 'work session id')
    .option('--duration <d>', 'shorten to this duration')
    .option('--servers <selectors>', 'narrow to the servers these selectors match')
    .option('--features <list>', 'narrow to these features')
    .option('--comment <text>', 'a note for the timeline')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral work-session approve wks_abc',
        'corral work-session approve wks_abc --duration 30m --features terminal',
      ]),
    )
    .action(async (id: string, opts: ActionOptions) => {
      const { wsAction } = await import('./commands/work-sessions.js');
      await wsAction(ctx, 'approve', id, opts);
    });
  workSession
    .command('deny')
    .description('deny a request (or its pending extension)')
    .argument('<id>', 'work session id')
    .option('--reason <text>', 'why (the requester sees it)')
    .addOption(outputOption())
    .action(async (id: string, opts: ActionOptions) => {
      const { wsAction } = await import('./commands/work-sessions.js');
      await wsAction(ctx, 'deny', id, opts);
    });
  workSession
    .command('revoke')
    .description("end someone's running work session now: their live sessions close within 2 s")
    .argument('<id>', 'work session id')
    .option('--reason <text>', 'why (shown to the user whose terminal closes)')
    .addOption(outputOption())
    .action(async (id: string, opts: ActionOptions) => {
      const { wsAction } = await import('./commands/work-sessions.js');
      await wsAction(ctx, 'revoke', id, opts);
    });
  workSession
    .command('extend')
    .description('ask for more time on my running work session (approved again by the policy)')
    .argument('<id>', 'work session id')
    .requiredOption('--duration <d>', 'how much longer, e.g. 1h')
    .option('--reason <text>', 'why')
    .addOption(outputOption())
    .action(async (id: string, opts: ActionOptions) => {
      const { wsAction } = await import('./commands/work-sessions.js');
      await wsAction(ctx, 'extend', id, opts);
    });
  workSession
    .command('complete')
    .description('end my work session early (its live sessions close)')
    .argument('<id>', 'work session id')
    .addOption(outputOption())
    .action(async (id: string, opts: ActionOptions) => {
      const { wsAction } = await import('./commands/work-sessions.js');
      await wsAction(ctx, 'complete', id, opts);
    });
  workSession
    .command('cancel')
    .description('withdraw my pending request (or my pending extension)')
    .argument('<id>', 'work session id')
    .addOption(outputOption())
    .action(async (id: string, opts: ActionOptions) => {
      const { wsAction } = await import('./commands/work-sessions.js');
      await wsAction(ctx, 'cancel', id, opts);
    });
  workSession
    .command('timeline')
    .description('every transition of a work session and every session used under it')
    .argument('<id>', 'work session id')
    .addOption(outputOption())
    .action(async (id: string, opts: { output: 'table' | 'json' }) => {
      const { wsTimeline } = await import('./commands/work-sessions.js');
      await wsTimeline(ctx, id, opts);
    });

  program
    .command('approvals')
    .description('work-session requests and extensions waiting for my approval')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { approvals } = await import('./commands/work-sessions.js');
      await approvals(ctx, opts);
    });

  // --- approval policy ---------------------------------------------------------------------------
  const policy = program
    .command('policy')
    .description('the approval policy for work sessions (read: staff; change: superusers)')
    .addHelpText(
      'after',
      examples([
        'corral policy show',
        'corral policy add-rule oncall-auto --groups oncall --action auto-approve --max-duration 4h',
        'corral policy add-rule prod-two --servers "group:production" --action require-approval --approvals 2 --approver-groups sre',
        'corral policy show -o json > policy.json && corral policy set policy.json',
      ]) +
        '\nRules are tried in order for each requested server and feature; the first that matches decides\n' +
        'for that pair, and the strictest decision over all pairs wins (deny > more approvals > approval >\n' +
        'auto-approve). A pair no rule matches is denied. Nobody approves their own request.\n',
    );
  policy
    .command('show')
    .description('print the rules in order')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { policyShow } = await import('./commands/work-sessions.js');
      await policyShow(ctx, opts);
    });
  policy
    .command('set')
    .description('replace the policy with a JSON file ({"rules": [...], "webhookUrl": ...}; - for stdin)')
    .argument('<file>', 'JSON file')
    .addOption(outputOption())
    .action(async (file: string, opts: { output: 'table' | 'json' }) => {
      const { policySet } = await import('./commands/work-sessions.js');
      await policySet(ctx, file, opts);
    });
  policy
    .command('reset')
    .description('go back to the default policy')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { policyReset } = await import('./commands/work-sessions.js');
      await policyReset(ctx, opts);
    });
  policy
    .command('add-rule')
    .description('add a rule (first position unless --position)')
    .argument('<name>', 'rule name')
    .requiredOption('--action <action>', 'auto-approve, require-approval or deny')
    .option('--servers <selectors>', 'servers the rule is about (default: all)')
    .option('--features <list>', 'features the rule is about (default: all)')
    .option('--roles <roles>', 'requester roles it applies to (member,staff,superuser)')
    .option('--groups <groups>', 'requester user groups it applies to')
    .option('--approvals <n>', 'require-approval: how many approvers (default 1)')
    .option('--approver-roles <roles>', 'require-approval: roles that may approve (default staff,superuser)')
    .option('--approver-groups <groups>', 'require-approval: user groups that may approve')
    .option('--max-duration <d>', 'longest duration the rule allows (default 8h)')
    .option('--position <n>', 'where to insert, 1 = first')
    .addOption(outputOption())
    .action(async (name: string, opts: AddRuleOptions) => {
      const { policyAddRule } = await import('./commands/work-sessions.js');
      await policyAddRule(ctx, name, opts);
    });
  policy
    .command('remove-rule')
    .description('remove a rule by name')
    .argument('<name>', 'rule name')
    .addOption(outputOption())
    .action(async (name: string, opts: { output: 'table' | 'json' }) => {
      const { policyRemoveRule } = await import('./commands/work-sessions.js');
      await policyRemoveRule(ctx, name, opts);
    });
  policy
    .command('webhook')
    .description('POST a JSON notice to URL for every request that waits for approval (none: stop)')
    .argument('<url>', 'http(s) URL, or none')
    .addOption(outputOption())
    .action(async (url: string, opts: { output: 'table' | 'json' }) => {
      const { policyWebhook } = await import('./commands/work-sessions.js');
      await policyWebhook(ctx, url, opts);
    });

  // --- single sign-on (superusers) ----------------------------------------------------------------
  const sso = program
    .command('sso')
    .description('single sign-on providers of your workspace (OIDC, SAML) and the "SSO required" policy (superusers)')
    .addHelpText(
      'after',
      examples([
        'corral sso ls',
        'corral sso add corp --kind oidc --issuer https://idp.example.com/realms/corp --client-id corral --map corral-admins=ops',
        'corral sso add okta --kind saml --entry-point https://corp.okta.com/app/x/sso/saml --idp-cert okta.pem --map Engineering=engineers',
        'corral sso update corp --map eng=engineers --map dba=dba',
        'corral sso policy --required',
        'corral sso remove corp',
      ]) + '\nSee docs/sso.md for Keycloak, Okta and Azure AD (Entra ID) field by field.\n',
    );
  sso
    .command('ls')
    .alias('list')
    .description('list providers: NAME KIND STATUS JIT GROUP MAP IDP CALLBACK, and whether SSO is required')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { ssoLs } = await import('./commands/sso.js');
      await ssoLs(ctx, opts);
    });
  const ssoFlags = (c: Command): Command =>
    c
      .option('--display-name <text>', 'button text on the sign-in page (default: the name)')
      .option('--issuer <url>', 'oidc: issuer URL (https; its /.well-known/openid-configuration is read)')
      .option('--client-id <id>', 'oidc: client ID registered at the IdP')
      .option('--client-secret-stdin', 'oidc: read the client secret from stdin (else asked for; stored encrypted)')
      .option('--scopes <scopes>', 'oidc: space-separated scopes (default "openid email profile")')
      .option('--groups-claim <claim>', 'oidc: claim with the group names (default groups)')
      .option('--entry-point <url>', "saml: the IdP's single sign-on URL (HTTP-Redirect binding)")
      .option('--idp-cert <file>', "saml: the IdP's signing certificate, PEM file")
      .option('--idp-issuer <entity-id>', "saml: the IdP's entity ID (checked when given)")
      .option('--sp-entity-id <id>', 'saml: our entity ID / audience (default: the metadata URL)')
      .option('--groups-attribute <name>', 'saml: attribute with the group names (default groups)')
      .option('--email-attribute <name>', 'saml: attribute with the email (default: email, mail, ... else NameID)')
      .option('--response-unsigned', 'saml: accept responses where only the assertion is signed')
      .option(
        '--map <idp=group>',
        'map an IdP group to a Corral user group (repeat; replaces the whole map)',
        collectList,
        [],
      )
      .option('--jit', 'create users at their first sign-in (the default for a new provider)')
      .option('--no-jit', 'do not create users at their first sign-in (only existing emails may sign in)')
      .option('--jit-role <role>', 'role of users created at first sign-in: member (default) or staff')
      .addOption(outputOption());
  ssoFlags(
    sso
      .command('add')
      .description('add a provider; prints the redirect URI (oidc) or ACS URL (saml) to register at the IdP')
      .argument('<name>', 'short name used in URLs: lower-case letters, digits and -')
      .requiredOption('--kind <kind>', 'oidc or saml'),
  ).action(async (name: string, opts: SsoFlags & { output: 'table' | 'json' }) => {
    const { ssoAdd } = await import('./commands/sso.js');
    await ssoAdd(ctx, name, opts);
  });
  ssoFlags(
    sso
      .command('update')
      .description('change a provider; --map replaces the whole group map')
      .argument('<name>', 'provider name')
      .option('--enable', 'enable the provider')
      .option('--disable', 'disable the provider (its sign-in button disappears)'),
  ).action(async (name: string, opts: SsoFlags & { output: 'table' | 'json' }) => {
    const { ssoUpdate } = await import('./commands/sso.js');
    await ssoUpdate(ctx, name, opts);
  });
  sso
    .command('remove')
    .alias('rm')
    .description('remove a provider and its identity links (the users stay)')
    .argument('<name>', 'provider name')
    .action(async (name: string) => {
      const { ssoRemove } = await import('./commands/sso.js');
      await ssoRemove(ctx, name);
    });
  sso
    .command('policy')
    .description(
      'show or set "SSO required": password sign-in refused for members and staff; superusers keep it (break-glass)',
    )
    .option('--required', 'require SSO')
    .option('--not-required', 'allow password sign-in again')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json'; required?: boolean; notRequired?: boolean }) => {
      const { ssoPolicy } = await import('./commands/sso.js');
      await ssoPolicy(ctx, opts);
    });

  // --- users -------------------------------------------------------------------------------------
  const user = program
    .command('user')
    .description('manage the users of your workspace (staff and superusers)')
    .addHelpText(
      'after',
      examples([
        'corral user ls',
        'corral user invite dev@example.com --role member',
        'corral user deactivate dev@example.com',
      ]),
    );
  user
    .command('ls')
    .alias('list')
    .description('list users: EMAIL ROLE STATUS CREATED ID')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { userLs } = await import('./commands/users.js');
      await userLs(ctx, opts);
    });
  user
    .command('invite')
    .description('invite someone by email; they accept with `corral accept-invite` (only superusers invite superusers)')
    .argument('<email>', 'their email address')
    .option('--role <role>', 'member, staff or superuser (default member)')
    .addOption(outputOption())
    .action(async (email: string, opts: { output: 'table' | 'json'; role?: string }) => {
      const { userInvite } = await import('./commands/users.js');
      await userInvite(ctx, email, opts);
    });
  user
    .command('set-role')
    .description("change a user's role (superusers)")
    .argument('<user>', 'email or user id')
    .requiredOption('--role <role>', 'member, staff or superuser')
    .addOption(outputOption())
    .action(async (u: string, opts: { output: 'table' | 'json'; role: string }) => {
      const { userSetRole } = await import('./commands/users.js');
      await userSetRole(ctx, u, opts);
    });
  user
    .command('deactivate')
    .description('deactivate a user: their tokens stop working and their live sessions end at once')
    .argument('<user>', 'email or user id')
    .addOption(outputOption())
    .action(async (u: string, opts: { output: 'table' | 'json' }) => {
      const { userDeactivate } = await import('./commands/users.js');
      await userDeactivate(ctx, u, opts);
    });
  program
    .command('accept-invite')
    .description('accept an invitation: choose your password and sign in')
    .argument('<url>', 'the workspace URL from the invitation')
    .argument('<token>', 'the invitation token (cinv_...)')
    .option('--password-stdin', 'read the new password from standard input')
    .option('--ca-fingerprint <sha256>', "the gateway CA's SHA-256 fingerprint, if you were given it")
    .addHelpText('after', examples(['corral accept-invite https://acme.localhost:8443 cinv_...']))
    .action(async (url: string, token: string, opts: { passwordStdin?: boolean; caFingerprint?: string }) => {
      const { acceptInvite } = await import('./commands/users.js');
      await acceptInvite(ctx, url, token, opts);
    });

  // --- user groups, grants, access checks -----------------------------------------------------------
  const group = program
    .command('group')
    .description('user groups: permissions granted to a group apply to its members at once')
    .addHelpText(
      'after',
      examples(['corral group create web-team', 'corral group add-member web-team dev@example.com']),
    );
  group
    .command('ls')
    .alias('list')
    .description('list user groups and their members')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { groupLs } = await import('./commands/iam.js');
      await groupLs(ctx, opts);
    });
  group
    .command('create')
    .description('create a user group')
    .argument('<name>', 'group name')
    .action(async (name: string) => {
      const { groupCreate } = await import('./commands/iam.js');
      await groupCreate(ctx, name);
    });
  group
    .command('delete')
    .description("delete a user group and its grants (members' live sessions are re-checked at once)")
    .argument('<name>', 'group name')
    .action(async (name: string) => {
      const { groupDelete } = await import('./commands/iam.js');
      await groupDelete(ctx, name);
    });
  group
    .command('add-member')
    .description('add a user to a group')
    .argument('<group>', 'group name')
    .argument('<user>', 'email or user id')
    .action(async (g: string, u: string) => {
      const { groupMember } = await import('./commands/iam.js');
      await groupMember(ctx, 'add', g, u);
    });
  group
    .command('remove-member')
    .description('remove a user from a group; their sessions that relied on it end within 2 s')
    .argument('<group>', 'group name')
    .argument('<user>', 'email or user id')
    .action(async (g: string, u: string) => {
      const { groupMember } = await import('./commands/iam.js');
      await groupMember(ctx, 'remove', g, u);
    });

  const grant = program
    .command('grant')
    .description('grant read, write or owner scope on servers to a user or a user group; `grant ls`, `grant revoke ID`')
    .option('--user <user>', 'email or user id')
    .option('--group <group>', 'user group name')
    .option('--servers <selector>', 'a server name, a glob (production-*), group:NAME or tag:KEY=VALUE')
    .option('--level <level>', 'read, write or owner')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral grant --group web-team --servers "web-*" --level write',
        'corral grant --user dev@example.com --servers tag:env=staging --level read',
        'corral grant ls',
        'corral grant revoke gr_abc123',
      ]),
    )
    .action(
      async (opts: { output: 'table' | 'json'; user?: string; group?: string; servers?: string; level?: string }) => {
        const { grantCreate } = await import('./commands/iam.js');
        await grantCreate(ctx, opts);
      },
    );
  grant
    .command('ls')
    .alias('list')
    .description('list grants')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { grantLs } = await import('./commands/iam.js');
      await grantLs(ctx, opts);
    });
  grant
    .command('revoke')
    .description('revoke a grant; sessions that relied on it end within 2 s')
    .argument('<id>', 'grant id, from `corral grant ls`')
    .action(async (id: string) => {
      const { grantRevoke } = await import('./commands/iam.js');
      await grantRevoke(ctx, id);
    });

  program
    .command('access')
    .description('explain access decisions')
    .command('check')
    .description('would USER be allowed ACTION on SERVER, and why (exit 0 allow, 1 deny)')
    .argument('<user>', 'email or user id')
    .argument('<server>', 'server name')
    .argument('<action>', 'websh, read, update, delete, exec, files, tunnel')
    .addOption(outputOption())
    .addHelpText('after', examples(['corral access check dev@example.com web-01 websh']))
    .action(async (u: string, srv: string, action: string, opts: { output: 'table' | 'json' }) => {
      const { accessCheck } = await import('./commands/iam.js');
      setExitCode(await accessCheck(ctx, u, srv, action, opts));
    });

  // --- sessions ----------------------------------------------------------------------------------
  const session = program
    .command('session')
    .description('list terminal sessions; end a live one (staff and superusers)')
    .addHelpText('after', examples(['corral session ls --live', 'corral session terminate ses_abc123']));

  session
    .command('ls')
    .alias('list')
    .description('list terminal sessions, newest first: ID USER SERVER OS USER STARTED STATE EXIT IN/OUT COMMAND')
    .option('--live', 'only sessions that are still running')
    .addOption(outputOption())
    .addHelpText('after', examples(['corral session ls', 'corral session ls --live -o json']))
    .action(async (opts: { output: 'table' | 'json'; live?: boolean }) => {
      const { sessionLs } = await import('./commands/session.js');
      await sessionLs(ctx, opts);
    });

  session
    .command('terminate')
    .description('end a live terminal session at once, on whichever gateway node it runs (audited)')
    .argument('<id>', 'session id, from `corral session ls`')
    .addHelpText('after', examples(['corral session terminate ses_abc123']))
    .action(async (id: string) => {
      const { sessionTerminate } = await import('./commands/session.js');
      await sessionTerminate(ctx, id);
    });

  // --- audit -------------------------------------------------------------------------------------
  const audit = program
    .command('audit')
    .description('read and verify the tamper-evident audit log')
    .addHelpText('after', examples(['corral audit ls --limit 20', 'corral audit verify']));

  audit
    .command('ls')
    .alias('list')
    .description('list audit events, newest first: SEQ TIME ACTION OUTCOME ACTOR TARGET SOURCE')
    .option('-n, --limit <n>', 'how many events (default 50)')
    .option('--action <action>', 'only this action, e.g. file.upload or access.denied')
    .option('--actor <who>', 'only events by this actor (email or id)')
    .option('--server <name>', 'only events about this server (name or id)')
    .option('--since <when>', 'from this time (ISO 8601) or this long ago (30m, 2h, 7d)')
    .option('--until <when>', 'up to this time (ISO 8601) or this long ago')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'corral audit ls',
        'corral audit ls --limit 500 -o json',
        'corral audit ls --action file.upload',
        'corral audit ls --actor mia@example.com --server web-01 --since 24h',
      ]),
    )
    .action(
      async (opts: {
        limit?: string;
        action?: string;
        actor?: string;
        server?: string;
        since?: string;
        until?: string;
        output: 'table' | 'json';
      }) => {
        const { auditLs } = await import('./commands/audit.js');
        await auditLs(ctx, opts);
      },
    );

  audit
    .command('verify')
    .description("recompute the audit log's hash chain; exits 1 when it is broken")
    .addOption(outputOption())
    .addHelpText('after', examples(['corral audit verify']))
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { auditVerify } = await import('./commands/audit.js');
      await auditVerify(ctx, opts);
    });

  addTokenCommands(program, ctx);
  return program;
}
