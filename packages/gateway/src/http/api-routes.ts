import { z } from 'zod';
import {
  AuditList,
  AuditVerifyResponse,
  HealthResponse,
  JoinTokenCreateRequest,
  JoinTokenCreateResponse,
  JoinTokenList,
  LoginRequest,
  LoginResponse,
  PROTOCOL_VERSION,
  RegisterRequest,
  RegisterResponse,
  ServerDetail,
  ServerList,
  WebshOpenRequest,
  WebshOpenResponse,
  WebshSessionList,
  WhoamiResponse,
  UserList,
  InviteRequest,
  InviteResponse,
  AcceptInviteRequest,
  SetRoleRequest,
  type Role,
} from '@corral/protocol';
import { route, type AnyRoute } from './routes.js';
import type { Services } from '../services.js';
import type { Principal } from '../auth/principal.js';
import { roleAtLeast } from '../auth/principal.js';
import { CorralError } from '../errors.js';
import { serverDetail, serverView } from '../servers/server-store.js';
import type { FastifyRequest } from 'fastify';

export const GATEWAY_VERSION = '0.1.0';

/** Deny unless the principal's role is at least `min`; every denial is audited. */
async function requireRole(s: Services, p: Principal, min: Role, action: string, req: FastifyRequest): Promise<void> {
  if (roleAtLeast(p.role, min)) return;
  await s.audit.append({
    workspaceId: p.workspaceId,
    action: 'access.denied',
    outcome: 'denied',
    actor: { type: 'user', id: p.userId, name: p.email },
    sourceIp: req.ip,
    details: { attempted: action, required: min, role: p.role },
  });
  throw new CorralError('FORBIDDEN', `${action} needs the ${min} role or higher.`);
}

/** All JSON API routes of the gateway. */
export function apiRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'GET',
      url: '/api/v1/health',
      summary: 'Liveness and version',
      tag: 'meta',
      auth: false,
      response: HealthResponse,
      handler: async () => ({ ok: true, version: GATEWAY_VERSION, protocolVersion: PROTOCOL_VERSION }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/login',
      summary: 'Sign in with email and password; returns a bearer token',
      tag: 'auth',
      auth: false,
      body: LoginRequest,
      response: LoginResponse,
      errors: ['VALIDATION_FAILED', 'INVALID_CREDENTIALS', 'RATE_LIMITED', 'WORKSPACE_NOT_FOUND'],
      handler: async ({ body, req }) => s.auth.login(req.workspaceId, body.email, body.password, req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/auth/logout',
      summary: 'Revoke the calling token',
      tag: 'auth',
      status: 204,
      handler: async ({ principal, req }) => {
        await s.auth.logout(principal, req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      summary: 'The signed-in user',
      tag: 'auth',
      response: WhoamiResponse,
      handler: async ({ principal: p }) => ({
        user: { id: p.userId, email: p.email, role: p.role },
        workspace: { id: p.workspaceId, name: p.workspaceName },
        tokenExpiresAt: p.tokenExpiresAt,
      }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/join-tokens',
      summary: 'Create a join token for registering agents (shown once)',
      tag: 'servers',
      body: JoinTokenCreateRequest,
      response: JoinTokenCreateResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
      handler: async ({ body, principal: p, req }) => {
        await requireRole(s, p, 'staff', 'join_token.create', req);
        const { view, token } = await s.joinTokens.create(p.workspaceId, { ...body, createdBy: p.email });
        await s.audit.append({
          workspaceId: p.workspaceId,
          action: 'join_token.create',
          actor: { type: 'user', id: p.userId, name: p.email },
          target: { type: 'join_token', id: view.id, name: view.name },
          sourceIp: req.ip,
          details: { expiresAt: view.expiresAt, uses: view.usesTotal },
        });
        return { ...view, token, registerCommand: s.registerCommand(token) };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/join-tokens',
      summary: 'List join tokens (never their secrets)',
      tag: 'servers',
      response: JoinTokenList,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'join_token.list', req);
        return { items: await s.joinTokens.list(p.workspaceId) };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/join-tokens/:id',
      summary: 'Revoke a join token',
      tag: 'servers',
      status: 204,
      errors: ['FORBIDDEN', 'JOIN_TOKEN_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'join_token.revoke', req);
        const view = await s.joinTokens.revoke(p.workspaceId, params.id ?? '');
        await s.audit.append({
          workspaceId: p.workspaceId,
          action: 'join_token.revoke',
          actor: { type: 'user', id: p.userId, name: p.email },
          target: { type: 'join_token', id: view.id, name: view.name },
          sourceIp: req.ip,
        });
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/agent/register',
      summary: 'Register an agent with a join token (called by corral-agent register)',
      tag: 'agents',
      auth: false,
      body: RegisterRequest,
      response: RegisterResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'JOIN_TOKEN_INVALID', 'SERVER_NAME_TAKEN'],
      handler: async ({ body, req }) => {
        let server;
        try {
          server = await s.servers.register({
            token: body.token,
            name: body.name,
            tags: body.tags ?? {},
            publicKey: body.publicKey,
            system: body.system ?? null,
          });
        } catch (err) {
          if (err instanceof CorralError && err.code === 'JOIN_TOKEN_INVALID') {
            s.log.warn('agent registration refused: bad join token', { ip: req.ip, name: body.name });
          }
          throw err;
        }
        await s.audit.append({
          workspaceId: server.workspace_id,
          action: 'server.register',
          actor: { type: 'agent', id: server.agent_id, name: server.name },
          target: { type: 'server', id: server.id, name: server.name },
          sourceIp: req.ip,
          details: { joinTokenId: server.join_token_id, tags: body.tags ?? {} },
        });
        return {
          agentId: server.agent_id,
          serverId: server.id,
          serverName: server.name,
          gatewaySigningKey: s.signer.publicKeyPem,
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers',
      summary: 'List servers',
      tag: 'servers',
      response: ServerList,
      handler: async ({ principal: p }) => ({ items: (await s.servers.list(p.workspaceId)).map(serverView) }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers/:name',
      summary: 'One server, with its system facts',
      tag: 'servers',
      response: ServerDetail,
      errors: ['SERVER_NOT_FOUND'],
      handler: async ({ principal: p, params }) =>
        serverDetail(await s.servers.getByName(p.workspaceId, params.name ?? '')),
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/websh',
      summary: 'Open a websh channel; connect to the returned path within 30 s',
      tag: 'websh',
      body: WebshOpenRequest,
      response: WebshOpenResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'SERVER_NOT_FOUND', 'SERVER_OFFLINE'],
      handler: async ({ principal: p, params, body, req }) => s.websh.open(p, params.name ?? '', body, req.ip),
    }),
    route({
      method: 'GET',
      url: '/api/v1/websh/sessions',
      summary: 'Terminal sessions, newest first',
      tag: 'websh',
      response: WebshSessionList,
      handler: async ({ principal: p }) => ({ items: await s.websh.list(p.workspaceId) }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/websh/sessions/:id/terminate',
      summary: 'End a live terminal session, on whichever gateway node it runs (staff and superusers)',
      tag: 'websh',
      status: 202,
      errors: ['FORBIDDEN', 'SESSION_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'session.terminate', req);
        if (!(await s.websh.terminate(p, params.id ?? '', req.ip))) throw new CorralError('SESSION_NOT_FOUND');
        return { ok: true };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/users',
      summary: 'Users of the workspace (staff and superusers)',
      tag: 'iam',
      response: UserList,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'iam.user.list', req);
        return { items: await s.users.list(p.workspaceId) };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/users/invitations',
      summary: 'Invite a user by email (staff and superusers; only superusers invite superusers)',
      tag: 'iam',
      body: InviteRequest,
      response: InviteResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'USER_EXISTS'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'staff', 'iam.user.invite', req);
        return s.users.invite(
          p,
          body.email,
          body.role ?? 'member',
          req.ip,
          `https://${req.headers.host ?? 'localhost'}`,
        );
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/invitations/accept',
      summary: 'Accept an invitation with its one-time token and choose a password',
      tag: 'iam',
      auth: false,
      body: AcceptInviteRequest,
      status: 201,
      errors: ['VALIDATION_FAILED', 'INVITATION_INVALID'],
      handler: async ({ body, req }) => s.users.accept(req.workspaceId, body.token, body.password, req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/users/:user/role',
      summary: "Change a user's role (superusers)",
      tag: 'iam',
      body: SetRoleRequest,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'USER_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) => {
        await requireRole(s, p, 'superuser', 'iam.user.role', req);
        return s.users.setRole(p, params.user ?? '', body.role, req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/users/:user/deactivate',
      summary: 'Deactivate a user: tokens revoked and live sessions ended at once (staff and superusers)',
      tag: 'iam',
      errors: ['FORBIDDEN', 'USER_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'iam.user.deactivate', req);
        return s.users.deactivate(p, params.user ?? '', req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/audit',
      summary: 'Audit events, newest first',
      tag: 'audit',
      query: z.strictObject({
        limit: z.coerce.number().int().min(1).max(1000).optional(),
        before: z.coerce.number().int().min(1).optional(),
        action: z.string().max(64).optional(),
      }),
      response: AuditList,
      errors: ['FORBIDDEN', 'VALIDATION_FAILED'],
      handler: async ({ principal: p, query, req }) => {
        await requireRole(s, p, 'staff', 'audit.list', req);
        return s.audit.list(p.workspaceId, query as { limit?: number; before?: number; action?: string });
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/audit/verify',
      summary: 'Recompute the audit hash chain',
      tag: 'audit',
      response: AuditVerifyResponse,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'audit.verify', req);
        return s.audit.verify(p.workspaceId);
      },
    }),
  ];
}
