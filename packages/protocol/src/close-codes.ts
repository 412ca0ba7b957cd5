/**
 * WebSocket close codes used on every Corral socket (agent control, channel, user websh).
 * 1000-1015 are RFC 6455 codes; 4000-4999 are ours. docs/PROTOCOL.md lists them; a test keeps the two in step.
 */
export const CloseCode = {
  /** Normal end (the shell exited, the user logged out). */
  NORMAL: 1000,
  /** The peer is shutting down (gateway or agent stopping); reconnect later. */
  GOING_AWAY: 1001,
  /** A frame was larger than the socket's limit (sent by ws itself). */
  MESSAGE_TOO_BIG: 1009,
  /** A text frame was not valid JSON or did not match its schema. */
  PROTOCOL_ERROR: 4000,
  /** A text frame had a `type` this side does not know. */
  UNKNOWN_MESSAGE: 4001,
  /** A binary frame arrived where only text is allowed (or the reverse). */
  UNSUPPORTED_DATA: 4002,
  /** The agent speaks a protocol version the gateway does not support. */
  VERSION_MISMATCH: 4003,
  /** Authentication failed: bad signature, unknown agent, bad or used channel token. */
  UNAUTHORIZED: 4401,
  /** Authenticated, but not allowed (revoked server, grant refused). */
  FORBIDDEN: 4403,
  /** The channel does not exist (expired before both sides met). */
  NOT_FOUND: 4404,
  /** A deadline passed: no auth in time, no pong in time, peer never arrived. */
  TIMEOUT: 4408,
  /** A newer connection of the same agent replaced this one. */
  REPLACED: 4409,
  /** The other side of the channel went away. */
  PEER_GONE: 4410,
  /** Access ended while the channel was live (revocation, expiry, deactivation). */
  REVOKED: 4411,
  /**
   * Gateway -> agent: the user's connection dropped; keep the terminal (persistent sessions) so the
   * user can re-attach. Agents also keep it when the channel socket breaks (1006) or the gateway
   * goes away (1001).
   */
  DETACHED: 4412,
  /** A participant or watcher could not keep up with the session's output and was disconnected. */
  TOO_SLOW: 4413,
  /** Unexpected failure on the closing side. */
  INTERNAL: 4500,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

/** Human-readable description of each close code, used in docs and error messages. */
export const CLOSE_CODE_DESCRIPTIONS: Record<number, string> = {
  1000: 'normal closure',
  1001: 'peer going away (shutdown); reconnect later',
  1009: 'frame too large',
  4000: 'protocol error: malformed JSON or schema mismatch',
  4001: 'unknown message type',
  4002: 'unsupported data (binary where text expected, or the reverse)',
  4003: 'protocol version not supported',
  4401: 'authentication failed',
  4403: 'forbidden',
  4404: 'channel not found',
  4408: 'timed out',
  4409: 'replaced by a newer connection',
  4410: 'peer went away',
  4411: 'access revoked or expired',
  4412: 'detached: the terminal stays alive on the server for re-attaching',
  4413: 'too slow: the reader fell too far behind the live session',
  4500: 'internal error',
};

/** Largest text (control) frame accepted on any socket, in bytes. */
export const MAX_CONTROL_FRAME_BYTES = 64 * 1024;
/** Largest binary (data) frame accepted on a channel socket, in bytes. */
export const MAX_DATA_FRAME_BYTES = 1024 * 1024;
/** A sender pauses its source when the socket's bufferedAmount passes this many bytes. */
export const HIGH_WATER_MARK_BYTES = 1024 * 1024;
/** ... and resumes when it falls below this. */
export const LOW_WATER_MARK_BYTES = 256 * 1024;
