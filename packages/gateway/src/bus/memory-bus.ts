import { BusNoResponders, BusTimeout, subjectMatches, type Bus } from './bus.js';

type Handler = (data: unknown, respond: (answer: unknown) => void) => void;

/**
 * The single-node bus: delivery in the same process, on a later tick (like a network would), with the
 * same semantics as NATS for what the gateway relies on. Payloads are cloned through JSON so no caller
 * can share mutable state through the bus by accident.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  /** Exact subjects are looked up directly (10,000 agents = 10,000 subjects); wildcards are scanned. */
  private readonly exact = new Map<string, Set<{ pattern: string; handler: Handler }>>();
  private readonly wild = new Set<{ pattern: string; handler: Handler }>();
  private closed = false;

  publish(subject: string, data: unknown): void {
    this.deliver(subject, data, () => {});
  }

  subscribe(subject: string, handler: Handler): () => void {
    const sub = { pattern: subject, handler };
    if (subject.includes('*') || subject.includes('>')) {
      this.wild.add(sub);
      return () => this.wild.delete(sub);
    }
    let set = this.exact.get(subject);
    if (!set) this.exact.set(subject, (set = new Set()));
    set.add(sub);
    return () => {
      set.delete(sub);
      if (set.size === 0 && this.exact.get(subject) === set) this.exact.delete(subject);
    };
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
    this.exact.clear();
    this.wild.clear();
  }

  private deliver(subject: string, data: unknown, respond: (answer: unknown) => void): number {
    if (this.closed) return 0;
    const text = JSON.stringify(data ?? null);
    let n = 0;
    const targets = [
      ...(this.exact.get(subject) ?? []),
      ...[...this.wild].filter((w) => subjectMatches(w.pattern, subject)),
    ];
    for (const s of targets) {
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
