/**
 * The distributed store: PostgreSQL through `pg`, shared by any number of tokenpair instances
 * (DESIGN.md "Scaling out"). Same tables and semantics as the SQLite store.
 *
 * - **Single use** (S8): `consume` runs one READ COMMITTED transaction around the conditional write
 *   `UPDATE issued_tokens SET used_at = now WHERE jti = $1 AND used_at IS NULL AND revoked_at IS
 *   NULL … RETURNING`. Concurrent updaters of one row queue on its lock and re-check the condition
 *   on the committed row, so of N consumers in any number of processes exactly one gets a row back;
 *   the others read the spent row and answer `reused` (revoking the family outside the grace period).
 *   The successor is inserted in the winner's transaction.
 * - **Durable before acknowledge** (R2): every write is a transaction with `SET LOCAL
 *   synchronous_commit TO on` (whatever the server's default), and its promise resolves only after
 *   PostgreSQL acknowledged `COMMIT`, i.e. after the commit record was flushed to disk.
 * - **Fail closed, come back** (S12, R3): an error that means the database cannot serve (refused or
 *   lost connection, no free connection within `connectionTimeoutMs`, `statement_timeout`, admin
 *   shutdown, read-only standby, disk full …) rejects with `StoreUnavailableError` (503). A broken
 *   connection is dropped from the pool and the next call opens a new one, so the store serves again
 *   as soon as the database does, without being reopened. The pool's `error` events (an idle
 *   connection killed by the server) are handled: they never crash the process. As with SQLite, a
 *   write rejected because the connection died may still have committed.
 * - **Short locks**: `flushExpired` deletes at most `batchSize` rows per call by primary key
 *   (`… IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`), skipping rows a request holds.
 *
 * Schema changes: `postgres-schema.ts` (`tokenpair migrate`, or `open()`, applies them).
 */
import pg from 'pg';
import { newStamp, windowEnd } from './memory.js';
import { isRetryableError, isUnavailableError, parseUserId, runMigrations, seconds, toUserRecord, type UserRow } from './postgres-schema.js';
import {
  StoreUnavailableError,
  type AttemptOutcome,
  type ClientInfo,
  type ConsumeOutcome,
  type ConsumeRequest,
  type RevokeReason,
  type SessionRecord,
  type ThrottleCounts,
  type ThrottleLimit,
  type ThrottleStore,
  type TokenRecord,
  type TokenStatus,
  type TokenStore,
  type UserAdmin,
  type UserRecord,
  type UserStore,
} from './types.js';

export interface PostgresStoreOptions {
  /** The most connections this store opens (default 10). Size it so that instances × max stays under the server's `max_connections`. */
  max?: number;
  /** How long a call waits for a connection (a new one, or a free one of the pool) before failing as unavailable (default 5000). */
  connectionTimeoutMs?: number;
  /** PostgreSQL cancels a statement that runs longer (`statement_timeout`): the call fails as unavailable (default 5000). */
  statementTimeoutMs?: number;
  /** An idle connection is closed after this long (default 30000). */
  idleTimeoutMs?: number;
}

/** How long `migratePostgres` and `open()` wait for the migration lock and the migrations themselves. */
const MIGRATION_TIMEOUT_MS = 60_000;
/** A transaction that hit a deadlock or a serialization failure is run again, this many times in all. */
const MAX_ATTEMPTS = 3;

function resolveOptions(options: PostgresStoreOptions): Required<PostgresStoreOptions> {
  const resolved = {
    max: options.max ?? 10,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 5000,
    statementTimeoutMs: options.statementTimeoutMs ?? 5000,
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer (got ${String(value)})`);
  }
  return resolved;
}

function checkUrl(url: string): string {
  if (typeof url !== 'string' || url.trim() === '') throw new TypeError('PostgresStore needs a connection URL, e.g. postgres://user:password@host:5432/database');
  return url;
}

function unavailable(what: string, error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const reason = error instanceof Error ? error.message || error.constructor.name : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return new StoreUnavailableError(`${what}: ${reason}${typeof code === 'string' ? ` (${code})` : ''}`, { cause: error });
}

/** What a caller sees of a failed call: `StoreUnavailableError` when the database cannot serve, else the error itself. */
function storeError(error: unknown): unknown {
  return isUnavailableError(error) ? unavailable('PostgreSQL store unavailable', error) : error;
}

const closedError = () => new StoreUnavailableError('the PostgreSQL store is closed');

/** A statement's error came from the server (a SQLSTATE), so the connection itself can still talk. */
const serverAnswered = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
};

const nullable = (value: string | null | undefined): string | null => (typeof value === 'string' ? value : null);

/**
 * PostgreSQL TEXT holds neither NUL nor a lone surrogate, which a JavaScript string may. A lookup by
 * such a value finds nothing (no row can hold it), instead of failing.
 */
const storable = (value: string): boolean => typeof value === 'string' && !value.includes('\0') && !/\p{Cs}/u.test(value);

/** Throttle keys (built from user input) are stored escaped, so that every key is storable and distinct. */
const storedKey = (key: string): string =>
  key.replace(/[\\\0]|\p{Cs}/gu, (c) => (c === '\\' ? '\\\\' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

// ---- SQL ------------------------------------------------------------------------------------------

const BEGIN = 'BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO on';

const SQL = {
  /** The conditional write of `consume`: exactly one concurrent caller gets the row back. */
  spend: `
    UPDATE issued_tokens AS t SET used_at = $2
    FROM token_families AS f
    WHERE t.jti = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND f.id = t.family_id AND f.revoked_at IS NULL AND (f.absolute_expires_at IS NULL OR f.absolute_expires_at > $2)
    RETURNING t.family_id, f.absolute_expires_at`,
  /**
   * \`spend\` without the write, for rotation without blacklisting (\`spend: false\`): a revocation
   * committed after this read revokes the family, and so the successor recorded in it too.
   */
  usable: `
    SELECT t.family_id, f.absolute_expires_at
    FROM issued_tokens AS t JOIN token_families AS f ON f.id = t.family_id
    WHERE t.jti = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND f.revoked_at IS NULL AND (f.absolute_expires_at IS NULL OR f.absolute_expires_at > $2)`,
  /** Why a token could not be spent (one row, all NULL for a token never seen), and whether the successor's jti is taken. */
  tokenState: `
    SELECT t.jti, t.family_id, t.used_at, t.revoked_at, f.id AS family_found, f.revoked_at AS family_revoked_at, f.absolute_expires_at,
      EXISTS (SELECT 1 FROM issued_tokens s WHERE s.jti = $2::text) AS successor_taken
    FROM (SELECT 1) AS one
    LEFT JOIN issued_tokens t ON t.jti = $1
    LEFT JOIN token_families f ON f.id = t.family_id`,
  status: `
    SELECT t.used_at, t.revoked_at, f.id AS family_found, f.revoked_at AS family_revoked_at, f.absolute_expires_at
    FROM issued_tokens t LEFT JOIN token_families f ON f.id = t.family_id
    WHERE t.jti = $1`,
  tokenExists: 'SELECT 1 FROM issued_tokens WHERE jti = $1',
  insertFamily: `
    INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, address)
    VALUES ($1, $2, $3, $3, $4, $5, $6, $7)
    ON CONFLICT (id) DO NOTHING`,
  /** A token never seen joins its family when that family exists (never resetting its revocation), else starts it. */
  insertOrExtendFamily: `
    INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, address)
    VALUES ($1, $2, $3, $3, $4, NULL, $5, $6)
    ON CONFLICT (id) DO UPDATE SET expires_at = GREATEST(token_families.expires_at, EXCLUDED.expires_at)`,
  insertToken: `
    INSERT INTO issued_tokens (jti, family_id, user_id, token_type, issued_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (jti) DO NOTHING`,
  familyUsed: `
    UPDATE token_families
    SET last_used_at = $1, user_agent = COALESCE($2, user_agent), address = COALESCE($3, address), expires_at = GREATEST(expires_at, $4)
    WHERE id = $5`,
  touch: `
    UPDATE token_families SET last_used_at = $1, user_agent = COALESCE($2, user_agent), address = COALESCE($3, address)
    WHERE id = (SELECT family_id FROM issued_tokens WHERE jti = $4)`,
  blacklist: 'UPDATE issued_tokens SET revoked_at = $2, revoke_reason = $3 WHERE jti = $1 AND revoked_at IS NULL',
  revokeFamily: 'UPDATE token_families SET revoked_at = $1, revoke_reason = $2 WHERE id = $3 AND revoked_at IS NULL',
  revokeFamilyOf: `
    UPDATE token_families SET revoked_at = $1, revoke_reason = $2
    WHERE id = (SELECT family_id FROM issued_tokens WHERE jti = $3) AND revoked_at IS NULL`,
  revokeLiveSession: `
    UPDATE token_families SET revoked_at = $1, revoke_reason = $2
    WHERE id = $3 AND user_id = $4 AND revoked_at IS NULL AND expires_at > $1 AND (absolute_expires_at IS NULL OR absolute_expires_at > $1)`,
  /** Revokes every family of the user and tells, per family, whether it was live (as listSessions counts). */
  revokeUserFamilies: `
    UPDATE token_families SET revoked_at = $1, revoke_reason = $2
    WHERE user_id = $3 AND revoked_at IS NULL
    RETURNING (expires_at > $1 AND (absolute_expires_at IS NULL OR absolute_expires_at > $1)) AS live`,
  sessions: `
    SELECT id, user_id, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, address
    FROM token_families
    WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND (absolute_expires_at IS NULL OR absolute_expires_at > $2)
    ORDER BY last_used_at DESC, id ASC`,
  // Bounded deletes by primary key; SKIP LOCKED: never wait for (or block) a request holding a row.
  flushTokens: `
    DELETE FROM issued_tokens WHERE jti IN (
      SELECT jti FROM issued_tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  flushFamilies: `
    DELETE FROM token_families WHERE id IN (
      SELECT f.id FROM token_families f
      WHERE f.expires_at <= $1 AND NOT EXISTS (SELECT 1 FROM issued_tokens t WHERE t.family_id = f.id)
      LIMIT $2 FOR UPDATE OF f SKIP LOCKED)`,
  flushFailures: `
    DELETE FROM login_failures WHERE (key, window_end) IN (
      SELECT key, window_end FROM login_failures WHERE window_end <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  insertUser: `
    INSERT INTO users (username, password_hash, is_active, security_stamp, last_login, created_at)
    VALUES ($1, $2, $3, $4, NULL, $5)
    ON CONFLICT (username) DO NOTHING
    RETURNING *`,
  userByUsername: 'SELECT * FROM users WHERE username = $1',
  userById: 'SELECT * FROM users WHERE id = $1',
  setActive: 'UPDATE users SET is_active = $2 WHERE id = $1',
  setLastLogin: 'UPDATE users SET last_login = $2 WHERE id = $1',
  setHash: 'UPDATE users SET password_hash = $2 WHERE id = $1',
  setHashAndStamp: 'UPDATE users SET password_hash = $2, security_stamp = $3 WHERE id = $1',
  setStamp: 'UPDATE users SET security_stamp = $2 WHERE id = $1',
  // Keys in a fixed order, so that two logins never take the same rows' locks in opposite orders.
  /** One attempt on each key, with each key's new count. */
  takeAttempt: `
    INSERT INTO login_failures (key, window_end, count)
    SELECT k, $2, COUNT(*) FROM unnest($1::text[]) AS k GROUP BY k ORDER BY k
    ON CONFLICT (key, window_end) DO UPDATE SET count = login_failures.count + EXCLUDED.count
    RETURNING key, count`,
  /** One attempt off each key (a successful login); never below zero. */
  returnAttempts: 'UPDATE login_failures SET count = count - 1 WHERE key = ANY($1::text[]) AND window_end = $2 AND count > 0',
  forgetOldFailures: 'DELETE FROM login_failures WHERE key = ANY($1::text[]) AND window_end < $2',
  failures: 'SELECT key, count FROM login_failures WHERE key = ANY($1::text[]) AND window_end = $2',
  ping: "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') AS read_only",
} as const;

type Bigint = string;

interface TokenStateRow {
  jti: string | null;
  family_id: string | null;
  used_at: Bigint | null;
  revoked_at: Bigint | null;
  family_found: string | null;
  family_revoked_at: Bigint | null;
  absolute_expires_at: Bigint | null;
  successor_taken: boolean;
}

interface SessionRow {
  id: string;
  user_id: string;
  created_at: Bigint;
  last_used_at: Bigint;
  expires_at: Bigint;
  absolute_expires_at: Bigint | null;
  user_agent: string | null;
  address: string | null;
}

type Client = pg.ClientBase;

const ignore = (): void => {};

export class PostgresStore implements TokenStore, UserStore, UserAdmin, ThrottleStore, ThrottleCounts {
  readonly #pool: pg.Pool;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Calls holding or waiting for a connection; `close()` waits for them (the pool's own end() would abandon the waiting ones). */
  #inFlight = 0;
  #drained: (() => void) | null = null;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Connects, applies pending migrations (serialised with any other instance doing the same) and
   * returns the store. Rejects with `StoreUnavailableError` when the database cannot be reached.
   *
   * @example
   * const store = await PostgresStore.open(process.env.DATABASE_URL!, { max: 10 });
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    checkUrl(url);
    const resolved = resolveOptions(options);
    await migrate(url, resolved.connectionTimeoutMs);
    const pool = new pg.Pool({
      connectionString: url,
      application_name: 'tokenpair',
      max: resolved.max,
      connectionTimeoutMillis: resolved.connectionTimeoutMs,
      idleTimeoutMillis: resolved.idleTimeoutMs,
      statement_timeout: resolved.statementTimeoutMs,
      // The server's timeout cannot fire when the network, not the query, hangs: then this one does.
      query_timeout: resolved.statementTimeoutMs + 2000,
      // A transaction left open by a stalled process does not hold its locks for long.
      idle_in_transaction_session_timeout: 2 * resolved.statementTimeoutMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // An idle pool does not keep the process alive (a CLI exits when done).
      allowExitOnIdle: true,
    });
    // An idle connection the server closed: the pool drops it and the next call opens a new one.
    pool.on('error', ignore);
    // A connection that breaks while checked out (between two statements of a transaction) emits
    // 'error' too: the statement that follows fails and is reported, but the event must not crash us.
    pool.on('connect', (client) => client.on('error', ignore));
    return new PostgresStore(pool);
  }

  // ---- plumbing -----------------------------------------------------------------------------------

  #check(): void {
    if (this.#closed) throw closedError();
  }

  /** Runs `fn` on a pooled connection; a connection that may be broken is destroyed, not reused. */
  async #withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#check();
    this.#inFlight++;
    try {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (error) {
        throw unavailable('cannot connect to PostgreSQL', error);
      }
      let broken: Error | undefined;
      try {
        return await fn(client);
      } catch (error) {
        if (isUnavailableError(error)) broken = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        client.release(broken);
      }
    } finally {
      if (--this.#inFlight === 0) this.#drained?.();
    }
  }

  /** One statement outside a transaction (the reads). */
  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.#withClient((client) => client.query<R>(text, values));
    } catch (error) {
      throw storeError(error);
    }
  }

  /**
   * Runs `fn` in one READ COMMITTED transaction with synchronous commit; resolves after COMMIT
   * returned (durable). Run again on a deadlock or serialization failure.
   */
  async #transaction<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#withClient(async (client) => {
          await client.query(BEGIN);
          let result: T;
          try {
            result = await fn(client);
          } catch (error) {
            // A connection that is gone or hung (no answer from the server) is destroyed instead, which
            // rolls back too. If ROLLBACK itself fails, that failure is what the caller sees, and
            // #withClient destroys the connection.
            if (serverAnswered(error) || !isUnavailableError(error)) {
              await client.query('ROLLBACK').catch((rollbackError: unknown) => {
                throw isUnavailableError(error) ? error : unavailable('PostgreSQL store unavailable: ROLLBACK failed', rollbackError);
              });
            }
            throw error;
          }
          await client.query('COMMIT');
          return result;
        });
      } catch (error) {
        if (attempt < MAX_ATTEMPTS && isRetryableError(error) && !this.#closed) continue;
        throw storeError(error);
      }
    }
  }

  // ---- tokens -------------------------------------------------------------------------------------

  async startFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): Promise<void> {
    await this.#transaction(async (tx) => {
      // A jti or family id is recorded once: recording it again would erase a use or a revocation.
      const family = await tx.query(SQL.insertFamily, [
        token.familyId,
        token.userId,
        token.issuedAt,
        token.expiresAt,
        absoluteExpiresAt ?? null,
        nullable(client.userAgent),
        nullable(client.address),
      ]);
      if (family.rowCount !== 1) throw new Error(`family ${token.familyId} already exists`);
      if (!(await insertToken(tx, token, token.familyId))) throw new Error(`token ${token.jti} is already recorded`);
    });
  }

  consume(request: ConsumeRequest): Promise<ConsumeOutcome> {
    const { token, successor, client, now } = request;
    return this.#transaction(async (tx) => {
      // At most three rounds: a token never seen is recorded in the first, and a row that changed
      // between two statements (another transaction committed in between) is looked at again.
      for (let round = 0; round < 3; round++) {
        const spent = await tx.query<{ family_id: string; absolute_expires_at: Bigint | null }>(request.spend === false ? SQL.usable : SQL.spend, [token.jti, now]);
        const won = spent.rows[0];
        if (won) {
          await tx.query(SQL.familyUsed, [now, nullable(client.userAgent), nullable(client.address), successor ? successor.expiresAt : 0, won.family_id]);
          // A taken successor jti throws, and the transaction (the spend included) is rolled back.
          if (successor && !(await insertToken(tx, successor, won.family_id))) throw new Error(`token ${successor.jti} is already recorded`);
          return { status: 'consumed', familyId: won.family_id, absoluteExpiresAt: seconds(won.absolute_expires_at) };
        }
        const state = (await tx.query<TokenStateRow>(SQL.tokenState, [token.jti, successor?.jti ?? null])).rows[0]!;
        if (state.successor_taken) throw new Error(`token ${successor!.jti} is already recorded`);
        if (state.jti === null) {
          // Never seen (issued before the store existed, or by a peer): record it, then spend it.
          await recordUnknown(tx, token, client);
          continue;
        }
        if (state.revoked_at !== null || state.family_found === null || state.family_revoked_at !== null) return { status: 'revoked' };
        if (state.used_at !== null) {
          if (now - Number(state.used_at) < request.reuseGraceSeconds) return { status: 'reused', familyRevoked: false };
          await tx.query(SQL.revokeFamily, [now, 'reuse_detected', state.family_id]);
          return { status: 'reused', familyRevoked: true };
        }
        if (state.absolute_expires_at !== null && Number(state.absolute_expires_at) <= now) return { status: 'session_expired' };
      }
      throw new Error(`token ${token.jti} kept changing during its own transaction`);
    });
  }

  async status(jti: string, now: number): Promise<TokenStatus> {
    this.#check();
    if (!storable(jti)) return 'unknown';
    const { rows } = await this.#query<Omit<TokenStateRow, 'jti' | 'family_id' | 'successor_taken'>>(SQL.status, [jti]);
    const row = rows[0];
    if (!row) return 'unknown';
    if (row.revoked_at !== null || row.family_found === null || row.family_revoked_at !== null) return 'revoked';
    if (row.used_at !== null) return 'used';
    if (row.absolute_expires_at !== null && Number(row.absolute_expires_at) <= now) return 'session_expired';
    return 'active';
  }

  async touch(jti: string, client: ClientInfo, now: number): Promise<void> {
    this.#check();
    if (!storable(jti)) return;
    await this.#transaction((tx) => tx.query(SQL.touch, [now, nullable(client.userAgent), nullable(client.address), jti]));
  }

  blacklist(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
    return this.#transaction((tx) => blacklistIn(tx, token, reason, now));
  }

  /** Both writes in one transaction: one commit, all or nothing. */
  blacklistSession(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
    return this.#transaction(async (tx) => {
      const result = await blacklistIn(tx, token, reason, now);
      if (result === 'blacklisted') await tx.query(SQL.revokeFamilyOf, [now, reason, token.jti]);
      return result;
    });
  }

  async revokeFamilyOf(jti: string, reason: RevokeReason, now: number): Promise<boolean> {
    this.#check();
    if (!storable(jti)) return false;
    const result = await this.#transaction((tx) => tx.query(SQL.revokeFamilyOf, [now, reason, jti]));
    return (result.rowCount ?? 0) > 0;
  }

  async revokeSession(userId: string, sessionId: string, reason: RevokeReason, now: number): Promise<boolean> {
    this.#check();
    if (!storable(userId) || !storable(sessionId)) return false;
    const result = await this.#transaction((tx) => tx.query(SQL.revokeLiveSession, [now, reason, sessionId, userId]));
    return (result.rowCount ?? 0) > 0;
  }

  async revokeUserFamilies(userId: string, reason: RevokeReason, now: number): Promise<number> {
    this.#check();
    if (!storable(userId)) return 0;
    const { rows } = await this.#transaction((tx) => tx.query<{ live: boolean }>(SQL.revokeUserFamilies, [now, reason, userId]));
    return rows.filter((row) => row.live).length;
  }

  async listSessions(userId: string, now: number): Promise<SessionRecord[]> {
    this.#check();
    if (!storable(userId)) return [];
    const { rows } = await this.#query<SessionRow>(SQL.sessions, [userId, now]);
    return rows.map((row) => ({
      id: row.id,
      userId: row.user_id,
      createdAt: seconds(row.created_at),
      lastUsedAt: seconds(row.last_used_at),
      expiresAt: seconds(row.expires_at),
      absoluteExpiresAt: seconds(row.absolute_expires_at),
      userAgent: row.user_agent,
      address: row.address,
    }));
  }

  /**
   * Deletes at most `batchSize` rows in one short transaction: expired tokens first, then expired
   * families with no token left, then ended throttle windows. Returns how many went; call again
   * until it returns less than `batchSize`. Rows locked by a request are skipped (a later call takes
   * them). Pass `now` minus the verification leeway: a token the verifier still accepts must not be
   * deleted, or it would come back as "never seen" (R4).
   */
  async flushExpired(now: number, batchSize: number): Promise<number> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    return this.#transaction(async (tx) => {
      let removed = (await tx.query(SQL.flushTokens, [now, batchSize])).rowCount ?? 0;
      if (removed < batchSize) removed += (await tx.query(SQL.flushFamilies, [now, batchSize - removed])).rowCount ?? 0;
      if (removed < batchSize) removed += (await tx.query(SQL.flushFailures, [now, batchSize - removed])).rowCount ?? 0;
      return removed;
    });
  }

  /** Throws unless the database answers and accepts writes (a standby, or a read-only primary, cannot serve). */
  async ping(): Promise<void> {
    const { rows } = await this.#query<{ standby: boolean; read_only: string }>(SQL.ping, []);
    const row = rows[0];
    if (!row || row.standby || row.read_only === 'on') throw new StoreUnavailableError('PostgreSQL store unavailable: the database is read-only');
  }

  /** Waits for the calls in progress, then closes every connection. Every later call rejects with StoreUnavailableError. */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      // Idle connections do not hold the process open (allowExitOnIdle), so neither would their
      // closing: this timer keeps it alive until the pool has ended.
      const alive = setInterval(ignore, 1000);
      this.#closing = (async () => {
        if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
        await this.#pool.end().catch(ignore);
      })().finally(() => clearInterval(alive));
    }
    return this.#closing;
  }

  // ---- users --------------------------------------------------------------------------------------

  async findByUsername(username: string): Promise<UserRecord | null> {
    this.#check();
    if (!storable(username)) return null;
    const { rows } = await this.#query<UserRow>(SQL.userByUsername, [username]);
    return rows[0] ? toUserRecord(rows[0]) : null;
  }

  async findById(id: string): Promise<UserRecord | null> {
    this.#check();
    const rowId = parseUserId(id);
    if (rowId === null) return null;
    const { rows } = await this.#query<UserRow>(SQL.userById, [rowId]);
    return rows[0] ? toUserRecord(rows[0]) : null;
  }

  async updateLastLogin(id: string, at: number): Promise<void> {
    this.#check();
    const rowId = parseUserId(id);
    if (rowId !== null) await this.#transaction((tx) => tx.query(SQL.setLastLogin, [rowId, at]));
  }

  async setPasswordHash(id: string, passwordHash: string, rotateStamp: boolean): Promise<void> {
    await this.#updateUser(id, (tx, rowId) => (rotateStamp ? tx.query(SQL.setHashAndStamp, [rowId, passwordHash, newStamp()]) : tx.query(SQL.setHash, [rowId, passwordHash])));
  }

  async rotateSecurityStamp(id: string): Promise<string> {
    const stamp = newStamp();
    await this.#updateUser(id, (tx, rowId) => tx.query(SQL.setStamp, [rowId, stamp]));
    return stamp;
  }

  async createUser(input: { username: string; passwordHash: string; isActive: boolean }): Promise<UserRecord> {
    const { rows } = await this.#transaction((tx) =>
      tx.query<UserRow>(SQL.insertUser, [input.username, input.passwordHash, input.isActive, newStamp(), Math.floor(Date.now() / 1000)]),
    );
    if (!rows[0]) throw new Error(`user "${input.username}" already exists`);
    return toUserRecord(rows[0]);
  }

  async setActive(id: string, isActive: boolean): Promise<void> {
    await this.#updateUser(id, (tx, rowId) => tx.query(SQL.setActive, [rowId, isActive]));
  }

  /** Runs `update` for user `id`; throws when there is no such user. */
  async #updateUser(id: string, update: (tx: Client, rowId: string) => Promise<pg.QueryResult>): Promise<void> {
    this.#check();
    const rowId = parseUserId(id);
    const changed = rowId === null ? 0 : (await this.#transaction((tx) => update(tx, rowId))).rowCount;
    if (!changed) throw new Error(`no user with id ${id}`);
  }

  // ---- throttle -----------------------------------------------------------------------------------

  /**
   * Counts first, then looks: the upsert takes each key's row lock (keys in order: no deadlock), so
   * concurrent attempts on one key, in any process, are serialised, and each sees the count of the
   * ones before it. When a key is over its limit the savepoint takes the increments back.
   */
  async takeAttempt(limits: readonly ThrottleLimit[], windowSeconds: number, now: number): Promise<AttemptOutcome> {
    this.#check();
    const end = windowEnd(windowSeconds, now);
    if (limits.length === 0) return { allowed: true, windowEnd: end };
    const stored = limits.map(({ key }) => storedKey(key));
    return this.#transaction(async (tx) => {
      await tx.query('SAVEPOINT attempt');
      const { rows } = await tx.query<{ key: string; count: number }>(SQL.takeAttempt, [stored, end]);
      const counts = new Map(rows.map((row) => [row.key, row.count]));
      if (limits.some(({ limit }, index) => (counts.get(stored[index]!) ?? 0) > limit)) {
        await tx.query('ROLLBACK TO SAVEPOINT attempt');
        return { allowed: false, resetAt: end };
      }
      await tx.query(SQL.forgetOldFailures, [stored, end]);
      return { allowed: true, windowEnd: end };
    });
  }

  async returnAttempt(keys: readonly string[], end: number): Promise<void> {
    this.#check();
    if (keys.length === 0) return;
    await this.#query(SQL.returnAttempts, [keys.map(storedKey), end]);
  }

  async failures(keys: readonly string[], windowSeconds: number, now: number): Promise<Array<{ key: string; count: number; resetAt: number }>> {
    this.#check();
    const resetAt = windowEnd(windowSeconds, now);
    if (keys.length === 0) return [];
    const { rows } = await this.#query<{ key: string; count: number }>(SQL.failures, [keys.map(storedKey), resetAt]);
    const counts = new Map(rows.map((row) => [row.key, row.count]));
    return keys.map((key) => ({ key, count: counts.get(storedKey(key)) ?? 0, resetAt }));
  }
}

/** Inserts a token in `familyId`; false when its jti is already recorded. */
async function insertToken(tx: Client, token: TokenRecord, familyId: string): Promise<boolean> {
  const result = await tx.query(SQL.insertToken, [token.jti, familyId, token.userId, token.tokenType, token.issuedAt, token.expiresAt]);
  return result.rowCount === 1;
}

/** A token never seen: recorded in its family when that family exists (never resetting it), else in a new one. */
/** Revokes one token inside `tx`, recording it first if it was never seen. */
async function blacklistIn(tx: Client, token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
  const revoke = async () => (await tx.query(SQL.blacklist, [token.jti, now, reason])).rowCount === 1;
  if (await revoke()) return 'blacklisted';
  if ((await tx.query(SQL.tokenExists, [token.jti])).rowCount === 0) {
    // Never seen: recorded (in its family, or a new one), then revoked.
    await recordUnknown(tx, token, { userAgent: null, address: null });
    if (await revoke()) return 'blacklisted';
  }
  return 'already_blacklisted';
}

async function recordUnknown(tx: Client, token: TokenRecord, client: ClientInfo): Promise<void> {
  await tx.query(SQL.insertOrExtendFamily, [token.familyId, token.userId, token.issuedAt, token.expiresAt, nullable(client.userAgent), nullable(client.address)]);
  // A concurrent transaction may have recorded it meanwhile: then that row stands.
  await insertToken(tx, token, token.familyId);
}

/** Connects once, runs the pending migrations, disconnects. */
async function migrate(url: string, connectionTimeoutMs: number): Promise<{ from: number; to: number }> {
  const client = new pg.Client({ connectionString: url, application_name: 'tokenpair migrate', connectionTimeoutMillis: connectionTimeoutMs });
  client.on('error', ignore);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(ignore);
    throw unavailable('cannot connect to PostgreSQL', error);
  }
  try {
    return await runMigrations(client, { timeoutMs: MIGRATION_TIMEOUT_MS });
  } catch (error) {
    throw isUnavailableError(error) ? unavailable('cannot migrate the PostgreSQL database', error) : error;
  } finally {
    await client.end().catch(ignore);
  }
}

/**
 * `tokenpair migrate`: applies pending migrations and reports the schema version before and after.
 * Safe to run while servers use the database, and from several machines at once (one migrates).
 */
export async function migratePostgres(url: string): Promise<{ from: number; to: number }> {
  return migrate(checkUrl(url), 5000);
}
