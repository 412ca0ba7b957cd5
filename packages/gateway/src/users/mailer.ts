import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';

/** Outgoing mail (invitations, later MFA codes). The outbox is the local implementation. */
export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(workspaceId: string, to: string, subject: string, body: string): Promise<void>;
}

/**
 * Keeps mail in the database for the operator (`corral-gateway outbox`), for deployments without an
 * SMTP server. Nothing leaves the machine.
 */
export class OutboxMailer implements Mailer {
  readonly kind = 'outbox' as const;
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async send(workspaceId: string, to: string, subject: string, body: string): Promise<void> {
    await this.db
      .insertInto('outbox')
      .values({
        id: newId('msg'),
        workspace_id: workspaceId,
        recipient: to,
        subject,
        body,
        created_at: iso(this.clock.now()),
      })
      .execute();
  }
}
