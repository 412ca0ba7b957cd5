/**
 * The wire protocol version, exchanged in the agent's `hello` frame. The gateway refuses an agent whose
 * version it does not speak (close code 4003). Bump it for any incompatible change, with one line here:
 *
 * 1: first version: hello/challenge/auth, ping/pong, channel.open with signed grants, websh framing.
 */
export const PROTOCOL_VERSION = 1;

/** Oldest agent protocol version the gateway still accepts. */
export const MIN_PROTOCOL_VERSION = 1;
