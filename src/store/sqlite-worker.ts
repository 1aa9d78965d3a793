/**
 * The writer of `SqliteStore`: a worker thread that owns the one write connection, so that no
 * `fsync` ever runs on the main thread's event loop.
 *
 * Group commit: every operation that arrived while the previous transaction was committing is run
 * in ONE `BEGIN IMMEDIATE … COMMIT` transaction, each inside its own SAVEPOINT (one failing
 * operation does not undo the others), and all the results are posted back only after `COMMIT`
 * returned: a resolved promise means a durable write. `BEGIN IMMEDIATE` takes SQLite's write lock
 * up front, so transactions of several processes sharing the file are serialised (each waits up to
 * `busy_timeout` for the lock) and a conditional write decided inside one is final.
 *
 * An error that means the database is unusable (SQLITE_BUSY after the timeout, SQLITE_IOERR, …)
 * fails the whole batch, which is rolled back, as "unavailable"; the next batch tries again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { newStamp, windowEnd } from './memory.js';
import { USER_COLUMNS, configureWriter, isUnavailableError, parseUserId, runMigrations, toUserRecord, type ConnectionOptions, type UserColumns } from './sqlite-schema.js';
import type { AttemptOutcome, ClientInfo, ConsumeOutcome, ConsumeRequest, RevokeReason, ThrottleLimit, TokenRecord, UserRecord } from './types.js';

/** The write operations, as the worker runs them (synchronously, inside the batch transaction). */
export interface WriteOps {
  ping(): null;
  startFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): null;
  consume(request: ConsumeRequest): ConsumeOutcome;
  touch(jti: string, client: ClientInfo, now: number): null;
  blacklist(token: TokenRecord, reason: RevokeReason, now: number): 'blacklisted' | 'already_blacklisted';
  blacklistSession(token: TokenRecord, reason: RevokeReason, now: number): 'blacklisted' | 'already_blacklisted';
  revokeFamilyOf(jti: string, reason: RevokeReason, now: number): boolean;
  revokeSession(userId: string, sessionId: string, reason: RevokeReason, now: number): boolean;
  revokeUserFamilies(userId: string, reason: RevokeReason, now: number): number;
  flushExpired(now: number, batchSize: number): number;
  createUser(input: { username: string; passwordHash: string; isActive: boolean }): UserRecord;
  setActive(id: string, isActive: boolean): null;
  updateLastLogin(id: string, at: number): null;
  setPasswordHash(id: string, passwordHash: string, rotateStamp: boolean): null;
  rotateSecurityStamp(id: string): string;
  takeAttempt(limits: readonly ThrottleLimit[], windowSeconds: number, now: number): AttemptOutcome;
  returnAttempt(keys: readonly string[], windowEnd: number): null;
}
export type WriteOpName = keyof WriteOps;

export interface WorkerOptions extends ConnectionOptions {
  path: string;
}

export interface SerializedError {
  message: string;
  code: string | null;
  unavailable: boolean;
}

export interface OpRequest {
  id: number;
  op: WriteOpName;
  args: unknown[];
}

export type OpResult = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

export type ToWorker = { type: 'ops'; ops: OpRequest[] } | { type: 'close' };
export type FromWorker =
  | { type: 'ready'; schema: { from: number; to: number } }
  | { type: 'open-failed'; error: SerializedError }
  | { type: 'results'; results: OpResult[] }
  | { type: 'closed'; error: SerializedError | null };

const OP_NAMES: ReadonlySet<string> = new Set<WriteOpName>([
  'ping',
  'startFamily',
  'consume',
  'touch',
  'blacklist',
  'blacklistSession',
  'revokeFamilyOf',
  'revokeSession',
  'revokeUserFamilies',
  'flushExpired',
  'createUser',
  'setActive',
  'updateLastLogin',
  'setPasswordHash',
  'rotateSecurityStamp',
  'takeAttempt',
  'returnAttempt',
]);

/** At most this many operations per transaction (bounds the latency one commit adds to its batch). */
const MAX_BATCH = 1000;

interface TokenState {
  family_id: string;
  used_at: number | null;
  revoked_at: number | null;
  family_found: string | null;
  family_revoked_at: number | null;
  absolute_expires_at: number | null;
}

const nullable = (value: string | null | undefined): string | null => (typeof value === 'string' ? value : null);

class Writer implements WriteOps {
  readonly #db: Database.Database;
  readonly #s;

  constructor(db: Database.Database) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      selectToken: p(`
        SELECT t.family_id, t.used_at, t.revoked_at, f.id AS family_found, f.revoked_at AS family_revoked_at, f.absolute_expires_at
        FROM issued_tokens t LEFT JOIN token_families f ON f.id = t.family_id
        WHERE t.jti = ?`),
      tokenExists: p('SELECT 1 FROM issued_tokens WHERE jti = ?').pluck(),
      familyExists: p('SELECT 1 FROM token_families WHERE id = ?').pluck(),
      insertFamily: p(`
        INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, address)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      insertOrExtendFamily: p(`
        INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, address)
        VALUES (?, ?, ?, ?, ?, NULL, ?, ?)
        ON CONFLICT (id) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)`),
      insertToken: p(`
        INSERT INTO issued_tokens (jti, family_id, user_id, token_type, issued_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?)`),
      spend: p('UPDATE issued_tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL AND revoked_at IS NULL'),
      familyUsed: p(`
        UPDATE token_families
        SET last_used_at = ?, user_agent = COALESCE(?, user_agent), address = COALESCE(?, address), expires_at = MAX(expires_at, ?)
        WHERE id = ?`),
      touch: p(`
        UPDATE token_families SET last_used_at = ?, user_agent = COALESCE(?, user_agent), address = COALESCE(?, address)
        WHERE id = (SELECT family_id FROM issued_tokens WHERE jti = ?)`),
      blacklist: p('UPDATE issued_tokens SET revoked_at = ?, revoke_reason = ? WHERE jti = ? AND revoked_at IS NULL'),
      revokeFamily: p('UPDATE token_families SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL'),
      revokeFamilyOf: p(`
        UPDATE token_families SET revoked_at = ?, revoke_reason = ?
        WHERE id = (SELECT family_id FROM issued_tokens WHERE jti = ?) AND revoked_at IS NULL`),
      revokeLiveSession: p(`
        UPDATE token_families SET revoked_at = ?, revoke_reason = ?
        WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? AND (absolute_expires_at IS NULL OR absolute_expires_at > ?)`),
      countLiveFamilies: p(`
        SELECT COUNT(*) FROM token_families
        WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND (absolute_expires_at IS NULL OR absolute_expires_at > ?)`).pluck(),
      revokeUserFamilies: p('UPDATE token_families SET revoked_at = ?, revoke_reason = ? WHERE user_id = ? AND revoked_at IS NULL'),
      flushTokens: p('DELETE FROM issued_tokens WHERE jti IN (SELECT jti FROM issued_tokens WHERE expires_at <= ? LIMIT ?)'),
      flushFamilies: p(`
        DELETE FROM token_families WHERE id IN (
          SELECT f.id FROM token_families f
          WHERE f.expires_at <= ? AND NOT EXISTS (SELECT 1 FROM issued_tokens t WHERE t.family_id = f.id)
          LIMIT ?)`),
      flushFailures: p('DELETE FROM login_failures WHERE (key, window_end) IN (SELECT key, window_end FROM login_failures WHERE window_end <= ? LIMIT ?)'),
      userByUsername: p('SELECT id FROM users WHERE username = ?').pluck(),
      insertUser: p('INSERT INTO users (username, password_hash, is_active, security_stamp, last_login, created_at) VALUES (?, ?, ?, ?, NULL, ?)'),
      userById: p(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`).raw(true),
      setActive: p('UPDATE users SET is_active = ? WHERE id = ?'),
      setLastLogin: p('UPDATE users SET last_login = ? WHERE id = ?'),
      setHash: p('UPDATE users SET password_hash = ? WHERE id = ?'),
      setHashAndStamp: p('UPDATE users SET password_hash = ?, security_stamp = ? WHERE id = ?'),
      setStamp: p('UPDATE users SET security_stamp = ? WHERE id = ?'),
      attempts: p('SELECT count FROM login_failures WHERE key = ? AND window_end = ?').pluck(),
      addAttempt: p(`
        INSERT INTO login_failures (key, window_end, count) VALUES (?, ?, 1)
        ON CONFLICT (key, window_end) DO UPDATE SET count = count + 1`),
      returnAttempt: p('UPDATE login_failures SET count = count - 1 WHERE key = ? AND window_end = ? AND count > 0'),
      heartbeat: p('INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at'),
      forgetOldFailures: p('DELETE FROM login_failures WHERE key = ? AND window_end < ?'),
    };
  }

  get db(): Database.Database {
    return this.#db;
  }

  /** A real write (the heartbeat row), so that a full disk or an unwritable file fails the check. */
  ping(): null {
    this.#s.heartbeat.run(Date.now());
    return null;
  }

  #insertToken(token: TokenRecord, familyId: string): void {
    this.#s.insertToken.run(token.jti, familyId, token.userId, token.tokenType, token.issuedAt, token.expiresAt);
  }

  startFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): null {
    // A jti or family id is recorded once: recording it again would erase a use or a revocation.
    if (this.#s.tokenExists.get(token.jti)) throw new Error(`token ${token.jti} is already recorded`);
    if (this.#s.familyExists.get(token.familyId)) throw new Error(`family ${token.familyId} already exists`);
    this.#s.insertFamily.run(
      token.familyId,
      token.userId,
      token.issuedAt,
      token.issuedAt,
      token.expiresAt,
      absoluteExpiresAt ?? null,
      nullable(client.userAgent),
      nullable(client.address),
    );
    this.#insertToken(token, token.familyId);
    return null;
  }

  /** A token never seen: recorded in its family when that family exists (never resetting it), else in a new one. */
  #recordUnknown(token: TokenRecord, client: ClientInfo): TokenState {
    this.#s.insertOrExtendFamily.run(
      token.familyId,
      token.userId,
      token.issuedAt,
      token.issuedAt,
      token.expiresAt,
      nullable(client.userAgent),
      nullable(client.address),
    );
    this.#insertToken(token, token.familyId);
    return this.#s.selectToken.get(token.jti) as TokenState;
  }

  consume(request: ConsumeRequest): ConsumeOutcome {
    const { token, successor, client, now } = request;
    if (successor && this.#s.tokenExists.get(successor.jti)) throw new Error(`token ${successor.jti} is already recorded`);
    const row = (this.#s.selectToken.get(token.jti) as TokenState | undefined) ?? this.#recordUnknown(token, client);
    if (row.revoked_at !== null || row.family_found === null || row.family_revoked_at !== null) return { status: 'revoked' };
    if (row.used_at !== null) {
      if (now - row.used_at < request.reuseGraceSeconds) return { status: 'reused', familyRevoked: false };
      this.#s.revokeFamily.run(now, 'reuse_detected', row.family_id);
      return { status: 'reused', familyRevoked: true };
    }
    if (row.absolute_expires_at !== null && row.absolute_expires_at <= now) return { status: 'session_expired' };
    // The conditional write. Inside BEGIN IMMEDIATE nobody else can have spent it since the read
    // above, but the condition keeps the write correct on its own.
    if (request.spend !== false && this.#s.spend.run(now, token.jti).changes !== 1) throw new Error(`token ${token.jti} changed during its own transaction`);
    this.#s.familyUsed.run(now, nullable(client.userAgent), nullable(client.address), successor ? successor.expiresAt : 0, row.family_id);
    if (successor) this.#insertToken(successor, row.family_id);
    return { status: 'consumed', familyId: row.family_id, absoluteExpiresAt: row.absolute_expires_at };
  }

  touch(jti: string, client: ClientInfo, now: number): null {
    this.#s.touch.run(now, nullable(client.userAgent), nullable(client.address), jti);
    return null;
  }

  blacklist(token: TokenRecord, reason: RevokeReason, now: number): 'blacklisted' | 'already_blacklisted' {
    if (!this.#s.tokenExists.get(token.jti)) this.#recordUnknown(token, { userAgent: null, address: null });
    return this.#s.blacklist.run(now, reason, token.jti).changes === 1 ? 'blacklisted' : 'already_blacklisted';
  }

  /** Both writes in this operation's savepoint: one commit, all or nothing. */
  blacklistSession(token: TokenRecord, reason: RevokeReason, now: number): 'blacklisted' | 'already_blacklisted' {
    const result = this.blacklist(token, reason, now);
    if (result === 'blacklisted') this.revokeFamilyOf(token.jti, reason, now);
    return result;
  }

  revokeFamilyOf(jti: string, reason: RevokeReason, now: number): boolean {
    return this.#s.revokeFamilyOf.run(now, reason, jti).changes > 0;
  }

  revokeSession(userId: string, sessionId: string, reason: RevokeReason, now: number): boolean {
    return this.#s.revokeLiveSession.run(now, reason, sessionId, userId, now, now).changes > 0;
  }

  revokeUserFamilies(userId: string, reason: RevokeReason, now: number): number {
    const live = this.#s.countLiveFamilies.get(userId, now, now) as number;
    this.#s.revokeUserFamilies.run(now, reason, userId);
    return live;
  }

  flushExpired(now: number, batchSize: number): number {
    let removed = this.#s.flushTokens.run(now, batchSize).changes;
    if (removed < batchSize) removed += this.#s.flushFamilies.run(now, batchSize - removed).changes;
    if (removed < batchSize) removed += this.#s.flushFailures.run(now, batchSize - removed).changes;
    return removed;
  }

  createUser(input: { username: string; passwordHash: string; isActive: boolean }): UserRecord {
    if (this.#s.userByUsername.get(input.username) !== undefined) throw new Error(`user "${input.username}" already exists`);
    const id = this.#s.insertUser.run(input.username, input.passwordHash, input.isActive ? 1 : 0, newStamp(), Math.floor(Date.now() / 1000)).lastInsertRowid;
    return toUserRecord(this.#s.userById.get(id) as UserColumns);
  }

  /** Runs `statement` for user `id`; throws when there is no such user. */
  #updateUser(id: string, update: (rowId: number) => Database.RunResult): void {
    const rowId = parseUserId(id);
    if (rowId === null || update(rowId).changes === 0) throw new Error(`no user with id ${id}`);
  }

  setActive(id: string, isActive: boolean): null {
    this.#updateUser(id, (rowId) => this.#s.setActive.run(isActive ? 1 : 0, rowId));
    return null;
  }

  updateLastLogin(id: string, at: number): null {
    const rowId = parseUserId(id);
    if (rowId !== null) this.#s.setLastLogin.run(at, rowId);
    return null;
  }

  setPasswordHash(id: string, passwordHash: string, rotateStamp: boolean): null {
    this.#updateUser(id, (rowId) => (rotateStamp ? this.#s.setHashAndStamp.run(passwordHash, newStamp(), rowId) : this.#s.setHash.run(passwordHash, rowId)));
    return null;
  }

  rotateSecurityStamp(id: string): string {
    const stamp = newStamp();
    this.#updateUser(id, (rowId) => this.#s.setStamp.run(stamp, rowId));
    return stamp;
  }

  /** Read and write in this operation's savepoint, under the write lock: no other writer in between. */
  takeAttempt(limits: readonly ThrottleLimit[], windowSeconds: number, now: number): AttemptOutcome {
    const end = windowEnd(windowSeconds, now);
    if (limits.some(({ key, limit }) => ((this.#s.attempts.get(key, end) as number | undefined) ?? 0) >= limit)) return { allowed: false, resetAt: end };
    for (const { key } of limits) {
      this.#s.addAttempt.run(key, end);
      this.#s.forgetOldFailures.run(key, end);
    }
    return { allowed: true, windowEnd: end };
  }

  returnAttempt(keys: readonly string[], end: number): null {
    for (const key of keys) this.#s.returnAttempt.run(key, end);
    return null;
  }
}

export function serializeError(error: unknown, unavailable = isUnavailableError(error)): SerializedError {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    message: error instanceof Error ? error.message : String(error),
    code: typeof code === 'string' ? code : null,
    unavailable,
  };
}

// ---- the worker's message loop -------------------------------------------------------------------

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('sqlite-worker.js runs as a worker thread of SqliteStore');
  const options = workerData as WorkerOptions;
  const post = (message: FromWorker) => port.postMessage(message);

  let writer: Writer;
  try {
    const db = new Database(options.path, { timeout: options.busyTimeoutMs });
    try {
      configureWriter(db, options);
      const schema = runMigrations(db);
      writer = new Writer(db);
      post({ type: 'ready', schema });
    } catch (error) {
      db.close();
      throw error;
    }
  } catch (error) {
    post({ type: 'open-failed', error: serializeError(error) });
    port.close();
    return;
  }

  const db = writer.db;
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const savepoint = db.prepare('SAVEPOINT op');
  const release = db.prepare('RELEASE op');
  const rollbackTo = db.prepare('ROLLBACK TO op');
  const ops = writer as unknown as Record<WriteOpName, (...args: unknown[]) => unknown>;

  const rollback = () => {
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
    } catch {
      // Nothing more to undo: SQLite rolled the transaction back itself.
    }
  };
  const failAll = (batch: OpRequest[], error: unknown): OpResult[] => {
    const serialized = serializeError(error, true);
    return batch.map(({ id }) => ({ id, ok: false, error: serialized }));
  };

  function runBatch(batch: OpRequest[]): OpResult[] {
    try {
      begin.run();
    } catch (error) {
      rollback();
      return failAll(batch, error);
    }
    const results: OpResult[] = [];
    for (const { id, op, args } of batch) {
      try {
        savepoint.run();
        if (!OP_NAMES.has(op)) throw new Error(`unknown store operation ${String(op)}`);
        const value = ops[op].apply(writer, args);
        release.run();
        results.push({ id, ok: true, value });
      } catch (error) {
        // The database itself failed (or SQLite already rolled everything back): nothing of this batch is kept.
        if (isUnavailableError(error) || !db.inTransaction) {
          rollback();
          return failAll(batch, error);
        }
        try {
          rollbackTo.run();
          release.run();
        } catch (undoError) {
          rollback();
          return failAll(batch, undoError);
        }
        results.push({ id, ok: false, error: serializeError(error) });
      }
    }
    try {
      commit.run();
    } catch (error) {
      rollback();
      return failAll(batch, error);
    }
    return results;
  }

  const queue: OpRequest[] = [];
  let scheduled = false;
  let closing = false;

  function drain(): void {
    scheduled = false;
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH);
      post({ type: 'results', results: runBatch(batch) });
    }
    if (closing) finish();
  }

  function finish(): void {
    let error: SerializedError | null = null;
    try {
      db.close();
    } catch (e) {
      error = serializeError(e);
    }
    post({ type: 'closed', error });
    port!.close();
  }

  port.on('message', (message: ToWorker) => {
    if (message.type === 'ops') {
      for (const op of message.ops) queue.push(op);
    } else if (message.type === 'close') {
      closing = true;
    }
    // Run once every message already delivered has been queued: that is what groups the commits.
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  });
}

main();
