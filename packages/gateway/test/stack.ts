/**
 * The steps most end-to-end suites share: the CLI signed in as someone (each with a config dir of
 * their own), an agent registered with a join token made by that CLI and running, users onboarded
 * through a real invitation.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import { BIN, Proc, run, eventually, type RunResult } from './processes.js';

export interface CliPeople {
  /** The environment for `who`'s CLI (its own config dir under `root`). */
  envOf: (who: string) => Record<string, string>;
  /** Run the CLI as `who`. */
  as: (who: string, args: string[], opts?: { input?: string; timeoutMs?: number }) => Promise<RunResult>;
  /** Sign `who` in to `url` (pinning the CA fingerprint `fp`). */
  login: (who: string, url: string, email: string, password: string) => Promise<void>;
}

export function cliPeople(root: string, fp: () => string): CliPeople {
  const envOf = (who: string) => ({ CORRAL_CONFIG_DIR: join(root, `cli-${who}`) });
  const as = (who: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
    run(BIN.cli, args, { env: envOf(who), ...opts });
  const login = async (who: string, url: string, email: string, password: string) => {
    const r = await run(BIN.cli, ['login', url, '--email', email, '--password-stdin', '--ca-fingerprint', fp()], {
      env: envOf(who),
      input: password + '\n',
    });
    expect(r.code, r.stderr).toBe(0);
  };
  return { envOf, as, login };
}

/** Register an agent named `name` with a join token `who` creates, start it, wait until it is online. */
export async function startAgent(
  people: CliPeople,
  who: string,
  o: { url: string; fp: string; dir: string; name: string; env?: Record<string, string> },
): Promise<Proc> {
  const tok = JSON.parse((await people.as(who, ['server', 'token', 'create', '-o', 'json'])).stdout) as {
    token: string;
  };
  const cfg = join(o.dir, `agent-${o.name}.json`);
  const reg = await run(BIN.agent, [
    'register',
    '--gateway',
    o.url,
    '--token',
    tok.token,
    '--ca-fingerprint',
    o.fp,
    '--config',
    cfg,
    '--name',
    o.name,
  ]);
  expect(reg.code, reg.stderr).toBe(0);
  const agent = new Proc(BIN.agent, ['run', '--config', cfg], o.env ?? {});
  await eventually(async () => (await people.as(who, ['server', 'ls'])).stdout.includes('online'));
  return agent;
}

/** Invite `name@localhost` with `role` (as `inviter`), read the invitation from the outbox, accept it. */
export async function onboard(
  people: CliPeople,
  db: Kysely<Database>,
  o: { inviter: string; url: string; fp: string; name: string; role: string },
): Promise<void> {
  const inv = await people.as(o.inviter, ['user', 'invite', `${o.name}@localhost`, '--role', o.role]);
  expect(inv.code, inv.stderr).toBe(0);
  const mail = await db
    .selectFrom('outbox')
    .selectAll()
    .where('recipient', '=', `${o.name}@localhost`)
    .executeTakeFirstOrThrow();
  const token = /(cinv_[A-Za-z0-9_-]+)/.exec(mail.body)![1]!;
  const acc = await run(BIN.cli, ['accept-invite', o.url, token, '--password-stdin', '--ca-fingerprint', o.fp], {
    env: people.envOf(o.name),
    input: `${o.name} password 123456\n`,
  });
  expect(acc.code, acc.stderr).toBe(0);
}
