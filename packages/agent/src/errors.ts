/**
 * The agent's error catalogue. Codes leave the process in two ways: as `channel.reject` codes on the
 * control socket (RejectCode) and as CLI errors (AgentErrorCode, printed as `CODE: message`, exit 1).
 */

/** Why a `channel.open` was refused; sent back in `channel.reject {code}`. */
export const RejectCode = {
  /** Signature missing, not base64, or not made by the pinned gateway key. */
  GRANT_INVALID_SIGNATURE: 'GRANT_INVALID_SIGNATURE',
  /** `grant.expiresAt` is not in the future. */
  GRANT_EXPIRED: 'GRANT_EXPIRED',
  /** `grant.serverId` is not this agent's server. */
  GRANT_WRONG_SERVER: 'GRANT_WRONG_SERVER',
  /** The grant does not parse, or names another channel than the message carrying it. */
  GRANT_MALFORMED: 'GRANT_MALFORMED',
  /** The same channel id was offered twice (replay). */
  GRANT_REPLAYED: 'GRANT_REPLAYED',
  /** The grant's kind is not one this agent serves (protocol 1: only `pty`). */
  CHANNEL_KIND_UNSUPPORTED: 'CHANNEL_KIND_UNSUPPORTED',
  /** The agent could not reach the channel socket. */
  CHANNEL_CONNECT_FAILED: 'CHANNEL_CONNECT_FAILED',
  /** `grant.osUser` is not in /etc/passwd. */
  OS_USER_UNKNOWN: 'OS_USER_UNKNOWN',
  /** The agent is not root and `grant.osUser` is not the agent's own account. */
  OS_USER_FORBIDDEN: 'OS_USER_FORBIDDEN',
  /** The process could not be started. */
  SPAWN_FAILED: 'SPAWN_FAILED',
  /** A re-attach named a terminal this agent no longer keeps (it ended or its detach time ran out). */
  SESSION_GONE: 'SESSION_GONE',
} as const;
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];

/** CLI-level failures. */
export const AgentErrorCode = {
  CONFIG_NOT_FOUND: 'CONFIG_NOT_FOUND',
  CONFIG_INVALID: 'CONFIG_INVALID',
  CONFIG_EXISTS: 'CONFIG_EXISTS',
  CONFIG_PERMISSIONS: 'CONFIG_PERMISSIONS',
  USAGE: 'USAGE',
  CA_FINGERPRINT_MISMATCH: 'CA_FINGERPRINT_MISMATCH',
  CA_NOT_TRUSTED: 'CA_NOT_TRUSTED',
  CA_INVALID: 'CA_INVALID',
  GATEWAY_UNREACHABLE: 'GATEWAY_UNREACHABLE',
  GATEWAY_BAD_RESPONSE: 'GATEWAY_BAD_RESPONSE',
  /** The service manager (systemd) is not running here. */
  SERVICE_MANAGER_MISSING: 'SERVICE_MANAGER_MISSING',
  /** systemctl / launchctl / schtasks failed. */
  SERVICE_FAILED: 'SERVICE_FAILED',
  /** An artifact's size, SHA-256 or signature is wrong. */
  ARTIFACT_INVALID: 'ARTIFACT_INVALID',
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

/** An error with a stable code. `code` may also be a gateway error code passed through (e.g. JOIN_TOKEN_INVALID). */
export class AgentError extends Error {
  constructor(
    readonly code: AgentErrorCode | string,
    message: string,
    /** HTTP status when the error came from the gateway. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
