/**
 * Corral's built-in risk rules. Each rule looks at one simple command (after `sudo`, `env`, `xargs`
 * and the like are stripped) in the context of its pipeline, or at the raw line for shapes the
 * lexer cannot see (fork bombs, `/dev/tcp`). Scores follow one scale:
 *
 *   90-100  destroys data or the system, opens a shell to someone else, or reads secrets
 *   70-89   likely to lock people out, remove accounts, or hide what happened
 *   40-69   changes state an operator would want to know about (restart, install, chmod, kill)
 *    0-39   reads or ordinary work
 */
import type { RiskCategory } from './analyzer.js';
import type { Pipeline, SimpleCommand } from './shell-lexer.js';

export interface Hit {
  score: number;
  category: RiskCategory;
  reason: string;
  rule: string;
}

const hit = (rule: string, score: number, category: RiskCategory, reason: string): Hit => ({
  rule,
  score,
  category,
  reason,
});

// ---------------------------------------------------------------------------------------------
// Paths

/** The filesystem root, home directories and top-level system directories (optionally with `/*`). */
const CRITICAL_PATH =
  /^(\/+|\/+\*|~\/?\*?|\$HOME\/?\*?|\$\{HOME\}\/?\*?|\/(bin|boot|dev|etc|home|lib|lib32|lib64|opt|proc|root|run|sbin|srv|sys|usr|var|usr\/[a-z]+|var\/lib)\/?\*?)$/;
const BLOCK_DEVICE =
  /^\/dev\/(sd[a-z]|nvme\d|vd[a-z]|xvd[a-z]|hd[a-z]|mmcblk\d|md\d|dm-\d|mapper\/|disk\/|loop\d|root)/;
const HISTORY_FILE = /(^|\/)\.(bash|zsh|sh|ash|python|mysql|psql|node_repl|lesshst|sqlite)_?history$|(^|\/)\.zhistory$/;
const LOG_FILE = /^\/var\/log\/|^\/var\/run\/utmp$|^\/run\/utmp$/;
const SECRET_FILE =
  /^\/etc\/(g?shadow-?|sudoers(\.d\/.*)?|ssh\/ssh_host_[a-z0-9]+_key|ssl\/private\/.*)$|(^|\/)\.ssh\/(id_[a-z0-9]+|[^/]*\.pem)$|(^|\/)\.aws\/credentials$|(^|\/)\.kube\/config$|(^|\/)\.docker\/config\.json$|(^|\/)\.(netrc|pgpass|git-credentials|my\.cnf)$|(^|\/)\.gnupg\/|^\/proc\/[^/]+\/environ$|(^|\/)\.vault-token$/;
const ACCOUNT_FILE = /^\/etc\/(passwd|shadow|group|gshadow)-?$/;

function isSecret(path: string): boolean {
  return SECRET_FILE.test(path) && !path.endsWith('.pub');
}

/** Where output lands: redirections, `tee` files, the destination of `cp`/`mv`/`install`/`ln`/`dd`. */
function writeTargets(cmd: SimpleCommand): string[] {
  const out = cmd.redirects.filter((r) => /^(>|>>|&>|&>>|>\||<>)$/.test(r.op)).map((r) => r.target);
  const args = operands(cmd);
  if (cmd.name === 'tee') out.push(...args);
  if (['cp', 'mv', 'install', 'ln', 'rsync'].includes(cmd.name) && args.length >= 2) out.push(args.at(-1) ?? '');
  if (cmd.name === 'dd') out.push(...cmd.argv.filter((a) => a.startsWith('of=')).map((a) => a.slice(3)));
  if (cmd.name === 'truncate') out.push(...args);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arguments

/** Non-option arguments (everything after `--` counts). */
function operands(cmd: SimpleCommand): string[] {
  const out: string[] = [];
  let dashdash = false;
  for (const a of cmd.argv.slice(1)) {
    if (!dashdash && a === '--') dashdash = true;
    else if (dashdash || !a.startsWith('-') || a === '-') out.push(a);
  }
  return out;
}

/** Whether a short flag letter (in any cluster like `-rf`) or one of the long names is present. */
function hasFlag(cmd: SimpleCommand, short: string, ...long: string[]): boolean {
  return cmd.argv
    .slice(1)
    .some((a) => (/^-[A-Za-z0-9]+$/.test(a) && short !== '' && a.slice(1).includes(short)) || long.includes(a));
}

const sub = (cmd: SimpleCommand, i = 1): string => cmd.argv[i] ?? '';

// ---------------------------------------------------------------------------------------------
// Rules for one simple command

type CommandRule = (cmd: SimpleCommand, pipeline: Pipeline, index: number) => Hit | null;

const removal: CommandRule = (cmd) => {
  if (!['rm', 'rmdir', 'unlink', 'srm'].includes(cmd.name)) return null;
  const targets = operands(cmd);
  const recursive = hasFlag(cmd, 'r', '--recursive') || hasFlag(cmd, 'R');
  if (cmd.argv.includes('--no-preserve-root'))
    return hit('rm.no-preserve-root', 100, 'destructive-files', 'rm with --no-preserve-root deletes the whole system');
  const critical = targets.find((t) => CRITICAL_PATH.test(t));
  if (recursive && critical)
    return hit('rm.recursive-system', 95, 'destructive-files', `recursive delete of ${critical}`);
  const history = targets.find((t) => HISTORY_FILE.test(t) || LOG_FILE.test(t));
  if (history) return hit('history.delete', 85, 'history-tampering', `deletes ${history}, erasing the trail`);
  const account = targets.find((t) => ACCOUNT_FILE.test(t) || t.startsWith('/etc/sudoers'));
  if (account) return hit('rm.account-file', 95, 'users-permissions', `deletes ${account}`);
  const system = targets.find((t) => /^\/(etc|boot|usr|bin|sbin|lib|lib64)\//.test(t));
  if (system) return hit('rm.system-file', 75, 'destructive-files', `deletes the system file ${system}`);
  if (recursive && targets.some((t) => /^(\*|\.|\.\.|\.\/\*|\.\*)$/.test(t)))
    return hit('rm.recursive-cwd', 75, 'destructive-files', 'recursive delete of everything in the current directory');
  if (recursive) return hit('rm.recursive', 50, 'destructive-files', `recursive delete of ${targets.join(' ')}`);
  return hit(
    'rm.file',
    targets.length > 3 || targets.some((t) => t.includes('*')) ? 35 : 25,
    'destructive-files',
    'deletes files',
  );
};

const disks: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = operands(cmd);
  if (/^mkfs(\.|$)|^mke2fs$|^mkswap$|^mkdosfs$|^mkntfs$/.test(n))
    return hit('disk.mkfs', 95, 'disks', `${n} formats ${args.at(-1) ?? 'a device'}, destroying its contents`);
  if (['fdisk', 'gdisk', 'sfdisk', 'cfdisk', 'parted', 'sgdisk'].includes(n)) {
    if (hasFlag(cmd, 'l', '--list', '--print') || cmd.argv.includes('print'))
      return hit('disk.list-partitions', 15, 'disks', 'lists partitions');
    return hit('disk.partition', 90, 'disks', `${n} edits the partition table`);
  }
  if (n === 'wipefs')
    return hasFlag(cmd, 'a', '--all') || hasFlag(cmd, 'o', '--offset')
      ? hit('disk.wipefs', 95, 'disks', 'wipefs erases filesystem signatures')
      : hit('disk.wipefs-list', 45, 'disks', 'wipefs (lists signatures)');
  if (n === 'shred') {
    const dev = args.find((a) => BLOCK_DEVICE.test(a));
    if (dev) return hit('disk.shred', 95, 'disks', `shred overwrites the device ${dev}`);
    const h = args.find((a) => HISTORY_FILE.test(a) || LOG_FILE.test(a));
    if (h) return hit('history.shred', 90, 'history-tampering', `shreds ${h}`);
    return hit('files.shred', 70, 'destructive-files', 'shred destroys files beyond recovery');
  }
  if (n === 'dd') {
    const of = cmd.argv.find((a) => a.startsWith('of='))?.slice(3);
    if (of && BLOCK_DEVICE.test(of)) return hit('disk.dd-write', 95, 'disks', `dd writes over the device ${of}`);
    const inf = cmd.argv.find((a) => a.startsWith('if='))?.slice(3);
    if (inf && BLOCK_DEVICE.test(inf)) return hit('disk.dd-read', 50, 'disks', `dd reads the raw device ${inf}`);
    return hit('disk.dd', 30, 'disks', 'dd copies data');
  }
  if (['blkdiscard', 'lvremove', 'vgremove', 'pvremove', 'zpool', 'cryptsetup'].includes(n)) {
    if (n === 'zpool' && !['destroy', 'labelclear'].includes(sub(cmd))) return null;
    if (n === 'cryptsetup' && !['erase', 'luksErase', 'luksFormat'].includes(sub(cmd))) return null;
    return hit(`disk.${n}`, 90, 'disks', `${n} destroys volumes or their data`);
  }
  if (n === 'mdadm' && hasFlag(cmd, '', '--zero-superblock', '--stop'))
    return hit('disk.mdadm', 85, 'disks', 'mdadm stops or wipes a RAID array');
  if (n === 'hdparm' && cmd.argv.some((a) => a.startsWith('--security-erase') || a === '--trim-sector-ranges'))
    return hit('disk.hdparm-erase', 95, 'disks', 'hdparm erases the drive');
  if (n === 'umount' || n === 'swapoff') return hit(`disk.${n}`, 45, 'disks', `${n} detaches storage`);
  if (n === 'mount') return args.length === 0 ? null : hit('disk.mount', 40, 'disks', 'mounts a filesystem');
  return null;
};

const PRIVILEGED_GROUP = /(^|,)(sudo|wheel|admin|root|adm|docker|lxd|disk|shadow)(,|$)/;

const permissions: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = operands(cmd);
  if (n === 'chmod' || n === 'chown' || n === 'chgrp' || n === 'setfacl') {
    const recursive = hasFlag(cmd, 'R', '--recursive');
    const files = n === 'setfacl' ? args : args.slice(1);
    const mode = n === 'chmod' ? (args[0] ?? '') : '';
    const critical = files.find((f) => CRITICAL_PATH.test(f));
    if (critical && (recursive || /777|666|[ao]\+[rwx]*w/.test(mode)))
      return hit(`perm.${n}-system`, 90, 'users-permissions', `${n} ${recursive ? '-R ' : ''}on ${critical}`);
    const sensitive = files.find((f) => ACCOUNT_FILE.test(f) || f.startsWith('/etc/sudoers'));
    if (sensitive && n !== 'chmod') return hit(`perm.${n}-account`, 85, 'users-permissions', `${n} on ${sensitive}`);
    if (sensitive && /[2-7]$|[ao]\+/.test(mode))
      return hit('perm.chmod-account', 85, 'users-permissions', `makes ${sensitive} readable or writable by others`);
    if (n === 'chmod' && /^[ugoa]*\+[a-z]*s|^[2-7][0-7]{3}$/.test(mode))
      return hit('perm.setuid', 80, 'privilege', `chmod ${mode} sets the setuid/setgid bit`);
    if (n === 'chmod' && /777|666|o\+w|a\+w/.test(mode))
      return hit('perm.world-writable', 55, 'users-permissions', `chmod ${mode} makes files world-writable`);
    return hit(`perm.${n}`, recursive ? 50 : 40, 'users-permissions', `${n} changes ownership or permissions`);
  }
  if (n === 'chattr') return hit('perm.chattr', 50, 'users-permissions', 'chattr changes file attributes');
  return null;
};

const users: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = operands(cmd);
  const joined = cmd.argv.slice(1).join(' ');
  const uid0 = /(^|\s)(-u|--uid)\s*0(\s|$)|(^|\s)-o(\s|$)/.test(joined) && /(-u|--uid)\s*0(\s|$)/.test(joined);
  if (n === 'userdel' || n === 'deluser') {
    if (n === 'deluser' && args.length === 2)
      return hit('user.remove-from-group', 55, 'users-permissions', `removes ${args[0]} from group ${args[1]}`);
    return hasFlag(cmd, 'r', '--remove', '--remove-home', '--remove-all-files')
      ? hit('user.delete-home', 85, 'users-permissions', `deletes the account ${args[0] ?? ''} and its home`)
      : hit('user.delete', 80, 'users-permissions', `deletes the account ${args[0] ?? ''}`);
  }
  if (n === 'useradd' || n === 'adduser') {
    if (uid0) return hit('user.add-uid0', 95, 'privilege', 'creates a second root account (uid 0)');
    if (n === 'adduser' && args.length === 2 && PRIVILEGED_GROUP.test(args[1] ?? ''))
      return hit('user.add-privileged-group', 85, 'privilege', `adds ${args[0]} to ${args[1]}`);
    const groups = cmd.argv.findIndex((a) => a === '-G' || a === '--groups');
    if (groups > 0 && PRIVILEGED_GROUP.test(cmd.argv[groups + 1] ?? ''))
      return hit('user.add-privileged-group', 85, 'privilege', `creates an account in ${cmd.argv[groups + 1]}`);
    return hit('user.add', 50, 'users-permissions', 'creates an account');
  }
  if (n === 'usermod') {
    if (uid0) return hit('user.mod-uid0', 95, 'privilege', 'gives an account uid 0');
    const g = cmd.argv.findIndex((a) => /^-a?G$|^--groups$/.test(a));
    if (g > 0 && PRIVILEGED_GROUP.test(cmd.argv[g + 1] ?? ''))
      return hit('user.privileged-group', 85, 'privilege', `adds ${args.at(-1) ?? 'an account'} to ${cmd.argv[g + 1]}`);
    if (hasFlag(cmd, 'L', '--lock', '--expiredate') || cmd.argv.includes('/sbin/nologin'))
      return hit('user.lock', 60, 'users-permissions', 'locks an account');
    return hit('user.modify', 50, 'users-permissions', 'modifies an account');
  }
  if (n === 'gpasswd' && hasFlag(cmd, 'a', '--add') && PRIVILEGED_GROUP.test(args.at(-1) ?? ''))
    return hit('user.privileged-group', 85, 'privilege', `adds a user to ${args.at(-1)}`);
  if (n === 'passwd') {
    if (hasFlag(cmd, 'd', '--delete')) return hit('user.passwd-delete', 90, 'users-permissions', 'removes a password');
    if (args.includes('root')) return hit('user.passwd-root', 85, 'users-permissions', "changes root's password");
    if (hasFlag(cmd, 'S', '--status')) return hit('user.passwd-status', 10, 'users-permissions', 'password status');
    return args.length > 0
      ? hit('user.passwd-other', 65, 'users-permissions', `changes ${args[0]}'s password`)
      : hit('user.passwd', 45, 'users-permissions', 'changes the own password');
  }
  if (n === 'chpasswd' || n === 'newusers')
    return hit(`user.${n}`, 80, 'users-permissions', `${n} sets passwords in bulk`);
  if (n === 'groupdel') return hit('user.groupdel', 60, 'users-permissions', 'deletes a group');
  if (n === 'groupadd' || n === 'addgroup') return hit('user.groupadd', 40, 'users-permissions', 'creates a group');
  if (n === 'visudo') return hit('priv.visudo', 60, 'privilege', 'edits the sudoers file');
  if (n === 'vipw' || n === 'vigr') return hit(`user.${n}`, 75, 'users-permissions', `${n} edits the account files`);
  return null;
};

const INTERACTIVE_SHELL = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'fish']);

const privilege: CommandRule = (cmd) => {
  const n = cmd.name;
  if (n === 'sudo' && hasFlag(cmd, 'i', '--login') === false && !hasFlag(cmd, 's', '--shell')) return null;
  if (n === 'sudo') return hit('priv.root-shell', 55, 'privilege', 'opens a root shell');
  if ((n === 'su' || n === 'runuser') && !cmd.argv.some((a) => /^-[a-z]*c$/.test(a)))
    return hit('priv.su', 55, 'privilege', `switches user to ${operands(cmd)[0] ?? 'root'}`);
  if (n === 'pkexec') return hit('priv.pkexec', 55, 'privilege', 'runs a command as root via polkit');
  if (cmd.elevated && INTERACTIVE_SHELL.has(n) && cmd.argv.length === 1)
    return hit('priv.root-shell', 55, 'privilege', 'opens a root shell');
  if (n === 'setenforce' && sub(cmd) === '0')
    return hit('kernel.selinux-off', 80, 'kernel', 'setenforce 0 turns SELinux enforcement off');
  if (n === 'aa-teardown' || (n === 'aa-disable' && cmd.argv.length > 1))
    return hit('kernel.apparmor-off', 80, 'kernel', 'disables AppArmor');
  return null;
};

const FIREWALL_UNITS = /^(ufw|firewalld|nftables|iptables|ip6tables|netfilter-persistent)(\.service)?$/;
const CRITICAL_UNITS =
  /^(sshd?|openssh-server|systemd-[a-z-]+|networking|network|NetworkManager|dbus|corral[a-z-]*|auditd|rsyslog|syslog|journald|cron|crond|polkit|sssd|google-guest-agent|amazon-ssm-agent|walinuxagent)(\.(service|socket))?$/;
const LOGGING_UNITS = /^(auditd|rsyslog|syslog|syslog-ng|systemd-journald)(\.(service|socket))?$/;

const firewall: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = cmd.argv.slice(1);
  const joined = args.join(' ');
  if (n === 'iptables' || n === 'ip6tables' || n === 'iptables-legacy' || n === 'iptables-nft') {
    if (/(^|\s)(-F|--flush|-X|--delete-chain)(\s|$)/.test(joined) || /(-P|--policy)\s+\S+\s+(ACCEPT|DROP)/.test(joined))
      return hit(
        'fw.iptables-flush',
        85,
        'firewall-network',
        `${n} ${joined} flushes rules or changes a default policy`,
      );
    if (/(^|\s)-(L|S|nvL|nL|vL|Ln)(\s|$)|--list/.test(joined))
      return hit('fw.list', 10, 'firewall-network', 'lists firewall rules');
    return hit('fw.iptables-change', 60, 'firewall-network', `${n} changes firewall rules`);
  }
  if (n === 'iptables-restore' || n === 'ip6tables-restore')
    return hit('fw.iptables-restore', 65, 'firewall-network', 'replaces the firewall rules');
  if (n === 'nft') {
    if (/flush\s+ruleset|delete\s+table/.test(joined))
      return hit('fw.nft-flush', 90, 'firewall-network', 'nft flushes the ruleset');
    if (/^(-a\s+)?list/.test(joined)) return hit('fw.list', 10, 'firewall-network', 'lists firewall rules');
    return hit('fw.nft-change', 60, 'firewall-network', 'nft changes firewall rules');
  }
  if (n === 'ufw') {
    const verb = sub(cmd);
    if (verb === 'disable' || verb === 'reset')
      return hit(`fw.ufw-${verb}`, 85, 'firewall-network', `ufw ${verb} turns the firewall off`);
    if (verb === 'status' || verb === 'show' || verb === 'app')
      return hit('fw.list', 10, 'firewall-network', 'shows the firewall');
    return hit('fw.ufw-change', 55, 'firewall-network', `ufw ${verb} changes firewall rules`);
  }
  if (n === 'firewall-cmd') {
    if (/--panic-on|--set-default-zone=trusted|--complete-reload/.test(joined))
      return hit('fw.firewalld-open', 85, 'firewall-network', 'firewall-cmd opens or blocks everything');
    if (/--(list|get|query|state)/.test(joined)) return hit('fw.list', 10, 'firewall-network', 'shows the firewall');
    return hit('fw.firewalld-change', 55, 'firewall-network', 'firewall-cmd changes rules');
  }
  if (n === 'ip' || n === 'ifconfig' || n === 'ifdown' || n === 'nmcli' || n === 'route') {
    if (n === 'ifdown') return hit('net.ifdown', 80, 'firewall-network', 'takes a network interface down');
    if (/link\s+set\s+\S+\s+down|(^|\s)down$/.test(joined))
      return hit('net.link-down', 80, 'firewall-network', 'takes a network interface down');
    if (/(route|r)\s+(del|delete|flush)|addr(ess)?\s+flush|^del\s+default/.test(joined))
      return hit(
        'net.route-flush',
        80,
        'firewall-network',
        'removes routes or addresses; the server may drop off the network',
      );
    if (
      n === 'nmcli' &&
      /networking\s+off|radio\s+all\s+off|(dev(ice)?|con(nection)?)\s+(down|disconnect|delete)/.test(joined)
    )
      return hit('net.nmcli-off', 80, 'firewall-network', 'nmcli takes the network down');
    if (/\s(add|set|change|replace)\s|^(add|set)\s|^(link|addr|route)\s+(add|set|change|replace)/.test(` ${joined} `))
      return hit('net.change', 50, 'firewall-network', 'changes network configuration');
    return null;
  }
  if (n === 'tcpdump' || n === 'tshark')
    return hit('net.sniff', 45, 'credential-access', `${n} captures network traffic`);
  if (n === 'nmap' || n === 'masscan') return hit('net.scan', 50, 'firewall-network', `${n} scans the network`);
  return null;
};

function unitVerdict(verb: string, unit: string, tool: string): Hit | null {
  const u = unit.replace(/\.service$/, '');
  if (
    /^(status|show|cat|list-units|list-unit-files|list-timers|is-active|is-enabled|is-failed|help|list-dependencies)$/.test(
      verb,
    )
  )
    return hit('svc.read', 5, 'services', `${tool} ${verb}`);
  if (/^(stop|disable|mask|kill)$/.test(verb)) {
    if (FIREWALL_UNITS.test(u)) return hit('fw.service-stop', 85, 'firewall-network', `${verb}s the firewall (${u})`);
    if (LOGGING_UNITS.test(u)) return hit('history.logging-stop', 85, 'history-tampering', `${verb}s logging (${u})`);
    if (CRITICAL_UNITS.test(u))
      return hit('svc.critical-stop', 90, 'services', `${verb}s ${u}; remote access or the system may break`);
    return hit('svc.stop', 60, 'services', `${verb}s ${u || 'a service'}`);
  }
  if (
    /^(restart|reload|start|enable|try-restart|reload-or-restart|unmask|edit|set-property|daemon-reload|daemon-reexec)$/.test(
      verb,
    )
  )
    return hit('svc.change', CRITICAL_UNITS.test(u) ? 60 : 50, 'services', `${verb}${u ? ` ${u}` : ''}`);
  return null;
}

const services: CommandRule = (cmd) => {
  const n = cmd.name;
  if (n === 'systemctl') {
    const args = operands(cmd);
    const verb = args[0] ?? '';
    if (/^(poweroff|reboot|halt|kexec|suspend|hibernate|emergency|rescue)$/.test(verb))
      return hit('power.systemctl', 90, 'power', `systemctl ${verb}`);
    if (verb === 'isolate' && /rescue|emergency|halt|poweroff|reboot/.test(args[1] ?? ''))
      return hit('power.isolate', 90, 'power', `systemctl isolate ${args[1]}`);
    if (args.length <= 1 && verb === '') return hit('svc.read', 5, 'services', 'systemctl list');
    const units = args.slice(1);
    const hits = (units.length > 0 ? units : ['']).map((u) => unitVerdict(verb, u, 'systemctl'));
    return hits.reduce<Hit | null>((a, b) => (b && (!a || b.score > a.score) ? b : a), null);
  }
  if (n === 'service') return unitVerdict(sub(cmd, 2), sub(cmd, 1), 'service');
  if (n === 'journalctl') {
    if (cmd.argv.some((a) => a.startsWith('--vacuum') || a === '--rotate' || a === '--flush'))
      return hit('history.journal-vacuum', 75, 'history-tampering', 'journalctl deletes journal files');
    return hit('svc.journal', 5, 'services', 'reads the journal');
  }
  if (n === 'auditctl' && (hasFlag(cmd, 'D') || /-e\s*0/.test(cmd.argv.join(' '))))
    return hit('history.audit-off', 85, 'history-tampering', 'auditctl removes audit rules or turns auditing off');
  return null;
};

const CRITICAL_PACKAGE =
  /^(openssh-server|openssh|ssh|sshd|sudo|systemd|systemd-sysv|libc6|glibc|coreutils|bash|dpkg|apt|rpm|dnf|yum|linux-image.*|kernel.*|grub.*|corral.*|util-linux|login|passwd|libpam.*|pam|init|python3|e2fsprogs|iproute2|netplan\.io|network-manager|openssl|ca-certificates)(:[a-z0-9]+)?$/;

const packages: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = operands(cmd);
  let verb: string;
  let pkgs: string[];
  if (['apt', 'apt-get', 'dnf', 'yum', 'zypper', 'apk', 'snap', 'aptitude', 'microdnf', 'tdnf'].includes(n)) {
    verb = args[0] ?? '';
    pkgs = args.slice(1);
  } else if (n === 'pacman') {
    const op = cmd.argv.find((a) => /^-[A-Z]/.test(a)) ?? '';
    verb = op.startsWith('-R')
      ? 'remove'
      : /^-S[a-z]*u/.test(op)
        ? 'upgrade'
        : op.startsWith('-S') && args.length > 0
          ? 'install'
          : 'query';
    pkgs = args;
  } else if (n === 'dpkg' || n === 'rpm') {
    const op = cmd.argv.slice(1).find((a) => a.startsWith('-')) ?? '';
    verb = /^(-r|-P|--remove|--purge|-e|--erase)$/.test(op)
      ? 'remove'
      : /^(-i|--install|-U|-Uvh|-ivh)$/.test(op)
        ? 'install'
        : 'query';
    pkgs = args;
  } else if (['pip', 'pip3', 'gem', 'npm', 'pnpm', 'yarn', 'cargo'].includes(n)) {
    verb = args[0] ?? '';
    if (/^(install|i|add)$/.test(verb) && (cmd.elevated || hasFlag(cmd, 'g', '--global')))
      return hit('pkg.lang-global', 45, 'packages', `${n} installs packages system-wide`);
    if (/^(uninstall|remove|rm)$/.test(verb)) return hit('pkg.lang-remove', 40, 'packages', `${n} removes packages`);
    return /^(install|i|add)$/.test(verb) ? hit('pkg.lang-install', 20, 'packages', `${n} installs packages`) : null;
  } else return null;
  if (/^(remove|purge|erase|autoremove|delete|del|uninstall|rm)$/.test(verb)) {
    const critical = pkgs.find((p) => CRITICAL_PACKAGE.test(p));
    if (critical)
      return hit('pkg.remove-critical', 90, 'packages', `removes ${critical}, which the system or remote access needs`);
    return hit('pkg.remove', 60, 'packages', `removes packages (${pkgs.join(' ') || verb})`);
  }
  if (/^(install|reinstall|localinstall|add|downgrade|refresh)$/.test(verb) && pkgs.length > 0)
    return hit('pkg.install', 45, 'packages', `installs ${pkgs.join(' ')}`);
  if (
    /^(upgrade|dist-upgrade|full-upgrade|update-minimal|distro-sync|dup|system-upgrade)$/.test(verb) ||
    (verb === 'update' && ['dnf', 'yum', 'zypper'].includes(n))
  )
    return hit('pkg.upgrade', 50, 'packages', 'upgrades installed packages');
  if (verb === 'update') return hit('pkg.refresh', 20, 'packages', 'refreshes package lists');
  return null;
};

const DOWNLOADERS = new Set(['curl', 'wget', 'fetch', 'aria2c', 'lwp-download', 'invoke-webrequest', 'iwr', 'http']);
const DECODERS = /^(base64|base32|xxd|openssl|rev|gunzip|zcat|uudecode|tr)$/;
const INTERPRETER =
  /^(sh|bash|dash|zsh|ksh|ash|fish|python[0-9.]*|perl|ruby|php[0-9.]*|node|nodejs|lua|tclsh|source|\.|eval)$/;

const FETCHING_TEXT = /(^|\$\(|`|<\()\s*(sudo\s+)?(curl|wget|fetch|aria2c)\s/;

/** An interpreter reading its program from stdin (no script file argument). */
function readsProgramFromStdin(cmd: SimpleCommand): boolean {
  if (!INTERPRETER.test(cmd.name)) return false;
  const args = cmd.argv.slice(1);
  return args.length === 0 || args.every((a) => a.startsWith('-')) || args[0] === '-' || args.includes('-s');
}

const downloadExec: CommandRule = (cmd, pipeline, index) => {
  // curl ... | sh (possibly through tee, sudo, gunzip...).
  if (index > 0 && readsProgramFromStdin(cmd)) {
    const before = pipeline.slice(0, index);
    const dl = before.find((c) => DOWNLOADERS.has(c.name));
    if (dl) return hit('dl.pipe-to-shell', 95, 'download-execute', `pipes ${dl.name} output into ${cmd.name}`);
    const dec = before.find((c) => DECODERS.test(c.name) && (c.name !== 'openssl' || c.argv.includes('-d')));
    if (dec && (dec.name !== 'base64' || hasFlag(dec, 'd', '--decode') || hasFlag(dec, 'D')))
      return hit('obf.decode-to-shell', 90, 'obfuscation', `runs ${dec.name}-decoded text with ${cmd.name}`);
    // `nc host port | sh` and `cat fifo | sh -i | nc host port`: the shell talks to a socket either way.
    const nc = pipeline.find((c) => c !== cmd && /^(nc|ncat|netcat|telnet|socat|openssl)$/.test(c.name));
    if (nc) return hit('revsh.pipe-to-shell', 95, 'reverse-shell', `feeds ${nc.name} network input into ${cmd.name}`);
    return hit('exec.pipe-to-shell', 60, 'download-execute', `runs text piped into ${cmd.name}`);
  }
  // bash -c "$(curl ...)", bash <(wget -O- ...), eval "`curl ...`".
  if (INTERPRETER.test(cmd.name) && cmd.substitutions.some((t) => FETCHING_TEXT.test(t)))
    return hit('dl.substitution-to-shell', 95, 'download-execute', `runs downloaded text with ${cmd.name}`);
  if (DOWNLOADERS.has(cmd.name)) {
    const joined = cmd.argv.slice(1).join(' ');
    const upload =
      /(^|\s)(-T|--upload-file|-F|--form|-d|--data|--data-binary|--data-raw|--post-file|--body-file)(\s|=)/.test(
        ` ${joined} `,
      );
    const sent = cmd.argv.find((a) => isSecret(a.replace(/^.*@/, '')));
    if (upload && sent)
      return hit('exfil.secret-upload', 90, 'credential-access', `${cmd.name} sends ${sent} to a remote host`);
    if (upload && /(^|\s)(-T|--upload-file|--post-file)\s|@\//.test(` ${joined}`))
      return hit('exfil.upload', 55, 'exfiltration', `${cmd.name} uploads a file`);
    return hit('net.download', 10, 'download-execute', `${cmd.name} fetches a URL`);
  }
  return null;
};

const reverseShell: CommandRule = (cmd) => {
  const n = cmd.name;
  const joined = cmd.argv.slice(1).join(' ');
  if (/^(nc|ncat|netcat|nc\.traditional|nc\.openbsd)$/.test(n)) {
    if (/(^|\s)-[a-z]*[ec]\b/.test(joined) || cmd.argv.includes('--exec') || cmd.argv.includes('--sh-exec'))
      return hit('revsh.nc-exec', 95, 'reverse-shell', `${n} hands a shell to a network peer`);
    if (/(^|\s)-[a-z]*l/.test(joined)) return hit('net.listen', 60, 'firewall-network', `${n} listens for connections`);
    return hit('net.nc', 40, 'firewall-network', `${n} opens a raw connection`);
  }
  if (n === 'socat') {
    if (/exec:|system:/i.test(joined))
      return hit('revsh.socat-exec', 95, 'reverse-shell', 'socat connects a shell to a socket');
    return hit('net.socat', 50, 'firewall-network', 'socat relays a connection');
  }
  const code = cmd.argv.slice(1).join(' ');
  if (/^(python[0-9.]*|perl|ruby|php[0-9.]*|node|nodejs|lua)$/.test(n)) {
    if (
      /socket/i.test(code) &&
      /subprocess|pty\.spawn|os\.dup2|exec|\/bin\/(ba)?sh|child_process|popen|system\(/i.test(code)
    )
      return hit('revsh.script', 95, 'reverse-shell', `${n} one-liner connects a shell to a socket`);
    if (/fsockopen|TCPSocket|IO::Socket|net\.connect/.test(code) && /sh/.test(code))
      return hit('revsh.script', 95, 'reverse-shell', `${n} one-liner connects a shell to a socket`);
  }
  if (n === 'mkfifo' || (n === 'mknod' && cmd.argv.includes('p')))
    return hit('revsh.fifo', 45, 'reverse-shell', 'creates a named pipe (often part of a reverse shell)');
  if (n === 'ssh' && cmd.argv.some((a) => a.startsWith('-R')))
    return hit('net.reverse-tunnel', 55, 'firewall-network', 'ssh -R exposes a local port on a remote host');
  return null;
};

const READERS = new Set([
  'cat',
  'tac',
  'less',
  'more',
  'head',
  'tail',
  'strings',
  'xxd',
  'hexdump',
  'od',
  'base64',
  'cp',
  'scp',
  'rsync',
  'tar',
  'zip',
  'gzip',
  'grep',
  'egrep',
  'fgrep',
  'rg',
  'awk',
  'sed',
  'nl',
  'vim',
  'vi',
  'nano',
  'view',
  'emacs',
  'openssl',
  'sort',
  'uniq',
  'cut',
  'dd',
  'nc',
  'bat',
  'mail',
  'sendmail',
  'gpg',
  'unshadow',
]);

const credentials: CommandRule = (cmd) => {
  const n = cmd.name;
  if (READERS.has(n)) {
    const files = [
      ...cmd.argv.slice(1).map((a) => a.replace(/^if=/, '')),
      ...cmd.redirects.filter((r) => r.op === '<').map((r) => r.target),
    ];
    const secret = files.find(isSecret);
    if (secret) return hit('cred.read-secret', 90, 'credential-access', `${n} reads ${secret}`);
  }
  if (n === 'getent' && /g?shadow/.test(sub(cmd)))
    return hit('cred.getent-shadow', 90, 'credential-access', 'reads password hashes');
  if (/^(john|hashcat|unshadow|mimikatz|lazagne|hydra)$/.test(n))
    return hit('cred.cracker', 90, 'credential-access', `${n} cracks passwords`);
  if (
    /^(grep|egrep|rg|ag|ack)$/.test(n) &&
    /pass(word|wd)?|secret|api[_-]?key|token|private key/i.test(cmd.argv.slice(1).join(' '))
  )
    return hit('cred.search', 50, 'credential-access', `${n} searches for secrets`);
  if (n === 'security' && /dump-keychain|find-generic-password/.test(sub(cmd)))
    return hit('cred.keychain', 90, 'credential-access', 'dumps the keychain');
  return null;
};

const HISTORY_VARS = /^(HISTFILE|HISTSIZE|HISTFILESIZE|SAVEHIST|HISTCONTROL|HISTIGNORE)(=|$)/;

const history: CommandRule = (cmd) => {
  const n = cmd.name;
  if (n === 'history' && cmd.argv.slice(1).some((a) => /^-[a-z]*[cdw]/.test(a)))
    return hit('history.clear', 85, 'history-tampering', `history ${cmd.argv.slice(1).join(' ')} erases shell history`);
  const vars = [
    ...cmd.assignments,
    ...(['unset', 'export', 'declare', 'typeset', 'set'].includes(n) ? cmd.argv.slice(1) : []),
  ];
  const hv = vars.find((v) => HISTORY_VARS.test(v));
  if (hv && (n === 'unset' || /=(\/dev\/null|0|)$|=ignore(space|both)|=\*/.test(hv)))
    return hit(
      'history.disable',
      85,
      'history-tampering',
      `${n === 'unset' ? 'unset ' : ''}${hv} stops history being recorded`,
    );
  if (n === 'set' && cmd.argv.includes('+o') && cmd.argv.includes('history'))
    return hit('history.disable', 85, 'history-tampering', 'set +o history stops history being recorded');
  if (n === 'ln' && cmd.argv.includes('/dev/null') && cmd.argv.some((a) => HISTORY_FILE.test(a) || LOG_FILE.test(a)))
    return hit('history.devnull', 85, 'history-tampering', 'links a history or log file to /dev/null');
  if (n === 'unlink' && cmd.argv.some((a) => HISTORY_FILE.test(a)))
    return hit('history.delete', 85, 'history-tampering', 'deletes shell history');
  return null;
};

const processes: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = operands(cmd);
  if (n === 'kill') {
    if (args.includes('-1') || cmd.argv.slice(1).some((a) => a === '-1') || args.includes('1'))
      return hit(
        'proc.kill-all',
        90,
        'processes',
        args.includes('1') ? 'kills init (pid 1)' : 'kill -1 signals every process',
      );
    if (cmd.argv.includes('-l') || cmd.argv.includes('-L')) return null;
    return hit(
      'proc.kill',
      hasFlag(cmd, '9') || cmd.argv.some((a) => /KILL/.test(a)) ? 45 : 40,
      'processes',
      'kills a process',
    );
  }
  if (n === 'killall5') return hit('proc.kill-all', 90, 'processes', 'killall5 signals every process');
  if (n === 'pkill' || n === 'killall') {
    const target = args.at(-1) ?? '';
    if (
      CRITICAL_UNITS.test(target) ||
      /^(init|systemd|sshd?|bash|-1)$/.test(target) ||
      (cmd.argv.includes('-u') && cmd.argv.includes('root'))
    )
      return hit('proc.kill-critical', 85, 'processes', `${n} ${target} kills processes the system needs`);
    return hit('proc.pkill', 50, 'processes', `${n} kills processes by name`);
  }
  if (/^(init|telinit)$/.test(n) && /^[06sS1]$/.test(sub(cmd)))
    return hit('power.init', 90, 'power', `${n} ${sub(cmd)} changes the runlevel`);
  if (/^(shutdown|reboot|halt|poweroff)$/.test(n)) {
    if (n === 'shutdown' && hasFlag(cmd, 'c')) return hit('power.cancel', 20, 'power', 'cancels a shutdown');
    return hit(`power.${n}`, 90, 'power', `${n} takes the server down`);
  }
  return null;
};

const scheduled: CommandRule = (cmd) => {
  if (cmd.name === 'crontab') {
    if (hasFlag(cmd, 'r')) return hit('cron.remove', 85, 'scheduled-tasks', 'crontab -r deletes the whole crontab');
    if (hasFlag(cmd, 'l')) return hit('cron.list', 5, 'scheduled-tasks', 'lists the crontab');
    if (hasFlag(cmd, 'e')) return hit('cron.edit', 45, 'scheduled-tasks', 'edits the crontab');
    return hit('cron.replace', 55, 'scheduled-tasks', 'replaces the crontab');
  }
  if (cmd.name === 'at' || cmd.name === 'batch') return hit('cron.at', 40, 'scheduled-tasks', 'schedules a command');
  return null;
};

const containers: CommandRule = (cmd) => {
  const n = cmd.name;
  const args = cmd.argv.slice(1);
  const joined = args.join(' ');
  if (n === 'docker' || n === 'podman' || n === 'nerdctl') {
    const verb =
      args[0] === 'container' ||
      args[0] === 'image' ||
      args[0] === 'volume' ||
      args[0] === 'system' ||
      args[0] === 'network'
        ? `${args[0]} ${args[1] ?? ''}`
        : (args[0] ?? '');
    if (/^system prune/.test(verb) || /^volume (rm|prune)/.test(verb))
      return hit(
        'ctr.prune',
        /-a|--all|--volumes|volume/.test(joined) ? 70 : 55,
        'containers',
        `${n} ${verb} deletes containers, images or volumes`,
      );
    if (
      /^(run|create)$/.test(verb) &&
      /--privileged|-v\s*\/:|--volume[= ]\/:|--pid[= ]host|--net(work)?[= ]host.*--privileged|--cap-add[= ](ALL|SYS_ADMIN)/.test(
        joined,
      )
    )
      return hit('ctr.privileged', 85, 'privilege', `${n} ${verb} starts a container with host root access`);
    if (/^(rm|container rm|rmi|image rm|kill|container kill)$/.test(verb))
      return hit(
        'ctr.remove',
        hasFlag(cmd, 'f', '--force') ? 50 : 45,
        'containers',
        `${n} ${verb} removes or kills containers`,
      );
    if (/^(stop|restart|container stop|pause|update|network rm)$/.test(verb))
      return hit('ctr.stop', 45, 'containers', `${n} ${verb}`);
    if (/^(run|create|exec|start|compose|build|pull)$/.test(verb))
      return hit('ctr.run', 30, 'containers', `${n} ${verb}`);
    return hit('ctr.read', 5, 'containers', `${n} ${verb}`);
  }
  if (n === 'kubectl' || n === 'oc') {
    const verb = args.find((a) => !a.startsWith('-')) ?? '';
    if (verb === 'delete')
      return /\s(ns|namespace|namespaces|node|nodes|pv|crd)\b|--all\b/.test(` ${joined}`)
        ? hit('k8s.delete-broad', 85, 'containers', `${n} delete ${joined}`)
        : hit('k8s.delete', 60, 'containers', `${n} delete`);
    if (/^(drain|cordon|scale|apply|replace|patch|edit|rollout|set)$/.test(verb))
      return hit('k8s.change', 50, 'containers', `${n} ${verb}`);
    return hit('k8s.read', 5, 'containers', `${n} ${verb}`);
  }
  return null;
};

const git: CommandRule = (cmd) => {
  if (cmd.name !== 'git') return null;
  const args = cmd.argv.slice(1);
  const verb = args.find((a) => !a.startsWith('-')) ?? '';
  if (
    verb === 'push' &&
    (hasFlag(cmd, 'f', '--force', '--mirror') || args.some((a) => a.startsWith('--force') || a.startsWith('+')))
  )
    return hit('git.force-push', 55, 'source-control', 'git push --force rewrites remote history');
  if (verb === 'push' && args.includes('--delete'))
    return hit('git.delete-remote', 50, 'source-control', 'deletes a remote branch');
  if (verb === 'reset' && args.includes('--hard'))
    return hit('git.reset-hard', 45, 'source-control', 'git reset --hard discards local changes');
  if (verb === 'clean' && hasFlag(cmd, 'f', '--force'))
    return hit('git.clean', 50, 'source-control', 'git clean deletes untracked files');
  if (verb === 'filter-branch' || verb === 'filter-repo')
    return hit('git.rewrite', 55, 'source-control', 'rewrites history');
  if (verb === 'branch' && hasFlag(cmd, 'D'))
    return hit('git.branch-delete', 40, 'source-control', 'force-deletes a branch');
  return hit('git.other', 5, 'source-control', `git ${verb}`);
};

const kernel: CommandRule = (cmd) => {
  const n = cmd.name;
  if (n === 'insmod' || n === 'rmmod' || (n === 'modprobe' && hasFlag(cmd, 'r', '--remove')))
    return hit('kernel.module', 65, 'kernel', `${n} loads or unloads a kernel module`);
  if (n === 'modprobe') return hit('kernel.module', 50, 'kernel', 'loads a kernel module');
  if (n === 'sysctl' && (hasFlag(cmd, 'w', '--write') || cmd.argv.some((a) => a.includes('='))))
    return hit('kernel.sysctl', 50, 'kernel', 'changes kernel parameters');
  if (n === 'kexec') return hit('power.kexec', 90, 'power', 'kexec boots another kernel');
  if (n === 'eval') return hit('exec.eval', 40, 'obfuscation', 'eval runs a string as a command');
  return null;
};

/** Writes through redirection, `tee`, `cp`/`mv`/`dd` into places that matter. */
const writes: CommandRule = (cmd) => {
  for (const t of writeTargets(cmd)) {
    if (BLOCK_DEVICE.test(t)) return hit('disk.overwrite', 95, 'disks', `writes directly to ${t}`);
    if (t === '/proc/sysrq-trigger')
      return hit('power.sysrq', 95, 'power', 'writes to /proc/sysrq-trigger (instant reboot or crash)');
    if (/^\/etc\/sudoers(\.d\/.*)?$/.test(t)) return hit('priv.sudoers-write', 95, 'privilege', `writes to ${t}`);
    if (t === '/etc/ld.so.preload')
      return hit('priv.ld-preload', 95, 'privilege', 'writes /etc/ld.so.preload (a rootkit technique)');
    if (ACCOUNT_FILE.test(t)) return hit('user.account-file-write', 90, 'users-permissions', `writes to ${t}`);
    if (HISTORY_FILE.test(t) || LOG_FILE.test(t))
      return hit('history.overwrite', 85, 'history-tampering', `overwrites ${t}`);
    if (/(^|\/)\.ssh\/authorized_keys2?$/.test(t))
      return hit('cred.authorized-keys', 80, 'credential-access', `adds an SSH key to ${t}`);
    if (/^\/etc\/(cron|anacrontab)|^\/var\/spool\/cron/.test(t))
      return hit('cron.write', 65, 'scheduled-tasks', `writes to ${t}`);
    if (/^\/etc\/ssh\/sshd_config/.test(t)) return hit('svc.sshd-config', 65, 'services', `changes ${t}`);
    if (/^\/boot\//.test(t)) return hit('kernel.boot-write', 80, 'kernel', `writes to ${t}`);
    if (/^\/(etc|usr|bin|sbin|lib|lib64)\//.test(t) && cmd.redirects.some((r) => r.target === t && r.op !== '>>'))
      return hit('config.overwrite', 60, 'system-config', `overwrites ${t}`);
    if (/^\/etc\//.test(t)) return hit('config.write', 50, 'system-config', `writes to ${t}`);
  }
  if (cmd.name === 'mv') {
    const src = operands(cmd)
      .slice(0, -1)
      .find((s) => CRITICAL_PATH.test(s) || ACCOUNT_FILE.test(s));
    if (src) return hit('files.move-system', 85, 'destructive-files', `moves ${src} away`);
    if (operands(cmd).at(-1) === '/dev/null')
      return hit('files.move-devnull', 80, 'destructive-files', 'moves files to /dev/null');
  }
  if (cmd.name === 'find' && cmd.argv.some((a) => a === '-delete' || a === 'rm' || a === '-exec'))
    return cmd.argv.includes('-delete') || cmd.argv.includes('rm')
      ? CRITICAL_PATH.test(cmd.argv[1] ?? '')
        ? hit('files.find-delete-system', 90, 'destructive-files', `find ${cmd.argv[1]} ... deletes system files`)
        : hit('files.find-delete', 55, 'destructive-files', 'find deletes matching files')
      : null;
  if ((cmd.name === 'sed' || cmd.name === 'perl') && cmd.argv.some((a) => /^-[a-z]*i/.test(a))) {
    const etc = operands(cmd).find((a) => /^\/etc\//.test(a));
    if (etc) return hit('config.edit', 50, 'system-config', `${cmd.name} -i edits ${etc} in place`);
  }
  if (cmd.name === 'truncate') return hit('files.truncate', 40, 'destructive-files', 'truncates files');
  return null;
};

export const COMMAND_RULES: readonly CommandRule[] = [
  removal,
  disks,
  permissions,
  users,
  privilege,
  firewall,
  services,
  packages,
  downloadExec,
  reverseShell,
  credentials,
  history,
  processes,
  scheduled,
  containers,
  git,
  kernel,
  writes,
];

/** Shapes better seen on the raw line than in tokens. */
export const LINE_RULES: readonly { re: RegExp; hit: Hit }[] = [
  {
    re: /(\w+|:)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;\s*\1/,
    hit: hit('dos.fork-bomb', 100, 'resource-exhaustion', 'a fork bomb exhausts the process table'),
  },
  {
    re: /\/dev\/(tcp|udp)\/[^\s/]+\/\d+/,
    hit: hit('revsh.dev-tcp', 95, 'reverse-shell', 'redirects a shell through /dev/tcp to a remote host'),
  },
  {
    re: /(curl|wget)\b[^;&|]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b/,
    hit: hit('dl.pipe-to-shell', 95, 'download-execute', 'pipes a download into a shell'),
  },
];

/** Commands whose output we read as a command line of its own when piped into a shell. */
export const ECHOERS = new Set(['echo', 'printf']);
export { readsProgramFromStdin, DOWNLOADERS, INTERPRETER };
