/**
 * A small counting semaphore with a bounded FIFO queue.
 *
 * Password hashing needs tens of MiB per operation, so a login flood must not start thousands of
 * them at once (SECURITY.md S16). Callers beyond `maxConcurrent` wait in arrival order; callers
 * beyond `maxQueue` waiting are refused at once, so that memory stays bounded and an overloaded
 * server answers quickly instead of piling up requests it will never serve in time.
 */

/** Thrown (as a rejection) by `Semaphore.run` when `maxQueue` callers are already waiting. */
export class SemaphoreFullError extends Error {
  override name = 'SemaphoreFullError';
}

/** A snapshot of a semaphore's load. `peakRunning` is the most tasks ever observed running at once. */
export interface SemaphoreStats {
  running: number;
  queued: number;
  peakRunning: number;
}

export class Semaphore {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  #running = 0;
  #peakRunning = 0;
  // Waiters in arrival order. Array#shift is O(n) but n ≤ maxQueue, which is small by design.
  #waiters: Array<() => void> = [];

  /**
   * @param maxConcurrent tasks allowed to run at the same time (integer ≥ 1)
   * @param maxQueue tasks allowed to wait for a slot (integer ≥ 0); more are rejected
   */
  constructor(maxConcurrent: number, maxQueue: number) {
    if (!Number.isSafeInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be an integer ≥ 1 (got ${maxConcurrent})`);
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be an integer ≥ 0 (got ${maxQueue})`);
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
  }

  /**
   * Runs `task` when a slot is free and resolves or rejects with its result. The slot is released
   * however the task ends. Rejects with `SemaphoreFullError`, without running `task`, when the
   * queue is full.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /** Current load; cheap, for metrics and tests. */
  stats(): SemaphoreStats {
    return { running: this.#running, queued: this.#waiters.length, peakRunning: this.#peakRunning };
  }

  #acquire(): Promise<void> {
    if (this.#running < this.maxConcurrent) {
      this.#running += 1;
      this.#peakRunning = Math.max(this.#peakRunning, this.#running);
      return Promise.resolve();
    }
    if (this.#waiters.length >= this.maxQueue) {
      return Promise.reject(new SemaphoreFullError(`${this.maxQueue} tasks already waiting for ${this.maxConcurrent} slots`));
    }
    // The releasing task hands its slot straight to this waiter (`#running` is not decremented),
    // so a newcomer can never overtake a waiter: the order is strictly FIFO.
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#running -= 1;
  }
}
