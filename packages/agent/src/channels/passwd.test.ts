import { describe, expect, it } from 'vitest';
import { lookupUser, parsePasswd } from './passwd.js';
import { resolveOsUser } from './os-user.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  '# a comment',
  '',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'alice:x:1000:1000:Alice Liddell,,,:/home/alice:/bin/zsh',
  'bob:x:1001:1001::/home/bob:',
  'broken:x:notanumber:1:::/bin/sh',
  'short:x:5:5',
  '+nisuser::::::',
  'alice:x:2000:2000::/home/alice2:/bin/sh',
  'crlf:x:1002:1002::/home/crlf:/bin/sh\r',
].join('\n');

describe('/etc/passwd parsing', () => {
  it('reads name, uid, gid, home and shell', () => {
    expect(lookupUser(PASSWD, 'root')).toEqual({ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' });
    expect(lookupUser(PASSWD, 'alice')).toEqual({
      name: 'alice',
      uid: 1000,
      gid: 1000,
      home: '/home/alice',
      shell: '/bin/zsh',
    });
  });

  it('uses /bin/sh for an empty shell field, as login does', () => {
    expect(lookupUser(PASSWD, 'bob')?.shell).toBe('/bin/sh');
  });

  it('skips comments, blank, malformed and NIS lines; the first entry of a name wins', () => {
    const users = parsePasswd(PASSWD);
    expect([...users.keys()]).toEqual(['root', 'daemon', 'alice', 'bob', 'crlf']);
    expect(users.get('alice')?.uid).toBe(1000);
    expect(users.get('crlf')?.shell).toBe('/bin/sh');
  });

  it('does not match partial or case-changed names', () => {
    expect(lookupUser(PASSWD, 'ali')).toBeUndefined();
    expect(lookupUser(PASSWD, 'Alice')).toBeUndefined();
    expect(lookupUser(PASSWD, '')).toBeUndefined();
  });
});

describe('choosing the OS account', () => {
  const root = { uid: 0, username: 'root' };
  const alice = { uid: 1000, username: 'alice' };

  it('a root agent may run as any known user, switching unless the target is root', () => {
    expect(resolveOsUser('alice', PASSWD, root)).toMatchObject({ ok: true, switchUser: true, user: { uid: 1000 } });
    expect(resolveOsUser('root', PASSWD, root)).toMatchObject({ ok: true, switchUser: false });
  });

  it('refuses an unknown user with OS_USER_UNKNOWN', () => {
    expect(resolveOsUser('mallory', PASSWD, root)).toMatchObject({ ok: false, code: 'OS_USER_UNKNOWN' });
  });

  it('security: an unprivileged agent refuses any account but its own (OS_USER_FORBIDDEN)', () => {
    expect(resolveOsUser('alice', PASSWD, alice)).toMatchObject({ ok: true, switchUser: false });
    const r = resolveOsUser('root', PASSWD, alice);
    expect(r).toMatchObject({ ok: false, code: 'OS_USER_FORBIDDEN' });
    expect(r.ok || r.message).toMatch(/runs as "alice", not root/);
  });
});
