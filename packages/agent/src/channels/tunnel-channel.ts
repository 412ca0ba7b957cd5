import { connect, type Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { CloseCode, HIGH_WATER_MARK_BYTES, LOW_WATER_MARK_BYTES } from '@corral/protocol';
import { closeAndWait, closeSocket, sendControl } from './channel-frames.js';
import { deferred, type LiveChannel } from './live-channel.js';
import type { ChannelRunOptions } from './pty-channel.js';

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * A port-forwarding channel: one TCP connection from the agent to the signed target, bridged byte for
 * byte with the channel socket, with backpressure both ways (socket.write false -> pause the channel;
 * channel buffered over 1 MiB -> pause the TCP socket until the send callbacks catch up).
 *
 *   connect refused -> `error {code: TUNNEL_CONNECT_FAILED}` and close 1011
 *   TCP end         -> close 1000 (after the queued bytes)
 *   channel closed  -> TCP destroyed
 */
export function runTunnelChannel(
  ws: WebSocket,
  target: { host: string; port: number },
  o: ChannelRunOptions,
  dial: (host: string, port: number) => Socket = (host, port) => connect({ host, port }),
): LiveChannel {
  const finished = deferred();
  const tcp = dial(target.host, target.port);
  let connected = false;
  let paused = false;
  let tcpClosed = false;
  let wsClosed = false;
  const settle = (): void => {
    if (tcpClosed && wsClosed) finished.resolve();
  };
  // Bytes from the user wait until the connection is up (ws buffers them while paused).
  ws.pause();
  tcp.setNoDelay(true);
  tcp.once('connect', () => {
    connected = true;
    ws.resume();
  });
  const onSent = (): void => {
    if (paused && (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount <= LOW_WATER_MARK_BYTES)) {
      paused = false;
      tcp.resume();
    }
  };
  tcp.on('data', (d: Buffer) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(d, { binary: true }, onSent);
    if (!paused && ws.bufferedAmount > HIGH_WATER_MARK_BYTES) {
      paused = true;
      tcp.pause();
    }
  });
  tcp.on('drain', () => ws.resume());
  tcp.once('error', (err) => {
    if (!connected) {
      sendControl(ws, {
        type: 'error',
        code: 'TUNNEL_CONNECT_FAILED',
        message: `cannot connect to ${target.host}:${target.port} from the server: ${err.message}`.slice(0, 4000),
      });
      closeSocket(ws, CloseCode.INTERNAL, 'tunnel connect failed');
    } else {
      o.logger.warn('tunnel connection error', { channel: o.channelId, error: err.message });
    }
  });
  tcp.once('close', () => {
    tcpClosed = true;
    // After the queued bytes: ws sends the close frame behind them.
    if (connected) closeSocket(ws, CloseCode.NORMAL, 'connection closed');
    settle();
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return; // ping/pong and eof are handled by the gateway; nothing else is meaningful here
    if (!tcp.write(toBuffer(data))) ws.pause();
  });
  ws.once('close', () => {
    wsClosed = true;
    ws.resume();
    tcp.destroy();
    settle();
  });
  return {
    channelId: o.channelId,
    done: finished.promise,
    dispose: async () => {
      tcp.destroy();
      await closeAndWait(ws, o.clock);
      await finished.promise;
    },
  };
}
