import * as protocol from '@corral/protocol';
import { describe, expect, it } from 'vitest';
import * as wire from './wire.js';

// wire.ts copies a few protocol values so that `corral websh` need not load zod; these tests keep the copy honest.
describe('wire.ts mirrors @corral/protocol', () => {
  it('has the same close code descriptions and flow-control limits', () => {
    expect(wire.CLOSE_CODE_DESCRIPTIONS).toEqual(protocol.CLOSE_CODE_DESCRIPTIONS);
    expect(wire.CLOSE_PROTOCOL_ERROR).toBe(protocol.CloseCode.PROTOCOL_ERROR);
    expect(wire.HIGH_WATER_MARK_BYTES).toBe(protocol.HIGH_WATER_MARK_BYTES);
    expect(wire.LOW_WATER_MARK_BYTES).toBe(protocol.LOW_WATER_MARK_BYTES);
    expect(wire.MAX_DATA_FRAME_BYTES).toBe(protocol.MAX_DATA_FRAME_BYTES);
    expect(wire.OS_USER_RE.source).toBe(protocol.OS_USER_RE.source);
    expect(wire.OS_USER_RE.flags).toBe(protocol.OS_USER_RE.flags);
  });

  it('knows every ChannelControl frame type (none is mistaken for a newer, unknown one)', () => {
    const known = protocol.typesOf(protocol.ChannelControl);
    for (const t of known) {
      const r = wire.parseControl(JSON.stringify({ type: t, bogus: 1 }));
      expect(r.ok === false && r.unknown).toBe(false);
    }
  });

  const fixtures: unknown[] = [
    { type: 'exit', code: 0, signal: null },
    { type: 'exit', code: null, signal: 'SIGKILL' },
    { type: 'exit', code: 1.5, signal: null },
    { type: 'exit', code: 0 },
    { type: 'exit', code: 0, signal: null, extra: true },
    { type: 'exit', code: 0, signal: 'X'.repeat(33) },
    { type: 'stderr', data: 'aGVsbG8=' },
    { type: 'stderr', data: 5 },
    { type: 'ready', sessionId: 's_1' },
    { type: 'ready' },
    { type: 'notice', message: 'hello' },
    { type: 'notice', message: 'x'.repeat(4097) },
    { type: 'error', code: 'SERVER_OFFLINE', message: 'gone' },
    { type: 'error', code: 'X'.repeat(65), message: 'gone' },
    { type: 'resize', cols: 80, rows: 24 },
    { type: 'resize', cols: 0, rows: 24 },
    { type: 'resize', cols: 80, rows: 1001 },
    { type: 'eof' },
    { type: 'eof', now: 1 },
    { type: 'ping', ts: 123.5 },
    { type: 'pong', ts: '1' },
    { type: 'ping' },
  ];

  it.each(fixtures.map((f) => [JSON.stringify(f), f]))('parseControl agrees with ChannelControl on %s', (text, f) => {
    const ours = wire.parseControl(text as string);
    const theirs = protocol.ChannelControl.safeParse(f);
    expect(ours.ok).toBe(theirs.success);
    if (ours.ok && theirs.success) expect(ours.frame).toEqual(theirs.data);
  });

  it('tells unknown types (ignored) from malformed frames (a protocol error)', () => {
    expect(wire.parseControl('{"type":"future.thing","x":1}')).toMatchObject({ ok: false, unknown: true });
    expect(wire.parseControl('{"type":"exit"')).toMatchObject({ ok: false, unknown: false, reason: 'malformed JSON' });
    expect(wire.parseControl('[1]')).toMatchObject({ ok: false, unknown: false });
    expect(wire.parseControl('{"type":"__proto__"}')).toMatchObject({ ok: false, unknown: true });
  });

  it('parseWebshOpen checks the answer like WebshOpenResponse does', () => {
    const good = { sessionId: 's', channelId: 'c', token: 't', path: '/api/v1/channels/c?token=t' };
    expect(wire.parseWebshOpen(good)).toEqual(protocol.WebshOpenResponse.parse(good));
    expect(() => wire.parseWebshOpen({ ...good, token: 1 })).toThrow(/token/);
    expect(() => wire.parseWebshOpen(null)).toThrow();
  });
});
