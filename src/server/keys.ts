/**
 * The data directory and the server's signing keys in `<data-dir>/keys.json`: a key ring
 * `[{kid, algorithm, created, signingKey}]`, current key first, readable by the owner only (0600).
 * Generated on first start; `tokenpair keys rotate` puts a new key first and keeps the older ones
 * for verification. Key material is never printed or logged: only kids, algorithms and dates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.js';
import { ALGORITHM_NAMES, algorithmSpec, type Algorithm } from '../jws/algorithms.js';
import type { KeyRingEntry } from '../jws/keyring.js';

export const KEY_FILE_NAME = 'keys.json';
export const DATABASE_FILE_NAME = 'tokenpair.sqlite3';

/** One key of `keys.json`. */
export interface StoredKey {
  kid: string;
  algorithm: Algorithm;
  /** ISO 8601, when the key was generated. */
  created: string;
  /** An HMAC secret (base64url text, used as-is like simplejwt's SIGNING_KEY) or a PKCS#8 PEM private key. */
  signingKey: string;
}

/** What `keys list` shows: never the key itself. */
export interface KeyInfo {
  kid: string;
  algorithm: Algorithm;
  created: string;
  current: boolean;
}

export function keyFilePath(dataDir: string): string {
  return join(dataDir, KEY_FILE_NAME);
}

export function databasePath(dataDir: string): string {
  return join(dataDir, DATABASE_FILE_NAME);
}

/** Creates the data directory (owner only, 0700) if it does not exist. */
export function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    // mkdir says EEXIST for a file in the way, ENOTDIR for a file among the parents.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw notADirectory(dataDir);
    throw new ConfigurationError('--data-dir', `cannot create ${dataDir}: ${code ?? (error as Error).message}`);
  }
  if (!statSync(dataDir).isDirectory()) throw notADirectory(dataDir);
}

function notADirectory(dataDir: string): ConfigurationError {
  return new ConfigurationError('--data-dir', `${dataDir} is not a directory`);
}

/** A fresh key for `algorithm`: 64 random bytes for HMAC (at least the hash length), a new key pair otherwise. */
export function newKey(algorithm: Algorithm, now = new Date()): StoredKey {
  const spec = algorithmSpec(algorithm);
  if (!spec) throw new ConfigurationError('algorithm', `must be one of ${ALGORITHM_NAMES.join(', ')} (got ${JSON.stringify(algorithm)})`);
  let signingKey: string;
  switch (spec.family) {
    case 'HMAC':
      signingKey = randomBytes(Math.max(64, spec.minKeySize)).toString('base64url');
      break;
    case 'RSA':
    case 'RSA-PSS':
      signingKey = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      break;
    case 'ECDSA':
      signingKey = generateKeyPairSync('ec', { namedCurve: spec.namedCurve! }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      break;
    case 'EdDSA':
      signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      break;
  }
  const day = now.toISOString().slice(0, 10).replaceAll('-', '');
  return { kid: `${day}-${randomBytes(4).toString('hex')}`, algorithm: spec.name, created: now.toISOString(), signingKey };
}

/** The key file's keys, or `null` when there is no key file. Refuses a file others can read. */
export function readKeys(dataDir: string): StoredKey[] | null {
  const path = keyFilePath(dataDir);
  let text: string;
  try {
    const stat = statSync(path);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new ConfigurationError(KEY_FILE_NAME, `${path} is accessible by other users (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${path}`);
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw notADirectory(dataDir);
    throw new ConfigurationError(KEY_FILE_NAME, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigurationError(KEY_FILE_NAME, `${path} is not valid JSON`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(isStoredKey)) {
    throw new ConfigurationError(KEY_FILE_NAME, `${path} must be a non-empty JSON array of {kid, algorithm, created, signingKey}`);
  }
  return parsed;
}

function isStoredKey(value: unknown): value is StoredKey {
  if (typeof value !== 'object' || value === null) return false;
  const key = value as Record<string, unknown>;
  return typeof key.kid === 'string' && typeof key.algorithm === 'string' && typeof key.created === 'string' && typeof key.signingKey === 'string';
}

/** The keys as the `keyRing` setting takes them. */
export function toKeyRing(keys: readonly StoredKey[]): KeyRingEntry[] {
  return keys.map(({ kid, algorithm, signingKey }) => ({ kid, algorithm, signingKey }));
}

export function describeKeys(keys: readonly StoredKey[]): KeyInfo[] {
  return keys.map(({ kid, algorithm, created }, index) => ({ kid, algorithm, created, current: index === 0 }));
}

/**
 * Creates the key file with one new key unless it exists. Safe when several processes start at
 * once on the same data directory: exactly one file wins and every process uses it.
 */
export function ensureKeys(dataDir: string, algorithm: Algorithm): { keys: StoredKey[]; created: boolean } {
  const existing = readKeys(dataDir);
  if (existing) return { keys: existing, created: false };
  const keys = [newKey(algorithm)];
  const path = keyFilePath(dataDir);
  // Under the lock so that a concurrent `keys rotate` cannot read "no file" and then replace this one.
  return withKeyFileLock(dataDir, () => {
    const temporary = writeTemporary(dataDir, keys);
    try {
      linkSync(temporary, path); // fails with EEXIST when another process was first
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw keyFileError(path, error);
      return { keys: readKeys(dataDir)!, created: false };
    } finally {
      unlinkSync(temporary);
    }
    return { keys, created: true };
  });
}

/**
 * Puts a new key first (it signs from the next start on); the older keys stay for verification.
 * The read-modify-write of keys.json holds the key file lock, so concurrent rotations each add
 * their key. The key is made before the lock is taken (an RSA key takes a while).
 */
export function rotateKeys(dataDir: string, algorithm: Algorithm): { keys: StoredKey[]; added: StoredKey } {
  const added = newKey(algorithm);
  return withKeyFileLock(dataDir, () => {
    const keys = [added, ...(readKeys(dataDir) ?? [])];
    const temporary = writeTemporary(dataDir, keys);
    try {
      renameSync(temporary, keyFilePath(dataDir));
    } catch (error) {
      unlinkSync(temporary);
      throw keyFileError(keyFilePath(dataDir), error);
    }
    return { keys, added };
  });
}

export const LOCK_FILE_NAME = `${KEY_FILE_NAME}.lock`;
/** How long a command waits for another one's lock on keys.json (held for milliseconds normally). */
const LOCK_WAIT_MS = 10_000;

/**
 * Runs `work` holding `<data-dir>/keys.json.lock`, created with O_EXCL (`wx`) and removed
 * afterwards. A lock still held after `LOCK_WAIT_MS` is never broken automatically (two processes
 * breaking it at once could both go on, and one key would be lost): the error says which process
 * holds it and, if that process is gone, to delete the lock file.
 */
export function withKeyFileLock<T>(dataDir: string, work: () => T, waitMs = LOCK_WAIT_MS): T {
  const lock = join(dataDir, LOCK_FILE_NAME);
  const deadline = Date.now() + waitMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let fd: number;
  for (;;) {
    try {
      fd = openSync(lock, 'wx', 0o600);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw keyFileError(lock, error);
    }
    if (Date.now() >= deadline) throw lockHeldError(lock, waitMs);
    Atomics.wait(pause, 0, 0, 10 + Math.floor(Math.random() * 20));
  }
  try {
    writeSync(fd, `${JSON.stringify({ pid: process.pid, host: hostname(), created: new Date().toISOString() })}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    return work();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** The lock is held too long: the operation failed (exit 1), the configuration may be fine. */
function lockHeldError(lock: string, waitMs: number): Error {
  let holder = 'another tokenpair command';
  let gone = false;
  try {
    const { pid, host } = JSON.parse(readFileSync(lock, 'utf8')) as { pid?: unknown; host?: unknown };
    if (typeof pid === 'number') {
      holder = `process ${pid}${typeof host === 'string' ? ` on ${host}` : ''}`;
      if (host === hostname()) {
        try {
          process.kill(pid, 0);
        } catch (error) {
          gone = (error as NodeJS.ErrnoException).code === 'ESRCH';
        }
      }
    }
  } catch {
    // Unreadable or half-written: say what is known.
  }
  const advice = gone ? `${holder} is no longer running: delete ${lock} and retry` : `if no tokenpair command is changing the keys, delete ${lock} and retry`;
  return new Error(`${KEY_FILE_NAME} is locked by ${holder} (${lock} held for more than ${waitMs / 1000} s); ${advice}`);
}

function keyFileError(path: string, error: unknown): ConfigurationError {
  return new ConfigurationError(KEY_FILE_NAME, `cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
}

/** Writes the keys to a new 0600 file beside the key file, durably, and returns its path. */
function writeTemporary(dataDir: string, keys: readonly StoredKey[]): string {
  const temporary = join(dataDir, `.${KEY_FILE_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
  let fd: number;
  try {
    fd = openSync(temporary, 'wx', 0o600);
  } catch (error) {
    throw keyFileError(temporary, error);
  }
  try {
    chmodSync(temporary, 0o600); // the umask cannot widen it, but be explicit
    writeSync(fd, `${JSON.stringify(keys, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temporary;
}
