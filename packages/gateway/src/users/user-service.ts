import type { Kysely } from 'kysely';
import type { InviteResponse, Role, UserListItem } from '@corral/protocol';
import type { Database, UsersTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChannelHub } from '../channels/channel-hub.js';
import type { Principal } from '../auth/principal.js';
import { roleAtLeast } from '../auth/principal.js';
import { hashPassword } from '../auth/passwords.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';
import { type Clock, iso } from '../clock.js';
import type { Mailer } from './mailer.js';

/** Invitations are valid this long. */
export const INVITE_TTL_MS = 7 * 86400_000;

function view(u: UsersTable): UserListItem {
  return { id: u.id, email: u.email, role: u.role, createdAt: u.created_at, deactivatedAt: u.deactivated_at };
}

/**
 * Users of a workspace: invite (staff+), accept, change role (superusers), deactivate (staff+, never a
 * superuser unless by one). Deactivation revokes the user's tokens and ends their live sessions on every
 * gateway node at once.
 */
export class UserService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly channels: ChannelHub,
    private readonly mailer: Mailer,
    private readonly clock: Clock,
    /** Announce that these users' access changed (live channels are re-checked on every node). */
    private readonly onAccessChanged: (workspaceId: string, userIds: string[]) => void = () => {},
  ) {}

  /** Audit a refusal (`access.denied`, with the reason) and return the error to throw. */
  private async deny(p: Principal, attempted: string, reason: string, sourceIp: string): Promise<CorralError> {
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'access.denied',
      outcome: 'denied',
      actor: { type: 'user', id: p.userId, name: p.email },
      sourceIp,
      details: { attempted, reason, role: p.role },
    });
    return new CorralError('FORBIDDEN', reason);
  }

  async list(workspaceId: string): Promise<UserListItem[]> {
    const rows = await this.db
      .selectFrom('users')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('kind', '=', 'human')
      .orderBy('email')
      .execute();
    return rows.map(view);
  }

  /** A user by id or email, in the caller's workspace only. */
  async find(workspaceId: string, idOrEmail: string): Promise<UsersTable> {
    const u = await this.db
      .selectFrom('users')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where((eb) => eb.or([eb('id', '=', idOrEmail), eb('email', '=', idOrEmail.trim().toLowerCase())]))
      .executeTakeFirst();
    if (!u) throw new CorralError('USER_NOT_FOUND', `No user "${idOrEmail}" in this workspace.`);
    return u;
  }

  /** @param baseUrl the workspace's URL as the inviter reached it (goes into the message). */
  async invite(p: Principal, emailIn: string, role: Role, sourceIp: string, baseUrl: string): Promise<InviteResponse> {
    if (role === 'superuser' && p.role !== 'superuser') {
      throw await this.deny(p, 'iam.user.invite', 'Only superusers may invite superusers.', sourceIp);
    }
    const email = emailIn.trim().toLowerCase();
    const exists = await this.db
      .selectFrom('users')
      .select('id')
      .where('workspace_id', '=', p.workspaceId)
      .where('email', '=', email)
      .executeTakeFirst();
    if (exists) throw new CorralError('USER_EXISTS', `${email} is already a user of this workspace.`);
    const token = newSecret('cinv');
    const now = this.clock.now();
    const id = newId('inv');
    const expiresAt = iso(now + INVITE_TTL_MS);
    await this.db
      .insertInto('invitations')
      .values({
        id,
        workspace_id: p.workspaceId,
        email,
        role,
        token_hash: hashSecret(token),
        invited_by: p.email,
        created_at: iso(now),
        expires_at: expiresAt,
        accepted_at: null,
      })
      .execute();
    const url = baseUrl;
    await this.mailer.send(
      p.workspaceId,
      email,
      `You are invited to Corral (workspace ${p.workspaceName})`,
      [
        `${p.email} invited you to the Corral workspace "${p.workspaceName}" as ${role}.`,
        '',
        `Accept within 7 days and choose your password:`,
        `  corral accept-invite ${url} ${token}`,
        `or, with the API: POST ${url}/api/v1/invitations/accept {"token":"${token}","password":"..."}`,
        '',
        'If you did not expect this, ignore this message.',
      ].join('\n'),
    );
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'iam.user.invite',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'user', name: email },
      sourceIp,
      details: { role, invitationId: id, delivery: this.mailer.kind },
    });
    return { id, email, role, expiresAt, delivery: this.mailer.kind };
  }

  /** Accept an invitation with its one-time token: creates the user with the chosen password. */
  async accept(workspaceId: string, token: string, password: string, sourceIp: string): Promise<UserListItem> {
    const inv = await this.db
      .selectFrom('invitations')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    if (!inv || inv.accepted_at || Date.parse(inv.expires_at) <= this.clock.now()) {
      throw new CorralError('INVITATION_INVALID');
    }
    const now = iso(this.clock.now());
    const user: UsersTable = {
      id: newId('usr'),
      workspace_id: workspaceId,
      email: inv.email,
      password_hash: await hashPassword(password),
      role: inv.role,
      created_at: now,
      deactivated_at: null,
    };
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('invitations')
        .set({ accepted_at: now })
        .where('id', '=', inv.id)
        .where('accepted_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new CorralError('INVITATION_INVALID');
      await trx.insertInto('users').values(user).execute();
    });
    await this.audit.append({
      workspaceId,
      action: 'iam.user.create',
      actor: { type: 'user', id: user.id, name: user.email },
      target: { type: 'user', id: user.id, name: user.email },
      sourceIp,
      details: { role: user.role, invitationId: inv.id, invitedBy: inv.invited_by },
    });
    return view(user);
  }

  async setRole(p: Principal, idOrEmail: string, role: Role, sourceIp: string): Promise<UserListItem> {
    if (p.role !== 'superuser') throw await this.deny(p, 'iam.user.role', 'Only superusers change roles.', sourceIp);
    const u = await this.find(p.workspaceId, idOrEmail);
    if (u.kind === 'application' && role === 'superuser') {
      throw await this.deny(p, 'iam.user.role', 'Applications are members or staff, never superusers.', sourceIp);
    }
    if (u.id === p.userId && role !== 'superuser') {
      throw await this.deny(p, 'iam.user.role', 'You cannot lower your own role; ask another superuser.', sourceIp);
    }
    await this.db
      .updateTable('users')
      .set({ role })
      .where('id', '=', u.id)
      .where('workspace_id', '=', p.workspaceId)
      .execute();
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'iam.user.role',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'user', id: u.id, name: u.email },
      sourceIp,
      details: { before: u.role, after: role },
    });
    if (role !== u.role) this.onAccessChanged(p.workspaceId, [u.id]);
    return view({ ...u, role });
  }

  async deactivate(p: Principal, idOrEmail: string, sourceIp: string): Promise<UserListItem> {
    const u = await this.find(p.workspaceId, idOrEmail);
    if (u.id === p.userId) throw await this.deny(p, 'iam.user.deactivate', 'You cannot deactivate yourself.', sourceIp);
    if (u.role === 'superuser' && !roleAtLeast(p.role, 'superuser')) {
      throw await this.deny(p, 'iam.user.deactivate', 'Only superusers may deactivate a superuser.', sourceIp);
    }
    const now = iso(this.clock.now());
    if (!u.deactivated_at) {
      await this.db.updateTable('users').set({ deactivated_at: now }).where('id', '=', u.id).execute();
      await this.db
        .updateTable('auth_tokens')
        .set({ revoked_at: now })
        .where('user_id', '=', u.id)
        .where('revoked_at', 'is', null)
        .execute();
    }
    // Every node ends the user's live sessions (one bus hop).
    this.channels.terminate({
      workspaceId: p.workspaceId,
      userId: u.id,
      reason: `your account was deactivated by ${p.email}`,
    });
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: 'iam.user.deactivate',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'user', id: u.id, name: u.email },
      sourceIp,
      details: { before: { deactivatedAt: u.deactivated_at }, after: { deactivatedAt: u.deactivated_at ?? now } },
    });
    return view({ ...u, deactivated_at: u.deactivated_at ?? now });
  }
}
