/**
 * The service definitions `corral-agent install` writes, one per platform. Pure: paths in, text out.
 * docs/install.md explains each setting; the Linux unit is checked with `systemd-analyze verify` in a
 * test, the macOS and Windows files are parsed as XML in tests (untried on real macOS and Windows hosts).
 */

export type ServicePlatform = 'linux' | 'darwin' | 'win32';

/** Where the agent lives and which config it runs with. */
export interface ServicePaths {
  bin: string;
  config: string;
}

/** Default locations per platform (install.sh uses the same). */
export const DEFAULT_PATHS: Record<ServicePlatform, ServicePaths & { serviceFile: string }> = {
  linux: {
    bin: '/opt/corral/bin/corral-agent',
    config: '/etc/corral/agent.json',
    serviceFile: '/etc/systemd/system/corral-agent.service',
  },
  darwin: {
    bin: '/opt/corral/bin/corral-agent',
    config: '/etc/corral/agent.json',
    serviceFile: '/Library/LaunchDaemons/com.corral.agent.plist',
  },
  win32: {
    bin: 'C:\\Program Files\\Corral\\corral-agent.exe',
    config: 'C:\\ProgramData\\Corral\\agent.json',
    serviceFile: 'C:\\ProgramData\\Corral\\corral-agent-task.xml',
  },
};

/** Exit status by which the agent asks its service manager to start it again (after an upgrade). */
export const RESTART_EXIT_CODE = 75;

/** Quote one word for systemd's ExecStart (double quotes, backslash escapes). */
function systemdWord(w: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w)) return w;
  return `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The systemd unit. Everything the agent starts (terminals, commands, file access as users) runs inside
 * this service, so sandboxing directives would sandbox the users' sessions too: see docs/install.md,
 * "The systemd unit", for what is set, what is not, and why.
 */
export function renderSystemdUnit(p: ServicePaths): string {
  const dir = p.config.slice(0, p.config.lastIndexOf('/')) || '/';
  return `# Corral agent: one outbound TLS connection to the Corral gateway; no inbound port.
# Written by \`corral-agent install\`; removed by \`corral-agent uninstall\`. Why each line: docs/install.md.
[Unit]
Description=Corral agent (outbound connection to the Corral gateway)
Wants=network-online.target
After=network-online.target
# Never give up restarting: a remote-access agent that stays down locks everyone out of the server.
StartLimitIntervalSec=0

[Service]
Type=exec
ExecStart=${systemdWord(p.bin)} run --config ${systemdWord(p.config)}
# Tells the agent a service manager restarts it (upgrades exit with ${RESTART_EXIT_CODE} and let systemd start the new version).
Environment=CORRAL_AGENT_SUPERVISED=systemd
# Proxy settings (HTTPS_PROXY=..., NO_PROXY=...), optional, mode 0600.
EnvironmentFile=-${dir}/agent.env
Restart=on-failure
RestartSec=5s
# SIGTERM to the agent only: it hangs up its sessions itself, then the rest of the group gets SIGKILL.
KillMode=mixed
TimeoutStopSec=20s
# A user's process killed by the kernel's OOM killer must not take the agent down with it.
OOMPolicy=continue
LimitNOFILE=65536
${
  dir.startsWith('/etc/')
    ? `# The agent's config directory is root's alone (it holds the agent's private key).
ConfigurationDirectory=${systemdWord(dir.slice('/etc/'.length))}
ConfigurationDirectoryMode=0700
`
    : ''
}# Deliberately not set, because sessions inherit them (docs/install.md): NoNewPrivileges (sudo in a
# session), ProtectSystem/ProtectHome/PrivateTmp (users edit /etc, their homes and /tmp), ProtectKernel*,
# RestrictNamespaces, SystemCallFilter, MemoryDenyWriteExecute (containers, JITs, debuggers in sessions).

[Install]
WantedBy=multi-user.target
`;
}

/** The launchd daemon for macOS (/Library/LaunchDaemons/com.corral.agent.plist). Untried on a real Mac. */
export function renderLaunchdPlist(p: ServicePaths): string {
  const args = [p.bin, 'run', '--config', p.config].map((a) => `    <string>${xml(a)}</string>`).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>com.corral.agent</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>CORRAL_AGENT_SUPERVISED</key>
    <string>launchd</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>StandardOutPath</key>
  <string>/var/log/corral-agent.log</string>
  <key>StandardErrorPath</key>
  <string>/var/log/corral-agent.log</string>
</dict>
</plist>
`;
}

/**
 * A Task Scheduler definition for Windows: at boot, as SYSTEM, restarted on failure. A Node single
 * executable cannot answer the Service Control Manager's start handshake (SCM would kill it after 30 s),
 * so a scheduled task stands in for a service without a wrapper executable. Untried on real Windows.
 */
export function renderWindowsTask(p: ServicePaths): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Corral agent: outbound connection to the Corral gateway</Description>
    <URI>\\CorralAgent</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="System">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="System">
    <Exec>
      <Command>${xml(p.bin)}</Command>
      <Arguments>run --config "${xml(p.config)}"</Arguments>
    </Exec>
  </Actions>
</Task>
`;
}

/** The commands that register and start (or stop and remove) the service, as argv lists. */
export function serviceCommands(
  platform: ServicePlatform,
  serviceFile: string,
): { install: string[][]; uninstall: string[][] } {
  switch (platform) {
    case 'linux':
      return {
        install: [
          ['systemctl', 'daemon-reload'],
          ['systemctl', 'enable', '--now', 'corral-agent.service'],
        ],
        uninstall: [
          ['systemctl', 'disable', '--now', 'corral-agent.service'],
          ['systemctl', 'daemon-reload'],
        ],
      };
    case 'darwin':
      return {
        install: [['launchctl', 'bootstrap', 'system', serviceFile]],
        uninstall: [['launchctl', 'bootout', 'system/com.corral.agent']],
      };
    case 'win32':
      return {
        install: [
          ['schtasks.exe', '/Create', '/TN', 'CorralAgent', '/XML', serviceFile, '/F'],
          ['schtasks.exe', '/Run', '/TN', 'CorralAgent'],
        ],
        uninstall: [
          ['schtasks.exe', '/End', '/TN', 'CorralAgent'],
          ['schtasks.exe', '/Delete', '/TN', 'CorralAgent', '/F'],
        ],
      };
  }
}

/** The service file for a platform. */
export function renderServiceFile(platform: ServicePlatform, p: ServicePaths): string {
  return platform === 'linux'
    ? renderSystemdUnit(p)
    : platform === 'darwin'
      ? renderLaunchdPlist(p)
      : renderWindowsTask(p);
}
