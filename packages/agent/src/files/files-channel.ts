import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { WebSocket, type RawData } from 'ws';
import { CloseCode, FsFromUser, decodeFrame, typesOf, MAX_CONTROL_FRAME_BYTES } from '@corral/protocol';
import { closeAndWait, closeSocket } from '../channels/channel-frames.js';
import { deferred, type LiveChannel } from '../channels/live-channel.js';
import type { ChannelRunOptions } from '../channels/pty-channel.js';
import { FRAME_BINARY, FRAME_JSON, StdioFrameDecoder, writeStdioHeader } from './stdio-frames.js';

const TYPES = typesOf(FsFromUser);
/** Pause the helper's output while this much waits in the socket. */
const HIGH_WATER = 1024 * 1024;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Relay a file channel between its socket and the file helper (which runs as the channel's OS user):
 *
 *   socket text (validated) / binary  -> helper stdin frames  (socket paused while stdin is full)
 *   helper stdout frames              -> socket text / binary (helper paused above 1 MiB buffered;
 *                                        file bytes in the pieces the pipe gave, not re-joined)
 *   socket closed -> helper's stdin ends (an unfinished upload is removed), SIGKILL after the grace
 *   helper exited -> socket closed (1000, or 1011 if it failed)
 */
export function runFilesChannel(
  ws: WebSocket,
  child: ChildProcessWithoutNullStreams,
  o: ChannelRunOptions,
): LiveChannel {
  const finished = deferred();
  const decoder = new StdioFrameDecoder();
  let exited = false;
  let socketClosed = false;
  let killTimer: ReturnType<typeof o.clock.setTimeout> | null = null;
  const settle = (): void => {
    if (exited && socketClosed) {
      if (killTimer) o.clock.clearTimeout(killTimer);
      finished.resolve();
    }
  };
  // Header and payload leave in one writev (one syscall), the payload uncopied.
  const toHelper = (kind: typeof FRAME_JSON | typeof FRAME_BINARY, payload: Buffer): void => {
    child.stdin.cork();
    child.stdin.write(writeStdioHeader(kind, payload.length));
    const ok = child.stdin.write(payload);
    child.stdin.uncork();
    if (!ok) ws.pause();
  };

  child.stdin.on('error', () => {});
  child.stdin.on('drain', () => ws.resume());
  child.stderr.on('data', (d: Buffer) =>
    o.logger.warn('file helper', { channel: o.channelId, stderr: d.toString().slice(0, 500) }),
  );

  ws.on('message', (data, isBinary) => {
    const buf = toBuffer(data);
    if (isBinary) return toHelper(FRAME_BINARY, buf);
    const r = decodeFrame(FsFromUser, buf.toString('utf8'), TYPES, MAX_CONTROL_FRAME_BYTES);
    if (!r.ok) return closeSocket(ws, r.closeCode, r.reason);
    if (r.message.type === 'ping') {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'pong', ts: r.message.ts }));
      return;
    }
    if (r.message.type === 'pong') return;
    toHelper(FRAME_JSON, buf);
  });

  // Backpressure: pause the helper above HIGH_WATER; resume from a send callback (ws may never emit
  // 'drain' while it queues).
  let paused = false;
  const onSent = (): void => {
    if (paused && (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount <= HIGH_WATER / 2)) {
      paused = false;
      child.stdout.resume();
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      o.logger.warn('file helper spoke nonsense', { channel: o.channelId, error: (err as Error).message });
      child.kill('SIGKILL');
      return;
    }
    // File bytes go on as the pieces read from the pipe (up to 64 KiB each): joining them back into
    // the helper's frames would copy every byte once more, for nothing (a binary message is just the
    // next bytes of the file).
    for (const f of frames) {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (f.kind === 'json') ws.send(f.text, onSent);
      else if (f.data.length > 0) ws.send(f.data, { binary: true }, onSent);
    }
    if (!paused && ws.bufferedAmount > HIGH_WATER) {
      paused = true;
      child.stdout.pause();
    }
  });

  child.once('close', (code, signal) => {
    exited = true;
    if (code !== 0 && !socketClosed) {
      o.logger.warn('file helper ended', { channel: o.channelId, code, signal });
    }
    closeSocket(ws, code === 0 || socketClosed ? CloseCode.NORMAL : CloseCode.INTERNAL, 'file channel ended');
    settle();
  });
  child.once('error', (err) => {
    o.logger.warn('file helper failed to start', { channel: o.channelId, error: err.message });
    exited = true;
    closeSocket(ws, CloseCode.INTERNAL, 'file helper failed');
    settle();
  });
  ws.once('close', () => {
    socketClosed = true;
    ws.resume();
    // End of input: the helper discards an unfinished upload and exits; kill it if it does not.
    child.stdin.end();
    if (!exited) {
      killTimer = o.clock.setTimeout(() => child.kill('SIGKILL'), o.killGraceMs ?? 5000);
    }
    settle();
  });

  return {
    channelId: o.channelId,
    done: finished.promise,
    dispose: async () => {
      await closeAndWait(ws, o.clock);
      await finished.promise;
    },
  };
}
