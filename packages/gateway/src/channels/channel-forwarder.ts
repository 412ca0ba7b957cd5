import { WebSocket } from 'ws';
import { CloseCode, MAX_DATA_FRAME_BYTES } from '@corral/protocol';
import type { Logger } from '../log.js';
import { forward } from './bridge.js';

/** Close codes a peer may send on the wire (1005 and 1006 are reserved for local reporting). */
function sendable(code: number): number {
  return code === 1000 ||
    (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
    ? code
    : CloseCode.PEER_GONE;
}

/**
 * Forwards a channel socket that landed on this node to the channel's home node, frame by frame, over a
 * node-to-node WSS (cluster mode). TCP flow control and the same high-water marks as the bridge apply on
 * both legs, so nothing piles up here. The token is passed through unchanged: the home node checks it.
 */
export class ChannelForwarder {
  constructor(
    private readonly caPem: string,
    private readonly log: Logger,
  ) {}

  forward(client: WebSocket, homeUrl: string, channelId: string, token: string): void {
    client.pause();
    const url = `${homeUrl.replace(/^http/, 'ws')}/api/v1/channels/${encodeURIComponent(channelId)}?token=${encodeURIComponent(token)}`;
    const up = new WebSocket(url, {
      ca: this.caPem,
      minVersion: 'TLSv1.3',
      perMessageDeflate: false,
      maxPayload: Math.ceil((MAX_DATA_FRAME_BYTES * 4) / 3) + 1024,
      headers: { 'x-corral-forwarded': '1' },
    });
    up.on('open', () => client.resume());
    up.on('message', (d, isBinary) => forward(up, client, d as Buffer, isBinary));
    client.on('message', (d, isBinary) => {
      if (up.readyState === up.OPEN) forward(client, up, d as Buffer, isBinary);
    });
    up.on('close', (code, reason) => {
      if (client.readyState === client.OPEN) {
        if (client.isPaused) client.resume();
        client.close(sendable(code), reason.toString().slice(0, 120));
      }
    });
    client.on('close', (code, reason) => {
      if (up.readyState === up.OPEN) {
        if (up.isPaused) up.resume();
        up.close(sendable(code), reason.toString().slice(0, 120));
      } else if (up.readyState === up.CONNECTING) up.terminate();
    });
    up.on('error', (err) => {
      this.log.warn('channel forward failed', { channelId, home: homeUrl, err: err.message });
      if (client.readyState === client.OPEN) client.close(CloseCode.PEER_GONE, 'home node unreachable');
    });
    client.on('error', () => up.terminate());
  }
}
