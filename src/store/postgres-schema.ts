/**
 * The PostgreSQL schema as versioned migrations, recorded in `schema_migrations`, and the helpers
 * that classify PostgreSQL's errors. The tables and their meaning are those of the SQLite store
 * (`sqlite-schema.ts`); times are BIGINT seconds since the epoch, ids TEXT, `users.id` a BIGSERIAL.
 *
 * Migrations run in one transaction that first takes a transaction-scoped advisory lock: N
 * instances starting together queue on the lock, the first applies what is pending and the others
 * find nothing left to do. PostgreSQL's DDL is transactional, so a failed migration leaves no trace.
 */
import type pg from 'pg';
import { StoreUnavailableError, type UserRecord } from './types.js';

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
        id             BIGSERIAL PRIMARY KEY,
        username       TEXT    NOT NULL UNIQUE,
        password_hash  TEXT    NOT NULL,
        is_active      BOOLEAN NOT NULL,
        security_stamp TEXT    NOT NULL,
        last_login     BIGINT,
        created_at     BIGINT  NOT NULL
      );

      -- One login on one device: every token rotated from it shares the family.
      -- user_id is text and not a foreign key: users may live in the application's own table.
      -- fillfactor < 100 leaves room for HOT updates (last_used_at, used_at change often).
      CREATE TABLE token_families (
        id                  TEXT   NOT NULL PRIMARY KEY,
        user_id             TEXT   NOT NULL,
        created_at          BIGINT NOT NULL,
        last_used_at        BIGINT NOT NULL,
        expires_at          BIGINT NOT NULL, -- the latest exp of the family's tokens
        absolute_expires_at BIGINT,          -- the absolute session limit, if any
        user_agent          TEXT,
        address             TEXT,
        revoked_at          BIGINT,
        revoke_reason       TEXT
      ) WITH (fillfactor = 90);
      CREATE INDEX token_families_user_id ON token_families (user_id);
      CREATE INDEX token_families_expires_at ON token_families (expires_at);

      CREATE TABLE issued_tokens (
        jti           TEXT   NOT NULL PRIMARY KEY,
        family_id     TEXT   NOT NULL REFERENCES token_families (id),
        user_id       TEXT   NOT NULL,
        token_type    TEXT   NOT NULL CHECK (token_type IN ('refresh', 'sliding')),
        issued_at     BIGINT NOT NULL,
        expires_at    BIGINT NOT NULL,
        used_at       BIGINT,
        revoked_at    BIGINT,
        revoke_reason TEXT
      ) WITH (fillfactor = 90);
      CREATE INDEX issued_tokens_expires_at ON issued_tokens (expires_at);
      CREATE INDEX issued_tokens_family_id ON issued_tokens (family_id);

      -- Login throttling: one fixed window per key, identified by when it ends.
      CREATE TABLE login_failures (
        key        TEXT    NOT NULL,
        window_end BIGINT  NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (key, window_end)
      );
      CREATE INDEX login_failures_window_end ON login_failures (window_end);
    `,
  },
];

/** The version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The advisory lock that serialises migrations (any constant; this one spells "tokenpai" in ASCII). */
export const MIGRATION_LOCK_KEY = '8390042714203251049';

/**
 * Applies every pending migration in one transaction under the migration lock, and reports the
 * version found (under the lock) and the version now. Refuses a database written by a newer
 * tokenpair (a schema this code does not know).
 */
export async function runMigrations(
  client: pg.ClientBase,
  options: { timeoutMs: number; now?: () => number },
): Promise<{ from: number; to: number }> {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO on');
  try {
    // A migration may wait for the lock while another instance migrates: give it longer than a request.
    await client.query(`SET LOCAL statement_timeout TO ${Math.max(0, Math.floor(options.timeoutMs))}`);
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
    const from = rows[0]?.version ?? 0;
    if (from > SCHEMA_VERSION) {
      throw new Error(`the database schema is version ${from}, newer than this tokenpair knows (${SCHEMA_VERSION}): upgrade tokenpair`);
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= from) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, now()]);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, SCHEMA_VERSION) };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

// ---- errors ---------------------------------------------------------------------------------------

/**
 * SQLSTATEs that mean the database cannot serve right now (as opposed to a rejected statement). The
 * store reports them as `StoreUnavailableError`, which the service answers with 503 (fail closed).
 * A two-character entry is a whole class.
 */
const UNAVAILABLE_SQLSTATES = [
  '08', // connection exception
  '53', // insufficient resources: disk full, out of memory, too many connections
  '57', // operator intervention: query_canceled (statement_timeout), admin/crash shutdown, cannot connect now, database dropped
  '58', // system error (I/O)
  'XX', // internal error, data corrupted
  '25P03', // idle_in_transaction_session_timeout
  '25006', // read_only_sql_transaction: a standby, or a primary that was demoted
  '55P03', // lock_not_available (lock_timeout)
  '55000', // object_not_in_prerequisite_state: "database is not currently accepting connections"
  '40001', // serialization_failure (after the store's retries)
  '40P01', // deadlock_detected (after the store's retries)
  '3D000', // invalid_catalog_name: the database does not exist (yet, or any more)
  '28', // invalid authorization: the credentials were refused
];

/** The messages of node-postgres's own errors for a connection that is gone, never came, or hung. */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|not queryable|Query read timeout|timeout exceeded when trying to connect|Cannot use a pool after calling end|connection timeout|server does not support SSL/i;

export function isUnavailableError(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_SQLSTATES.some((c) => code.startsWith(c));
    // A socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, ENOTFOUND, EAI_AGAIN …), not Node's ERR_*.
    if (/^E[A-Z]+$/.test(code) || code.startsWith('EAI_')) return true;
  }
  return error instanceof Error && UNAVAILABLE_MESSAGE.test(error.message);
}

/** A transaction that lost a race PostgreSQL could not order (deadlock, serialization): safe to run again. */
export function isRetryableError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

// ---- rows -----------------------------------------------------------------------------------------

/** Built-in user ids are the decimal form of a positive BIGINT; anything else names no user. */
export function parseUserId(id: string): string | null {
  if (typeof id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(id)) return null;
  return BigInt(id) <= 9_223_372_036_854_775_807n ? id : null;
}

/** A BIGINT column as node-postgres returns it (a string), as a number of seconds. */
export function seconds(value: string | number): number;
export function seconds(value: string | number | null): number | null;
export function seconds(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}

export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  is_active: boolean;
  security_stamp: string;
  last_login: string | null;
  created_at: string;
}

export function toUserRecord(row: UserRow): UserRecord {
  return {
    id: String(row.id),
    username: row.username,
    passwordHash: row.password_hash,
    isActive: row.is_active,
    securityStamp: row.security_stamp,
    lastLogin: seconds(row.last_login),
    createdAt: seconds(row.created_at),
  };
}
