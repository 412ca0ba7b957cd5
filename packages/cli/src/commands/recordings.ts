import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { println, type CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { renderTable, type Column } from '../format/table.js';
import { sanitize } from '../format/text.js';
import { relativeTime } from '../format/time.js';
import { formatBytes } from '../format/progress.js';
import { printJson, withApi, type OutputOptions } from './common.js';

/** `corral recording ls|export|play`: terminal recordings (asciicast v2). */

interface RecordingView {
  sessionId: string;
  user: string | null;
  server: string | null;
  osUser: string;
  command: string | null;
  startedAt: string;
  endedAt: string | null;
  bytes: number | null;
  sha256: string | null;
  available: boolean;
}

export async function recordingLs(ctx: CliContext, opts: OutputOptions): Promise<void> {
  await withApi(ctx, async (api) => {
    const list = await api.request('GET', '/api/v1/recordings', { parse: (x) => x as { items: RecordingView[] } });
    if (opts.output === 'json') return printJson(ctx, list);
    const items = list.items.filter((r) => r.available || r.endedAt === null);
    if (items.length === 0) return void ctx.stderr.write('No recordings yet: every terminal session is recorded.\n');
    const now = ctx.now();
    const cols: Column<RecordingView>[] = [
      { header: 'SESSION', value: (r) => r.sessionId },
      { header: 'USER', value: (r) => sanitize(r.user ?? '-') },
      { header: 'SERVER', value: (r) => sanitize(r.server ?? '-') },
      { header: 'OS USER', value: (r) => sanitize(r.osUser) },
      { header: 'STARTED', value: (r) => relativeTime(r.startedAt, now) },
      {
        header: 'LENGTH',
        value: (r) => (r.endedAt ? `${Math.round((Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000)}s` : 'live'),
        align: 'right',
      },
      { header: 'SIZE', value: (r) => (r.bytes === null ? '-' : formatBytes(r.bytes)), align: 'right' },
      { header: 'COMMAND', value: (r) => sanitize(r.command ?? '(shell)'), shrink: true },
    ];
    ctx.stdout.write(renderTable(cols, items, { color: ctx.color }));
  });
}

/** Stream GET /api/v1/recordings/:id into `onData` (the API client buffers whole answers; this does not). */
async function download(ctx: CliContext, id: string, gz: boolean, onData: (chunk: Buffer) => void): Promise<void> {
  await withApi(ctx, async (api, config) => {
    await new Promise<void>((resolve, reject) => {
      const url = api.url(`/api/v1/recordings/${encodeURIComponent(id)}`, gz ? { format: 'gz' } : {});
      const req = httpsRequest(
        url,
        { headers: { authorization: `Bearer ${config.token}` }, agent: api.agent },
        (res: IncomingMessage) => {
          if ((res.statusCode ?? 0) >= 300) {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => {
              let msg = body;
              try {
                const e = JSON.parse(body) as { error?: { code: string; message: string } };
                if (e.error) msg = `${e.error.code}: ${e.error.message}`;
              } catch {
                /* as is */
              }
              reject(new CliError(msg));
            });
            return;
          }
          res.on('data', onData);
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  });
}

/** `corral recording export ID > file.cast` (or `--gz`). */
export async function recordingExport(ctx: CliContext, id: string, opts: { gz?: boolean }): Promise<void> {
  await download(ctx, id, Boolean(opts.gz), (chunk) => ctx.stdout.write(chunk));
}

/**
 * Plan playback from asciicast lines: output events with delays, scaled by `speed`, with pauses longer
 * than `idleLimit` seconds cut to it (as `asciinema play -i`). Markers are returned for the caller.
 */
export function planPlayback(
  text: string,
  speed: number,
  idleLimit: number | null,
): { frames: Array<{ delayMs: number; data: string }>; markers: Array<{ at: number; label: string }> } {
  const lines = text.split('\n').filter(Boolean);
  const frames: Array<{ delayMs: number; data: string }> = [];
  const markers: Array<{ at: number; label: string }> = [];
  let last = 0;
  let clock = 0;
  for (const line of lines.slice(1)) {
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[2] !== 'string') continue;
    const [t, kind, data] = ev as [number, string, string];
    let gap = Math.max(0, t - last);
    last = t;
    if (idleLimit !== null) gap = Math.min(gap, idleLimit);
    clock += gap;
    if (kind === 'o') frames.push({ delayMs: (gap * 1000) / speed, data });
    else if (kind === 'm') markers.push({ at: clock, label: data });
    else if (frames.length && gap > 0) frames.push({ delayMs: (gap * 1000) / speed, data: '' });
  }
  return { frames, markers };
}

/** `corral recording play ID [--speed 2] [--idle-limit 2]`: replay in this terminal. */
export async function recordingPlay(
  ctx: CliContext,
  id: string,
  opts: { speed?: string; idleLimit?: string },
): Promise<void> {
  const speed = opts.speed ? Number(opts.speed) : 1;
  if (!(speed > 0 && speed <= 100)) throw new CliError('--speed must be a number above 0 (e.g. 2)');
  const idle = opts.idleLimit !== undefined ? Number(opts.idleLimit) : 2;
  if (!(idle >= 0)) throw new CliError('--idle-limit must be seconds (e.g. 2; 0 plays without pauses)');
  const chunks: Buffer[] = [];
  await download(ctx, id, false, (c) => chunks.push(c));
  const { frames, markers } = planPlayback(Buffer.concat(chunks).toString('utf8'), speed, idle);
  if (markers.length)
    println(ctx.stderr, `Commands: ${markers.map((m) => `${m.at.toFixed(1)}s ${m.label}`).join(' | ')}`);
  for (const f of frames) {
    if (f.delayMs > 0) await new Promise((r) => setTimeout(r, f.delayMs));
    if (f.data) ctx.stdout.write(f.data);
  }
  println(ctx.stderr, '\r\n[end of recording]');
}
