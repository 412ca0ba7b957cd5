import type { Clock } from '../clock.js';

/** Failures allowed per key within the window before further attempts are refused. */
export interface RateLimitRule {
  max: number;
  windowMs: number;
}

/**
 * Counts failures per key (an account, a source address) in a fixed window. Memory is bounded:
 * at most `maxKeys` keys are tracked; the oldest are dropped first.
 */
export class FailureLimiter {
  private readonly entries = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly rule: RateLimitRule,
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {}

  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  retryAfterMs(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    const now = this.clock.now();
    if (now >= e.resetAt) {
      this.entries.delete(key);
      return 0;
    }
    return e.count >= this.rule.max ? e.resetAt - now : 0;
  }

  fail(key: string): void {
    const now = this.clock.now();
    const e = this.entries.get(key);
    if (!e || now >= e.resetAt) {
      this.entries.delete(key);
      this.entries.set(key, { count: 1, resetAt: now + this.rule.windowMs });
      if (this.entries.size > this.maxKeys) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
    } else {
      e.count++;
    }
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }
}

/**
 * Sign-in attempt limits shared by every proof of identity (password, second factor, step-up): failures
 * count per account and per source address in one window, so guessing codes and guessing passwords
 * draw on the same budget.
 */
export class SignInGuard {
  private readonly byAccount: FailureLimiter;
  private readonly byAddress: FailureLimiter;

  constructor(
    limits: { maxFailuresPerAccount: number; maxFailuresPerAddress: number; windowMs: number },
    clock: Clock,
  ) {
    this.byAccount = new FailureLimiter({ max: limits.maxFailuresPerAccount, windowMs: limits.windowMs }, clock);
    this.byAddress = new FailureLimiter({ max: limits.maxFailuresPerAddress, windowMs: limits.windowMs }, clock);
  }

  /** Milliseconds to wait before the next attempt for this account or address (0: go ahead). */
  retryAfterMs(workspaceId: string, email: string, sourceIp: string): number {
    return Math.max(this.byAccount.retryAfterMs(`${workspaceId}\n${email}`), this.byAddress.retryAfterMs(sourceIp));
  }

  fail(workspaceId: string, email: string, sourceIp: string): void {
    this.byAccount.fail(`${workspaceId}\n${email}`);
    this.byAddress.fail(sourceIp);
  }

  /** A complete, successful sign-in clears the account's count (not the address's). */
  succeed(workspaceId: string, email: string): void {
    this.byAccount.succeed(`${workspaceId}\n${email}`);
  }
}
