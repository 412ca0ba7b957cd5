import type { z } from 'zod';
import { CloseCode, MAX_CONTROL_FRAME_BYTES } from './close-codes.js';

/** Why a frame failed to decode, with the close code the receiver should use. */
export interface DecodeError {
  ok: false;
  closeCode: number;
  reason: string;
}
export type DecodeResult<T> = { ok: true; message: T } | DecodeError;

/**
 * Decode one JSON text frame against a discriminated union of message schemas. Never throws.
 * - not JSON, or schema mismatch -> 4000 PROTOCOL_ERROR
 * - a `type` the union does not know -> 4001 UNKNOWN_MESSAGE
 * - larger than `maxBytes` -> 1009 MESSAGE_TOO_BIG
 */
export function decodeFrame<S extends z.ZodType>(
  schema: S,
  text: string,
  knownTypes: ReadonlySet<string>,
  maxBytes = MAX_CONTROL_FRAME_BYTES,
): DecodeResult<z.infer<S>> {
  // A JS string's length in UTF-16 units is at least a third of its UTF-8 byte length, so this
  // cheap check bounds the work before parsing; the exact limit is enforced by the socket.
  if (text.length > maxBytes) {
    return { ok: false, closeCode: CloseCode.MESSAGE_TOO_BIG, reason: 'frame too large' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, closeCode: CloseCode.PROTOCOL_ERROR, reason: 'malformed JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, closeCode: CloseCode.PROTOCOL_ERROR, reason: 'frame is not a JSON object' };
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') {
    return { ok: false, closeCode: CloseCode.PROTOCOL_ERROR, reason: 'frame has no string "type"' };
  }
  if (!knownTypes.has(type)) {
    return { ok: false, closeCode: CloseCode.UNKNOWN_MESSAGE, reason: `unknown message type "${type.slice(0, 64)}"` };
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
    return {
      ok: false,
      closeCode: CloseCode.PROTOCOL_ERROR,
      reason: `invalid "${type}" frame: ${where}`.slice(0, 120),
    };
  }
  return { ok: true, message: parsed.data };
}

/** Encode a message as a JSON text frame. */
export function encodeFrame<T extends { type: string }>(message: T): string {
  return JSON.stringify(message);
}

/** The set of `type` literals in a discriminated union, for decodeFrame. */
export function typesOf(union: { options: readonly { shape: { type: { value: unknown } } }[] }): ReadonlySet<string> {
  return new Set(union.options.map((o) => String(o.shape.type.value)));
}
