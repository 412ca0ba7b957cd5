#!/usr/bin/env node
// Regenerates docs/CLI.md from the CLI's own --help output, so the reference cannot drift.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/cli/bin/corral.js');
const commands = [
  '',
  'login',
  'logout',
  'whoami',
  'server ls',
  'server show',
  'server update',
  'server delete',
  'server upgrade',
  'server-group ls',
  'server-group create',
  'server-group delete',
  'server token create',
  'server token ls',
  'server token revoke',
  'websh',
  'step-up',
  'recording ls',
  'recording play',
  'recording export',
  'exec',
  'tunnel',
  'ls',
  'cp',
  'edit',
  'session ls',
  'user ls',
  'user invite',
  'user set-role',
  'user deactivate',
  'accept-invite',
  'sso',
  'sso ls',
  'sso add',
  'sso update',
  'sso remove',
  'sso policy',
  'group ls',
  'group create',
  'group delete',
  'group add-member',
  'group remove-member',
  'grant',
  'grant ls',
  'grant revoke',
  'access check',
  'session terminate',
  'audit ls',
  'audit verify',
  'workspace show',
  'workspace update',
  'workspace delete',
  'work-session',
  'work-session request',
  'work-session ls',
  'work-session show',
  'work-session approve',
  'work-session deny',
  'work-session revoke',
  'work-session extend',
  'work-session complete',
  'work-session cancel',
  'work-session timeline',
  'approvals',
  'policy',
  'policy show',
  'policy set',
  'policy reset',
  'policy add-rule',
  'policy remove-rule',
  'policy webhook',
];
let doc =
  '# corral CLI reference\n\nGenerated from `--help` (regenerate with `node scripts/gen-cli-docs.mjs`). Every command accepts `--help`.\n\n';
for (const c of commands) {
  const help = execFileSync(process.execPath, [cli, ...c.split(' ').filter(Boolean), '--help'], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '100' },
  });
  doc += `## corral ${c}\n\n\`\`\`\n${help}\`\`\`\n\n`;
}
writeFileSync(join(root, 'docs/CLI.md'), doc);
