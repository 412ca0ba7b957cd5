import {
  WebshAttachRequest,
  WebshJoinRequest,
  WebshJoinResponse,
  WebshOpenResponse,
  WebshSessionList,
  WebshSessionListQuery,
  WebshShareCreateResponse,
  WebshShareList,
  WebshShareRequest,
  WebshTerminateRequest,
} from '@corral/protocol';
import type { z } from 'zod';
import { route, type AnyRoute } from './routes.js';
import { requireRole } from './require-role.js';
import type { Services } from '../services.js';
import { roleAtLeast } from '../auth/principal.js';
import { CorralError } from '../errors.js';

/**
 * Terminal sessions beyond opening one: list (mine, live), re-attach, share with participants, join,
 * watch (staff), terminate with a reason. Docs: docs/API.md, "Persistent and shared sessions".
 */
export function webshRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/v1/websh/sessions',
      summary: 'Terminal sessions, newest first (`live=true`: attached and detached only; members see their own)',
      tag: 'websh',
      query: WebshSessionListQuery,
      response: WebshSessionList,
      handler: async ({ principal: p, query }) => {
        const q = query as z.infer<typeof WebshSessionListQuery>;
        const scope = q.scope ?? (roleAtLeast(p.role, 'staff') ? 'all' : 'mine');
        // Members see only their own sessions.
        const effective = roleAtLeast(p.role, 'staff') ? scope : 'mine';
        return { items: await s.websh.list(p, { scope: effective, live: q.live === 'true', limit: q.limit ?? 100 }) };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/websh/sessions/:id/attach',
      summary: 'Re-attach my terminal (after a dropped connection, or from another terminal); connect within 30 s',
      tag: 'websh',
      body: WebshAttachRequest,
      response: WebshOpenResponse,
      status: 201,
      errors: [
        'SESSION_NOT_FOUND',
        'SESSION_ENDED',
        'SESSION_NOT_PERSISTENT',
        'SERVER_OFFLINE',
        'FORBIDDEN',
        'WORK_SESSION_REQUIRED',
      ],
      handler: async ({ principal: p, params, body, req }) => {
        const id = params.id ?? '';
        const server = await s.websh.serverOf(p.workspaceId, id);
        // The same checks as opening a terminal: access may have changed while it was detached.
        await s.iam.require(p, 'websh.open', server, req.ip);
        const ws = await s.websh.workSessionOf(p.workspaceId, id);
        if (ws && !(await s.workSessions.stillCovers(ws, server.id, 'terminal'))) {
          await s.websh.endKept(p.workspaceId, id, 'work_session_ended');
          throw new CorralError(
            'WORK_SESSION_REQUIRED',
            `Work session ${ws} no longer covers ${server.name}: the kept terminal was closed.`,
          );
        }
        return s.websh.attach(p, id, body, req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/websh/sessions/:id/shares',
      summary:
        'Share my live terminal with a workspace user (`user`) or make a link (`link: true`); read-only unless `readWrite`',
      tag: 'websh',
      body: WebshShareRequest,
      response: WebshShareCreateResponse,
      status: 201,
      errors: ['SESSION_NOT_FOUND', 'SESSION_ENDED', 'USER_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ principal: p, params, body, req }) => s.websh.share(p, params.id ?? '', body, req.ip),
    }),
    route({
      method: 'GET',
      url: '/api/v1/websh/sessions/:id/shares',
      summary: 'Shares of a session (its owner, staff and superusers)',
      tag: 'websh',
      response: WebshShareList,
      errors: ['SESSION_NOT_FOUND'],
      handler: async ({ principal: p, params }) => ({ items: await s.websh.shares(p, params.id ?? '') }),
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/websh/sessions/:id/shares/:share',
      summary: 'Remove a share (`:share` is its id or the user email); its participants are disconnected at once',
      tag: 'websh',
      status: 204,
      errors: ['SESSION_NOT_FOUND', 'SHARE_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await s.websh.unshare(p, params.id ?? '', params.share ?? '', req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/websh/sessions/:id/join',
      summary: 'Join a terminal shared with me (or with a link); connect to the returned path within 30 s',
      tag: 'websh',
      body: WebshJoinRequest,
      response: WebshJoinResponse,
      status: 201,
      errors: ['SESSION_NOT_FOUND', 'SESSION_ENDED', 'SESSION_DETACHED', 'FORBIDDEN', 'WORK_SESSION_REQUIRED'],
      handler: async ({ principal: p, params, body, req }) => {
        const id = params.id ?? '';
        const server = await s.websh.serverOf(p.workspaceId, id);
        const share = await s.websh.shareFor(p, id, body.link);
        if (!share) {
          await s.audit.append({
            workspaceId: p.workspaceId,
            action: 'access.denied',
            outcome: 'denied',
            actor: { type: 'user', id: p.userId, name: p.email },
            target: { type: 'server', id: server.id, name: server.name },
            sourceIp: req.ip,
            details: {
              attempted: 'session.join',
              sessionId: id,
              reason: body.link ? 'bad_or_expired_link' : 'not_shared',
            },
          });
          throw new CorralError(
            'FORBIDDEN',
            `Session ${id} is not shared with you (or the link expired or was removed).`,
          );
        }
        // A share is not a way around IAM: a participant who types needs what opening a terminal
        // needs; a read-only one needs to see the server.
        if (share.mode === 'write') {
          await s.iam.require(p, 'websh.open', server, req.ip);
          await s.workSessions.cover(p, server, 'terminal', undefined, req.ip);
        } else {
          await s.iam.require(p, 'server.read', server, req.ip);
        }
        return s.websh.join(p, id, { role: 'participant', mode: share.mode, shareId: share.id }, req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/websh/sessions/:id/watch',
      summary: 'Watch any live terminal read-only (staff and superusers); the session is told who watches',
      tag: 'websh',
      response: WebshJoinResponse,
      status: 201,
      errors: ['FORBIDDEN', 'SESSION_NOT_FOUND', 'SESSION_ENDED', 'SESSION_DETACHED'],
      handler: async ({ principal: p, params, req }) => {
        await s.websh.serverOf(p.workspaceId, params.id ?? ''); // another workspace's session: 404, not 403
        await requireRole(s, p, 'staff', 'session.watch', req);
        return s.websh.join(p, params.id ?? '', { role: 'watcher', mode: 'read', shareId: null }, req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/websh/sessions/:id/terminate',
      summary:
        'End a live terminal session, attached or detached, on whichever node it runs (staff and superusers); `reason` is shown to its user',
      tag: 'websh',
      body: WebshTerminateRequest,
      status: 202,
      errors: ['FORBIDDEN', 'SESSION_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) => {
        await requireRole(s, p, 'staff', 'session.terminate', req);
        if (!(await s.websh.terminate(p, params.id ?? '', req.ip, body.reason)))
          throw new CorralError('SESSION_NOT_FOUND');
        return { ok: true };
      },
    }),
  ];
}
