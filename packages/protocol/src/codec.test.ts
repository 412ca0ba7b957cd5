import { describe, it, expect } from 'vitest';
import { decodeFrame, encodeFrame, typesOf } from './codec.js';
import { AgentToGateway, ChannelControl, GatewayToAgent } from './messages.js';
import { CloseCode } from './close-codes.js';

const AGENT = typesOf(AgentToGateway);
const CTRL = typesOf(ChannelControl);

describe('frame codec', () => {
  it('knows every message type of each union', () => {
    expect([...AGENT].sort()).toEqual(['auth', 'channel.reject', 'hello', 'info', 'ping', 'pong', 'upgrade.result']);
    expect([...typesOf(GatewayToAgent)].sort()).toEqual([
      'challenge',
      'channel.open',
      'ping',
      'pong',
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
