import type { ApiClient } from '../api-client.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { WorkSessionView } from '@corral/protocol';
import { parseDuration, waitForDecision } from './work-sessions.js';

/**
 * `corral websh SERVER --request`: file a terminal work-session request for SERVER, wait until it is
 * decided, and answer the approved session's id (or fail with how it ended).
 */
export async function requestAndWait(
  ctx: CliContext,
  api: ApiClient,
  server: string,
  opts: { reason?: string; duration?: string },
): Promise<string> {
  if (!opts.reason?.trim())
    throw new CliError('--request needs --reason TEXT: approvers want to know what the work is');
  const v = await api.request('POST', '/api/v1/work-sessions', {
    body: {
      servers: [server],
      features: ['terminal'],
      durationSeconds: parseDuration(opts.duration ?? '1h'),
      reason: opts.reason.trim(),
    },
    parse: (x) => WorkSessionView.parse(x),
  });
  const decided = await waitForDecision(ctx, api, v.id);
  if (decided.status !== 'approved' && decided.status !== 'active') {
    throw new CliError(
      `work session ${v.id} was ${decided.status}${decided.endReason ? `: ${decided.endReason}` : ''}`,
    );
  }
  ctx.stderr.write(`Work session ${v.id} approved until ${decided.expiresAt ?? '?'}.\n`);
  return v.id;
}
