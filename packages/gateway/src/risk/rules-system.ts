/** Built-in risk rules for system administration: files, disks, accounts, privilege, firewall, services, packages. */
import type { CommandRule, Hit } from './rule-kit.js';
import {
  ACCOUNT_FILE,
  BLOCK_DEVICE,
  CRITICAL_PATH,
  HISTORY_FILE,
  LOG_FILE,
  hasFlag,
  hit,
  operands,
  sub,
} from './rule-kit.js';

export const removal: CommandRule = (cmd) => {
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

export const disks: CommandRule = (cmd) => {
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

export const permissions: CommandRule = (cmd) => {
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

export const users: CommandRule = (cmd) => {
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

export const privilege: CommandRule = (cmd) => {
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
export const CRITICAL_UNITS =
  /^(sshd?|openssh-server|systemd-[a-z-]+|networking|network|NetworkManager|dbus|corral[a-z-]*|auditd|rsyslog|syslog|journald|cron|crond|polkit|sssd|google-guest-agent|amazon-ssm-agent|walinuxagent)(\.(service|socket))?$/;
const LOGGING_UNITS = /^(auditd|rsyslog|syslog|syslog-ng|systemd-journald)(\.(service|socket))?$/;

export const firewall: CommandRule = (cmd) => {
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

export const services: CommandRule = (cmd) => {
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

export const packages: CommandRule = (cmd) => {
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
