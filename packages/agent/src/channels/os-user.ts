import { RejectCode } from '../errors.js';
import { lookupUser, type OsUser } from './passwd.js';

/** Who the agent itself runs as. */
export interface AgentIdentity {
  uid: number;
  username: string;
}

/** Outcome of {@link resolveOsUser}: the account, and whether the process must switch to it. */
export type OsUserResolution =
  | { ok: true; user: OsUser; switchUser: boolean }
  | { ok: false; code: typeof RejectCode.OS_USER_UNKNOWN | typeof RejectCode.OS_USER_FORBIDDEN; message: string };

/**
 * Decide which account a channel runs as. The account must exist in /etc/passwd. A root agent may
 * run as anyone (switching when it is not root); an unprivileged agent only as itself.
 */
export function resolveOsUser(name: string, passwdText: string, self: AgentIdentity): OsUserResolution {
  const user = lookupUser(passwdText, name);
  if (!user) return { ok: false, code: RejectCode.OS_USER_UNKNOWN, message: `no OS user "${name}" on this server` };
  if (self.uid === 0) return { ok: true, user, switchUser: user.uid !== 0 };
  if (user.uid !== self.uid) {
    return {
      ok: false,
      code: RejectCode.OS_USER_FORBIDDEN,
      message: `the agent runs as "${self.username}", not root, so it can only open sessions as "${self.username}"`,
    };
  }
  return { ok: true, user, switchUser: false };
}
