import { Metrics } from '@corral/protocol';
import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from './logger.js';

/** Default time between two `metrics` frames, in ms. */
export const DEFAULT_METRICS_INTERVAL_MS = 15_000;
/** Shortest interval the agent accepts (the gateway keeps at most a few samples per second anyway). */
export const MIN_METRICS_INTERVAL_MS = 250;
/** Longest interval: past it the gateway would show the server's health as unknown (45 s). */
export const MAX_METRICS_INTERVAL_MS = 30_000;
/** The first sample follows the welcome after this long at most, in ms (CPU % needs two readings). */
const FIRST_SAMPLE_MAX_DELAY_MS = 1_000;

export interface MetricsReporterOptions {
  collector: { prime(): Promise<void>; sample(): Promise<Metrics | undefined> };
  /** Send on the control connection; false when it is down (the sample is dropped). */
  send: (message: Metrics) => boolean;
  clock: Clock;
  logger: Logger;
  /** Default {@link DEFAULT_METRICS_INTERVAL_MS}. */
  intervalMs?: number;
}

/**
 * Sends a `metrics` frame every interval while the control connection is up: start() after a welcome
 * from a gateway that speaks protocol 2, stop() when the connection is lost. One timer, re-armed after
 * each sample, so a slow sample delays the next one instead of piling up. Nothing leaves the timer as an
 * exception: a sample that cannot be taken or does not pass the schema is skipped (logged once), because
 * a malformed frame would make the gateway close the whole control connection.
 */
export class MetricsReporter {
  readonly #o: MetricsReporterOptions;
  readonly #intervalMs: number;
  #timer: TimerHandle | undefined;
  /** Bumped by start() and stop(): a sample that finishes after either is thrown away. */
  #generation = 0;
  #running = false;
  #warnedInvalid = false;

  constructor(options: MetricsReporterOptions) {
    this.#o = options;
    this.#intervalMs = options.intervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Prime the CPU counters and send the first sample within a second; idempotent while running. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const generation = ++this.#generation;
    this.#o.collector.prime().then(
      () => {},
      () => {}, // the collector logs its own failures
    );
    this.#schedule(generation, Math.min(FIRST_SAMPLE_MAX_DELAY_MS, this.#intervalMs));
  }

  /** No more samples until the next start(). Idempotent. */
  stop(): void {
    this.#running = false;
    this.#generation++;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(generation: number, delayMs: number): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#tick(generation);
    }, delayMs);
  }

  async #tick(generation: number): Promise<void> {
    let sample: Metrics | undefined;
    try {
      sample = await this.#o.collector.sample();
    } catch (err) {
      // MetricsCollector never throws; another collector might.
      this.#o.logger.warn('metrics sample failed', { error: (err as Error).message });
    }
    if (generation !== this.#generation) return; // stopped (or restarted) meanwhile
    if (sample) {
      const checked = Metrics.safeParse(sample);
      if (checked.success) this.#o.send(checked.data);
      else if (!this.#warnedInvalid) {
        this.#warnedInvalid = true;
        const issue = checked.error.issues[0];
        this.#o.logger.warn('metrics sample does not fit the protocol; not sent', {
          where: issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid',
          note: 'logged once',
        });
      }
    }
    this.#schedule(generation, this.#intervalMs);
  }
}
