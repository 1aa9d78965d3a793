/**
 * Login throttling (SECURITY.md S15): attempts are counted per normalised username and per client
 * address in fixed windows kept in the shared store. An attempt is counted before its password is
 * checked, in one atomic step with the check of the limits, so that a burst of concurrent guesses
 * gets no more than the limit; a successful login gives its attempt back, so what stays counted are
 * the failures. Once a key reaches its limit, every login for it — the correct password included —
 * gets 429 until the window ends; nothing locks for good.
 */
import { createHash } from 'node:crypto';
import type { ThrottleLimit, ThrottleStore } from '../store/types.js';

/**
 * A username longer than this is counted under its SHA-256 (`uh:<hex>`): a key of any length is
 * hostile input, and PostgreSQL cannot index one over ~2.7 kB (that failed as 503, store
 * unavailable). `u:` keys never start with `uh:`, so the two never collide.
 */
const MAX_PLAIN_KEY = 256;

export interface LoginThrottleOptions {
  store: ThrottleStore;
  perUsername: number;
  perAddress: number;
  /** Seconds. */
  window: number;
}

/** Case- and width-insensitive: "Ada", "ADA" and full-width "Ａｄａ" count as one username. */
export function normaliseUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

/** The throttle key of a normalised username. */
export function usernameKey(name: string): string {
  return name.length <= MAX_PLAIN_KEY ? `u:${name}` : `uh:${createHash('sha256').update(name).digest('hex')}`;
}

/** A counted attempt: give it back with `LoginThrottle.forgive` when the login succeeds. */
export interface Attempt {
  keys: string[];
  windowEnd: number;
}

export class LoginThrottle {
  readonly #options: LoginThrottleOptions;

  constructor(options: LoginThrottleOptions) {
    this.#options = options;
  }

  #limits(username: string, address: string | null): ThrottleLimit[] {
    const { perUsername, perAddress } = this.#options;
    const limits: ThrottleLimit[] = [];
    if (perUsername > 0) limits.push({ key: usernameKey(normaliseUsername(username)), limit: perUsername });
    if (perAddress > 0 && address) limits.push({ key: `a:${address}`, limit: perAddress });
    return limits;
  }

  /**
   * Counts one attempt for the username and the address, or, when either has reached its limit,
   * counts nothing and answers how many seconds (at least 1) until a login may be tried again.
   */
  async attempt(username: string, address: string | null, now: number): Promise<{ attempt: Attempt } | { retryAfter: number }> {
    const limits = this.#limits(username, address);
    const outcome = await this.#options.store.takeAttempt(limits, this.#options.window, now);
    if (!outcome.allowed) return { retryAfter: Math.max(1, Math.ceil(outcome.resetAt - now)) };
    return { attempt: { keys: limits.map(({ key }) => key), windowEnd: outcome.windowEnd } };
  }

  /** A successful login does not count against anyone. */
  async forgive(attempt: Attempt): Promise<void> {
    if (attempt.keys.length > 0) await this.#options.store.returnAttempt(attempt.keys, attempt.windowEnd);
  }
}
