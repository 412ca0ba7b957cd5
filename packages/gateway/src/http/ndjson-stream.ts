import type { FastifyReply } from 'fastify';

/** A live NDJSON answer (one JSON value per line) written straight to the response. */
export interface NdjsonStream {
  /** Write one line; the 200 and headers go out with the first. Dropped once the client is gone. */
  write(value: object): void;
  /** The client closed the request before the answer ended (Ctrl-C). */
  aborted(): boolean;
  /** Resolves once the client's buffer has drained (at once when it has room, or the client is gone). */
  writable(): Promise<void>;
  /** Whether anything was written (before that, an error can still be an ordinary JSON error). */
  started(): boolean;
  end(): void;
}

/**
 * Take over `reply` for a live NDJSON stream. Lines written in the same event-loop turn (a burst of
 * results) are corked and leave in one write and one TLS record, not one each. A client that reads
 * slowly shows in `writable()`, which producers await before making more.
 */
export function ndjsonStream(reply: FastifyReply): NdjsonStream {
  const res = reply.raw;
  let aborted = false;
  let started = false;
  let corked = false;
  let draining: Promise<void> | null = null;
  res.on('close', () => {
    if (!res.writableFinished) aborted = true;
  });
  return {
    write(value) {
      if (!started) {
        started = true;
        reply.hijack();
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      }
      if (aborted) return;
      if (!corked) {
        corked = true;
        res.cork();
        setImmediate(() => {
          corked = false;
          res.uncork();
        });
      }
      res.write(JSON.stringify(value) + '\n');
    },
    aborted: () => aborted,
    writable() {
      if (aborted || !res.writableNeedDrain) return Promise.resolve();
      return (draining ??= new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          draining = null;
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      }));
    },
    started: () => started,
    end() {
      if (started) res.end();
    },
  };
}
