/**
 * The SQLite schema as versioned migrations, recorded in `schema_migrations`. Each migration runs in
 * its own `BEGIN IMMEDIATE` transaction and re-reads the version inside it, so two processes that
 * open one file at the same moment apply each migration once.
 *
 * Times are integer seconds since the epoch. No token string is stored anywhere: only `jti`s.
 */
import type Database from 'better-sqlite3';
import type { UserRecord } from './types.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE users (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        username       TEXT    NOT NULL UNIQUE,
        password_hash  TEXT    NOT NULL,
        is_active      INTEGER NOT NULL CHECK (is_active IN (0, 1)),
        security_stamp TEXT    NOT NULL,
        last_login     INTEGER,
        created_at     INTEGER NOT NULL
      );

      -- One login on one device: every token rotated from it shares the family.
      -- user_id is text and not a foreign key: users may live in the application's own table.
      CREATE TABLE token_families (
        id                  TEXT    NOT NULL PRIMARY KEY,
        user_id             TEXT    NOT NULL,
        created_at          INTEGER NOT NULL,
        last_used_at        INTEGER NOT NULL,
        expires_at          INTEGER NOT NULL, -- the latest exp of the family's tokens
        absolute_expires_at INTEGER,          -- the absolute session limit, if any
        user_agent          TEXT,
        address             TEXT,
        revoked_at          INTEGER,
        revoke_reason       TEXT
      ) WITHOUT ROWID;
      CREATE INDEX token_families_user_id ON token_families (user_id);
      CREATE INDEX token_families_expires_at ON token_families (expires_at);

      CREATE TABLE issued_tokens (
        jti           TEXT    NOT NULL PRIMARY KEY,
        family_id     TEXT    NOT NULL REFERENCES token_families (id),
        user_id       TEXT    NOT NULL,
        token_type    TEXT    NOT NULL CHECK (token_type IN ('refresh', 'sliding')),
        issued_at     INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        used_at       INTEGER,
        revoked_at    INTEGER,
        revoke_reason TEXT
      ) WITHOUT ROWID;
      CREATE INDEX issued_tokens_expires_at ON issued_tokens (expires_at);
      CREATE INDEX issued_tokens_family_id ON issued_tokens (family_id);

      -- Login throttling: one fixed window per key, identified by when it ends.
      CREATE TABLE login_failures (
        key        TEXT    NOT NULL,
        window_end INTEGER NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (key, window_end)
      ) WITHOUT ROWID;
      CREATE INDEX login_failures_window_end ON login_failures (window_end);
    `,
  },
  {
    version: 2,
    name: 'readiness heartbeat',
    sql: `
      -- One row, rewritten by every readiness check: an empty transaction writes nothing, so a full
      -- disk or an unwritable file would go unnoticed (/readyz must mean "accepts writes").
      CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at INTEGER NOT NULL
      );
    `,
  },
];

/** The version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The version recorded in the file; 0 for a new file. */
export function schemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Applies every pending migration, each in its own transaction. Refuses a file written by a newer
 * tokenpair (a schema this code does not know).
 */
export function runMigrations(db: Database.Database, now: () => number = () => Math.floor(Date.now() / 1000)): { from: number; to: number } {
  const from = schemaVersion(db);
  if (from > SCHEMA_VERSION) {
    throw new Error(`the database schema is version ${from}, newer than this tokenpair knows (${SCHEMA_VERSION}): upgrade tokenpair`);
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= from) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
      // Another process may have applied it between our read and our lock.
      if (schemaVersion(db) < migration.version) {
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, now());
      }
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }
  return { from, to: Math.max(from, schemaVersion(db)) };
}

export interface ConnectionOptions {
  busyTimeoutMs: number;
  synchronous: 'FULL' | 'NORMAL';
}

/**
 * The settings of the one write connection: WAL (readers never wait for the writer), the
 * durability level, a busy timeout (how long a write waits for another process's write lock before
 * the store reports itself unavailable) and foreign keys.
 */
export function configureWriter(db: Database.Database, options: ConnectionOptions): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (String(mode).toLowerCase() !== 'wal') throw new Error(`SQLite could not switch ${db.name} to WAL mode (got ${String(mode)})`);
  db.pragma(`synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  // Keep the WAL file from growing without bound after a burst (it is truncated to this after a checkpoint).
  db.pragma('journal_size_limit = 67108864');
}

/** A read connection: never writes (query_only), waits as long as the writer would. */
export function configureReader(db: Database.Database, options: Pick<ConnectionOptions, 'busyTimeoutMs'>): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
  db.pragma('query_only = ON');
}

// ---- helpers shared by the store (main thread) and its writer (worker thread) ------------------

/**
 * SQLite result codes that mean the database cannot serve right now (as opposed to a rejected
 * statement): the store reports them as `StoreUnavailableError`, which the service answers with
 * 503 (fail closed). Extended codes (`SQLITE_IOERR_FSYNC`, `SQLITE_READONLY_DBMOVED` …) match
 * their primary code.
 */
const UNAVAILABLE_CODES = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_READONLY',
  'SQLITE_FULL',
  'SQLITE_PROTOCOL',
  'SQLITE_NOMEM',
  'SQLITE_PERM',
  'SQLITE_NOLFS',
  'SQLITE_AUTH',
];

export function isUnavailableError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return true;
  // better-sqlite3's own errors for a connection that is gone or a file that cannot be opened.
  const message = error instanceof Error ? error.message : '';
  return error instanceof TypeError && /connection is not open|Cannot open database/.test(message);
}

/** Built-in user ids are the decimal form of a positive integer; anything else names no user. */
export function parseUserId(id: string): number | null {
  if (typeof id !== 'string' || !/^[1-9][0-9]{0,15}$/.test(id)) return null;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * The columns of a user row, in the order of `UserColumns`: every user read selects exactly these
 * and reads them in raw mode (an array per row, no object: the bearer check's lookup is per request).
 */
export const USER_COLUMNS = 'id, username, password_hash, is_active, security_stamp, last_login, created_at';

export type UserColumns = [id: number, username: string, passwordHash: string, isActive: number, securityStamp: string, lastLogin: number | null, createdAt: number];

export function toUserRecord(row: UserColumns): UserRecord {
  return { id: String(row[0]), username: row[1], passwordHash: row[2], isActive: row[3] === 1, securityStamp: row[4], lastLogin: row[5], createdAt: row[6] };
}
