import { BusNoResponders, BusTimeout, subjectMatches, type Bus } from './bus.js';

type Handler = (data: unknown, respond: (answer: unknown) => void) => void;

/**
 * The single-node bus: delivery in the same process, on a later tick (like a network would), with the
 * same semantics as NATS for what the gateway relies on. Payloads are cloned through JSON so no caller
 * can share mutable state through the bus by accident.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly subs = new Set<{ pattern: string; handler: Handler }>();
  private closed = false;

  publish(subject: string, data: unknown): void {
    this.deliver(subject, data, () => {});
  }

  subscribe(subject: string, handler: Handler): () => void {
    const sub = { pattern: subject, handler };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  request(subject: string, data: unknown, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        if (!done) {
          done = true;
          reject(new BusTimeout(subject, timeoutMs));
        }
      }, timeoutMs);
      const n = this.deliver(subject, data, (answer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(answer);
      });
      if (n === 0) {
        done = true;
        clearTimeout(timer);
        reject(new BusNoResponders(subject));
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subs.clear();
  }

  private deliver(subject: string, data: unknown, respond: (answer: unknown) => void): number {
    if (this.closed) return 0;
    const text = JSON.stringify(data ?? null);
    let n = 0;
    for (const s of this.subs) {
      if (!subjectMatches(s.pattern, subject)) continue;
      n++;
      queueMicrotask(() => {
        try {
          s.handler(JSON.parse(text), (a) => respond(JSON.parse(JSON.stringify(a ?? null))));
        } catch {
          /* a failing handler must not break the publisher */
        }
      });
    }
    return n;
  }
}
