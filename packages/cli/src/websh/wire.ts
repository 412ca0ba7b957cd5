import type { ChannelControl } from '@corral/protocol';

/**
 * The part of the channel protocol the websh client needs, without zod.
 *
 * Why a copy: importing `@corral/protocol` loads zod and builds every schema, which costs about
 * 100-130 ms of startup on this machine, while `corral websh HOST -- true` is benchmarked against
 * `ssh HOST true` (0.30 s). The constants and checks below mirror protocol/src/close-codes.ts,
 * messages.ts (ChannelControl) and api.ts (OS_USER_RE); wire.test.ts holds them equal to the
 * protocol package, so a change there fails our tests instead of drifting silently.
 */

/** Mirrors CLOSE_CODE_DESCRIPTIONS in protocol/src/close-codes.ts. */
export const CLOSE_CODE_DESCRIPTIONS: Record<number, string> = {
  1000: 'normal closure',
  1001: 'peer going away (shutdown); reconnect later',
  1009: 'frame too large',
  4000: 'protocol error: malformed JSON or schema mismatch',
  4001: 'unknown message type',
  4002: 'unsupported data (binary where text expected, or the reverse)',
  4003: 'protocol version not supported',
  4401: 'authentication failed',
  4403: 'forbidden',
  4404: 'channel not found',
  4408: 'timed out',
  4409: 'replaced by a newer connection',
  4410: 'peer went away',
  4411: 'access revoked or expired',
  4500: 'internal error',
};

/** Mirrors CloseCode.PROTOCOL_ERROR. */
export const CLOSE_PROTOCOL_ERROR = 4000;
/** Mirrors HIGH_WATER_MARK_BYTES: pause the source above this much buffered (1 MiB). */
export const HIGH_WATER_MARK_BYTES = 1024 * 1024;
/** Mirrors LOW_WATER_MARK_BYTES: resume once below this (256 KiB). */
export const LOW_WATER_MARK_BYTES = 256 * 1024;
/** Mirrors MAX_DATA_FRAME_BYTES: the largest binary frame a peer may send (1 MiB). */
export const MAX_DATA_FRAME_BYTES = 1024 * 1024;
/** Mirrors OS_USER_RE in api.ts. */
export const OS_USER_RE = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;

export type ParseResult =
  | { ok: true; frame: ChannelControl }
  /** `unknown: true`: a well-formed frame of a type this client does not know (ignored, for newer gateways). */
  | { ok: false; unknown: boolean; reason: string };

type Obj = Record<string, unknown>;

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const inRange = (v: unknown): v is number => isInt(v) && v >= 1 && v <= 1000;

/** The fields each frame type allows (the schemas are strict: nothing else may appear). */
const FIELDS: Record<ChannelControl['type'], readonly string[]> = {
  resize: ['cols', 'rows'],
  exit: ['code', 'signal'],
  eof: [],
  stderr: ['data'],
  ready: ['sessionId'],
  notice: ['message'],
  error: ['code', 'message'],
  ping: ['ts'],
  pong: ['ts'],
};

function fieldsOk(o: Obj, t: ChannelControl['type']): boolean {
  const allowed = FIELDS[t];
  return Object.keys(o).every((k) => k === 'type' || allowed.includes(k));
}

function check(o: Obj): boolean {
  switch (o.type as ChannelControl['type']) {
    case 'resize':
      return inRange(o.cols) && inRange(o.rows);
    case 'exit':
      return (o.code === null || isInt(o.code)) && (o.signal === null || isStr(o.signal, 32));
    case 'eof':
      return true;
    case 'stderr':
      return isStr(o.data, 2 * 1024 * 1024);
    case 'ready':
      return typeof o.sessionId === 'string';
    case 'notice':
      return isStr(o.message, 4096);
    case 'error':
      return isStr(o.code, 64) && isStr(o.message, 4096);
    case 'ping':
    case 'pong':
      return typeof o.ts === 'number' && Number.isFinite(o.ts);
  }
}

/** Decode one text frame of the channel socket; never throws. Same verdicts as ChannelControl.safeParse. */
export function parseControl(text: string): ParseResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, unknown: false, reason: 'malformed JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { ok: false, unknown: false, reason: 'frame is not a JSON object' };
  }
  const o = v as Obj;
  if (typeof o.type !== 'string') return { ok: false, unknown: false, reason: 'frame has no string "type"' };
  if (!Object.hasOwn(FIELDS, o.type)) {
    return { ok: false, unknown: true, reason: `unknown message type "${o.type.slice(0, 64)}"` };
  }
  const t = o.type as ChannelControl['type'];
  if (!fieldsOk(o, t) || !check(o)) return { ok: false, unknown: false, reason: `invalid "${t}" frame` };
  return { ok: true, frame: o as unknown as ChannelControl };
}

/** The fields of a WebshOpenResponse, checked by hand (see above for why not zod). */
export interface WebshOpen {
  sessionId: string;
  channelId: string;
  token: string;
  path: string;
}

export function parseWebshOpen(v: unknown): WebshOpen {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Obj;
  for (const k of ['sessionId', 'channelId', 'token', 'path'] as const) {
    if (typeof o[k] !== 'string') throw new TypeError(`${k}: expected a string`);
  }
  if (!(o.path as string).startsWith('/')) throw new TypeError('path: expected an absolute path');
  return {
    sessionId: o.sessionId as string,
    channelId: o.channelId as string,
    token: o.token as string,
    path: o.path as string,
  };
}
