import type { Kysely } from 'kysely';
import type { JoinTokenView } from '@corral/protocol';
import type { Database, JoinTokensTable } from '../db/schema.js';
import { type Clock, iso } from '../clock.js';
import { CorralError } from '../errors.js';
import { hashSecret, newId, newSecret } from '../ids.js';

function status(r: JoinTokensTable, now: number): JoinTokenView['status'] {
  if (r.revoked_at) return 'revoked';
  if (r.uses_left <= 0) return 'used';
  if (Date.parse(r.expires_at) <= now) return 'expired';
  return 'active';
}

export function joinTokenView(r: JoinTokensTable, now: number): JoinTokenView {
  return {
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usesLeft: Number(r.uses_left),
    usesTotal: Number(r.uses_total),
    revokedAt: r.revoked_at,
    createdBy: r.created_by,
    status: status(r, now),
  };
}

/** Join tokens: single- or multi-use secrets with which agents register. Stored as SHA-256 only. */
export class JoinTokens {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async create(
    workspaceId: string,
    opts: {
      name?: string | undefined;
      expiresInSeconds?: number | undefined;
      uses?: number | undefined;
      createdBy: string | null;
    },
  ): Promise<{ view: JoinTokenView; token: string }> {
    const now = this.clock.now();
    const token = newSecret('cjt');
    const uses = opts.uses ?? 1;
    const row: JoinTokensTable = {
      id: newId('jt'),
      workspace_id: workspaceId,
      name: opts.name ?? null,
      token_hash: hashSecret(token),
      created_by: opts.createdBy,
      created_at: iso(now),
      expires_at: iso(now + (opts.expiresInSeconds ?? 3600) * 1000),
      uses_total: uses,
      uses_left: uses,
      revoked_at: null,
    };
    await this.db.insertInto('join_tokens').values(row).execute();
    return { view: joinTokenView(row, now), token };
  }

  async list(workspaceId: string): Promise<JoinTokenView[]> {
    const rows = await this.db
      .selectFrom('join_tokens')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('created_at', 'desc')
      .execute();
    const now = this.clock.now();
    return rows.map((r) => joinTokenView(r, now));
  }

  async revoke(workspaceId: string, id: string): Promise<JoinTokenView> {
    const row = await this.db
      .selectFrom('join_tokens')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new CorralError('JOIN_TOKEN_NOT_FOUND');
    if (!row.revoked_at) {
      row.revoked_at = iso(this.clock.now());
      await this.db
        .updateTable('join_tokens')
        .set({ revoked_at: row.revoked_at })
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', id)
        .execute();
    }
    return joinTokenView(row, this.clock.now());
  }

  /**
   * Consume one use of a token inside `trx`. The conditional UPDATE makes two concurrent registrations
   * unable to spend the same last use. Throws JOIN_TOKEN_INVALID for any failure (no detail leaks).
   */
  async consume(trx: Kysely<Database>, token: string): Promise<JoinTokensTable> {
    const row = await trx
      .selectFrom('join_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    const now = this.clock.now();
    if (!row || status(row, now) !== 'active') throw new CorralError('JOIN_TOKEN_INVALID');
    const res = await trx
      .updateTable('join_tokens')
      .set((eb) => ({ uses_left: eb('uses_left', '-', 1) }))
      .where('id', '=', row.id)
      .where('uses_left', '>', 0)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new CorralError('JOIN_TOKEN_INVALID');
    return row;
  }
}
