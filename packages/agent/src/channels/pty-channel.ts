import type { WebSocket } from 'ws';
import { CloseCode } from '@corral/protocol';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { closeAndWait, closeSocket, readChannelFrame, sendControl } from './channel-frames.js';
import { deferred, type LiveChannel } from './live-channel.js';
import { OutputPump, type OutputPumpOptions } from './output-pump.js';
import { GroupTerminator, KILL_GRACE_MS } from './process-group.js';
import type { PtyProcess } from './pty-process.js';

/** What a running channel needs besides its socket and process. */
export interface ChannelRunOptions {
  channelId: string;
  clock: Clock;
  logger: Logger;
  /** SIGHUP -> SIGKILL grace when the user leaves first, in ms. Default 2000. */
  killGraceMs?: number;
  pump?: OutputPumpOptions;
}

/**
 * Bridge a pty process and an open channel socket (websh, pty mode):
 *
 *   socket binary  -> keystrokes (fd write; socket paused while input queues up)
 *   socket text    -> resize | ping (answered with pong); other control types are ignored
 *   pty output     -> binary frames (joined per tick, source paused above 1 MiB buffered)
 *   pty exit       -> (after the pty drained) {"type":"exit"} then close 1000
 *   socket closed  -> hang up the process group, SIGKILL 2 s later
 *   bad text frame -> close with the decoder's code, end the process
 */
export function runPtyChannel(ws: WebSocket, proc: PtyProcess, o: ChannelRunOptions): LiveChannel {
  const terminator = new GroupTerminator(o.clock, o.killGraceMs ?? KILL_GRACE_MS);
  const pump = new OutputPump(ws, proc, o.pump);
  const finished = deferred();
  let exited = false;
  let socketClosed = false;
  const settle = (): void => {
    if (exited && socketClosed) finished.resolve();
  };
  const endProcess = (): void => {
    ws.resume();
    if (exited) return;
    proc.destroy();
    terminator.terminate(proc.pid);
  };

  proc.onData((data) => pump.stdout(data));
  proc.onExit((status) => {
    exited = true;
    terminator.exited();
    ws.resume(); // read the peer's close frame even if input backpressure had paused us
    if (!socketClosed) {
      pump.flush();
      sendControl(ws, { type: 'exit', code: status.code, signal: status.signal });
      closeSocket(ws, CloseCode.NORMAL, 'exited');
    }
    pump.close();
    o.logger.info('channel process exited', { channel: o.channelId, code: status.code, signal: status.signal });
    settle();
  });
  proc.onWritable(() => ws.resume());

  ws.on('message', (data, isBinary) => {
    const frame = readChannelFrame(data, isBinary);
    if (frame.kind === 'binary') {
      if (!proc.write(frame.data)) ws.pause();
      return;
    }
    if (frame.kind === 'invalid') {
      o.logger.warn('bad channel frame', { channel: o.channelId, code: frame.closeCode, reason: frame.reason });
      closeSocket(ws, frame.closeCode, frame.reason);
      endProcess();
      return;
    }
    const m = frame.message;
    if (m.type === 'resize') proc.resize(m.cols, m.rows);
    else if (m.type === 'ping') sendControl(ws, { type: 'pong', ts: m.ts });
    // eof has no meaning for a terminal (the user types ^D); the rest is for users, not agents.
  });
  ws.on('close', (code) => {
    socketClosed = true;
    pump.close();
    if (!exited) {
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
