import type { ChannelControl } from '@corral/protocol';

/**
 * The part of the channel protocol the websh client needs, without zod.
 *
 * Why a copy: importing `@corral/protocol` loads zod and builds every schema, which costs about
 * 100-130 ms of startup on this machine, while `corral websh HOST -- true` is benchmarked against
 * `ssh HOST true` (0.30 s). The constants come from the zod-free `@corral/protocol/close-codes`; the frame checks below
 * mirror messages.ts (ChannelControl) and api.ts (OS_USER_RE), and wire.test.ts holds them equal to the
 * protocol package, so a change there fails our tests instead of drifting silently.
 */

// Constants come from the protocol's zod-free entry point (no schemas are built on import).
export {
  CLOSE_CODE_DESCRIPTIONS,
  HIGH_WATER_MARK_BYTES,
  LOW_WATER_MARK_BYTES,
  MAX_DATA_FRAME_BYTES,
} from '@corral/protocol/close-codes';
import { CloseCode } from '@corral/protocol/close-codes';
export const CLOSE_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR;
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
