/**
 * Django's `pbkdf2_sha256` password format, so that users imported from a Django project keep
 * their passwords (SECURITY.md S16): `pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>`.
 *
 * We only verify and (for tests and import tooling) encode; new hashes are argon2id. Parsing is as
 * strict as Django's own check, which re-encodes and compares the whole string: a non-canonical
 * iteration count (`0600000`) or base64 never verifies there, so it does not verify here either.
 */
import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** The algorithm name Django writes before the first `$`. */
export const DJANGO_PBKDF2_ALGORITHM = 'pbkdf2_sha256';

/**
 * The most iterations accepted from a stored hash. Django 5.2 uses 1,000,000; the cap is ten times
 * that, so a hostile or corrupt stored hash cannot pin a thread-pool thread for minutes.
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

// Django's salts are 22 alphanumerics today (12 in older versions); anything up to 256 characters
// without `$` is accepted, the length cap only keeps hostile input cheap.
const MAX_SALT_LENGTH = 256;
const DIGEST_BYTES = 32;
// Canonical decimal (Django's `int()` round-trips through `%d`) and canonical padded base64 of 32 bytes.
const ITERATIONS = /^[1-9][0-9]{0,7}$/;
const HASH_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** A parsed Django `pbkdf2_sha256` hash. */
export interface DjangoPbkdf2Hash {
  iterations: number;
  salt: string;
  hash: Buffer;
}

/** True when `encoded` starts like a Django `pbkdf2_sha256` hash (it may still be malformed). */
export function looksLikeDjangoPbkdf2(encoded: string): boolean {
  return encoded.startsWith(`${DJANGO_PBKDF2_ALGORITHM}$`);
}

/**
 * Parses a Django `pbkdf2_sha256` hash. Returns `undefined` for anything malformed: wrong
 * algorithm, missing parts, iterations not a canonical integer in 1..MAX_PBKDF2_ITERATIONS, empty
 * or over-long salt, digest that is not canonical base64 of exactly 32 bytes. Never throws.
 */
export function parseDjangoPbkdf2(encoded: string): DjangoPbkdf2Hash | undefined {
  if (typeof encoded !== 'string') return undefined;
  const parts = encoded.split('$');
  if (parts.length !== 4) return undefined;
  const [algorithm, iterationsText, salt, hashText] = parts as [string, string, string, string];
  if (algorithm !== DJANGO_PBKDF2_ALGORITHM) return undefined;
  if (!ITERATIONS.test(iterationsText)) return undefined;
  const iterations = Number(iterationsText);
  if (iterations > MAX_PBKDF2_ITERATIONS) return undefined;
  if (salt.length === 0 || salt.length > MAX_SALT_LENGTH) return undefined;
  if (!HASH_BASE64.test(hashText)) return undefined;
  const hash = Buffer.from(hashText, 'base64');
  if (hash.length !== DIGEST_BYTES) return undefined;
  return { iterations, salt, hash };
}

/**
 * Checks `password` against a parsed Django hash: PBKDF2-HMAC-SHA256 on the libuv thread pool (never
 * on the event loop), compared in constant time. The password is used exactly as given, UTF-8
 * encoded as Django's `force_bytes` does.
 */
export async function verifyDjangoPbkdf2(parsed: DjangoPbkdf2Hash, password: string): Promise<boolean> {
  const derived = await pbkdf2Async(password, parsed.salt, parsed.iterations, DIGEST_BYTES, 'sha256');
  return timingSafeEqual(derived, parsed.hash);
}

/**
 * Produces the string Django's `PBKDF2PasswordHasher.encode(password, salt, iterations)` produces.
 * For tests and import tooling; tokenpair itself stores argon2id.
 *
 * @throws RangeError when the salt is empty, too long or contains `$`, or iterations are out of range
 */
export async function encodeDjangoPbkdf2(password: string, salt: string, iterations: number): Promise<string> {
  if (salt.length === 0 || salt.length > MAX_SALT_LENGTH || salt.includes('$')) {
    throw new RangeError(`salt must be 1 to ${MAX_SALT_LENGTH} characters without "$"`);
  }
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new RangeError(`iterations must be an integer from 1 to ${MAX_PBKDF2_ITERATIONS} (got ${iterations})`);
  }
  const derived = await pbkdf2Async(password, salt, iterations, DIGEST_BYTES, 'sha256');
  return `${DJANGO_PBKDF2_ALGORITHM}$${iterations}$${salt}$${derived.toString('base64')}`;
}
