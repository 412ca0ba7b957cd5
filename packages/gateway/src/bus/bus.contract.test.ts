import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import { BusNoResponders, BusTimeout, subjectMatches, type Bus } from './bus.js';
import { MemoryBus } from './memory-bus.js';
import { NatsBus } from './nats-bus.js';
import { silentLogger } from '../log.js';

// One contract, run against every implementation (Hono's common.case.test idea).
const NATS_URL = process.env.CORRAL_TEST_NATS ?? 'nats://127.0.0.1:4222';
const impls: Array<[string, () => Promise<Bus>]> = [
  ['memory', async () => new MemoryBus()],
  ['nats', () => NatsBus.connect(NATS_URL, 'contract-test', silentLogger)],
];

describe.each(impls)('bus contract: %s', (_name, make) => {
  let bus: Bus;
  let p: string; // a unique prefix per test, so parallel runs on one NATS server don't meet
  beforeEach(async () => {
    bus = await make();
    p = `t${randomBytes(4).toString('hex')}`;
  });
  afterEach(async () => bus.close());

  it('delivers a publish to every matching subscriber, as a copy', async () => {
    const got: unknown[] = [];
    bus.subscribe(`${p}.a`, (d) => got.push(d));
    bus.subscribe(`${p}.*`, (d) => got.push(d));
    const sent = { n: 1 };
    bus.publish(`${p}.a`, sent);
    sent.n = 2;
    await until(() => got.length === 2);
    expect(got).toEqual([{ n: 1 }, { n: 1 }]);
  });

  it('answers a request', async () => {
    bus.subscribe(`${p}.echo`, (d, respond) => respond({ echo: d }));
    expect(await bus.request(`${p}.echo`, 'hi', 2000)).toEqual({ echo: 'hi' });
  });

  it('rejects a request nobody listens to with BusNoResponders', async () => {
    await expect(bus.request(`${p}.nobody`, 1, 2000)).rejects.toBeInstanceOf(BusNoResponders);
  });

  it('rejects a request nobody answers with BusTimeout', async () => {
    bus.subscribe(`${p}.mute`, () => {});
    await expect(bus.request(`${p}.mute`, 1, 200)).rejects.toBeInstanceOf(BusTimeout);
  });

  it('stops delivering after unsubscribe', async () => {
    const got: unknown[] = [];
    const off = bus.subscribe(`${p}.x`, (d) => got.push(d));
    bus.publish(`${p}.x`, 1);
    await until(() => got.length === 1);
    off();
    // A request proves the unsubscribe has reached the server before the next publish.
    await expect(bus.request(`${p}.x`, 2, 500)).rejects.toBeInstanceOf(BusNoResponders);
    expect(got).toEqual([1]);
  });
});

describe('subject matching', () => {
  it('follows NATS wildcards', () => {
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
  });
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}
