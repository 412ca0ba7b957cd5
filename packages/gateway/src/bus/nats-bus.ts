import { connect, JSONCodec, type NatsConnection, type Subscription } from 'nats';
import { BusNoResponders, BusTimeout, type Bus } from './bus.js';
import type { Logger } from '../log.js';

const codec = JSONCodec<unknown>();

/** The cluster bus on NATS core subjects (no JetStream needed: nothing here must survive a restart). */
export class NatsBus implements Bus {
  readonly kind = 'nats' as const;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {}

  static async connect(url: string, name: string, log: Logger): Promise<NatsBus> {
    const u = new URL(url);
    const nc = await connect({
      servers: `${u.hostname}:${u.port || '4222'}`,
      name,
      ...(u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    void (async () => {
      for await (const s of nc.status()) log.info('nats status', { type: String(s.type) });
    })();
    return new NatsBus(nc, log);
  }

  publish(subject: string, data: unknown): void {
    this.nc.publish(subject, codec.encode(data ?? null));
  }

  subscribe(subject: string, handler: (data: unknown, respond: (answer: unknown) => void) => void): () => void {
    const sub: Subscription = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return this.log.warn('nats subscription error', { subject, err: err.message });
        let data: unknown;
        try {
          data = codec.decode(msg.data);
        } catch {
          return this.log.warn('nats: undecodable message', { subject });
        }
        try {
          handler(data, (answer) => {
            if (msg.reply) msg.respond(codec.encode(answer ?? null));
          });
        } catch (e) {
          this.log.error('bus handler failed', { subject, err: String(e) });
        }
      },
    });
    return () => sub.unsubscribe();
  }

  async request(subject: string, data: unknown, timeoutMs: number): Promise<unknown> {
    try {
      const m = await this.nc.request(subject, codec.encode(data ?? null), { timeout: timeoutMs });
      return codec.decode(m.data);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '503') throw new BusNoResponders(subject);
      if (code === 'TIMEOUT') throw new BusTimeout(subject, timeoutMs);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
