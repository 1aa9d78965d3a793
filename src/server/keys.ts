/**
 * The data directory and the server's signing keys in `<data-dir>/keys.json`: a key ring
 * `[{kid, algorithm, created, signingKey}]`, current key first, readable by the owner only (0600).
 * Generated on first start; `tokenpair keys rotate` puts a new key first and keeps the older ones
 * for verification. Key material is never printed or logged: only kids, algorithms and dates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
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
    throw new ConfigurationError('--data-dir', `cannot create ${dataDir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!statSync(dataDir).isDirectory()) throw new ConfigurationError('--data-dir', `${dataDir} is not a directory`);
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
}

/** Puts a new key first (it signs from the next start on); the older keys stay for verification. */
export function rotateKeys(dataDir: string, algorithm: Algorithm): { keys: StoredKey[]; added: StoredKey } {
  const existing = readKeys(dataDir) ?? [];
  const added = newKey(algorithm);
  const keys = [added, ...existing];
  const temporary = writeTemporary(dataDir, keys);
  try {
    renameSync(temporary, keyFilePath(dataDir));
  } catch (error) {
    unlinkSync(temporary);
    throw keyFileError(keyFilePath(dataDir), error);
  }
  return { keys, added };
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
