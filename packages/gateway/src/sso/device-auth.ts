import { randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import {
  USER_CODE_ALPHABET,
  normalizeUserCode,
  type DeviceAuthorizationResponse,
  type LoginSession,
  type Role,
} from '@corral/protocol';
import type { Database, DeviceAuthorizationsTable } from '../db/schema.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuthService } from '../auth/auth-service.js';
import type { Principal } from '../auth/principal.js';
import { FailureLimiter } from '../auth/rate-limit.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';

export interface DeviceAuthOptions {
  /** Seconds the CLI waits between polls (RFC 8628 `interval`). Default 5. */
  intervalSeconds: number;
  /** Lifetime of a device authorization, ms. Default 10 minutes. */
  ttlMs: number;
}

export const DEFAULT_DEVICE_OPTIONS: DeviceAuthOptions = { intervalSeconds: 5, ttlMs: 10 * 60_000 };

/** A pending request as the approval page shows it. */
export type PendingDevice = Pick<
  DeviceAuthorizationsTable,
  'id' | 'client_name' | 'client_ip' | 'created_at' | 'expires_at'
>;

/** XXXX-XXXX from the RFC 8628 consonant alphabet: 20^8 (about 2^34) codes, tried at most 10 times per user. */
export function newUserCode(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

/**
 * Device authorization for `corral login --browser` (RFC 8628 in spirit): the CLI gets a high-entropy
 * device code (kept as SHA-256, single use, 10 minutes) and a short user code; the person, signed in
 * in a browser by any method, checks the user code and approves; the CLI's next poll gets its own
 * session token. Polling faster than the interval answers SLOW_DOWN and adds 5 s to it.
 */
export class DeviceAuth {
  private readonly creates: FailureLimiter;
  private readonly lookups: FailureLimiter;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly auth: AuthService,
    private readonly clock: Clock,
    private readonly opts: DeviceAuthOptions = DEFAULT_DEVICE_OPTIONS,
  ) {
    this.creates = new FailureLimiter({ max: 30, windowMs: 15 * 60_000 }, clock);
    this.lookups = new FailureLimiter({ max: 10, windowMs: 15 * 60_000 }, clock);
  }

  async create(
    workspaceId: string,
    clientName: string | undefined,
    sourceIp: string,
    origin: string,
  ): Promise<DeviceAuthorizationResponse> {
    const wait = this.creates.retryAfterMs(sourceIp);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new CorralError('RATE_LIMITED', `Too many device sign-ins started; try again in ${seconds} s.`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    this.creates.fail(sourceIp);
    const deviceCode = newSecret('cdc');
    const userCode = newUserCode();
    const now = this.clock.now();
    await this.db
      .deleteFrom('device_authorizations')
      .where('expires_at', '<', iso(now - 3600_000))
      .execute();
    await this.db
      .insertInto('device_authorizations')
      .values({
        id: newId('dev'),
        workspace_id: workspaceId,
        device_code_hash: hashSecret(deviceCode),
        user_code_hash: hashSecret(normalizeUserCode(userCode)),
        status: 'pending',
        client_name: clientName ?? null,
        client_ip: sourceIp,
        user_id: null,
        decided_at: null,
        created_at: iso(now),
        expires_at: iso(now + this.opts.ttlMs),
        interval_s: this.opts.intervalSeconds,
        last_poll_at: null,
      })
      .execute();
    const verificationUrl = `${origin}/auth/device`;
    return {
      deviceCode,
      userCode,
      verificationUrl,
      verificationUrlComplete: `${verificationUrl}?code=${userCode}`,
      expiresIn: Math.round(this.opts.ttlMs / 1000),
      interval: this.opts.intervalSeconds,
    };
  }

  /** The CLI's poll: a session once approved, else the RFC 8628 answers as error codes. */
  async poll(workspaceId: string, deviceCode: string, sourceIp: string): Promise<LoginSession> {
    const row = await this.db
      .selectFrom('device_authorizations')
      .selectAll()
      .where('device_code_hash', '=', hashSecret(deviceCode))
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    const now = this.clock.now();
    if (!row || row.status === 'consumed' || Date.parse(row.expires_at) <= now) {
      throw new CorralError('DEVICE_CODE_EXPIRED');
    }
    if (row.last_poll_at && now - Date.parse(row.last_poll_at) < row.interval_s * 1000 * 0.8) {
      const interval = row.interval_s + 5;
      await this.db
        .updateTable('device_authorizations')
        .set({ interval_s: interval, last_poll_at: iso(now) })
        .where('id', '=', row.id)
        .execute();
      throw new CorralError('SLOW_DOWN', `Polling too fast: wait ${interval} s between polls.`, {
        details: { interval },
      });
    }
    await this.db
      .updateTable('device_authorizations')
      .set({ last_poll_at: iso(now) })
      .where('id', '=', row.id)
      .execute();
    if (row.status === 'pending') throw new CorralError('AUTHORIZATION_PENDING');
    if (row.status === 'denied') throw new CorralError('DEVICE_DENIED');
    const won = await this.db
      .updateTable('device_authorizations')
      .set({ status: 'consumed' })
      .where('id', '=', row.id)
      .where('status', '=', 'approved')
      .executeTakeFirst();
    if (Number(won.numUpdatedRows) !== 1) throw new CorralError('DEVICE_CODE_EXPIRED');
    const user = await this.db
      .selectFrom('users')
      .select(['id', 'email', 'role', 'deactivated_at'])
      .where('id', '=', row.user_id ?? '')
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!user || user.deactivated_at) throw new CorralError('DEVICE_DENIED', 'The approving account is deactivated.');
    return this.auth.issueSession(
      workspaceId,
      { id: user.id, email: user.email, role: user.role as Role },
      sourceIp,
      'device',
      {
        deviceAuthorization: row.id,
        approvedAt: row.decided_at,
        clientName: row.client_name,
      },
    );
  }

  /** The pending request with this user code, or null (each miss counts toward the user's limit). */
  async findPending(p: Principal, userCodeInput: string): Promise<PendingDevice | null> {
    const key = `${p.workspaceId}\n${p.userId}`;
    if (this.lookups.retryAfterMs(key) > 0) {
      throw new CorralError('RATE_LIMITED', 'Too many wrong codes; wait 15 minutes and start again from the CLI.');
    }
    const code = normalizeUserCode(userCodeInput);
    const row =
      code.length === 8
        ? await this.db
            .selectFrom('device_authorizations')
            .select(['id', 'client_name', 'client_ip', 'created_at', 'expires_at'])
            .where('workspace_id', '=', p.workspaceId)
            .where('user_code_hash', '=', hashSecret(code))
            .where('status', '=', 'pending')
            .where('expires_at', '>', iso(this.clock.now()))
            .orderBy('created_at', 'desc')
            .executeTakeFirst()
        : undefined;
    if (!row) {
      this.lookups.fail(key);
      return null;
    }
    return row;
  }

  /** Approve or deny the pending request with this user code, as the signed-in user. */
  async decide(p: Principal, userCode: string, approve: boolean, sourceIp: string): Promise<PendingDevice | null> {
    const row = await this.findPending(p, userCode);
    if (!row) return null;
    const r = await this.db
      .updateTable('device_authorizations')
      .set({ status: approve ? 'approved' : 'denied', user_id: p.userId, decided_at: iso(this.clock.now()) })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    await this.audit.append({
      workspaceId: p.workspaceId,
      action: approve ? 'auth.device.approve' : 'auth.device.deny',
      actor: { type: 'user', id: p.userId, name: p.email },
      target: { type: 'device_authorization', id: row.id, name: row.client_name },
      sourceIp,
      details: { clientIp: row.client_ip, clientName: row.client_name, requestedAt: row.created_at },
    });
    return row;
  }
}
