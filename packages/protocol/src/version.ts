/**
 * The wire protocol version, exchanged in the agent's `hello` frame. The gateway refuses an agent whose
 * version it does not speak (close code 4003). Bump it for any incompatible change, with one line here:
 *
 * 1: first version: hello/challenge/auth, ping/pong, channel.open with signed grants, websh framing.
 * 2: agent -> gateway `metrics` (health samples every 15 s), sent only to gateways that welcome with 2+.
 */
export const PROTOCOL_VERSION = 2;

/** Oldest agent protocol version the gateway still accepts (a version-1 agent just reports no metrics). */
export const MIN_PROTOCOL_VERSION = 1;
