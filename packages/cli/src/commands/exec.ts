import {
  ExecJobDetail,
  ExecJobList,
  ExecStreamEvent,
  OS_USER_RE,
  parseDurationSeconds,
  type ExecJobView,
} from '@corral/protocol';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderKeyValues, renderTable, type Column } from '../format/table.js';
import { sanitize } from '../format/text.js';
import { formatTimestamp, relativeTime } from '../format/time.js';
import { parsePositiveInt, printJson, withApi, type OutputOptions } from './common.js';

/** `corral exec --servers SELECTOR [-u USER] [--parallel N] [--timeout 30s] -- CMD ARGS...` */

/** Command output, cleaned of control characters except tabs (columns in `df`, `ps`, ...). */
function clean(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, '\uFFFD');
}

export interface ExecOptions extends OutputOptions {
  servers?: string;
  user?: string;
  parallel?: string;
  timeout?: string;
  workSession?: string;
  root?: boolean;
}

type Exit = Extract<ExecStreamEvent, { type: 'exit' }>;

/** Splits output into lines per server and stream, prefixing each finished line with the server's name. */
export class LinePrefixer {
  readonly #partial = new Map<string, string>();
  constructor(private readonly width: number) {}

  push(server: string, stream: string, data: string): string[] {
    const key = `${server}\0${stream}`;
    const text = (this.#partial.get(key) ?? '') + data;
    const parts = text.split('\n');
    this.#partial.set(key, parts.pop() ?? '');
    return parts.map((l) => `${server.padEnd(this.width)} | ${l}`);
  }

  /** Whatever is left without a final newline. */
  flush(server: string, stream: string): string[] {
    const key = `${server}\0${stream}`;
    const rest = this.#partial.get(key);
    this.#partial.delete(key);
    return rest ? [`${server.padEnd(this.width)} | ${rest}`] : [];
  }
}

export async function exec(ctx: CliContext, command: string[], opts: ExecOptions): Promise<number> {
  if (!opts.servers) throw new CliError('--servers SELECTOR is required (web-01, web-*, group:NAME, tag:K=V)');
  if (command.length === 0) throw new CliError('give the command after --, e.g. corral exec --servers web-* -- uptime');
  if (opts.user !== undefined && !OS_USER_RE.test(opts.user))
    throw new CliError(`"${opts.user}" is not a valid OS user name`);
  const timeout = opts.timeout ? parseDurationSeconds(opts.timeout) : 30;
  if (timeout === undefined || timeout < 1)
    throw new CliError(`--timeout must be a duration like 30s or 5m (got "${opts.timeout}")`);
  const body = {
    servers: opts.servers
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
    command,
    ...(opts.user ? { osUser: opts.user } : {}),
    ...(opts.root ? { osUser: 'root' } : {}),
    ...(opts.parallel ? { parallel: parsePositiveInt(opts.parallel, '--parallel') } : {}),
    timeoutSeconds: timeout,
    ...(opts.workSession ? { workSessionId: opts.workSession } : {}),
  };
  const json = opts.output === 'json';
  const exits: Exit[] = [];
  let jobId = '';
  let width = 8;
  let prefixer = new LinePrefixer(width);
  let summaryOk = false;
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    await withApi(ctx, (api) =>
      api.streamLines(
        'POST',
        '/api/v1/exec',
        body,
        (raw) => {
          const parsed = ExecStreamEvent.safeParse(raw);
          if (!parsed.success) return;
          const e = parsed.data;
          if (json) ctx.stdout.write(JSON.stringify(e) + '\n');
          switch (e.type) {
            case 'job':
              jobId = e.jobId;
              width = Math.min(40, Math.max(6, ...e.targets.map((t) => t.server.length)));
              prefixer = new LinePrefixer(width);
              if (!json) {
                const queued = e.targets.filter((t) => t.status === 'queued').length;
                ctx.stderr.write(
                  `Job ${e.jobId}: ${sanitize(command.join(' '))} on ${queued} of ${e.targets.length} server(s)\n`,
                );
              }
              return;
            case 'output':
              if (json) return;
              for (const l of prefixer.push(e.server, e.stream, e.data)) {
                (e.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(clean(l) + '\n');
              }
              return;
            case 'exit':
              exits.push(e);
              if (json) return;
              for (const s of ['stdout', 'stderr'] as const) {
                for (const l of prefixer.flush(e.server, s))
                  (s === 'stderr' ? ctx.stderr : ctx.stdout).write(clean(l) + '\n');
              }
              return;
            case 'done':
              summaryOk = e.summary.ok === e.summary.servers;
              return;
            case 'error':
              throw new CliError(`the run failed on the gateway: ${e.message}`);
          }
        },
        abort.signal,
      ),
    );
  } catch (err) {
    if (abort.signal.aborted) {
      println(ctx.stderr, `corral: cancelled; commands still running were stopped (job ${jobId || 'not started'}).`);
      return 130;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (!json) {
    exits.sort((a, b) => a.server.localeCompare(b.server));
    const cols: Column<Exit>[] = [
      { header: 'SERVER', value: (x) => sanitize(x.server) },
      { header: 'STATUS', value: (x) => x.status },
      { header: 'EXIT', value: (x) => (x.exitCode === null ? (x.signal ?? '-') : String(x.exitCode)), align: 'right' },
      {
        header: 'DURATION',
        value: (x) => (x.durationMs ? `${(x.durationMs / 1000).toFixed(2)}s` : '-'),
        align: 'right',
      },
      {
        header: 'REASON',
        value: (x) => sanitize(x.reason ?? (x.truncated ? 'output truncated at 1 MiB' : '')),
        shrink: true,
      },
    ];
    ctx.stderr.write('\n' + renderTable(cols, exits, { color: ctx.color }));
    const count = (s: string) => exits.filter((x) => x.status === s).length;
    ctx.stderr.write(
      `${count('ok')} ok, ${count('failed')} failed, ${count('offline')} offline, ${count('refused')} refused` +
        (count('lost') ? `, ${count('lost')} lost` : '') +
        ` (job ${jobId}; details: corral exec show ${jobId})\n`,
    );
  }
  return summaryOk ? 0 : 1;
}

export async function execLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/exec', { parse: (x) => ExecJobList.parse(x) });
    if (opts.output === 'json') return printJson(ctx, list);
    if (list.items.length === 0)
      return void ctx.stderr.write('No exec jobs yet: corral exec --servers web-* -- uptime\n');
    const now = ctx.now();
    const cols: Column<ExecJobView>[] = [
      { header: 'JOB', value: (j) => j.id },
      { header: 'USER', value: (j) => sanitize(j.user) },
      { header: 'SERVERS', value: (j) => sanitize(j.servers.join(',')), shrink: true },
      { header: 'COMMAND', value: (j) => sanitize(j.command.join(' ')), shrink: true },
      {
        header: 'RESULT',
        value: (j) =>
          j.summary
            ? `${j.summary.ok}/${j.summary.servers} ok` +
              (j.summary.failed + j.summary.offline + j.summary.refused + j.summary.lost
                ? `, ${j.summary.failed + j.summary.offline + j.summary.refused + j.summary.lost} not`
                : '')
            : 'running',
      },
      { header: 'STARTED', value: (j) => relativeTime(j.createdAt, now) },
    ];
    ctx.stdout.write(renderTable(cols, list.items, { color: ctx.color }));
  });
}

export async function execShow(ctx: CliContext, id: string, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const j = await api.request('GET', `/api/v1/exec/${encodeURIComponent(id)}`, {
      parse: (x) => ExecJobDetail.parse(x),
    });
    if (opts.output === 'json') return printJson(ctx, j);
    ctx.stdout.write(
      renderKeyValues([
        ['Job', j.id],
        ['User', j.user],
        ['Command', j.command.join(' ')],
        ['Servers', j.servers.join(', ')],
        ['Started', formatTimestamp(j.createdAt)],
        ['Finished', formatTimestamp(j.finishedAt)],
      ]),
    );
    for (const r of j.results) {
      println(
        ctx.stdout,
        `\n== ${r.server}: ${r.status}` +
          (r.exitCode !== null ? ` (exit ${r.exitCode})` : r.signal ? ` (${r.signal})` : '') +
          (r.reason ? ` - ${r.reason}` : ''),
      );
      for (const l of r.stdout.replace(/\n$/, '').split('\n')) if (r.stdout) println(ctx.stdout, sanitize(l));
      for (const l of r.stderr.replace(/\n$/, '').split('\n'))
        if (r.stderr) println(ctx.stdout, `[stderr] ${sanitize(l)}`);
      if (r.truncated) println(ctx.stdout, '[output truncated at 1 MiB]');
    }
  });
}
