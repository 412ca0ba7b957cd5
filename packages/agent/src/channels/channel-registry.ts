import type { LiveChannel } from './live-channel.js';

/**
 * Every live channel, in the order it started, so shutdown can end them newest first. A channel
 * leaves the registry by itself when its `done` resolves.
 */
export class ChannelRegistry {
  readonly #channels = new Map<string, LiveChannel>();

  /** Number of live channels. */
  get size(): number {
    return this.#channels.size;
  }

  has(channelId: string): boolean {
    return this.#channels.has(channelId);
  }

  /** Track a channel until it is done. @throws on a duplicate id */
  add(channel: LiveChannel): void {
    if (this.#channels.has(channel.channelId)) throw new Error(`channel ${channel.channelId} is already registered`);
    this.#channels.set(channel.channelId, channel);
    void channel.done.then(() => {
      if (this.#channels.get(channel.channelId) === channel) this.#channels.delete(channel.channelId);
    });
  }

  /** Dispose every channel, starting with the newest, and wait for all of them. */
  async disposeAll(): Promise<void> {
    const all = [...this.#channels.values()].reverse();
    await Promise.all(all.map((c) => c.dispose()));
  }
}
