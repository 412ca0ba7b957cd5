import { z } from 'zod';
import {
  AuditList,
  AuditVerifyResponse,
  HealthResponse,
  JoinTokenCreateRequest,
  JoinTokenCreateResponse,
  JoinTokenList,
  PROTOCOL_VERSION,
  RegisterRequest,
  RegisterResponse,
  ServerDetail,
  ServerList,
  WebshOpenRequest,
  WebshOpenResponse,
  WhoamiResponse,
  ServerView,
  ServerUpdateRequest,
  ServerGroupList,
  ServerGroupCreateRequest,
  GroupList,
  GroupView,
  GroupCreateRequest,
  GroupMemberRequest,
  GrantList,
  GrantView,
  GrantCreateRequest,
  AccessCheckResponse,
  UserList,
  InviteRequest,
  InviteResponse,
  AcceptInviteRequest,
  SetRoleRequest,
  WorkSessionRequest,
  WorkSessionView,
  WorkSessionList,
  WorkSessionApproveRequest,
  WorkSessionReasonRequest,
  WorkSessionExtendRequest,
  WorkSessionTimeline,
  WorkSessionStatus,
  ApprovalPolicy,
  ApprovalPolicyView,
  ExecRequest,
  ExecJobList,
  ExecJobDetail,
  WorkspaceDetail,
  FilesOpenRequest,
  TunnelOpenRequest,
  TunnelOpenResponse,
  FilesOpenResponse,
  WorkspaceUpdateRequest,
  WORKSPACE_SETTING_KEYS,
  WorkspaceDeleteRequest,
  MetricsQuery,
  MetricsResponse,
  type MetricsRange,
  AgentArtifactList,
  ServerUpgradeRequest,
  ServerUpgradeResponse,
} from '@corral/protocol';
import { route, type AnyRoute } from './routes.js';
import { filesRoutes } from './files-routes.js';
import { checkPolicyChange, mfaRoutes } from './mfa-routes.js';
import { apiTokenSummary, tokenRoutes } from './token-routes.js';
import { webshRoutes } from './websh-routes.js';
import { requireRole } from './require-role.js';
import { ssoRoutes } from './sso-routes.js';
import { ndjsonStream } from './ndjson-stream.js';
import type { Services } from '../services.js';
import type { AuditListFilter } from '../audit/audit-log.js';
import { CorralError } from '../errors.js';
import { clearSessionCookies, csrfTokenFor, sessionCookieOf } from '../auth/browser-session.js';
import { Subjects } from '../bus/bus.js';
import { agentUserOf, serverDetail, serverView } from '../servers/server-store.js';

export const GATEWAY_VERSION = '0.1.0';

const WorkSessionListQuery = z.strictObject({
  scope: z.enum(['mine', 'all']).optional(),
  status: WorkSessionStatus.optional(),
});

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
      url: '/api/v1/auth/logout',
      summary: 'Revoke the calling token',
      tag: 'auth',
      status: 204,
      handler: async ({ principal, req, reply }) => {
        await s.auth.logout(principal, req.ip);
        if (sessionCookieOf(req)) clearSessionCookies(reply);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/auth/whoami',
      summary: 'The signed-in user',
      tag: 'auth',
      response: WhoamiResponse,
      handler: async ({ principal: p, req }) => {
        const cookie = req.headers.authorization ? null : sessionCookieOf(req);
        return {
          user: { id: p.userId, email: p.email, role: p.role },
          workspace: { id: p.workspaceId, name: p.workspaceName },
          tokenExpiresAt: p.tokenExpiresAt,
          ...(cookie ? { csrfToken: csrfTokenFor(cookie) } : {}),
          ...(p.enrollmentOnly ? { enrollmentRequired: true } : {}),
          ...(p.apiToken ? { apiToken: apiTokenSummary(p.apiToken) } : {}),
        };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/join-tokens',
      summary: 'Create a join token for registering agents (shown once)',
      tag: 'servers',
      body: JoinTokenCreateRequest,
      response: JoinTokenCreateResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'STEP_UP_REQUIRED'],
      handler: async ({ body, principal: p, req }) => {
        await requireRole(s, p, 'staff', 'join_token.create', req);
        await s.auth.requireStepUp(p, 'token_create', req.ip);
        const { view, token } = await s.joinTokens.create(p.workspaceId, { ...body, createdBy: p.email });
        await s.audit.append({
          workspaceId: p.workspaceId,
          action: 'join_token.create',
          actor: { type: 'user', id: p.userId, name: p.email },
          target: { type: 'join_token', id: view.id, name: view.name },
          sourceIp: req.ip,
          details: { expiresAt: view.expiresAt, uses: view.usesTotal },
        });
        return { ...view, token, registerCommand: s.registerCommand(token), installCommand: s.installCommand(token) };
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
          artifactSigningKey: s.artifacts.publicKeyPem,
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/agent/artifacts',
      summary: 'Agent executables this gateway serves (platform, version, SHA-256, size, signature)',
      tag: 'agents',
      auth: false,
      response: AgentArtifactList,
      handler: async () => {
        const items = s.artifacts.list().map(({ file: _file, ...view }) => view);
        return { items, currentVersion: s.artifacts.currentVersion(), signingKey: s.artifacts.publicKeyPem };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/upgrade',
      summary: 'Upgrade every online agent older than the build this gateway serves (staff and superusers)',
      tag: 'servers',
      body: ServerUpgradeRequest,
      response: ServerUpgradeResponse,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'staff', 'server.upgrade', req);
        const actor = { workspaceId: p.workspaceId, userId: p.userId, email: p.email, sourceIp: req.ip };
        const items = [];
        for (const server of await s.servers.list(p.workspaceId)) {
          const item = await s.upgrades.upgrade(server, actor, body.version);
          // "All outdated": servers already current, or offline, are listed but not touched.
          items.push(item);
        }
        return { items };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/upgrade',
      summary: "Upgrade one server's agent to the build this gateway serves (staff and superusers)",
      tag: 'servers',
      body: ServerUpgradeRequest,
      response: ServerUpgradeResponse,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'SERVER_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) => {
        const server = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'server.read', server, req.ip);
        await requireRole(s, p, 'staff', 'server.upgrade', req);
        const actor = { workspaceId: p.workspaceId, userId: p.userId, email: p.email, sourceIp: req.ip };
        return { items: [await s.upgrades.upgrade(server, actor, body.version)] };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers',
      summary: 'List servers',
      tag: 'servers',
      response: ServerList,
      handler: async ({ principal: p }) => {
        const groups = await s.iam.serverGroupsByServer(p.workspaceId);
        const visible = await s.iam.visible(p, await s.servers.list(p.workspaceId));
        const health = await s.metrics.healthFor(p.workspaceId, visible);
        return {
          items: visible.map((r) => ({
            ...serverView(r),
            groups: groups.get(r.id) ?? [],
            health: health.get(r.id) ?? 'unknown',
          })),
        };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers/:name',
      summary: 'One server, with its system facts',
      tag: 'servers',
      response: ServerDetail,
      errors: ['SERVER_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        const server = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'server.read', server, req.ip);
        const groups = await s.iam.serverGroupsByServer(p.workspaceId);
        const health = (await s.metrics.healthFor(p.workspaceId, [server])).get(server.id) ?? 'unknown';
        return { ...serverDetail(server), groups: groups.get(server.id) ?? [], health };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/servers/:name/metrics',
      summary: 'Health metrics of a server (name or id): 1h raw samples, 24h one-minute or 7d hourly rollups',
      tag: 'servers',
      query: MetricsQuery,
      response: MetricsResponse,
      errors: ['VALIDATION_FAILED', 'SERVER_NOT_FOUND'],
      handler: async ({ principal: p, params, query, req }) => {
        const server = await s.servers.getByNameOrId(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'server.read', server, req.ip);
        return s.metrics.query(server, (query as { range?: MetricsRange }).range ?? '1h');
      },
    }),
    route({
      method: 'PATCH',
      url: '/api/v1/servers/:name',
      summary: 'Rename a server, set or remove tags, change its server groups (write scope)',
      tag: 'servers',
      body: ServerUpdateRequest,
      response: ServerView,
      errors: ['VALIDATION_FAILED', 'SERVER_NOT_FOUND', 'FORBIDDEN', 'SERVER_NAME_TAKEN'],
      handler: async ({ principal: p, params, body, req }) => {
        const before = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'server.update', before, req.ip);
        const groupsBefore = (await s.iam.serverGroupsByServer(p.workspaceId)).get(before.id) ?? [];
        const after = await s.servers.update(p.workspaceId, before, { name: body.name, tags: body.tags ?? undefined });
        await s.iam.setServerGroups(p, after, body.addGroups ?? [], body.removeGroups ?? []);
        const groupsAfter = (await s.iam.serverGroupsByServer(p.workspaceId)).get(after.id) ?? [];
        await s.audit.append({
          workspaceId: p.workspaceId,
          action: 'server.update',
          actor: { type: 'user', id: p.userId, name: p.email },
          target: { type: 'server', id: after.id, name: after.name },
          sourceIp: req.ip,
          details: {
            before: { name: before.name, tags: JSON.parse(before.tags) as unknown, groups: groupsBefore },
            after: { name: after.name, tags: JSON.parse(after.tags) as unknown, groups: groupsAfter },
          },
        });
        // A rename or new tags can change which selectors match: re-check live sessions.
        if (body.name || body.tags) await s.iam.everyoneChanged(p.workspaceId);
        return { ...serverView(after), groups: groupsAfter };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/servers/:name',
      summary: 'Delete a server: its agent is disconnected and must register again (owner scope or staff)',
      tag: 'servers',
      status: 204,
      errors: ['SERVER_NOT_FOUND', 'FORBIDDEN'],
      handler: async ({ principal: p, params, req }) => {
        const server = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'server.delete', server, req.ip);
        await s.servers.delete(p.workspaceId, server.id);
        s.channels.terminate({
          workspaceId: p.workspaceId,
          serverId: server.id,
          reason: `server ${server.name} was deleted`,
        });
        s.bus.publish(Subjects.agentsKick, { serverId: server.id, reason: 'server deleted' });
        await s.metrics.forget(p.workspaceId, server.id);
        await s.audit.append({
          workspaceId: p.workspaceId,
          action: 'server.delete',
          actor: { type: 'user', id: p.userId, name: p.email },
          target: { type: 'server', id: server.id, name: server.name },
          sourceIp: req.ip,
          details: { before: { name: server.name, tags: JSON.parse(server.tags) as unknown } },
        });
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/server-groups',
      summary: 'Server groups with their servers',
      tag: 'servers',
      response: ServerGroupList,
      handler: async ({ principal: p }) => ({ items: await s.iam.listServerGroups(p.workspaceId) }),
    }),
    route({
      method: 'POST',
      url: '/api/v1/server-groups',
      summary: 'Create a server group (staff and superusers)',
      tag: 'servers',
      body: ServerGroupCreateRequest,
      status: 201,
      errors: ['FORBIDDEN', 'GROUP_EXISTS'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'staff', 'server.group.create', req);
        await s.iam.createServerGroup(p, body.name, req.ip);
        return { ok: true };
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/server-groups/:group',
      summary: 'Delete a server group (staff and superusers)',
      tag: 'servers',
      status: 204,
      errors: ['FORBIDDEN', 'GROUP_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'server.group.delete', req);
        await s.iam.deleteServerGroup(p, params.group ?? '', req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/websh',
      summary: 'Open a websh channel; connect to the returned path within 30 s',
      tag: 'websh',
      body: WebshOpenRequest,
      response: WebshOpenResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'SERVER_NOT_FOUND', 'SERVER_OFFLINE', 'FORBIDDEN', 'WORK_SESSION_REQUIRED'],
      handler: async ({ principal: p, params, body, req }) => {
        const server = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'websh.open', server, req.ip);
        const ws = await s.workSessions.cover(p, server, 'terminal', body.workSessionId, req.ip);
        const osUser = body.osUser ?? agentUserOf(server);
        if (await s.elevation.needed(p, osUser, body.osUser !== undefined)) {
          await s.elevation.require(p, server, 'terminal', req.ip, body.workSessionId);
        }
        return s.websh.open(p, params.name ?? '', body, req.ip, ws.id);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/files',
      summary: 'Open a file channel (WebFTP) as an OS user; connect to the returned path within 30 s',
      tag: 'files',
      body: FilesOpenRequest,
      response: FilesOpenResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'SERVER_NOT_FOUND', 'SERVER_OFFLINE', 'FORBIDDEN', 'WORK_SESSION_REQUIRED'],
      handler: async ({ principal: p, params, body, req }) => {
        const server = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'files.use', server, req.ip);
        const purpose = body.purpose ?? 'file_transfer';
        const ws = await s.workSessions.cover(p, server, purpose, body.workSessionId, req.ip);
        return s.files.open(p, server, { osUser: body.osUser, purpose, workSessionId: ws.id }, req.ip);
      },
    }),
    ...webshRoutes(s),
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
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'USER_NOT_FOUND', 'STEP_UP_REQUIRED'],
      handler: async ({ principal: p, params, body, req }) => {
        await requireRole(s, p, 'superuser', 'iam.user.role', req);
        await s.auth.requireStepUp(p, 'role_change', req.ip);
        return s.users.setRole(p, params.user ?? '', body.role, req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/users/:user/deactivate',
      summary: 'Deactivate a user: tokens revoked and live sessions ended at once (staff and superusers)',
      tag: 'iam',
      errors: ['FORBIDDEN', 'USER_NOT_FOUND', 'STEP_UP_REQUIRED'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'iam.user.deactivate', req);
        await s.auth.requireStepUp(p, 'user_deactivate', req.ip);
        return s.users.deactivate(p, params.user ?? '', req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/groups',
      summary: 'User groups with their members (staff and superusers)',
      tag: 'iam',
      response: GroupList,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'iam.group.list', req);
        return { items: await s.iam.listGroups(p.workspaceId) };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/groups',
      summary: 'Create a user group',
      tag: 'iam',
      body: GroupCreateRequest,
      response: GroupView,
      status: 201,
      errors: ['FORBIDDEN', 'GROUP_EXISTS'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'staff', 'iam.group.create', req);
        return s.iam.createGroup(p, body.name, req.ip);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/groups/:group',
      summary: "Delete a user group and its grants (members' live sessions are re-checked)",
      tag: 'iam',
      status: 204,
      errors: ['FORBIDDEN', 'GROUP_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'iam.group.delete', req);
        await s.iam.deleteGroup(p, params.group ?? '', req.ip);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/groups/:group/members',
      summary: 'Add a user (email or id) to a group',
      tag: 'iam',
      body: GroupMemberRequest,
      status: 204,
      errors: ['FORBIDDEN', 'GROUP_NOT_FOUND', 'USER_NOT_FOUND'],
      handler: async ({ principal: p, params, body, req }) => {
        await requireRole(s, p, 'staff', 'iam.group.add_member', req);
        await s.iam.addMember(p, params.group ?? '', body.user, req.ip);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/groups/:group/members/:user',
      summary: 'Remove a user from a group (their live sessions that relied on it end at once)',
      tag: 'iam',
      status: 204,
      errors: ['FORBIDDEN', 'GROUP_NOT_FOUND', 'USER_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'iam.group.remove_member', req);
        await s.iam.removeMember(p, params.group ?? '', params.user ?? '', req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/grants',
      summary: 'Object-scope grants (staff and superusers)',
      tag: 'iam',
      response: GrantList,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'iam.grant.list', req);
        return { items: await s.iam.listGrants(p.workspaceId) };
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/grants',
      summary: 'Grant read, write or owner on the servers a selector matches, to a user or a group',
      tag: 'iam',
      body: GrantCreateRequest,
      response: GrantView,
      status: 201,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'USER_NOT_FOUND', 'GROUP_NOT_FOUND'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'staff', 'iam.grant.create', req);
        return s.iam.createGrant(p, body, req.ip);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/grants/:id',
      summary: 'Revoke a grant (live sessions that relied on it end at once)',
      tag: 'iam',
      status: 204,
      errors: ['FORBIDDEN', 'GRANT_NOT_FOUND'],
      handler: async ({ principal: p, params, req }) => {
        await requireRole(s, p, 'staff', 'iam.grant.revoke', req);
        await s.iam.revokeGrant(p, params.id ?? '', req.ip);
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/access/check',
      summary: 'Would USER be allowed ACTION on SERVER, and why (staff and superusers)',
      tag: 'iam',
      query: z.strictObject({
        user: z.string().min(1).max(320),
        server: z.string().min(1).max(64),
        action: z.enum([
          'server.read',
          'server.update',
          'server.delete',
          'websh.open',
          'files.use',
          'exec.run',
          'tunnel.open',
        ]),
      }),
      response: AccessCheckResponse,
      errors: ['FORBIDDEN', 'USER_NOT_FOUND', 'SERVER_NOT_FOUND', 'VALIDATION_FAILED'],
      handler: async ({ principal: p, query, req }) => {
        await requireRole(s, p, 'staff', 'iam.access.check', req);
        const q = query as { user: string; server: string; action: 'websh.open' };
        const target = await s.users.find(p.workspaceId, q.user);
        const server = await s.servers.getByName(p.workspaceId, q.server);
        const d = await s.iam.decide(
          { ...p, userId: target.id, role: target.role, email: target.email },
          q.action,
          server,
        );
        const deactivated = target.deactivated_at !== null;
        return {
          allow: d.allow && !deactivated,
          reason: deactivated ? `${target.email} is deactivated` : d.reason,
          user: target.email,
          server: server.name,
          action: q.action,
        };
      },
    }),
    ...filesRoutes(s),
    ...mfaRoutes(s),
    ...tokenRoutes(s),
    ...ssoRoutes(s),
    route({
      method: 'GET',
      url: '/api/v1/recordings',
      summary: 'Terminal recordings, newest first (members: their own)',
      tag: 'recordings',
      handler: async ({ principal: p }) => ({ items: await s.recordings.list(p) }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/recordings/:id',
      summary: 'Download a recording as asciicast v2 (`?format=gz` for the stored .cast.gz)',
      tag: 'recordings',
      query: z.strictObject({ format: z.enum(['cast', 'gz']).optional() }),
      errors: ['RECORDING_NOT_FOUND'],
      handler: async ({ principal: p, params, query, reply }) => {
        const gz = (query as { format?: string }).format === 'gz';
        const r = await s.recordings.open(p, params.id ?? '', gz);
        void reply.header('content-type', gz ? 'application/gzip' : 'application/x-asciicast');
        void reply.header('content-disposition', `attachment; filename="${params.id}.cast${gz ? '.gz' : ''}"`);
        if (r.sha256) void reply.header('x-corral-recording-sha256', r.sha256);
        return reply.send(r.stream);
      },
    }),
    route({
      method: 'POST',
      url: '/api/v1/servers/:name/tunnels',
      summary: 'Open one forwarded TCP connection to HOST:PORT as seen from the server (a channel of its own)',
      tag: 'tunnels',
      body: TunnelOpenRequest,
      response: TunnelOpenResponse,
      status: 201,
      errors: ['VALIDATION_FAILED', 'SERVER_NOT_FOUND', 'SERVER_OFFLINE', 'FORBIDDEN', 'WORK_SESSION_REQUIRED'],
      handler: async ({ principal: p, params, body, req }) => {
        const server = await s.servers.getByName(p.workspaceId, params.name ?? '');
        await s.iam.require(p, 'tunnel.open', server, req.ip);
        const ws = await s.workSessions.cover(p, server, 'port_forward', body.workSessionId, req.ip);
        return s.tunnels.open(p, server, { host: body.host, port: body.port }, ws.id, req.ip);
      },
    }),
    // --- exec ------------------------------------------------------------------------------------------
    route({
      method: 'POST',
      url: '/api/v1/exec',
      summary:
        'Run a command on every server a selector matches; answers a live NDJSON stream (job, output, exit, done)',
      tag: 'exec',
      body: ExecRequest,
      errors: ['VALIDATION_FAILED'],
      handler: async ({ principal: p, body, req, reply }) => {
        const out = ndjsonStream(reply);
        try {
          // Ctrl-C in the CLI closes the request: commands still running are cancelled.
          await s.exec.run(p, body, req.ip, { emit: out.write, cancelled: out.aborted, writable: out.writable });
        } catch (err) {
          if (!out.started()) throw err;
          out.write({ type: 'error', code: 'INTERNAL', message: (err as Error).message });
        }
        out.end();
        return reply;
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/exec',
      summary: 'Exec jobs, newest first (members: their own)',
      tag: 'exec',
      response: ExecJobList,
      handler: async ({ principal: p }) => ({ items: await s.exec.list(p) }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/exec/:id',
      summary: 'One exec job with every server’s status, exit code and output',
      tag: 'exec',
      response: ExecJobDetail,
      errors: ['EXEC_JOB_NOT_FOUND'],
      handler: async ({ principal: p, params }) => s.exec.show(p, params.id ?? ''),
    }),
    // --- the workspace itself ------------------------------------------------------------------------------
    route({
      method: 'GET',
      url: '/api/v1/workspace',
      summary: 'This workspace: name, region, plan, settings',
      tag: 'workspace',
      response: WorkspaceDetail,
      handler: async ({ principal: p }) => s.workspaces.detail(p.workspaceId, s.defaultWorkspaceId),
    }),
    route({
      method: 'PATCH',
      url: '/api/v1/workspace',
      summary: 'Change the plan (billing) or the settings (superusers)',
      tag: 'workspace',
      body: WorkspaceUpdateRequest,
      response: WorkspaceDetail,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'STEP_UP_REQUIRED', 'MFA_REQUIRED'],
      handler: async ({ principal: p, body, req }) => {
        if (body.plan !== undefined) await requireRole(s, p, 'superuser', 'workspace.billing', req);
        if (WORKSPACE_SETTING_KEYS.some((k) => (body as Record<string, unknown>)[k] !== undefined)) {
          await requireRole(s, p, 'superuser', 'workspace.settings', req);
          await checkPolicyChange(s, p, body, req.ip);
        }
        const updated = await s.workspaces.update(p, body, s.defaultWorkspaceId, req.ip);
        s.bus.publish(Subjects.workspaceChanged, { id: p.workspaceId, name: p.workspaceName });
        return updated;
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/workspace',
      summary: 'Delete this workspace (superusers; repeat its name in `confirm`)',
      tag: 'workspace',
      body: WorkspaceDeleteRequest,
      status: 202,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'superuser', 'workspace.delete', req);
        if (p.workspaceId === s.defaultWorkspaceId) {
          throw new CorralError(
            'FORBIDDEN',
            'The default workspace (served at the IP address and localhost) cannot be deleted.',
          );
        }
        if (body.confirm !== p.workspaceName) {
          throw new CorralError('VALIDATION_FAILED', `confirm must repeat the workspace name ("${p.workspaceName}").`);
        }
        const { serverIds } = await s.workspaces.delete(p, req.ip);
        s.bus.publish(Subjects.workspaceChanged, { name: p.workspaceName });
        s.channels.terminate({
          workspaceId: p.workspaceId,
          code: 'WORKSPACE_DELETED',
          reason: 'the workspace was deleted',
        });
        for (const serverId of serverIds) s.bus.publish(Subjects.agentsKick, { serverId, reason: 'workspace deleted' });
        return { ok: true };
      },
    }),
    // --- work sessions ----------------------------------------------------------------------------------
    route({
      method: 'POST',
      url: '/api/v1/work-sessions',
      summary: 'Request a work session: features on servers for a while, with a reason (the policy decides)',
      tag: 'work-sessions',
      body: WorkSessionRequest,
      response: WorkSessionView,
      status: 201,
      errors: ['VALIDATION_FAILED'],
      handler: async ({ principal: p, body, req }) => s.workSessions.request(p, body, req.ip),
    }),
    route({
      method: 'GET',
      url: '/api/v1/work-sessions',
      summary: "Work sessions: mine (default), all (staff see everyone's; members what they may approve)",
      tag: 'work-sessions',
      query: WorkSessionListQuery,
      response: WorkSessionList,
      handler: async ({ principal: p, query }) => {
        const q = query as z.infer<typeof WorkSessionListQuery>;
        return { items: await s.workSessions.list(p, q.scope ?? 'mine', q.status) };
      },
    }),
    route({
      method: 'GET',
      url: '/api/v1/approvals',
      summary: 'Requests and extensions waiting for my approval',
      tag: 'work-sessions',
      response: WorkSessionList,
      handler: async ({ principal: p }) => ({ items: await s.workSessions.list(p, 'approvals') }),
    }),
    route({
      method: 'GET',
      url: '/api/v1/work-sessions/:id',
      summary: 'One work session',
      tag: 'work-sessions',
      response: WorkSessionView,
      errors: ['WORK_SESSION_NOT_FOUND'],
      handler: async ({ principal: p, params }) => s.workSessions.get(p, params.id ?? ''),
    }),
    route({
      method: 'GET',
      url: '/api/v1/work-sessions/:id/timeline',
      summary: 'Every transition of a work session and every channel used under it',
      tag: 'work-sessions',
      response: WorkSessionTimeline,
      errors: ['WORK_SESSION_NOT_FOUND'],
      handler: async ({ principal: p, params }) => s.workSessions.timeline(p, params.id ?? ''),
    }),
    route({
      method: 'POST',
      url: '/api/v1/work-sessions/:id/approve',
      summary: 'Approve a request or an extension, optionally shortening it or narrowing servers and features',
      tag: 'work-sessions',
      body: WorkSessionApproveRequest,
      response: WorkSessionView,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'WORK_SESSION_NOT_FOUND', 'WORK_SESSION_STATE'],
      handler: async ({ principal: p, params, body, req }) => s.workSessions.approve(p, params.id ?? '', body, req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/work-sessions/:id/deny',
      summary: 'Deny a request (or its pending extension)',
      tag: 'work-sessions',
      body: WorkSessionReasonRequest,
      response: WorkSessionView,
      errors: ['FORBIDDEN', 'WORK_SESSION_NOT_FOUND', 'WORK_SESSION_STATE'],
      handler: async ({ principal: p, params, body, req }) =>
        s.workSessions.deny(p, params.id ?? '', body.reason, req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/work-sessions/:id/revoke',
      summary: 'Revoke a running work session: its live channels close on every node',
      tag: 'work-sessions',
      body: WorkSessionReasonRequest,
      response: WorkSessionView,
      errors: ['FORBIDDEN', 'WORK_SESSION_NOT_FOUND', 'WORK_SESSION_STATE'],
      handler: async ({ principal: p, params, body, req }) =>
        s.workSessions.revoke(p, params.id ?? '', body.reason, req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/work-sessions/:id/extend',
      summary: 'Ask for more time (approved again by the policy)',
      tag: 'work-sessions',
      body: WorkSessionExtendRequest,
      response: WorkSessionView,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN', 'WORK_SESSION_NOT_FOUND', 'WORK_SESSION_STATE'],
      handler: async ({ principal: p, params, body, req }) => s.workSessions.extend(p, params.id ?? '', body, req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/work-sessions/:id/complete',
      summary: 'End my work session early (its channels close)',
      tag: 'work-sessions',
      response: WorkSessionView,
      errors: ['FORBIDDEN', 'WORK_SESSION_NOT_FOUND', 'WORK_SESSION_STATE'],
      handler: async ({ principal: p, params, req }) => s.workSessions.complete(p, params.id ?? '', req.ip),
    }),
    route({
      method: 'POST',
      url: '/api/v1/work-sessions/:id/cancel',
      summary: 'Withdraw my pending request (or my pending extension)',
      tag: 'work-sessions',
      response: WorkSessionView,
      errors: ['FORBIDDEN', 'WORK_SESSION_NOT_FOUND', 'WORK_SESSION_STATE'],
      handler: async ({ principal: p, params, req }) => s.workSessions.cancel(p, params.id ?? '', req.ip),
    }),
    route({
      method: 'GET',
      url: '/api/v1/policies/work-sessions',
      summary: 'The approval policy for work sessions (staff and superusers)',
      tag: 'work-sessions',
      response: ApprovalPolicyView,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'staff', 'policy.work_sessions.read', req);
        return s.workSessions.policy(p.workspaceId);
      },
    }),
    route({
      method: 'PUT',
      url: '/api/v1/policies/work-sessions',
      summary: 'Replace the approval policy (superusers)',
      tag: 'work-sessions',
      body: ApprovalPolicy,
      response: ApprovalPolicyView,
      errors: ['VALIDATION_FAILED', 'FORBIDDEN'],
      handler: async ({ principal: p, body, req }) => {
        await requireRole(s, p, 'superuser', 'policy.work_sessions.update', req);
        return s.workSessions.setPolicy(p, body, req.ip);
      },
    }),
    route({
      method: 'DELETE',
      url: '/api/v1/policies/work-sessions',
      summary: 'Go back to the default approval policy (superusers)',
      tag: 'work-sessions',
      response: ApprovalPolicyView,
      errors: ['FORBIDDEN'],
      handler: async ({ principal: p, req }) => {
        await requireRole(s, p, 'superuser', 'policy.work_sessions.update', req);
        return s.workSessions.setPolicy(p, null, req.ip);
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
        actor: z.string().max(320).optional(),
        server: z.string().max(200).optional(),
        since: z.iso.datetime().optional(),
        until: z.iso.datetime().optional(),
      }),
      response: AuditList,
      errors: ['FORBIDDEN', 'VALIDATION_FAILED'],
      handler: async ({ principal: p, query, req }) => {
        await requireRole(s, p, 'staff', 'audit.list', req);
        const q = query as AuditListFilter;
        // Stored times are toISOString() (UTC, milliseconds): compare the bounds in the same form.
        const iso = (t?: string) => (t ? new Date(t).toISOString() : undefined);
        return s.audit.list(p.workspaceId, { ...q, since: iso(q.since), until: iso(q.until) });
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
