import type { WebSocket } from 'ws';
import { HIGH_WATER_MARK_BYTES, LOW_WATER_MARK_BYTES } from '@corral/protocol';

/**
 * Send `data` on `dst`; when `dst` is backed up past the high-water mark, pause `src` and resume it from
 * a send callback once `dst` drains below the low-water mark.
 *
 * A callback rides on every send that can leave the backlog at or above the low-water mark (judged by
 * the backlog *after* this frame, so one large frame cannot jump from below the low-water mark to above
 * the high-water mark without one). The last such callback then always sees the drained backlog and
 * resumes the source; interactive traffic, far below the mark, allocates nothing extra.
 */
export function forward(src: WebSocket, dst: WebSocket, data: Buffer | string, binary: boolean): void {
  if (dst.readyState !== dst.OPEN) return;
  const size = typeof data === 'string' ? data.length * 3 : data.length;
  if (dst.bufferedAmount + size < LOW_WATER_MARK_BYTES) {
    dst.send(data, { binary });
  } else {
    dst.send(data, { binary }, () => {
      if (dst.bufferedAmount < LOW_WATER_MARK_BYTES && src.isPaused) src.resume();
    });
  }
  if (dst.bufferedAmount > HIGH_WATER_MARK_BYTES && !src.isPaused) src.pause();
}
