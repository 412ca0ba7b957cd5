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
import type { CommandRule, Hit } from './rule-kit.js';
import {
  BLOCK_DEVICE,
  CRITICAL_PATH,
  HISTORY_FILE,
  LOG_FILE,
  ACCOUNT_FILE,
  hasFlag,
  hit,
  isSecret,
  operands,
  sub,
  writeTargets,
} from './rule-kit.js';
import {
  CRITICAL_UNITS,
  disks,
  firewall,
  packages,
  permissions,
  privilege,
  removal,
  services,
  users,
} from './rules-system.js';
import type { SimpleCommand } from './shell-lexer.js';

export type { Hit } from './rule-kit.js';

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
