import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderLaunchdPlist, renderSystemdUnit, renderWindowsTask } from './service-files.js';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

describe('service files', () => {
  it.skipIf(!existsSync(SYSTEMD_ANALYZE))('the systemd unit passes systemd-analyze verify without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'corral-unit-'));
    try {
      // verify checks that ExecStart's program exists and is executable: point it at one that is.
      const bin = join(dir, 'corral agent'); // a space, to check the quoting too
      writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
      const unit = join(dir, 'corral-agent.service');
      writeFileSync(unit, renderSystemdUnit({ bin, config: '/etc/corral/agent.json' }));
      const r = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', unit], { encoding: 'utf8' });
      expect(r.stderr.trim(), r.stderr).toBe('');
      expect(r.status).toBe(0);
      // and a broken unit is caught (the check can fail)
      writeFileSync(
        unit,
        renderSystemdUnit({ bin, config: '/etc/corral/agent.json' }).replace('Restart=on-failure', 'Restart=sometimes'),
      );
      const bad = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', unit], { encoding: 'utf8' });
      expect(bad.stderr).toMatch(/restart/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the systemd unit restarts on failure, never gives up, and leaves sessions unsandboxed on purpose', () => {
    const unit = renderSystemdUnit({ bin: '/opt/corral/bin/corral-agent', config: '/etc/corral/agent.json' });
    expect(unit).toContain('ExecStart=/opt/corral/bin/corral-agent run --config /etc/corral/agent.json');
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^StartLimitIntervalSec=0$/m);
    expect(unit).toMatch(/^OOMPolicy=continue$/m);
    expect(unit).toMatch(/^ConfigurationDirectoryMode=0700$/m);
    expect(unit).not.toMatch(/^(NoNewPrivileges|ProtectSystem|ProtectHome|PrivateTmp)=/m);
  });

  it('the launchd plist is well-formed and runs the agent with KeepAlive on failure', () => {
    const text = renderLaunchdPlist({ bin: '/opt/corral/bin/corral-agent', config: '/etc/corral/a&b.json' });
    expect(XMLValidator.validate(text)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(text) as {
      plist: { dict: { key: string[]; string: string[]; array: { string: string[] } } };
    };
    const d = doc.plist.dict;
    expect(d.key).toEqual(
      expect.arrayContaining(['Label', 'ProgramArguments', 'RunAtLoad', 'KeepAlive', 'EnvironmentVariables']),
    );
    expect(d.string).toContain('com.corral.agent');
    expect(d.array.string).toEqual(['/opt/corral/bin/corral-agent', 'run', '--config', '/etc/corral/a&b.json']);
  });

  it('the Windows task is well-formed: at boot, as SYSTEM, restarted on failure, no time limit', () => {
    const text = renderWindowsTask({
      bin: 'C:\\Program Files\\Corral\\corral-agent.exe',
      config: 'C:\\ProgramData\\Corral\\agent.json',
    });
    expect(XMLValidator.validate(text)).toBe(true);
    const t = (new XMLParser().parse(text) as { Task: Record<string, Record<string, unknown>> }).Task;
    expect(t.Triggers).toHaveProperty('BootTrigger');
    expect((t.Principals!.Principal as { UserId: string }).UserId).toBe('S-1-5-18');
    expect(t.Settings).toMatchObject({
      ExecutionTimeLimit: 'PT0S',
      RestartOnFailure: { Interval: 'PT1M', Count: 999 },
    });
    expect((t.Actions!.Exec as { Command: string }).Command).toBe('C:\\Program Files\\Corral\\corral-agent.exe');
  });
});
