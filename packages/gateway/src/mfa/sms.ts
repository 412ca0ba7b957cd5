import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { newId } from '../ids.js';
import { type Clock, iso } from '../clock.js';

export type PhoneChannel = 'sms' | 'voice';

/**
 * Sends a one-time code to a phone by SMS or voice call. Two implementations: an operator's HTTP
 * webhook (which talks to whatever SMS/voice gateway they use) and the operator outbox (no delivery:
 * `corral-gateway outbox` shows the message; for trials and air-gapped sites).
 */
export interface PhoneSender {
  readonly kind: 'webhook' | 'outbox';
  send(workspaceId: string, to: string, message: string, channel: PhoneChannel): Promise<void>;
}

/**
 * POSTs `{to, message, channel}` as JSON to the operator's URL; any 2xx is delivered. With a secret, the
 * request carries `Authorization: Bearer <secret>` so the receiver can tell it is us.
 */
export class WebhookPhoneSender implements PhoneSender {
  readonly kind = 'webhook' as const;

  constructor(
    private readonly url: string,
    private readonly secret: string | null = null,
    private readonly timeoutMs = 10_000,
  ) {}

  async send(_workspaceId: string, to: string, message: string, channel: PhoneChannel): Promise<void> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.secret ? { authorization: `Bearer ${this.secret}` } : {}),
      },
      body: JSON.stringify({ to, message, channel }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`the SMS webhook answered HTTP ${res.status}`);
  }
}

/** Keeps the message in the outbox table for the operator (`corral-gateway outbox`). */
export class OutboxPhoneSender implements PhoneSender {
  readonly kind = 'outbox' as const;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async send(workspaceId: string, to: string, message: string, channel: PhoneChannel): Promise<void> {
    await this.db
      .insertInto('outbox')
      .values({
        id: newId('msg'),
        workspace_id: workspaceId,
        recipient: to,
        subject: channel === 'voice' ? 'Voice call' : 'SMS',
        body: message,
        created_at: iso(this.clock.now()),
      })
      .execute();
  }
}
