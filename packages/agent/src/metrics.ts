import * as os from 'node:os';
import { readFile, statfs } from 'node:fs/promises';
import { MAX_METRIC_DISKS, type DiskUsage, type Metrics } from '@corral/protocol';
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from './logger.js';

/**
 * Health samples for the `metrics` frame (protocol 2): CPU, memory, load, disk use per mount, network
 * byte counters. On Linux they come from /proc and statfs(2); elsewhere from the `os` module (CPU, memory,
 * load, the root file system; no network counters). The parsers are plain functions over text, tested
 * with fixtures; {@link MetricsCollector} is the only part that reads files.
 *
 *   /proc/stat ──┐ (delta since the last sample)
 *   /proc/meminfo ┼─> MetricsCollector.sample() ─> {type:'metrics', ...} ─> control connection
 *   /proc/self/mounts ─> statfs(each real fs)
 *   /proc/net/dev ┘ (cumulative; the gateway computes rates)
 */

/** CPU time counters from the aggregate `cpu` line of /proc/stat, in USER_HZ ticks. */
export interface CpuTimes {
  /** idle + iowait */
  idle: number;
  /** Every state except guest time, which the kernel already counts in user and nice. */
  total: number;
}

/** Parse the first (`cpu `) line of /proc/stat; undefined when it is missing or malformed. */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  // user nice system idle iowait irq softirq steal guest guest_nice
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { idle: idle + iowait, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/**
 * Busy share between two readings, 0..100. With no earlier reading the share since boot is returned
 * (a real figure, if a smoothed one); a counter that went backwards (never on Linux, but cheap to guard)
 * gives 0.
 */
export function cpuPercent(prev: CpuTimes | undefined, cur: CpuTimes): number {
  const dTotal = cur.total - (prev?.total ?? 0);
  const dIdle = cur.idle - (prev?.idle ?? 0);
  if (!(dTotal > 0) || dIdle < 0) return 0;
  return clamp(((dTotal - dIdle) / dTotal) * 100, 0, 100);
}

/** Memory figures from /proc/meminfo, in bytes. */
export interface MemInfo {
  total: number;
  /** MemAvailable (or MemFree + Buffers + Cached on kernels before 3.14, which lack it). */
  available: number;
  swapTotal?: number;
  swapFree?: number;
}

/** Parse /proc/meminfo (`Key:   123 kB` lines); undefined without MemTotal. */
export function parseMeminfo(text: string): MemInfo | undefined {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kb.get('MemTotal');
  if (total === undefined) return undefined;
  const available =
    kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  const swapTotal = kb.get('SwapTotal');
  const swapFree = kb.get('SwapFree');
  return {
    total,
    available: Math.min(available, total),
    ...(swapTotal !== undefined && swapFree !== undefined
      ? { swapTotal, swapFree: Math.min(swapFree, swapTotal) }
      : {}),
  };
}

/** One line of /proc/self/mounts. */
export interface MountEntry {
  device: string;
  mount: string;
  fsType: string;
}

/** `\040` and friends: /proc/self/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse /proc/self/mounts (fstab format: device, mount point, type, options, dump, pass). */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || !f[0] || !f[1] || !f[2]) continue;
    out.push({ device: unescapeMountField(f[0]), mount: unescapeMountField(f[1]), fsType: f[2] });
  }
  return out;
}

/**
 * File system types worth a disk line: local, block-backed, writable. Everything else is left out on
 * purpose:
 * - kernel and memory file systems (proc, sysfs, tmpfs, devtmpfs, cgroup, ...): no disk behind them;
 * - squashfs and iso9660 (snaps, live images, CD-ROMs): read-only images, always "100 % full";
 * - network file systems (nfs, cifs, fuse.sshfs, ...): statfs on a dead server blocks for minutes, and
 *   the disk belongs to another machine, which has its own agent;
 * - overlay, except at `/` (inside a container that is the only root there is): on a Docker host every
 *   container adds one, each showing the same numbers as the disk underneath.
 */
export const LOCAL_FS_TYPES: ReadonlySet<string> = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'zfs',
  'f2fs',
  'bcachefs',
  'jfs',
  'reiserfs',
  'vfat',
  'exfat',
  'ntfs',
  'ntfs3',
  'hfsplus',
  'apfs',
  'ufs',
]);

/**
 * The mounts to report: local file systems ({@link LOCAL_FS_TYPES}, or overlay at `/`), one per device
 * (bind mounts and btrfs subvolumes repeat the same space; the first mount point wins), at most
 * {@link MAX_METRIC_DISKS}.
 */
export function realFilesystems(entries: readonly MountEntry[]): MountEntry[] {
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  for (const e of entries) {
    const local = LOCAL_FS_TYPES.has(e.fsType) || (e.fsType === 'overlay' && e.mount === '/');
    if (!local || !e.mount.startsWith('/')) continue;
    const key = e.fsType === 'overlay' ? `overlay:${e.mount}` : e.device;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
    if (out.length === MAX_METRIC_DISKS) break;
  }
  return out;
}

/** Received and sent bytes summed over every interface but `lo`, from /proc/net/dev. */
export function parseNetDev(text: string): { rxBytes: number; txBytes: number } | undefined {
  let rxBytes = 0;
  let txBytes = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; Transmit: bytes ...
    if (!name || f.length < 9 || !Number.isFinite(f[0]) || !Number.isFinite(f[8])) continue;
    found = true;
    if (name === 'lo') continue;
    rxBytes += f[0]!;
    txBytes += f[8]!;
  }
  if (!found) return undefined;
  return { rxBytes: Math.min(rxBytes, Number.MAX_SAFE_INTEGER), txBytes: Math.min(txBytes, Number.MAX_SAFE_INTEGER) };
}

/** What statfs(2) says, the fields we use. */
export interface StatFs {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}

/** A mount's usage as `df` reports it: size, used (size minus free), available to unprivileged users. */
export function diskUsage(mount: MountEntry, st: StatFs): DiskUsage {
  const safe = (n: number) => Math.min(Math.max(0, Math.floor(n)), Number.MAX_SAFE_INTEGER);
  const total = safe(st.blocks * st.bsize);
  return {
    mount: cut(mount.mount, 512),
    ...(mount.fsType ? { fsType: cut(mount.fsType, 64) } : {}),
    used: Math.min(total, safe((st.blocks - st.bfree) * st.bsize)),
    total,
    avail: Math.min(total, safe(st.bavail * st.bsize)),
  };
}

/** The outside world of the collector; the real one reads /proc, statfs and `os`. */
export interface MetricsSources {
  platform: NodeJS.Platform;
  readFile(path: string): Promise<string>;
  statfs(path: string): Promise<StatFs>;
  loadavg(): number[];
  /** Fallbacks off Linux. */
  cpus(): os.CpuInfo[];
  totalmem(): number;
  freemem(): number;
}

export const realMetricsSources: MetricsSources = {
  platform: process.platform,
  readFile: (path) => readFile(path, 'utf8'),
  statfs: (path) => statfs(path),
  loadavg: () => os.loadavg(),
  cpus: () => os.cpus(),
  totalmem: () => os.totalmem(),
  freemem: () => os.freemem(),
};

/** How long one statfs may take before its mount is skipped from then on, in ms. */
export const STATFS_TIMEOUT_MS = 2_000;

/**
 * Takes samples. Keeps the previous CPU reading (CPU % is a difference), the set of mounts whose statfs
 * hung, and which failures it has logged: each kind of failure is logged once, not every 15 s.
 * `sample()` never throws: a required reading that fails (CPU, memory) skips the sample (undefined);
 * an optional one (disks, network, swap) is left out.
 */
export class MetricsCollector {
  readonly #src: MetricsSources;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #prevCpu: CpuTimes | undefined;
  readonly #logged = new Set<string>();
  readonly #hung = new Set<string>();

  constructor(opts: { logger: Logger; clock: Clock; sources?: Partial<MetricsSources> }) {
    this.#src = { ...realMetricsSources, ...opts.sources };
    this.#logger = opts.logger;
    this.#clock = opts.clock;
  }

  /** Read the CPU counters now, so that the first sample measures the time since (not since boot). */
  async prime(): Promise<void> {
    this.#prevCpu = (await this.#attempt('cpu', () => this.#cpuTimes())) ?? this.#prevCpu;
  }

  /** One sample, or undefined when CPU or memory could not be read (logged once per kind). */
  async sample(): Promise<Metrics | undefined> {
    const [cpu, mem, disks, net] = await Promise.all([
      this.#attempt('cpu', () => this.#cpuTimes()),
      this.#attempt('memory', () => this.#memory()),
      this.#attempt('disks', () => this.#disks()),
      this.#attempt('network', () => this.#net()),
    ]);
    if (!cpu || !mem) return undefined;
    const cpuPct = cpuPercent(this.#prevCpu, cpu);
    this.#prevCpu = cpu;
    const load = this.#src.loadavg();
    const l = (i: number) => clamp(load[i] ?? 0, 0, 1e12);
    return {
      type: 'metrics',
      at: new Date(this.#clock.now()).toISOString(),
      cpuPct: round(cpuPct, 2),
      memUsed: Math.max(0, mem.total - mem.available),
      memTotal: mem.total,
      ...(mem.swapTotal !== undefined && mem.swapFree !== undefined
        ? { swapUsed: mem.swapTotal - mem.swapFree, swapTotal: mem.swapTotal }
        : {}),
      load: [l(0), l(1), l(2)],
      disks: disks ?? [],
      ...(net ? { net } : {}),
    };
  }

  /** Run one reading; a failure is logged the first time for its kind and answers undefined. */
  async #attempt<T>(kind: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    try {
      const v = await read();
      if (v === undefined) this.#once(kind, `metrics: cannot read ${kind}`, 'no usable data');
      return v;
    } catch (err) {
      this.#once(kind, `metrics: cannot read ${kind}`, (err as Error).message);
      return undefined;
    }
  }

  #once(key: string, message: string, error: string): void {
    if (this.#logged.has(key)) return;
    this.#logged.add(key);
    this.#logger.warn(message, { error, note: 'logged once' });
  }

  async #cpuTimes(): Promise<CpuTimes | undefined> {
    if (this.#src.platform === 'linux') return parseProcStat(await this.#src.readFile('/proc/stat'));
    let idle = 0;
    let total = 0;
    for (const c of this.#src.cpus()) {
      idle += c.times.idle;
      total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
    }
    return total > 0 ? { idle, total } : undefined;
  }

  async #memory(): Promise<MemInfo | undefined> {
    if (this.#src.platform === 'linux') return parseMeminfo(await this.#src.readFile('/proc/meminfo'));
    const total = this.#src.totalmem();
    return total > 0 ? { total, available: Math.min(total, this.#src.freemem()) } : undefined;
  }

  async #disks(): Promise<DiskUsage[]> {
    const mounts =
      this.#src.platform === 'linux'
        ? realFilesystems(parseMounts(await this.#src.readFile('/proc/self/mounts')))
        : [{ device: 'root', mount: '/', fsType: '' }];
    const out: DiskUsage[] = [];
    // One at a time: a handful of mounts, and a hung one must not take more than one libuv thread.
    for (const m of mounts) {
      if (this.#hung.has(m.mount)) continue;
      try {
        const st = await this.#withTimeout(this.#src.statfs(m.mount), STATFS_TIMEOUT_MS);
        if (st === undefined) {
          this.#hung.add(m.mount);
          this.#logger.warn('metrics: statfs did not answer; mount skipped from now on', {
            mount: m.mount,
            timeout_ms: STATFS_TIMEOUT_MS,
          });
          continue;
        }
        out.push(diskUsage(m, st));
      } catch (err) {
        this.#once(`statfs:${m.mount}`, 'metrics: statfs failed', `${m.mount}: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** `p`'s value, or undefined when it takes longer than `ms` (the promise itself cannot be cancelled). */
  #withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(undefined), ms);
    });
    return Promise.race([p, timeout]).finally(() => this.#clock.clearTimeout(timer));
  }

  async #net(): Promise<{ rxBytes: number; txBytes: number } | undefined> {
    if (this.#src.platform !== 'linux') return undefined;
    return parseNetDev(await this.#src.readFile('/proc/net/dev'));
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : lo;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function cut(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) : s;
}
