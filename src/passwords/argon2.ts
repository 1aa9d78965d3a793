/**
 * argon2id parameters: the OWASP floor for new hashes, and the bounds on parameters read back
 * from a stored hash (SECURITY.md S16).
 *
 * The hashing itself is @node-rs/argon2, which runs on the libuv thread pool, off the event loop.
 */
import { parseOptions, type Algorithm, type Version } from '@node-rs/argon2';
import { ConfigurationError } from '../errors.js';

/** Every argon2id PHC string starts with this. */
export const ARGON2ID_PREFIX = '$argon2id$';

// @node-rs/argon2 declares these as ambient `const enum`s, which `isolatedModules` cannot read,
// so the numeric values are spelled out (Algorithm.Argon2id = 2, Version.V0x13 = 1).
export const ARGON2ID = 2 as Algorithm;
const VERSION_0X13 = 1 as Version;

/** The cost parameters of an argon2id hash. `memoryCost` is in KiB. */
export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet defaults: m = 19 MiB, t = 2, p = 1. */
export const OWASP_DEFAULT: Readonly<Argon2Params> = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

// OWASP lists these (memoryCost KiB, timeCost) pairs, p = 1, as equally strong minimums. A
// configuration is accepted when it is at least as strong as one of them in both parameters.
const OWASP_FLOOR: ReadonlyArray<readonly [number, number]> = [
  [47104, 1],
  [19456, 2],
  [12288, 3],
  [9216, 4],
  [7168, 5],
];

// Upper bounds on configuration, to catch unit mistakes (memoryCost is KiB, not bytes).
const MAX_MEMORY_COST = 1_048_576; // 1 GiB per hash
const MAX_TIME_COST = 100;
const MAX_PARALLELISM = 255; // argon2's own limit

/** Output length of new hashes in bytes (the library's and OWASP's 32). */
export const HASH_LENGTH = 32;

/**
 * Validates configured argon2id parameters, filling OWASP's defaults, and refuses anything weaker
 * than OWASP's minimum. Throws `ConfigurationError` naming the offending option.
 */
export function resolveArgon2Params(options: Partial<Argon2Params>): Argon2Params {
  const memoryCost = integerOption('memoryCost', options.memoryCost ?? OWASP_DEFAULT.memoryCost, 1, MAX_MEMORY_COST, 'KiB');
  const timeCost = integerOption('timeCost', options.timeCost ?? OWASP_DEFAULT.timeCost, 1, MAX_TIME_COST);
  const parallelism = integerOption('parallelism', options.parallelism ?? OWASP_DEFAULT.parallelism, 1, MAX_PARALLELISM);
  const weakest = OWASP_FLOOR[OWASP_FLOOR.length - 1]!;
  if (memoryCost < weakest[0]) {
    throw new ConfigurationError('memoryCost', `must be at least ${weakest[0]} KiB, OWASP's minimum for argon2id (got ${memoryCost}; the default is ${OWASP_DEFAULT.memoryCost})`);
  }
  const neededTime = Math.min(...OWASP_FLOOR.filter(([m]) => memoryCost >= m).map(([, t]) => t));
  if (timeCost < neededTime) {
    throw new ConfigurationError('timeCost', `must be at least ${neededTime} with memoryCost ${memoryCost} KiB, OWASP's minimum for argon2id (got ${timeCost})`);
  }
  // argon2 needs 8 KiB per lane; checked here so the mistake surfaces at start-up, not at first login.
  if (memoryCost < 8 * parallelism) {
    throw new ConfigurationError('parallelism', `must be at most memoryCost / 8 = ${Math.floor(memoryCost / 8)} (got ${parallelism})`);
  }
  return { memoryCost, timeCost, parallelism };
}

/** Returns `value` when it is an integer in [min, max]; otherwise throws `ConfigurationError` naming `name`. */
export function integerOption(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigurationError(name, `must be an integer from ${min} to ${max}${unit ? ` ${unit}` : ''} (got ${String(value)})`);
  }
  return value;
}

/** What a stored argon2id hash says about itself. */
export interface StoredArgon2 extends Argon2Params {
  version: Version;
  outputLen: number;
  saltLen: number;
}

/**
 * The most a stored hash may ask for. Verifying costs whatever the stored string says, and a
 * corrupt or hostile `m=4294967295` makes the allocator kill the process (seen here), so stored
 * hashes above these bounds are refused instead of verified. 256 MiB and t = 16 leave room for
 * common stronger settings (libsodium "moderate", Django's m = 100 MiB) while bounding the worst
 * case to `maxConcurrent` × 256 MiB.
 */
export function storedLimits(configured: Argon2Params): Argon2Params {
  return {
    memoryCost: Math.max(configured.memoryCost, 262_144),
    timeCost: Math.max(configured.timeCost, 16),
    parallelism: MAX_PARALLELISM,
  };
}

/** Longest PHC string considered; real ones are ~100 characters. Bounds the salt and output size. */
export const MAX_ENCODED_LENGTH = 512;

/**
 * Parses an argon2id PHC string. Returns `undefined` when it is not argon2id, is malformed, or
 * asks for more than `limits`. Never throws.
 */
export function parseArgon2id(encoded: string, limits: Argon2Params): StoredArgon2 | undefined {
  if (!encoded.startsWith(ARGON2ID_PREFIX) || encoded.length > MAX_ENCODED_LENGTH) return undefined;
  let parsed;
  try {
    parsed = parseOptions(encoded);
  } catch {
    return undefined;
  }
  if (parsed.algorithm !== ARGON2ID) return undefined;
  if (parsed.memoryCost > limits.memoryCost || parsed.timeCost > limits.timeCost || parsed.parallelism > limits.parallelism) return undefined;
  return parsed;
}

/**
 * True when a stored hash is weaker than the configuration in any respect, so it should be
 * replaced on the next successful login. Parallelism is not compared: for a given total memory it
 * changes the work split, not the attacker's cost.
 */
export function isWeaker(stored: StoredArgon2, configured: Argon2Params): boolean {
  return (
    stored.memoryCost < configured.memoryCost ||
    stored.timeCost < configured.timeCost ||
    stored.version !== VERSION_0X13 ||
    stored.outputLen < HASH_LENGTH ||
    stored.saltLen < 16
  );
}
