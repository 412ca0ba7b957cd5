// `--hops`: where a keystroke's round trip goes, hop by hop. tcpdump on the loopback interface stamps
// every data-carrying TCP segment when its sender sends it; the bench stamps its own write to the
// local pty and its read of the echo on the same clock. Each keystroke window then reads, e.g. for
// Corral: bench write -> CLI sends -> gateway forwards -> agent answers -> gateway forwards -> bench
// reads, and the gaps between those stamps are the time each process held the byte (its wake-up, TLS,
// framing, the remote pty and `cat` included in the server's share).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { round, sleep, summarize } from './util.mjs';

export const TCPDUMP = '/usr/bin/tcpdump';

export function haveTcpdump() {
  return existsSync(TCPDUMP);
}

/** Start capturing data segments (PSH set) to or from `port` on lo. Returns {stop(): packets}. */
export async function capture(port) {
  const td = spawn(
    TCPDUMP,
    ['-i', 'lo', '-n', '-tt', '-l', '-q', '-B', '16384', `tcp port ${port} and (tcp[tcpflags] & tcp-push != 0)`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  td.stdout.setEncoding('utf8').on('data', (s) => (out += s));
  td.stderr.setEncoding('utf8').on('data', (s) => (err += s));
  // tcpdump says "listening on lo" once the capture is armed.
  for (let i = 0; i < 50 && !/listening on/.test(err); i++) await sleep(100);
  return {
    async stop() {
      await sleep(300);
      const exited = new Promise((r) => td.once('exit', r));
      td.kill('SIGINT');
      await Promise.race([exited, sleep(3000)]);
      return out
        .split('\n')
        .map((l) => /^(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+): tcp (\d+)/.exec(l))
        .filter(Boolean)
        .map((m) => ({ t: Number(m[1]) * 1000, src: Number(m[2]), dst: Number(m[3]), len: Number(m[4]) }));
    },
  };
}

/** Which process owns each TCP connection on lo: {"srcport>dstport": {pid, comm}}, from `ss -tnp`. */
export function socketOwners() {
  const owners = {};
  let text;
  try {
    text = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' });
  } catch {
    return owners;
  }
  for (const line of text.split('\n')) {
    const m = /127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/.exec(line);
    if (m) owners[`${m[1]}>${m[2]}`] = { pid: Number(m[3]), comm: commOf(Number(m[3])) };
  }
  return owners;
}

function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return `pid ${pid}`;
  }
}

/**
 * Break keystroke round trips down by hop. `keys` = [[t0, t1], ...] in ms on the wall clock
 * (performance.timeOrigin + performance.now()); `packets` from capture(); `owners` from socketOwners()
 * taken while the session was up; `roles` = {pid: 'gateway', ...} names for known processes.
 * Uses the keystrokes whose packets follow the most common path; returns {path, n, segments}.
 */
export function breakdown(keys, packets, owners, roles) {
  const name = (o) => (o ? (roles[o.pid] ?? o.comm) : '?');
  const flowName = (p) => `${name(owners[`${p.src}>${p.dst}`])}->${name(owners[`${p.dst}>${p.src}`])}`;
  let j = 0;
  const windows = keys.map(([t0, t1]) => {
    while (j < packets.length && packets[j].t < t0) j++;
    const inside = [];
    for (let k = j; k < packets.length && packets[k].t <= t1; k++) inside.push(packets[k]);
    return { t0, t1, inside, path: inside.map((p) => `${p.src}>${p.dst}`).join(' ') };
  });
  const counts = new Map();
  for (const w of windows) counts.set(w.path, (counts.get(w.path) ?? 0) + 1);
  const [path, n] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
  const used = windows.filter((w) => w.path === path && path !== '');
  if (used.length === 0) return { path: [], n: 0, of: keys.length, segments: [] };
  const hops = used[0].inside.map(flowName);
  const labels = [`bench write -> ${hops[0]} sent`];
  for (let i = 1; i < hops.length; i++) labels.push(`${hops[i - 1]} sent -> ${hops[i]} sent`);
  labels.push(`${hops[hops.length - 1]} sent -> bench read`);
  const gaps = labels.map(() => []);
  for (const w of used) {
    const stamps = [w.t0, ...w.inside.map((p) => p.t), w.t1];
    for (let i = 0; i + 1 < stamps.length; i++) gaps[i].push(stamps[i + 1] - stamps[i]);
  }
  return {
    path: hops,
    n,
    of: keys.length,
    segments: labels.map((label, i) => {
      const s = summarize(gaps[i]);
      return { label, p50: round(s.p50), mean: round(s.mean), p90: round(s.p90) };
    }),
  };
}
