// The OpenSSH baseline: Debian's sshd on a free loopback port with a temporary host key and a
// temporary client key, and the client command lines for `ssh host` and `ssh -J jump host`.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, onCleanup, run, runOk, startServer } from './util.mjs';

const SSHD = '/usr/sbin/sshd';
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** Make sure Debian's openssh-server is there; install it (we are root on these machines) if not. */
export async function ensureSshd(log) {
  if (existsSync(SSHD)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${SSHD} is missing: install Debian's openssh-server (apt-get install -y openssh-server)`);
  }
  log(`${SSHD} is missing: installing Debian's openssh-server (apt-get install -y openssh-server)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'openssh-server'], {
    env,
    timeoutMs: 300_000,
  });
  if (r.code !== 0) {
    await run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
    r = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'openssh-server'], {
      env,
      timeoutMs: 300_000,
    });
  }
  if (r.code !== 0 || !existsSync(SSHD)) {
    throw new Error(`could not install openssh-server:\n${r.stdout}${r.stderr}`);
  }
}

/**
 * Start sshd and return {port, dir, version, dest, direct(cmdArgs, {tty}), jump(cmdArgs, {tty}), scp(src, dst),
 * sftp(batchFile), stop()}. Each returns [file, args] for spawning the client, logging in as `user`
 * (`dest` is `user@127.0.0.1`, for scp's remote paths).
 */
export async function startOpenSsh({ log, user = 'root' }) {
  await ensureSshd(log);
  const dir = mkdtempSync(join(tmpdir(), 'corral-bench-sshd-'));
  // sshd reads AuthorizedKeysFile as the user logging in: the directory must be searchable.
  chmodSync(dir, 0o755);
  onCleanup('remove sshd temp dir', () => rmSync(dir, { recursive: true, force: true }));

  // sshd refuses to start without its privilege-separation directory (normally made by systemd).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });

  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'client_ed25519');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'corral-bench-host', '-f', hostKey]);
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'corral-bench-client', '-f', clientKey]);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o644 });

  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'AllowTcpForwarding yes',
      'MaxStartups 100:30:200',
      'MaxSessions 100',
      // For scp (SFTP protocol underneath) and sftp: Debian's sftp-server, as its own sshd_config has it.
      `Subsystem sftp ${SFTP_SERVER}`,
      '',
    ].join('\n'),
  );
  await runOk(SSHD, ['-t', '-f', config]);
  const sshd = startServer('sshd', SSHD, ['-D', '-e', '-f', config]);
  await sshd.waitFor(/Server listening on 127\.0\.0\.1 port \d+/, 10_000);

  const common = [
    '-F',
    '/dev/null',
    '-i',
    clientKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
  ];
  // `ssh -J` does not pass -i / -o to the jump connection, so spell the jump out as the ProxyCommand
  // that -J stands for (`ssh -W %h:%p jump`), with the same identity and options.
  const dest = `${user}@127.0.0.1`;
  const proxy = ['ssh', ...common, '-p', String(port), '-W', '%h:%p', dest].join(' ');
  const direct = (cmd, { tty = false } = {}) => [
    'ssh',
    [...common, ...(tty ? ['-tt'] : ['-T']), '-p', String(port), dest, ...cmd],
  ];
  const jump = (cmd, { tty = false } = {}) => [
    'ssh',
    [...common, '-o', `ProxyCommand=${proxy}`, ...(tty ? ['-tt'] : ['-T']), '-p', String(port), dest, ...cmd],
  ];

  const check = await run(...direct(['echo', 'ok']), { timeoutMs: 20_000 });
  if (check.code !== 0 || check.stdout.trim() !== 'ok') {
    throw new Error(
      `ssh to the bench sshd failed (exit ${check.code}):\n${check.stdout}${check.stderr}\n${sshd.out.stderr}`,
    );
  }
  const checkJump = await run(...jump(['echo', 'ok']), { timeoutMs: 20_000 });
  if (checkJump.code !== 0 || checkJump.stdout.trim() !== 'ok') {
    throw new Error(
      `ssh -J through the bench sshd failed (exit ${checkJump.code}):\n${checkJump.stdout}${checkJump.stderr}`,
    );
  }
  const version = (await run('ssh', ['-V'])).stderr.trim();
  // File copies with the same key and options: scp (OpenSSH 9 speaks the SFTP protocol underneath
  // unless given -O) and sftp running a batch file (-b: any failing command fails the run).
  const scp = (src, dst) => ['scp', [...common, '-q', '-P', String(port), src, dst]];
  const sftp = (batchFile) => ['sftp', [...common, '-q', '-b', batchFile, '-P', String(port), dest]];
  return { port, dir, version, sshd, user, dest, direct, jump, scp, sftp, stop: () => sshd.stop() };
}
