import type { WebSocket } from 'ws';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { LiveChannel } from './live-channel.js';
import type { OutputPumpOptions } from './output-pump.js';
import type { PtyProcess } from './pty-process.js';
import { PtySession } from './pty-session.js';

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
 * Bridge a pty process and an open channel socket (websh, pty mode), the terminal ending with its
 * socket: a PtySession that does not persist. See PtySession for the frames.
 */
export function runPtyChannel(ws: WebSocket, proc: PtyProcess, o: ChannelRunOptions): LiveChannel {
  const session = new PtySession(
    proc,
    { cols: 80, rows: 24 },
    {
      sessionId: o.channelId,
      osUser: '',
      persistMs: 0,
      clock: o.clock,
      logger: o.logger,
      ...(o.killGraceMs !== undefined ? { killGraceMs: o.killGraceMs } : {}),
      ...(o.pump ? { pump: o.pump } : {}),
      onGone: () => {},
    },
  );
  return session.attach(ws, o.channelId, false);
}
