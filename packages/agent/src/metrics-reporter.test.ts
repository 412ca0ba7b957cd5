import { describe, expect, it } from 'vitest';
import type { Metrics } from '@corral/protocol';
import { MetricsReporter } from './metrics-reporter.js';
import { formatLine, type Logger } from './logger.js';
import { FakeClock } from './testing/fake-clock.js';

const SAMPLE: Metrics = {
  type: 'metrics',
  at: '2025-01-01T00:00:00.000Z',
  cpuPct: 5,
  memUsed: 1,
  memTotal: 2,
  load: [0, 0, 0],
  disks: [],
};

/** Let pending promise callbacks run (the collector is async, the fake clock is not). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function setup(sample: () => Promise<Metrics | undefined> = async () => SAMPLE) {
  const clock = new FakeClock();
  const sent: Metrics[] = [];
  const lines: string[] = [];
  const log =
    (level: string): Logger['info'] =>
    (m, f) =>
      lines.push(formatLine(level, m, f));
  let primed = 0;
  const reporter = new MetricsReporter({
    collector: {
      prime: async () => void primed++,
      sample,
    },
    send: (m) => (sent.push(m), true),
    clock,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    intervalMs: 15_000,
  });
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  return { clock, sent, lines, reporter, advance, primed: () => primed };
}

describe('MetricsReporter', () => {
  it('sends the first sample a second after start, then one per interval', async () => {
    const t = setup();
    t.reporter.start();
    expect(t.primed()).toBe(1);
    await t.advance(999);
    expect(t.sent).toHaveLength(0);
    await t.advance(1);
    expect(t.sent).toEqual([SAMPLE]);
    for (let i = 0; i < 3; i++) await t.advance(15_000);
    expect(t.sent).toHaveLength(4);
  });

  it('start() twice keeps one timer; stop() ends the samples, even one taken meanwhile', async () => {
    let release: (() => void) | undefined;
    const t = setup(() => new Promise((r) => (release = () => r(SAMPLE))));
    t.reporter.start();
    t.reporter.start();
    expect(t.clock.pending()).toHaveLength(1);
    await t.advance(1_000); // sample in flight
    t.reporter.stop();
    release!();
    await settle();
    expect(t.sent).toHaveLength(0);
    expect(t.clock.pending()).toHaveLength(0);
    expect(t.reporter.running).toBe(false);
  });

  it('skips a sample that fails or does not fit the schema, logs that once, and keeps going', async () => {
    let n = 0;
    const t = setup(async () => {
      n++;
      if (n === 1) throw new Error('boom');
      if (n <= 3) return { ...SAMPLE, cpuPct: Number.NaN };
      return SAMPLE;
    });
    t.reporter.start();
    await t.advance(1_000);
    await t.advance(15_000);
    await t.advance(15_000);
    expect(t.sent).toHaveLength(0);
    await t.advance(15_000);
    expect(t.sent).toEqual([SAMPLE]);
    expect(t.lines.filter((l) => l.includes('metrics sample failed'))).toHaveLength(1);
    expect(t.lines.filter((l) => l.includes('does not fit the protocol'))).toHaveLength(1);
  });

  it('can start again after a stop (a reconnect)', async () => {
    const t = setup();
    t.reporter.start();
    await t.advance(1_000);
    t.reporter.stop();
    await t.advance(60_000);
    expect(t.sent).toHaveLength(1);
    t.reporter.start();
    await t.advance(1_000);
    expect(t.sent).toHaveLength(2);
    expect(t.primed()).toBe(2);
  });
});
