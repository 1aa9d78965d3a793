/**
 * The password hasher: argon2id for new hashes, verification of argon2id and imported Django
 * `pbkdf2_sha256` hashes, a dummy verification for logins that have no hash to check, and a bound
 * on how many hash operations run at once (SECURITY.md S13, S14, S16).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { TokenPairError } from '../errors.js';
import {
  ARGON2ID,
  HASH_LENGTH,
  integerOption,
  isWeaker,
  parseArgon2id,
  resolveArgon2Params,
  storedLimits,
} from './argon2.js';
import { looksLikeDjangoPbkdf2, parseDjangoPbkdf2, verifyDjangoPbkdf2 } from './django.js';
import { Semaphore, SemaphoreFullError, type SemaphoreStats } from './semaphore.js';

/** Longest password accepted, in UTF-8 bytes (S14). Longer ones are refused before any hashing. */
export const MAX_PASSWORD_BYTES = 4096;

/**
 * True when `password` is longer than `MAX_PASSWORD_BYTES` in UTF-8. The HTTP layer uses it to
 * reject a request before it reaches the hasher.
 */
export function passwordTooLong(password: string): boolean {
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes, so most strings are decided without encoding them.
  if (password.length > MAX_PASSWORD_BYTES) return true;
  if (password.length * 3 <= MAX_PASSWORD_BYTES) return false;
  return Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
}

/**
 * Too many hash operations are already running and waiting (`maxConcurrent` + `maxQueue`). The
 * request was not attempted; answer 503 and let the client retry.
 */
export class HasherBusyError extends TokenPairError {
  override name = 'HasherBusyError';

  constructor(reason: string) {
    super('service_unavailable', `password hasher busy: ${reason}`);
  }
}

/** The result of checking a password. `needsRehash` is only ever true together with `ok`. */
export interface VerifyResult {
  ok: boolean;
  /** The hash is in an old format or weaker than configured: store `hash(password)` now. */
  needsRehash: boolean;
}

/** Load and work counters, for metrics and for tests that check each login branch costs the same. */
export interface HasherStats extends SemaphoreStats {
  /** argon2id hashes computed, including the one-off dummy hash. */
  hashes: number;
  /** argon2id verifications, real or dummy. */
  argon2Verifications: number;
  /** Django pbkdf2_sha256 verifications. */
  pbkdf2Verifications: number;
}

/** Hashes and verifies passwords. Passwords are used exactly as given: never trimmed or normalised (S14). */
export interface PasswordHasher {
  /**
   * Hashes a password with argon2id into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
   * @throws RangeError when the password is longer than `MAX_PASSWORD_BYTES`
   * @throws HasherBusyError when too many hash operations are running and waiting
   */
  hash(password: string): Promise<string>;
  /**
   * Checks a password against a stored hash (argon2id PHC or Django `pbkdf2_sha256`). Anything else
   * (unknown format, malformed, Django's unusable `!…`, empty) is `{ ok: false }` after one dummy
   * verification, so that the answer takes as long as a real one (S13). Never throws for a bad
   * hash or password.
   * @throws HasherBusyError when too many hash operations are running and waiting
   */
  verify(encoded: string, password: string): Promise<VerifyResult>;
  /**
   * Spends one argon2id verification of `password` against a fixed hash with the configured
   * parameters. Call it for unknown and inactive users so that every login branch costs the same.
   * @throws HasherBusyError when too many hash operations are running and waiting
   */
  verifyDummy(password: string): Promise<void>;
  /** Current load and work counters. */
  stats(): HasherStats;
}

/** Options of `createPasswordHasher`. Costs below OWASP's argon2id minimum are refused. */
export interface PasswordHasherOptions {
  /** argon2id memory per hash in KiB. Default 19456 (19 MiB). */
  memoryCost?: number;
  /** argon2id passes. Default 2. */
  timeCost?: number;
  /** argon2id lanes. Default 1. */
  parallelism?: number;
  /**
   * Hash operations running at once; each holds `memoryCost` KiB and keeps a CPU busy. Default: one
   * CPU fewer than the machine has, at least 1, at most 4 (libuv's thread pool size). The CPU left
   * over is the event loop's: with a hash on every CPU, every other request waits for the scheduler
   * (bench/README.md, http-loop).
   */
  maxConcurrent?: number;
  /** Operations allowed to wait for a slot; more are refused with `HasherBusyError`. Default 1000. */
  maxQueue?: number;
}

// A fresh object each time, so a caller that annotates the result cannot affect another login.
const failed = (): VerifyResult => ({ ok: false, needsRehash: false });

/**
 * Creates a password hasher. Each hasher has its own concurrency bound and dummy hash, so two
 * with different settings work side by side.
 *
 * @throws ConfigurationError when an option is invalid or weaker than OWASP's argon2id minimum
 */
export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const params = resolveArgon2Params(options);
  const limits = storedLimits(params);
  const gate = createGate(options);
  const counts = { hashes: 0, argon2Verifications: 0, pbkdf2Verifications: 0 };
  const argon2Options = { algorithm: ARGON2ID, ...params, outputLen: HASH_LENGTH };
  let dummyHash: Promise<string> | undefined;

  const newHash = (password: string) =>
    gate(() => {
      counts.hashes += 1;
      return argon2Hash(password, argon2Options);
    });

  // One argon2id verification under the gate. A library error (which parsing should already
  // have ruled out) counts as a mismatch rather than escaping as a 500.
  const checkArgon2 = (encoded: string, password: string) =>
    gate(async () => {
      counts.argon2Verifications += 1;
      return argon2Verify(encoded, password).catch(() => false);
    });

  const verifyDummy = async (password: string): Promise<void> => {
    if (typeof password !== 'string' || passwordTooLong(password)) return;
    // Made once per hasher on first use, from a random password nobody knows, with the configured
    // parameters so that it costs exactly what a real user's hash costs. A failed attempt (e.g.
    // the hasher was busy) is forgotten so the next call tries again.
    dummyHash ??= newHash(randomBytes(32).toString('base64url')).catch((error: unknown) => {
      dummyHash = undefined;
      throw error;
    });
    await checkArgon2(await dummyHash, password);
  };

  return {
    async hash(password) {
      if (typeof password !== 'string') throw new TypeError('password must be a string');
      if (passwordTooLong(password)) throw new RangeError(`password is longer than ${MAX_PASSWORD_BYTES} bytes`);
      return newHash(password);
    },

    async verify(encoded, password) {
      // An over-long password is refused outright: it is not a well-formed login, so S13's
      // one-verification rule does not apply, and hashing it is what the cap exists to prevent.
      if (typeof password !== 'string' || passwordTooLong(password)) return failed();
      if (typeof encoded === 'string') {
        const argon2 = parseArgon2id(encoded, limits);
        if (argon2) {
          const ok = await checkArgon2(encoded, password);
          return { ok, needsRehash: ok && isWeaker(argon2, params) };
        }
        const django = looksLikeDjangoPbkdf2(encoded) ? parseDjangoPbkdf2(encoded) : undefined;
        if (django) {
          const ok = await gate(async () => {
            counts.pbkdf2Verifications += 1;
            return verifyDjangoPbkdf2(django, password);
          });
          // Every Django hash is migrated to argon2id on the first successful login.
          return { ok, needsRehash: ok };
        }
      }
      await verifyDummy(password);
      return failed();
    },

    verifyDummy,

    stats() {
      return { ...gate.stats(), ...counts };
    },
  };
}

/** One CPU fewer than the machine has (the event loop's), at least 1, at most libuv's 4 pool threads. */
function defaultConcurrency(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

/** The semaphore as a function, turning its queue-full rejection into `HasherBusyError`. */
function createGate(options: PasswordHasherOptions) {
  const semaphore = new Semaphore(
    integerOption('maxConcurrent', options.maxConcurrent ?? defaultConcurrency(), 1, 1024),
    integerOption('maxQueue', options.maxQueue ?? 1000, 0, 1_000_000),
  );
  const gate = <T>(task: () => Promise<T>): Promise<T> =>
    semaphore.run(task).catch((error: unknown) => {
      throw error instanceof SemaphoreFullError ? new HasherBusyError(error.message) : error;
    });
  return Object.assign(gate, { stats: () => semaphore.stats() });
}
