import { describe, it, expect } from 'vitest';
import { decodeFrame, encodeFrame, typesOf } from './codec.js';
import { AgentToGateway, ChannelControl, GatewayToAgent, MAX_METRIC_DISKS } from './messages.js';
import { CloseCode } from './close-codes.js';

const AGENT = typesOf(AgentToGateway);
const CTRL = typesOf(ChannelControl);

describe('frame codec', () => {
  it('knows every message type of each union', () => {
    expect([...AGENT].sort()).toEqual([
      'auth',
      'channel.reject',
      'exec.exit',
      'exec.output',
      'hello',
      'info',
      'metrics',
      'ping',
      'pong',
      'upgrade.result',
    ]);
    expect([...typesOf(GatewayToAgent)].sort()).toEqual([
      'challenge',
      'channel.open',
      'exec.ack',
      'exec.cancel',
      'exec.start',
      'ping',
      'pong',
      'session.close',
      'upgrade',
      'welcome',
    ]);
    expect([...CTRL].sort()).toEqual(['eof', 'error', 'exit', 'notice', 'ping', 'pong', 'ready', 'resize', 'stderr']);
  });

  // Fixtures: exact bytes on the wire and what they decode to.
  const fixtures: Array<[string, unknown]> = [
    ['{"type":"resize","cols":120,"rows":40}', { type: 'resize', cols: 120, rows: 40 }],
    ['{"type":"exit","code":3,"signal":null}', { type: 'exit', code: 3, signal: null }],
    ['{"type":"eof"}', { type: 'eof' }],
    ['{"type":"ping","ts":1700000000000}', { type: 'ping', ts: 1700000000000 }],
  ];
  it.each(fixtures)('decodes %s', (text, expected) => {
    const r = decodeFrame(ChannelControl, text, CTRL);
    expect(r).toEqual({ ok: true, message: expected });
    // And encodes back to the same bytes.
    expect(encodeFrame(expected as { type: string })).toBe(text);
  });

  it('channel.open carries an optional shell-mark nonce, base64url of 16 to 64 characters', () => {
    const GW = typesOf(GatewayToAgent);
    const open = (shellMarks?: unknown) =>
      JSON.stringify({
        type: 'channel.open',
        channelId: 'ch_1',
        token: 'cat_0123456789abcdef',
        grant: { v: 1, channelId: 'ch_1', serverId: 'srv_1', kind: 'pty', osUser: 'root', expiresAt: 1 },
        signature: 'sig',
        pty: true,
        ...(shellMarks !== undefined ? { shellMarks } : {}),
      });
    expect(decodeFrame(GatewayToAgent, open(), GW).ok).toBe(true);
    expect(decodeFrame(GatewayToAgent, open({ nonce: 'AbC_-0123456789abcdef' }), GW)).toMatchObject({
      ok: true,
      message: { shellMarks: { nonce: 'AbC_-0123456789abcdef' } },
    });
    // The nonce lands in shell variables and prompts: nothing but base64url.
    for (const nonce of ['short', 'has$dollar-0123456789ab', "quo'te-0123456789abcdef", 'x'.repeat(65)]) {
      expect(decodeFrame(GatewayToAgent, open({ nonce }), GW)).toMatchObject({ ok: false });
    }
  });

  it('rejects malformed JSON with 4000', () => {
    expect(decodeFrame(ChannelControl, '{"type":"resize",', CTRL)).toMatchObject({
      ok: false,
      closeCode: CloseCode.PROTOCOL_ERROR,
    });
  });
  it('rejects non-objects and frames without a type with 4000', () => {
    for (const t of ['[]', '42', 'null', '{"cols":1}', '{"type":7}']) {
      expect(decodeFrame(ChannelControl, t, CTRL)).toMatchObject({ ok: false, closeCode: CloseCode.PROTOCOL_ERROR });
    }
  });
  it('rejects unknown types with 4001', () => {
    expect(decodeFrame(ChannelControl, '{"type":"rm -rf"}', CTRL)).toMatchObject({
      ok: false,
      closeCode: CloseCode.UNKNOWN_MESSAGE,
    });
  });
  it('rejects schema violations and unknown fields with 4000', () => {
    expect(decodeFrame(ChannelControl, '{"type":"resize","cols":0,"rows":1}', CTRL)).toMatchObject({
      ok: false,
      closeCode: 4000,
    });
    expect(decodeFrame(ChannelControl, '{"type":"eof","extra":1}', CTRL)).toMatchObject({ ok: false, closeCode: 4000 });
  });
  it('rejects oversized frames with 1009 before parsing', () => {
    const big = '{"type":"notice","message":"' + 'a'.repeat(70_000) + '"}';
    expect(decodeFrame(ChannelControl, big, CTRL)).toMatchObject({ ok: false, closeCode: CloseCode.MESSAGE_TOO_BIG });
  });
});

describe('metrics frames (protocol 2)', () => {
  const sample = {
    type: 'metrics',
    at: '2025-01-01T00:00:15.000Z',
    cpuPct: 12.5,
    memUsed: 3_000_000_000,
    memTotal: 8_000_000_000,
    swapUsed: 0,
    swapTotal: 1_073_741_824,
    load: [0.5, 0.25, 0.125],
    disks: [{ mount: '/', fsType: 'ext4', used: 9_000_000_000, total: 20_000_000_000, avail: 10_000_000_000 }],
    net: { rxBytes: 123_456_789, txBytes: 987_654 },
  };
  const decode = (value: unknown) => decodeFrame(AgentToGateway, JSON.stringify(value), AGENT);

  it('decodes a full sample, and one without the optional parts', () => {
    expect(decode(sample)).toEqual({ ok: true, message: sample });
    const { swapUsed: _u, swapTotal: _t, net: _n, ...bare } = sample;
    expect(decode({ ...bare, disks: [] })).toMatchObject({ ok: true });
  });

  // Every bound below keeps a confused or hostile agent from storing nonsense: they close the control
  // connection with 4000 like any other schema violation.
  it.each<[string, Record<string, unknown>]>([
    ['a CPU share above 100 %', { cpuPct: 100.5 }],
    ['a negative byte count', { memUsed: -1 }],
    ['a fractional byte count', { memTotal: 1.5 }],
    ['a byte count past 2^53', { memTotal: 2 ** 60 }],
    ['two load averages instead of three', { load: [1, 2] }],
    ['a negative load average', { load: [-1, 0, 0] }],
    ['a time that is not ISO 8601', { at: 'yesterday' }],
    ['an empty mount point', { disks: [{ mount: '', used: 0, total: 0 }] }],
    ['a mount point past 512 characters', { disks: [{ mount: '/' + 'm'.repeat(512), used: 0, total: 0 }] }],
    ['an unknown field in a disk', { disks: [{ mount: '/', used: 0, total: 0, inodes: 5 }] }],
    ['an unknown top-level field', { extra: true }],
    ['net without txBytes', { net: { rxBytes: 1 } }],
    [
      `more than ${MAX_METRIC_DISKS} disks`,
      { disks: Array.from({ length: MAX_METRIC_DISKS + 1 }, (_, i) => ({ mount: `/m${i}`, used: 0, total: 1 })) },
    ],
  ])('rejects %s with 4000', (_why, change) => {
    expect(decode({ ...sample, ...change })).toMatchObject({ ok: false, closeCode: CloseCode.PROTOCOL_ERROR });
  });

  it('rejects infinite numbers (1e999 parses to Infinity)', () => {
    const text = JSON.stringify(sample).replace('"cpuPct":12.5', '"cpuPct":1e999').replace('0.125', '1e999');
    expect(decodeFrame(AgentToGateway, text, AGENT)).toMatchObject({ ok: false, closeCode: 4000 });
  });

  it('fits 64 disks with long mount points in one control frame', () => {
    const disks = Array.from({ length: MAX_METRIC_DISKS }, (_, i) => ({
      mount: `/${String(i).padStart(3, '0')}`.padEnd(512, 'x'),
      fsType: 'f'.repeat(64),
      used: Number.MAX_SAFE_INTEGER,
      total: Number.MAX_SAFE_INTEGER,
      avail: Number.MAX_SAFE_INTEGER,
    }));
    const r = decode({ ...sample, disks });
    expect(r.ok).toBe(true);
    expect(JSON.stringify({ ...sample, disks }).length).toBeLessThan(64 * 1024);
  });
});
