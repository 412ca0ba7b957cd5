import type { WebSocket } from 'ws';
import { HIGH_WATER_MARK_BYTES, LOW_WATER_MARK_BYTES } from '@corral/protocol';

/**
 * Send `data` on `dst`; when `dst` is backed up past the high-water mark, pause `src` and resume it from
 * a send callback once `dst` drains below the low-water mark. Callbacks are attached only while `dst` is
 * above the low-water mark, so interactive traffic allocates nothing extra.
 */
export function forward(src: WebSocket, dst: WebSocket, data: Buffer | string, binary: boolean): void {
  if (dst.readyState !== dst.OPEN) return;
  if (dst.bufferedAmount < LOW_WATER_MARK_BYTES) {
    dst.send(data, { binary });
  } else {
    dst.send(data, { binary }, () => {
      if (dst.bufferedAmount < LOW_WATER_MARK_BYTES && src.isPaused) src.resume();
    });
  }
  if (dst.bufferedAmount > HIGH_WATER_MARK_BYTES && !src.isPaused) src.pause();
}
