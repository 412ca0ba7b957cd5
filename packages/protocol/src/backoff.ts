/**
 * Reconnect backoff as a pure state machine: exponential with full jitter (AWS architecture blog,
 * "Exponential Backoff And Jitter"). Delay n is uniform in [0, min(cap, base * 2^n)].
 * Randomness comes in as an argument so tests are exact.
 */
export interface BackoffOptions {
  /** First ceiling in ms. Default 1000. */
  baseMs: number;
  /** Largest ceiling in ms. Default 60000. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 60_000 };

export interface BackoffState {
  /** Failed attempts since the last success. */
  attempt: number;
}

export const initialBackoff: BackoffState = { attempt: 0 };

/** The ceiling for the given attempt, in ms. */
export function backoffCeiling(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  // 2^attempt overflows nothing before the cap is reached; clamp the exponent anyway.
  const exp = Math.min(attempt, 30);
  return Math.min(opts.capMs, opts.baseMs * 2 ** exp);
}

/**
 * After a failure: how long to wait (full jitter) and the next state.
 * @param random a number in [0, 1), e.g. Math.random()
 */
export function nextBackoff(
  state: BackoffState,
  random: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
): { delayMs: number; state: BackoffState } {
  const ceiling = backoffCeiling(state.attempt, opts);
  const r = Math.min(Math.max(random, 0), 1);
  return { delayMs: Math.floor(r * ceiling), state: { attempt: state.attempt + 1 } };
}

/** After a connection that was established and authenticated: start over. */
export function resetBackoff(): BackoffState {
  return initialBackoff;
}
