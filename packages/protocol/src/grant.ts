import { z } from 'zod';

/** What a channel carries. Only `pty` (websh) exists in protocol 1; the others are reserved. */
export const ChannelKind = z.enum(['pty', 'exec', 'files', 'tunnel']);
export type ChannelKind = z.infer<typeof ChannelKind>;

/**
 * A grant: the gateway's signed permission for one channel on one server. The agent verifies the
 * signature with the gateway key pinned at registration and refuses anything unsigned, expired, or
 * meant for another server.
 */
export const Grant = z.strictObject({
  /** Grant format version. */
  v: z.literal(1),
  channelId: z.string().min(1).max(64),
  serverId: z.string().min(1).max(64),
  kind: ChannelKind,
  /** The OS account the channel runs as on the server. */
  osUser: z.string().min(1).max(64),
  /** Expiry, milliseconds since the Unix epoch. The agent refuses the grant after this instant. */
  expiresAt: z.number().int().positive(),
  /** Command line for non-interactive channels; absent for a login shell. */
  command: z.array(z.string().max(65536)).max(1024).optional(),
  /**
   * Terminal persistence (agents with the `persist` capability only): the websh session this pty
   * belongs to, how long the agent keeps it alive after the channel drops, and whether this channel
   * re-attaches to a pty the agent already holds for that session instead of starting a shell.
   */
  session: z
    .strictObject({
      id: z.string().min(1).max(64),
      persistSeconds: z
        .number()
        .int()
        .min(0)
        .max(7 * 86400),
      attach: z.boolean(),
    })
    .optional(),
});
export type Grant = z.infer<typeof Grant>;

/**
 * The exact string that is signed (Ed25519) for a grant. Field order is fixed here, not taken from
 * the object, so both ends produce identical bytes whatever JSON library built the object.
 */
export function grantSigningString(g: Grant): string {
  return (
    'corral-grant-v1\n' +
    JSON.stringify([g.v, g.channelId, g.serverId, g.kind, g.osUser, g.expiresAt, g.command ?? null]) +
    // Appended only when present, so grants without it sign exactly as protocol 1 agents expect.
    (g.session ? '\n' + JSON.stringify([g.session.id, g.session.persistSeconds, g.session.attach]) : '')
  );
}

/** The exact string an agent signs to answer the gateway's authentication challenge. */
export function agentAuthSigningString(agentId: string, nonce: string): string {
  return 'corral-agent-auth-v1\n' + JSON.stringify([agentId, nonce]);
}
