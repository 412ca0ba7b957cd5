// The OS account that both OpenSSH and Corral log in as during the bench.
//
// Why not root: on the development machines root's ~/.bashrc runs `pyenv init`, which costs hundreds of
// milliseconds and can wait up to 60 s on a stale pyenv lock. bash reads ~/.bashrc for `ssh host cmd`
// (it detects sshd) and for login shells (through ~/.profile), but not for Corral's pipe mode, so
// with root the comparison would measure root's dotfiles rather than the tools. A temporary account
// with bash and an empty home puts both on the same footing; `--os-user root` measures as root anyway.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup, run, runOk } from './util.mjs';

export const BENCH_USER = 'corral-bench';
const MARK = 'Corral bench (temporary)';

/** Look a user up in /etc/passwd: {name, uid, gid, home, shell, gecos} or undefined. */
async function lookup(name) {
  const r = await run('getent', ['passwd', name]);
  if (r.code !== 0) return undefined;
  const [n, , uid, gid, gecos, home, shell] = r.stdout.trim().split(':');
  return { name: n, uid: Number(uid), gid: Number(gid), gecos, home, shell };
}

/**
 * Make (or reuse) the temporary bench account with a fresh empty home and bash as its shell, and
 * remove it at the end. Returns {name, uid, gid, home}. For `name === 'root'` nothing is created.
 */
export async function ensureBenchUser({ log, name = BENCH_USER }) {
  if (name !== BENCH_USER) {
    const u = await lookup(name);
    if (!u) throw new Error(`--os-user ${name}: no such user`);
    return u;
  }
  if (process.getuid?.() !== 0) throw new Error(`creating the ${BENCH_USER} account needs root (or pass --os-user)`);
  const base = mkdtempSync(join(tmpdir(), 'corral-bench-home-'));
  chmodSync(base, 0o755);
  const home = join(base, BENCH_USER);
  mkdirSync(home, { mode: 0o755 });
  onCleanup('remove bench home', () => rmSync(base, { recursive: true, force: true }));

  let u = await lookup(BENCH_USER);
  if (u && u.gecos !== MARK)
    throw new Error(`a user ${BENCH_USER} exists that the bench did not make; not touching it`);
  if (u) {
    await runOk('usermod', ['--home', home, '--shell', '/bin/bash', '--password', '*', BENCH_USER]);
  } else {
    log(`creating a temporary OS user ${BENCH_USER} (removed at the end)`);
    await runOk('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      home,
      '--shell',
      '/bin/bash',
      '--comment',
      MARK,
      // '*' = no password, yet not locked ('!'): sshd without PAM refuses locked accounts even for keys.
      '--password',
      '*',
      BENCH_USER,
    ]);
  }
  onCleanup(`remove user ${BENCH_USER}`, async () => {
    // Sessions of the user may still be winding down; try a few times.
    for (let i = 0; i < 5; i++) {
      const r = await run('userdel', [BENCH_USER]);
      if (r.code === 0 || r.code === 6) return;
      await new Promise((res) => setTimeout(res, 500));
    }
  });
  u = await lookup(BENCH_USER);
  chownSync(home, u.uid, u.gid);
  return u;
}
