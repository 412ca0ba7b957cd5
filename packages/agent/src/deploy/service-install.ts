import { AgentError, AgentErrorCode } from '../errors.js';
import { renderServiceFile, serviceCommands, type ServicePaths, type ServicePlatform } from './service-files.js';

/** The outside world of install/uninstall, injected so tests run it without root or a service manager. */
export interface ServiceDeps {
  exists(path: string): boolean;
  writeFile(path: string, text: string): void;
  removeFile(path: string): void;
  /** Run a command; resolve with its exit status and output. */
  run(argv: string[]): { code: number; output: string };
  print(line: string): void;
}

export interface ServiceInstallOptions {
  platform: ServicePlatform;
  paths: ServicePaths;
  serviceFile: string;
  /** Only print the file and the commands. */
  dryRun: boolean;
  /** Register and start it (else only write the file). */
  start: boolean;
}

/** Is the service manager this platform needs running here? */
function managerMissing(platform: ServicePlatform, deps: ServiceDeps): string | undefined {
  if (platform === 'linux' && !deps.exists('/run/systemd/system')) {
    return 'systemd is not running on this machine (no /run/systemd/system)';
  }
  return undefined;
}

function runAll(cmds: string[][], deps: ServiceDeps, tolerate = false): void {
  for (const argv of cmds) {
    const r = deps.run(argv);
    if (r.code !== 0 && !tolerate) {
      throw new AgentError(
        AgentErrorCode.SERVICE_FAILED,
        `${argv.join(' ')} failed (exit ${r.code})${r.output.trim() ? `: ${r.output.trim().slice(0, 500)}` : ''}`,
      );
    }
  }
}

/**
 * `corral-agent install`: write the service definition and start it. With `dryRun`, print both instead.
 * @throws AgentError CONFIG_NOT_FOUND (register first), SERVICE_MANAGER_MISSING, SERVICE_FAILED
 */
export function installService(o: ServiceInstallOptions, deps: ServiceDeps): void {
  const text = renderServiceFile(o.platform, o.paths);
  const cmds = serviceCommands(o.platform, o.serviceFile);
  if (o.dryRun) {
    deps.print(`# ${o.serviceFile}`);
    deps.print(text.trimEnd());
    if (o.start) for (const c of cmds.install) deps.print(`# then: ${c.join(' ')}`);
    return;
  }
  if (!deps.exists(o.paths.config)) {
    throw new AgentError(
      AgentErrorCode.CONFIG_NOT_FOUND,
      `no config at ${o.paths.config}: run "corral-agent register" first (or pass --config)`,
    );
  }
  if (!deps.exists(o.paths.bin)) {
    throw new AgentError(AgentErrorCode.USAGE, `no agent executable at ${o.paths.bin} (pass --bin PATH)`);
  }
  deps.writeFile(o.serviceFile, text);
  deps.print(`wrote ${o.serviceFile}`);
  if (!o.start) return;
  const missing = managerMissing(o.platform, deps);
  if (missing) {
    throw new AgentError(
      AgentErrorCode.SERVICE_MANAGER_MISSING,
      `${missing}: the unit is written but not started. Start the agent under your init system, or run: ${o.paths.bin} run --config ${o.paths.config}`,
    );
  }
  runAll(cmds.install, deps);
  deps.print('service installed and started');
}

/**
 * `corral-agent uninstall`: stop and remove the service definition (the config and the executable stay;
 * docs/install.md says how to remove them).
 */
export function uninstallService(o: Omit<ServiceInstallOptions, 'start' | 'paths'>, deps: ServiceDeps): void {
  const cmds = serviceCommands(o.platform, o.serviceFile);
  if (o.dryRun) {
    for (const c of cmds.uninstall) deps.print(`# ${c.join(' ')}`);
    deps.print(`# rm ${o.serviceFile}`);
    return;
  }
  if (!managerMissing(o.platform, deps)) runAll(cmds.uninstall, deps, true);
  if (deps.exists(o.serviceFile)) {
    deps.removeFile(o.serviceFile);
    deps.print(`removed ${o.serviceFile}`);
  } else {
    deps.print(`${o.serviceFile} was not there`);
  }
}
