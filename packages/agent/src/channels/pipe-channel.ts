import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { WebSocket } from 'ws';
import { CloseCode } from '@corral/protocol';
import { RejectCode } from '../errors.js';
import { closeAndWait, closeSocket, readChannelFrame, sendControl } from './channel-frames.js';
import { deferred, type LiveChannel } from './live-channel.js';
import { OutputPump } from './output-pump.js';
import { GroupTerminator, KILL_GRACE_MS } from './process-group.js';
import type { ChannelRunOptions } from './pty-channel.js';

/**
 * Bridge a child with plain pipes and an open channel socket (pty: false, like `ssh host cmd`):
 *
 *   socket binary  -> child stdin (socket paused while stdin is full)
 *   socket eof     -> stdin.end()
 *   child stdout   -> binary frames;  child stderr -> {"type":"stderr","data":base64}
 *   stdout+stderr ended and child exited ('close') -> {"type":"exit"} then close 1000
 *   socket closed first -> hang up the process group, SIGKILL 2 s later
 */
export function runPipeChannel(
  ws: WebSocket,
  child: ChildProcessWithoutNullStreams,
  o: ChannelRunOptions,
): LiveChannel {
  const terminator = new GroupTerminator(o.clock, o.killGraceMs ?? KILL_GRACE_MS);
  const pump = new OutputPump(
    ws,
    {
      pause: () => {
        child.stdout.pause();
        child.stderr.pause();
      },
      resume: () => {
        child.stdout.resume();
        child.stderr.resume();
      },
    },
    o.pump,
  );
  const finished = deferred();
  let closed = false; // the child exited and its pipes ended
  let socketClosed = false;
  let spawnError: Error | undefined;
  const settle = (): void => {
    if (closed && socketClosed) finished.resolve();
  };
  const endProcess = (): void => {
    ws.resume();
    if (closed) return;
    child.stdin.destroy();
    terminator.terminate(child.pid);
  };

  child.stdout.on('data', (d: Buffer) => pump.stdout(d));
  child.stderr.on('data', (d: Buffer) => pump.stderr(d));
  // EPIPE and friends when the child stops reading: its exit tells the story.
  child.stdin.on('error', () => {});
  child.stdin.on('drain', () => ws.resume());
  // Once stdin is finished, input has nowhere to wait: never leave the socket paused (a paused
  // socket cannot even read the peer's close frame). Writable emits no 'drain' after end().
  child.stdin.on('close', () => ws.resume());
  child.on('error', (err) => {
    spawnError = err;
  });
  // 'close' comes after the process exited AND stdout/stderr ended: all output is in the pump.
  child.on('close', (code, signal) => {
    closed = true;
    terminator.exited();
    ws.resume(); // read the peer's close frame even if stdin backpressure had paused us
    if (!socketClosed) {
      pump.flush();
      if (spawnError && child.pid === undefined) {
        sendControl(ws, { type: 'error', code: RejectCode.SPAWN_FAILED, message: spawnError.message.slice(0, 4096) });
        closeSocket(ws, CloseCode.INTERNAL, 'spawn failed');
      } else {
        sendControl(ws, { type: 'exit', code, signal });
        closeSocket(ws, CloseCode.NORMAL, 'exited');
      }
    }
    pump.close();
    o.logger.info('channel process exited', { channel: o.channelId, code, signal, error: spawnError?.message });
    settle();
  });

  ws.on('message', (data, isBinary) => {
    const frame = readChannelFrame(data, isBinary);
    if (frame.kind === 'binary') {
      if (child.stdin.writable && !child.stdin.write(frame.data)) ws.pause();
      return;
    }
    if (frame.kind === 'invalid') {
      o.logger.warn('bad channel frame', { channel: o.channelId, code: frame.closeCode, reason: frame.reason });
      closeSocket(ws, frame.closeCode, frame.reason);
      endProcess();
      return;
    }
    const m = frame.message;
    if (m.type === 'eof') {
      child.stdin.end();
      ws.resume();
    } else if (m.type === 'ping') sendControl(ws, { type: 'pong', ts: m.ts });
  });
  ws.on('close', (code) => {
    socketClosed = true;
    pump.close();
    // Output has nowhere to go now; keep the pipes flowing so they can end and 'close' can fire.
    child.stdout.resume();
    child.stderr.resume();
    if (!closed) {
      o.logger.info('channel socket closed before the process ended; hanging up', { channel: o.channelId, code });
      endProcess();
    }
    settle();
  });
  ws.on('error', (err) => o.logger.warn('channel socket error', { channel: o.channelId, error: err.message }));

  return {
    channelId: o.channelId,
    done: finished.promise,
    async dispose() {
      endProcess();
      await closeAndWait(ws, o.clock);
      await finished.promise;
    },
  };
}
