import { println, type CliContext } from '../context.js';
import { renderTable, type Column } from '../format/table.js';
import { sanitize } from '../format/text.js';
import { relativeTime } from '../format/time.js';
import { printJson, withApi, type OutputOptions } from './common.js';
import { CliError } from '../errors.js';

/** `corral websh ls|share|shares|unshare|kill`: terminal sessions beyond opening one. */

interface SessionView {
  id: string;
  userEmail: string | null;
  serverName: string | null;
  osUser: string;
  command: string | null;
  startedAt: string;
  endedAt: string | null;
  state?: 'attached' | 'detached' | 'ended';
  keptUntil?: string | null;
  persistent?: boolean;
  mine?: boolean;
}

interface ShareView {
  id: string;
  sessionId: string;
  user: string | null;
  link: boolean;
  mode: 'read' | 'write';
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  linkToken?: string;
}

const sessionPath = (id: string, rest = ''): string => `/api/v1/websh/sessions/${encodeURIComponent(id)}${rest}`;

/** Seconds from "90", "30m", "2h", "1d". */
function durationSeconds(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new CliError(`"${text}" is not a duration: use 90s, 30m, 2h or 1d`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

export async function webshLs(
  ctx: CliContext,
  opts: OutputOptions & { all?: boolean; ended?: boolean },
): Promise<void> {
  await withApi(ctx, async (api) => {
    const query: Record<string, string> = { scope: opts.all ? 'all' : 'mine' };
    if (!opts.ended) query.live = 'true';
    const list = await api.request('GET', '/api/v1/websh/sessions', {
      query,
      parse: (x) => x as { items: SessionView[] },
    });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) {
      return void ctx.stderr.write(
        opts.ended
          ? 'No terminal sessions.\n'
          : 'No live terminal sessions (corral websh ls --ended shows past ones).\n',
      );
    }
    const now = ctx.now();
    const cols: Column<SessionView>[] = [
      { header: 'SESSION', value: (r) => r.id },
      ...(opts.all ? [{ header: 'USER', value: (r: SessionView) => sanitize(r.userEmail ?? '-') }] : []),
      { header: 'SERVER', value: (r) => sanitize(r.serverName ?? '-') },
      { header: 'OS USER', value: (r) => sanitize(r.osUser) },
      { header: 'STATE', value: (r) => r.state ?? (r.endedAt ? 'ended' : 'attached') },
      { header: 'STARTED', value: (r) => relativeTime(r.startedAt, now) },
      {
        header: 'KEPT UNTIL',
        value: (r) => (r.state === 'detached' && r.keptUntil ? relativeTime(r.keptUntil, now) : '-'),
      },
      { header: 'COMMAND', value: (r) => sanitize(r.command ?? '(shell)'), shrink: true },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
    if (!opts.all && list.items.some((r) => r.state === 'detached')) {
      ctx.stderr.write('Re-attach a detached one with: corral websh attach SESSION\n');
    }
  });
}

export async function webshShare(
  ctx: CliContext,
  id: string,
  opts: OutputOptions & { user?: string; link?: boolean; readWrite?: boolean; expires?: string },
): Promise<void> {
  if ((opts.user === undefined) === !opts.link) throw new CliError('give --user EMAIL or --link (one of them)');
  const body: Record<string, unknown> = opts.user !== undefined ? { user: opts.user } : { link: true };
  if (opts.readWrite) body.readWrite = true;
  if (opts.expires !== undefined) body.expiresInSeconds = durationSeconds(opts.expires);
  await withApi(ctx, async (api) => {
    const share = await api.request('POST', sessionPath(id, '/shares'), { body, parse: (x) => x as ShareView });
    if (opts.output === 'json') return printJson(ctx, share);
    const mode = share.mode === 'write' ? 'read-write' : 'read-only';
    const until = share.expiresAt ? `until ${share.expiresAt}` : 'until the session ends';
    if (share.linkToken) {
      println(
        ctx.stdout,
        `Share link for ${id} (${mode}, ${until}); anyone signed in to this workspace and allowed on the server can join:`,
      );
      println(ctx.stdout, `  corral websh join ${id} --link ${share.linkToken}`);
    } else {
      println(
        ctx.stdout,
        `Shared ${id} with ${share.user} (${mode}, ${until}). They join with: corral websh join ${id}`,
      );
    }
    println(ctx.stdout, `Remove it with: corral websh unshare ${id} ${share.user ?? share.id}`);
  });
}

export async function webshShares(ctx: CliContext, id: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', sessionPath(id, '/shares'), { parse: (x) => x as { items: ShareView[] } });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0) return void ctx.stderr.write(`Session ${id} is not shared.\n`);
    const now = ctx.now();
    const cols: Column<ShareView>[] = [
      { header: 'SHARE', value: (r) => r.id },
      { header: 'WITH', value: (r) => (r.link ? '(link)' : sanitize(r.user ?? '-')) },
      { header: 'MODE', value: (r) => (r.mode === 'write' ? 'read-write' : 'read-only') },
      {
        header: 'STATUS',
        value: (r) => (r.revokedAt ? 'removed' : r.expiresAt && Date.parse(r.expiresAt) <= now ? 'expired' : 'active'),
      },
      { header: 'EXPIRES', value: (r) => (r.expiresAt ? relativeTime(r.expiresAt, now) : 'with the session') },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

export async function webshUnshare(ctx: CliContext, id: string, who: string): Promise<void> {
  await withApi(ctx, async (api) => {
    await api.request('DELETE', sessionPath(id, `/shares/${encodeURIComponent(who)}`), { parse: () => null });
    println(ctx.stdout, `Removed ${who} from ${id}; anyone who joined through it was disconnected.`);
  });
}

export async function webshKill(ctx: CliContext, id: string, opts: { reason?: string }): Promise<void> {
  if (!opts.reason || !opts.reason.trim())
    throw new CliError('say why: corral websh kill SESSION --reason "..." (the user sees it)');
  await withApi(ctx, async (api) => {
    await api.request('POST', sessionPath(id, '/terminate'), { body: { reason: opts.reason }, parse: () => null });
    println(ctx.stdout, `Session ${id} terminated; its user was told: ${opts.reason}`);
  });
}
