import { Option, type Command } from 'commander';
import type { CliContext } from './context.js';
import type { TokenCreateOptions } from './commands/api-tokens.js';

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function examples(lines: string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  $ ${l}`).join('\n') + '\n';
}

const SCOPES_HELP =
  '\nScopes are RESOURCE:LEVEL, LEVEL one of read < write < owner, RESOURCE one of servers, websh, files,\n' +
  'exec, tunnels, work_sessions, recordings, audit, users, iam, workspace, tokens, applications (or * for\n' +
  'all). A token never does more than its owner may do now: the effective right is the intersection.\n' +
  'With CORRAL_TOKEN set, the CLI uses that token instead of the saved login (CORRAL_GATEWAY and\n' +
  'CORRAL_CA_FILE name the gateway and its CA when there is no saved login).\n';

/** The options `token create` and `app token create` share. */
function tokenOptions(cmd: Command, scopeHelp: string): Command {
  return cmd
    .option('--expires <duration>', 'lifetime: 12h, 30d, 365d or never (default 30d)')
    .option('--scope <scope>', scopeHelp, collect, [])
    .option('--servers <selector>', 'only servers matching this selector (repeatable; as for grants)', collect, [])
    .option('--allow-command <pattern>', 'only commands matching this pattern (repeatable; * and ?)', collect, [])
    .option('--deny-command <pattern>', 'refuse commands matching this pattern (repeatable)', collect, [])
    .addOption(outputOption());
}

/** `corral token ...` (personal API tokens) and `corral app ...` (applications and service tokens). */
export function addTokenCommands(program: Command, ctx: CliContext): void {
  const token = program
    .command('token')
    .description('personal API tokens (crl_pat_...) for scripts and CI: create, ls, revoke, activity')
    .addHelpText(
      'after',
      examples([
        'corral token create ci-read --scope servers:read --expires 30d',
        "corral token create deploy --scope servers:read,exec:write --servers 'web-*' --deny-command 'rm *'",
        'corral token ls',
        'corral token activity pat_abc123',
        'corral token revoke pat_abc123',
        'CORRAL_TOKEN=crl_pat_... corral server ls',
      ]) + SCOPES_HELP,
    );

  tokenOptions(
    token
      .command('create')
      .description('create a personal API token; the secret is printed once')
      .argument('<name>', 'a label to recognise the token by'),
    'RESOURCE:LEVEL, e.g. servers:read (repeatable or comma-separated; at least one)',
  )
    .addHelpText(
      'after',
      examples([
        'corral token create monitoring --scope servers:read --expires never',
        "corral token create ops --scope exec:write,servers:read --servers group:production --allow-command 'systemctl status *'",
        'corral token create ci --scope servers:read -o json | jq -r .token',
      ]) + SCOPES_HELP,
    )
    .action(async (name: string, opts: TokenCreateOptions) => {
      const { patCreate } = await import('./commands/api-tokens.js');
      await patCreate(ctx, name, opts);
    });

  token
    .command('ls')
    .alias('list')
    .description('list my API tokens: ID NAME PREFIX SCOPES SERVERS COMMANDS STATUS EXPIRES LAST USED')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { patLs } = await import('./commands/api-tokens.js');
      await patLs(ctx, opts);
    });

  token
    .command('revoke')
    .description('revoke an API token at once: its next request is refused, its live sessions end')
    .argument('<id>', 'token id, from `corral token ls`')
    .action(async (id: string) => {
      const { patRevoke } = await import('./commands/api-tokens.js');
      await patRevoke(ctx, id);
    });

  token
    .command('activity')
    .description('the last requests made with a token: TIME METHOD ROUTE STATUS SOURCE')
    .argument('<id>', 'token id (yours; staff: any)')
    .option('-n, --limit <n>', 'how many requests (default 100, at most 1000)')
    .addOption(outputOption())
    .action(async (id: string, opts: { output: 'table' | 'json'; limit?: string }) => {
      const { patActivity } = await import('./commands/api-tokens.js');
      await patActivity(ctx, id, opts);
    });

  const app = program
    .command('app')
    .description('applications: non-human identities with a role and scopes, and their service tokens (staff)')
    .addHelpText(
      'after',
      examples([
        'corral app create deployer --role member --scope servers:read,exec:write',
        'corral grant --user app:deployer --servers "web-*" --level write',
        'corral app token create deployer github-actions --expires 90d',
        'corral app token ls deployer',
        'corral app token revoke deployer svc_abc123',
        'corral app delete deployer',
      ]) + SCOPES_HELP,
    );

  app
    .command('create')
    .description('create an application; grants and groups name it as app:NAME')
    .argument('<name>', 'lower-case letters, digits and dashes')
    .option('--role <role>', 'member (default) or staff')
    .option(
      '--scope <scope>',
      'the most its tokens may do: RESOURCE:LEVEL (repeatable or comma-separated)',
      collect,
      [],
    )
    .option('--description <text>', 'what the application is for')
    .addOption(outputOption())
    .action(
      async (
        name: string,
        opts: { output: 'table' | 'json'; role?: string; scope?: string[]; description?: string },
      ) => {
        const { appCreate } = await import('./commands/api-tokens.js');
        await appCreate(ctx, name, opts);
      },
    );

  app
    .command('ls')
    .alias('list')
    .description('list applications: NAME ROLE SCOPES TOKENS CREATED ID')
    .addOption(outputOption())
    .action(async (opts: { output: 'table' | 'json' }) => {
      const { appLs } = await import('./commands/api-tokens.js');
      await appLs(ctx, opts);
    });

  app
    .command('delete')
    .description('delete an application: its tokens stop working, its grants and live sessions end')
    .argument('<name>', 'application name or id')
    .action(async (name: string) => {
      const { appDelete } = await import('./commands/api-tokens.js');
      await appDelete(ctx, name);
    });

  const appToken = app.command('token').description("an application's service tokens (crl_svc_...)");

  tokenOptions(
    appToken
      .command('create')
      .description('issue a service token; the secret is printed once')
      .argument('<app>', 'application name')
      .argument('<name>', 'a label for the token'),
    "RESOURCE:LEVEL within the application's scopes (default: all of them)",
  ).action(async (appName: string, name: string, opts: TokenCreateOptions) => {
    const { appTokenCreate } = await import('./commands/api-tokens.js');
    await appTokenCreate(ctx, appName, name, opts);
  });

  appToken
    .command('ls')
    .alias('list')
    .description("list an application's service tokens")
    .argument('<app>', 'application name')
    .addOption(outputOption())
    .action(async (appName: string, opts: { output: 'table' | 'json' }) => {
      const { appTokenLs } = await import('./commands/api-tokens.js');
      await appTokenLs(ctx, appName, opts);
    });

  appToken
    .command('revoke')
    .description('revoke a service token at once')
    .argument('<app>', 'application name')
    .argument('<id>', 'token id, from `corral app token ls APP`')
    .action(async (appName: string, id: string) => {
      const { appTokenRevoke } = await import('./commands/api-tokens.js');
      await appTokenRevoke(ctx, appName, id);
    });
}
