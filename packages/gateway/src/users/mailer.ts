import type { Kysely } from 'kysely';
import type { Transporter } from 'nodemailer';
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

/**
 * Real delivery through an SMTP server (nodemailer). `url` is `smtp://user:pass@host:port` (STARTTLS when
 * the server offers it) or `smtps://...` (TLS from the start); `from` is the sender address.
 */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  private transport: Transporter | undefined;

  constructor(
    private readonly url: string,
    private readonly from: string,
    /** Extra TLS options, e.g. a CA for a private mail relay (tests use a self-signed one). */
    private readonly tls: { rejectUnauthorized?: boolean } = {},
  ) {}

  async send(_workspaceId: string, to: string, subject: string, body: string): Promise<void> {
    if (!this.transport) {
      const nodemailer = await import('nodemailer');
      const u = new URL(this.url);
      this.transport = nodemailer.createTransport({
        host: u.hostname,
        port: Number(u.port) || (u.protocol === 'smtps:' ? 465 : 587),
        secure: u.protocol === 'smtps:',
        ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
        tls: this.tls,
      });
    }
    await this.transport.sendMail({ from: this.from, to, subject, text: body });
  }
}
