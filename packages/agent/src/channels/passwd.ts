/** An account from /etc/passwd. */
export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Login shell; `/bin/sh` when the field is empty (as login(1) does). */
  shell: string;
}

const UINT_RE = /^\d{1,10}$/;

/**
 * Parse passwd(5) text: `name:password:uid:gid:gecos:home:shell`. Blank lines, comments, NIS
 * `+`/`-` entries and malformed lines are skipped; the first entry of a name wins (as getpwnam does).
 */
export function parsePasswd(text: string): Map<string, OsUser> {
  const users = new Map<string, OsUser>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length !== 7) continue;
    const [name, , uid, gid, , home, shell] = f as [string, string, string, string, string, string, string];
    if (!name || !UINT_RE.test(uid) || !UINT_RE.test(gid) || users.has(name)) continue;
    users.set(name, { name, uid: Number(uid), gid: Number(gid), home: home || '/', shell: shell || '/bin/sh' });
  }
  return users;
}

/** Look one user up in passwd(5) text. */
export function lookupUser(passwdText: string, name: string): OsUser | undefined {
  return parsePasswd(passwdText).get(name);
}
