import { describe, expect, it } from 'vitest';
import { Metrics, MAX_METRIC_DISKS } from '@corral/protocol';
import {
  MetricsCollector,
  STATFS_TIMEOUT_MS,
  cpuPercent,
  diskUsage,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  parseProcStat,
  realFilesystems,
  type MetricsSources,
  type StatFs,
} from './metrics.js';
import { formatLine, type Logger } from './logger.js';
import { FakeClock } from './testing/fake-clock.js';

// Fixtures: what a Debian 12 Docker host with a snap, an NFS share and a USB stick shows.
const PROC_STAT_1 = `cpu  10000 500 3000 80000 1000 0 200 300 50 0
cpu0 5000 250 1500 40000 500 0 100 150 25 0
cpu1 5000 250 1500 40000 500 0 100 150 25 0
intr 123456 0 0
ctxt 999
btime 1700000000
`;
// 1000 ticks later: 600 busy (user 400, system 150, steal 50), 300 idle, 100 iowait.
const PROC_STAT_2 = `cpu  10400 500 3150 80300 1100 0 200 350 80 0
cpu0 5200 250 1575 40150 550 0 100 175 40 0
`;

const MEMINFO = `MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    2000000 kB
Buffers:          100000 kB
Cached:          1000000 kB
SwapCached:            0 kB
Active(anon):     123456 kB
SwapTotal:       1000000 kB
SwapFree:         750000 kB
HugePages_Total:       0
`;

const MOUNTS = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=4010000k 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=803000k,mode=755 0 0
/dev/mapper/vg0-root / ext4 rw,relatime,errors=remount-ro 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda1 /boot ext4 rw,relatime 0 0
/dev/sda15 /boot/efi vfat rw,relatime,fmask=0077 0 0
/dev/mapper/vg0-data /var/lib/postgresql xfs rw,relatime 0 0
/dev/loop3 /snap/core22/1380 squashfs ro,nodev,relatime 0 0
nas:/export/home /home nfs4 rw,relatime,vers=4.2 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw,relatime,lowerdir=/x 0 0
/dev/mapper/vg0-root /var/lib/docker/volumes ext4 rw,relatime 0 0
/dev/sdb1 /media/My\\040Stick vfat rw,nosuid,nodev 0 0
tank/data /tank/data zfs rw,xattr,noacl 0 0
gvfsd-fuse /run/user/1000/gvfs fuse.gvfsd-fuse rw,nosuid,nodev 0 0
`;

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   86509    1361    0    0    0     0          0         0    86509    1361    0    0    0     0       0          0
  eth0: 146508435    5424    0    0    0     0          0         0   578306    4416    0    0    0     0       0          0
docker0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
`;

describe('metrics parsers', () => {
  it('reads the aggregate cpu line of /proc/stat, guest time left out (it is inside user)', () => {
    expect(parseProcStat(PROC_STAT_1)).toEqual({ idle: 81000, total: 95000 });
    expect(parseProcStat('cpu0 1 2 3 4\n')).toBeUndefined();
    expect(parseProcStat('cpu  1 2 x 4\n')).toBeUndefined();
    expect(parseProcStat('')).toBeUndefined();
  });

  it('computes CPU % from the difference of two readings', () => {
    const a = parseProcStat(PROC_STAT_1)!;
    const b = parseProcStat(PROC_STAT_2)!;
    expect(cpuPercent(a, b)).toBeCloseTo(60, 10);
    // No earlier reading: the average since boot.
    expect(cpuPercent(undefined, a)).toBeCloseTo((14000 / 95000) * 100, 10);
    // No time passed, or counters going backwards: 0, never NaN or negative.
    expect(cpuPercent(a, a)).toBe(0);
    expect(cpuPercent(b, a)).toBe(0);
  });

  it('reads memory in bytes from /proc/meminfo, with MemFree+Buffers+Cached on old kernels', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({
      total: 8000000 * 1024,
      available: 2000000 * 1024,
      swapTotal: 1000000 * 1024,
      swapFree: 750000 * 1024,
    });
    const old = MEMINFO.replace(/^MemAvailable.*\n/m, '').replace(/^Swap.*\n/gm, '');
    expect(parseMeminfo(old)).toEqual({ total: 8000000 * 1024, available: 1600000 * 1024 });
    expect(parseMeminfo('MemFree: 1 kB\n')).toBeUndefined();
  });

  it('parses /proc/self/mounts, decoding octal escapes', () => {
    const m = parseMounts(MOUNTS);
    expect(m[4]).toEqual({ device: '/dev/mapper/vg0-root', mount: '/', fsType: 'ext4' });
    expect(m.find((e) => e.device === '/dev/sdb1')?.mount).toBe('/media/My Stick');
  });

  it('keeps local disks only: no pseudo, image, network or container-layer file systems, one line per device', () => {
    expect(realFilesystems(parseMounts(MOUNTS)).map((e) => `${e.mount} ${e.fsType}`)).toEqual([
      '/ ext4',
      '/boot ext4',
      '/boot/efi vfat',
      '/var/lib/postgresql xfs',
      // /var/lib/docker/volumes is the root device again (a bind mount): not repeated.
      '/media/My Stick vfat',
      '/tank/data zfs',
    ]);
  });

  it('keeps an overlay root (inside a container it is the only disk there is)', () => {
    const container = 'overlay / overlay rw,relatime,lowerdir=/a 0 0\n/dev/vda /etc/hosts ext4 rw 0 0\n';
    expect(realFilesystems(parseMounts(container)).map((e) => e.mount)).toEqual(['/', '/etc/hosts']);
  });

  it(`reports at most ${MAX_METRIC_DISKS} mounts`, () => {
    const many = Array.from({ length: 100 }, (_, i) => `/dev/sd${i} /d${i} ext4 rw 0 0`).join('\n');
    expect(realFilesystems(parseMounts(many))).toHaveLength(MAX_METRIC_DISKS);
  });

  it('sums network bytes over every interface but lo', () => {
    expect(parseNetDev(NET_DEV)).toEqual({ rxBytes: 146508435 + 1000, txBytes: 578306 + 2000 });
    expect(parseNetDev('Inter-| Receive\n face |bytes\n')).toBeUndefined();
    // Only lo: zero, not "unknown".
    expect(parseNetDev(NET_DEV.split('\n').slice(0, 3).join('\n'))).toEqual({ rxBytes: 0, txBytes: 0 });
  });

  it('computes df-style usage: used = size - free; avail excludes root-reserved blocks', () => {
    const d = diskUsage({ device: '/dev/vda', mount: '/', fsType: 'ext4' }, st(1000, 600, 100));
    expect(d).toEqual({ mount: '/', fsType: 'ext4', used: 400 * 4096, total: 1000 * 4096, avail: 100 * 4096 });
    // A broken statfs answer never yields negative or over-size numbers.
    const odd = diskUsage({ device: 'x', mount: '/x', fsType: '' }, st(10, 20, 30));
    expect(odd).toEqual({ mount: '/x', used: 0, total: 40960, avail: 40960 });
  });
});

function st(blocks: number, bfree: number, bavail: number): StatFs {
  return { bsize: 4096, blocks, bfree, bavail };
}

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const log =
    (level: string): Logger['info'] =>
    (m, f) =>
      lines.push(formatLine(level, m, f));
  return { logger: { info: log('info'), warn: log('warn'), error: log('error') }, lines };
}

function linuxSources(files: Record<string, string>, statfs: (p: string) => Promise<StatFs>): Partial<MetricsSources> {
  return {
    platform: 'linux',
    readFile: async (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: ${path}`);
      return text;
    },
    statfs,
    loadavg: () => [0.5, 0.25, 0.125],
  };
}

describe('MetricsCollector', () => {
  const files = {
    '/proc/stat': PROC_STAT_1,
    '/proc/meminfo': MEMINFO,
    '/proc/self/mounts': MOUNTS,
    '/proc/net/dev': NET_DEV,
  };

  it('builds a sample that passes the protocol schema, CPU measured since prime()', async () => {
    const clock = new FakeClock(Date.parse('2025-01-01T00:00:00.000Z'));
    const src = { ...files };
    const c = new MetricsCollector({
      logger: recordingLogger().logger,
      clock,
      sources: linuxSources(src, async () => st(1000, 600, 100)),
    });
    await c.prime();
    src['/proc/stat'] = PROC_STAT_2;
    const m = await c.sample();
    expect(Metrics.parse(m)).toEqual(m);
    expect(m).toMatchObject({
      type: 'metrics',
      at: '2025-01-01T00:00:00.000Z',
      cpuPct: 60,
      memUsed: 6000000 * 1024,
      memTotal: 8000000 * 1024,
      swapUsed: 250000 * 1024,
      swapTotal: 1000000 * 1024,
      load: [0.5, 0.25, 0.125],
      net: { rxBytes: 146509435, txBytes: 580306 },
    });
    expect(m!.disks.map((d) => d.mount)).toEqual([
      '/',
      '/boot',
      '/boot/efi',
      '/var/lib/postgresql',
      '/media/My Stick',
      '/tank/data',
    ]);
  });

  it('skips the sample when CPU or memory cannot be read, and logs that once', async () => {
    const { logger, lines } = recordingLogger();
    const c = new MetricsCollector({
      logger,
      clock: new FakeClock(),
      sources: linuxSources({ ...files, '/proc/meminfo': 'garbage' }, async () => st(1, 1, 1)),
    });
    expect(await c.sample()).toBeUndefined();
    expect(await c.sample()).toBeUndefined();
    expect(lines.filter((l) => l.includes('cannot read memory'))).toHaveLength(1);
  });

  it('leaves out what it cannot read (network, a failing mount) and still reports the rest', async () => {
    const { logger, lines } = recordingLogger();
    const { ['/proc/net/dev']: _gone, ...noNet } = files;
    const c = new MetricsCollector({
      logger,
      clock: new FakeClock(),
      sources: linuxSources(noNet, async (p) => {
        if (p === '/boot') throw new Error('EACCES');
        return st(1000, 500, 400);
      }),
    });
    const m = (await c.sample())!;
    await c.sample();
    expect(m.net).toBeUndefined();
    expect(m.disks.map((d) => d.mount)).not.toContain('/boot');
    expect(m.disks).toHaveLength(5);
    expect(lines.filter((l) => l.includes('cannot read network'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('statfs failed'))).toHaveLength(1);
  });

  it('gives up on a mount whose statfs hangs (a dead disk), without waiting for it again', async () => {
    const { logger, lines } = recordingLogger();
    const clock = new FakeClock();
    let calls = 0;
    const c = new MetricsCollector({
      logger,
      clock,
      sources: linuxSources({ ...files, '/proc/self/mounts': '/dev/vda / ext4 rw 0 0\n' }, () => {
        calls++;
        return new Promise<StatFs>(() => {}); // never answers
      }),
    });
    const pending = c.sample();
    // Let the collector reach statfs, then let the fake timeout fire.
    for (let i = 0; i < 10 && clock.pending().length === 0; i++) await Promise.resolve();
    clock.advance(STATFS_TIMEOUT_MS);
    const m = (await pending)!;
    expect(m.disks).toEqual([]);
    expect((await c.sample())!.disks).toEqual([]);
    expect(calls).toBe(1);
    expect(lines.some((l) => l.includes('statfs did not answer') && l.includes('mount=/'))).toBe(true);
  });

  it('falls back to the os module off Linux (no network counters there)', async () => {
    const c = new MetricsCollector({
      logger: recordingLogger().logger,
      clock: new FakeClock(),
      sources: {
        platform: 'darwin',
        readFile: () => Promise.reject(new Error('no /proc here')),
        statfs: async () => st(100, 50, 40),
        loadavg: () => [1, 2, 3],
        cpus: () => [{ model: 'm', speed: 1, times: { user: 30, nice: 0, sys: 10, idle: 60, irq: 0 } }],
        totalmem: () => 16e9,
        freemem: () => 4e9,
      },
    });
    const m = (await c.sample())!;
    expect(Metrics.parse(m)).toEqual(m);
    expect(m).toMatchObject({ cpuPct: 40, memUsed: 12e9, memTotal: 16e9, load: [1, 2, 3] });
    expect(m.disks).toEqual([{ mount: '/', used: 50 * 4096, total: 100 * 4096, avail: 40 * 4096 }]);
    expect(m.net).toBeUndefined();
  });

  it('reads this machine (Linux) into a valid sample', async () => {
    if (process.platform !== 'linux') return;
    const c = new MetricsCollector({ logger: recordingLogger().logger, clock: new FakeClock(Date.now()) });
    await c.prime();
    const m = await c.sample();
    expect(Metrics.safeParse(m).success).toBe(true);
    expect(m!.memTotal).toBeGreaterThan(0);
  });
});
