/**
 * Login throttling (SECURITY.md S15): failed logins are counted per normalised username and per
 * client address in fixed windows kept in the shared store. Once a key reaches its limit, every login
 * for it — the correct password included — gets 429 until the window ends; nothing locks for good.
 */
import type { ThrottleStore } from '../store/types.js';

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

export class LoginThrottle {
  readonly #options: LoginThrottleOptions;

  constructor(options: LoginThrottleOptions) {
    this.#options = options;
  }

  #limits(username: string, address: string | null): Array<[string, number]> {
    const { perUsername, perAddress } = this.#options;
    const limits: Array<[string, number]> = [];
    if (perUsername > 0) limits.push([`u:${normaliseUsername(username)}`, perUsername]);
    if (perAddress > 0 && address) limits.push([`a:${address}`, perAddress]);
    return limits;
  }

  /** Seconds until a login may be tried again, or 0 when it may be tried now. */
  async retryAfter(username: string, address: string | null, now: number): Promise<number> {
    const limits = this.#limits(username, address);
    if (limits.length === 0) return 0;
    const counts = await this.#options.store.failures(limits.map(([key]) => key), this.#options.window, now);
    let wait = 0;
    for (const [index, [, limit]] of limits.entries()) {
      const { count, resetAt } = counts[index]!;
      if (count >= limit) wait = Math.max(wait, Math.max(1, Math.ceil(resetAt - now)));
    }
    return wait;
  }

  async recordFailure(username: string, address: string | null, now: number): Promise<void> {
    const keys = this.#limits(username, address).map(([key]) => key);
    if (keys.length > 0) await this.#options.store.recordFailure(keys, this.#options.window, now);
  }
}
