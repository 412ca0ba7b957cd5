import { WebSocket, type RawData } from 'ws';
import { ChannelControl, CloseCode, decodeFrame, encodeFrame, typesOf } from '@corral/protocol';
import type { Clock } from '../clock.js';

const CHANNEL_TYPES = typesOf(ChannelControl);

/** One frame from a channel socket: bytes, a valid control message, or why the socket must close. */
export type ChannelFrame =
  | { kind: 'binary'; data: Buffer }
  | { kind: 'control'; message: ChannelControl }
  | { kind: 'invalid'; closeCode: number; reason: string };

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Classify a ws 'message' event; text frames are checked against ChannelControl (64 KiB at most). */
export function readChannelFrame(data: RawData, isBinary: boolean): ChannelFrame {
  if (isBinary) return { kind: 'binary', data: toBuffer(data) };
  const decoded = decodeFrame(ChannelControl, toBuffer(data).toString('utf8'), CHANNEL_TYPES);
  if (!decoded.ok) return { kind: 'invalid', closeCode: decoded.closeCode, reason: decoded.reason };
  return { kind: 'control', message: decoded.message };
}

/** Send a control message if the socket is open (a closed socket just drops it). */
export function sendControl(ws: WebSocket, message: ChannelControl): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(message));
}

/** Start the closing handshake; reasons are cut to ws's 123-byte limit. */
export function closeSocket(ws: WebSocket, code: number, reason = ''): void {
  if (ws.readyState === WebSocket.CLOSING || ws.readyState === WebSocket.CLOSED) return;
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  try {
    ws.close(code, r);
  } catch {
    ws.terminate();
  }
}

/**
 * Close a socket for shutdown and resolve once it is closed; a peer that does not answer the close
 * frame within `timeoutMs` is cut off.
 */
export function closeAndWait(
  ws: WebSocket,
  clock: Clock,
  timeoutMs = 2_000,
  code: number = CloseCode.GOING_AWAY,
  reason = 'agent shutting down',
): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    ws.once('close', () => {
      clock.clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else closeSocket(ws, code, reason);
  });
}
