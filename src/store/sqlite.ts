/**
 * The embedded store: one SQLite file, shared safely by every process that opens it.
 *
 * - **Writes** run on a worker thread (`sqlite-worker.ts`) that owns the one write connection:
 *   WAL, `synchronous=FULL` by default, `BEGIN IMMEDIATE`, a busy timeout. Concurrent writes are
 *   grouped into one transaction (group commit), so one `fsync` acknowledges many of them and no
 *   `fsync` ever stalls the event loop. A write's promise resolves only after its transaction
 *   committed.
 * - **Reads** (`status`, `listSessions`, `findByUsername`, `findById`, `failures`) run on the main
 *   thread on a second, query-only connection: in WAL mode a reader never waits for the writer and
 *   sees every committed transaction, and a point lookup costs microseconds.
 *
 * Durability: with `synchronous: 'FULL'` (the default) an acknowledged write survives a process
 * crash, an OS crash and a power loss. With `'NORMAL'` it survives a process crash (`kill -9`), but
 * the last transactions before an OS crash or power loss may be rolled back (the database stays
 * consistent): a rotated-out refresh token could then be accepted once more.
 *
 * Fail closed: an error that means the database cannot serve (lock not obtained within the busy
 * timeout, I/O error, corrupt or read-only file, disk full, the worker gone) rejects with
 * `StoreUnavailableError`, which the service answers with 503. A dead worker rejects every pending
 * and later call at once; a new worker is started by a call at most once a second, so the store
 * comes back when the database does. The converse of "resolved means durable" does not hold: a
 * write rejected because the worker died or timed out may still have committed (the client was
 * told 503; for a rotation that means its refresh token is spent and it must log in again).
 */
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { windowEnd } from './memory.js';
import { USER_COLUMNS, configureReader, configureWriter, isUnavailableError, parseUserId, runMigrations, toUserRecord, type UserColumns } from './sqlite-schema.js';
import type { FromWorker, OpRequest, SerializedError, ToWorker, WorkerOptions, WriteOpName, WriteOps } from './sqlite-worker.js';
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

export interface SqliteStoreOptions {
  /** How long a write waits for another process's write lock before failing as unavailable (default 5000). */
  busyTimeoutMs?: number;
  /** `FULL` (default): durable through power loss. `NORMAL`: through a process crash only (see above). */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * A worker that has not answered for this long is considered hung: pending calls reject as
   * unavailable and the worker is replaced (default: busyTimeoutMs + 30000).
   */
  operationTimeoutMs?: number;
}

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url);
const RESTART_INTERVAL_MS = 1000;

function checkPath(path: string): string {
  if (typeof path !== 'string' || path.trim() === '') throw new TypeError('SqliteStore needs the path of a database file');
  if (path === ':memory:' || path.startsWith('file:')) {
    throw new TypeError(`SqliteStore needs the path of a database file, not ${JSON.stringify(path)} (use MemoryStore for an in-memory store)`);
  }
  return resolvePath(path);
}

function resolveOptions(options: SqliteStoreOptions): Required<SqliteStoreOptions> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new TypeError('busyTimeoutMs must be a non-negative integer');
  const synchronous = options.synchronous ?? 'FULL';
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new TypeError("synchronous must be 'FULL' or 'NORMAL'");
  const operationTimeoutMs = options.operationTimeoutMs ?? busyTimeoutMs + 30_000;
  if (!Number.isInteger(operationTimeoutMs) || operationTimeoutMs <= 0) throw new TypeError('operationTimeoutMs must be a positive integer');
  return { busyTimeoutMs, synchronous, operationTimeoutMs };
}

function unavailable(what: string, error: unknown): StoreUnavailableError {
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`${what}: ${reason}`, { cause: error });
}

function fromSerialized(error: SerializedError): Error {
  if (error.unavailable) return new StoreUnavailableError(`SQLite store unavailable: ${error.message}${error.code ? ` (${error.code})` : ''}`);
  const e = new Error(error.message);
  if (error.code) Object.assign(e, { code: error.code });
  return e;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** One worker thread and the calls it owes answers to. */
class WriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #queue: OpRequest[] = [];
  #flushScheduled = false;
  #nextId = 1;
  #lastProgress = 0;
  #watchdog: NodeJS.Timeout | null = null;
  #dead: StoreUnavailableError | null = null;
  #exited: Promise<void>;
  readonly ready: Promise<{ from: number; to: number }>;

  constructor(options: WorkerOptions, timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#worker = new Worker(WORKER_URL, { workerData: options, execArgv: [] });
    let onReady!: (schema: { from: number; to: number }) => void;
    let onOpenFailed!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      onOpenFailed = reject;
    });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'ready':
          if (this.#pending.size === 0) this.#worker.unref();
          onReady(message.schema);
          break;
        case 'open-failed':
          this.#die(new StoreUnavailableError(`cannot open the SQLite database ${options.path}: ${message.error.message}`));
          onOpenFailed(this.#dead!);
          break;
        case 'results':
          this.#lastProgress = Date.now();
          for (const result of message.results) {
            const pending = this.#pending.get(result.id);
            if (!pending) continue;
            this.#pending.delete(result.id);
            if (result.ok) pending.resolve(result.value);
            else pending.reject(fromSerialized(result.error));
          }
          if (this.#pending.size === 0) this.#idle();
          break;
        case 'closed':
          break;
      }
    });
    this.#worker.on('error', (error) => {
      this.#die(unavailable('the SQLite writer thread failed', error));
      onOpenFailed(this.#dead!);
    });
    this.#worker.on('exit', (code) => {
      this.#die(new StoreUnavailableError(`the SQLite writer thread exited (code ${code})`));
      onOpenFailed(this.#dead!);
    });
  }

  /** Why this thread can no longer serve, or null while it can. */
  get dead(): StoreUnavailableError | null {
    return this.#dead;
  }

  call(op: WriteOpName, args: unknown[]): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      if (this.#pending.size === 0) this.#busy();
      this.#pending.set(id, { resolve, reject });
      this.#queue.push({ id, op, args });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#dead) return;
    const ops = this.#queue;
    this.#queue = [];
    this.#post({ type: 'ops', ops });
  }

  #post(message: ToWorker): void {
    try {
      this.#worker.postMessage(message);
    } catch (error) {
      this.#die(unavailable('cannot reach the SQLite writer thread', error));
    }
  }

  /** Calls are owed: keep the process alive for them, and watch for a hung worker. */
  #busy(): void {
    this.#worker.ref();
    this.#lastProgress = Date.now();
    if (!this.#watchdog) {
      const every = Math.min(1000, Math.max(10, Math.floor(this.#timeoutMs / 4)));
      this.#watchdog = setInterval(() => {
        if (this.#pending.size > 0 && Date.now() - this.#lastProgress > this.#timeoutMs) {
          this.#die(new StoreUnavailableError(`the SQLite writer thread has not answered for ${this.#timeoutMs} ms`));
        }
      }, every);
      this.#watchdog.unref();
    }
  }

  #idle(): void {
    this.#worker.unref();
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  #die(reason: StoreUnavailableError): void {
    if (this.#dead) return;
    this.#dead = reason;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#queue = [];
    this.#idle();
    for (const p of pending) p.reject(reason);
    void this.#worker.terminate().catch(() => {});
  }

  /** Lets the worker finish what it was sent, close the connection and exit. */
  async close(): Promise<void> {
    let wait = this.#timeoutMs;
    if (!this.#dead) {
      this.#flush();
      this.#worker.ref();
      this.#post({ type: 'close' });
    } else {
      wait = Math.min(wait, 5000);
    }
    // Never hang on a thread stuck in I/O: past the deadline it is terminated (what it committed stays committed).
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, wait);
    });
    await Promise.race([this.#exited, deadline]);
    clearTimeout(timer);
    this.#die(new StoreUnavailableError('the SQLite store is closed'));
  }

  /** For tests: the thread itself (e.g. to terminate it). */
  get worker(): Worker {
    return this.#worker;
  }
}

const READ_SQL = {
  status: `
    SELECT t.used_at, t.revoked_at, f.id AS family_found, f.revoked_at AS family_revoked_at, f.absolute_expires_at
    FROM issued_tokens t LEFT JOIN token_families f ON f.id = t.family_id
    WHERE t.jti = ?`,
  sessions: `
    SELECT id, user_id, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, address
    FROM token_families
    WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND (absolute_expires_at IS NULL OR absolute_expires_at > ?)
    ORDER BY last_used_at DESC, id ASC`,
  userByUsername: `SELECT ${USER_COLUMNS} FROM users WHERE username = ?`,
  userById: `SELECT ${USER_COLUMNS} FROM users WHERE id = ?`,
  failures: 'SELECT count FROM login_failures WHERE key = ? AND window_end = ?',
  ping: 'SELECT 1',
} as const;

type ReadStatements = { [K in keyof typeof READ_SQL]: Database.Statement };

interface StatusRow {
  used_at: number | null;
  revoked_at: number | null;
  family_found: string | null;
  family_revoked_at: number | null;
  absolute_expires_at: number | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  absolute_expires_at: number | null;
  user_agent: string | null;
  address: string | null;
}

/**
 * Only the two fields the worker stores: callers may pass a richer object (the service passes its
 * ClientContext, which holds the framework's request), and that cannot cross to the worker thread.
 */
function clientInfo(client: ClientInfo): ClientInfo {
  return { userAgent: client.userAgent ?? null, address: client.address ?? null };
}

/** Test hook: `store[WORKER_FOR_TESTS]()` returns the current writer thread. Not part of the API. */
export const WORKER_FOR_TESTS = Symbol('tokenpair.sqlite.worker');

export class SqliteStore implements TokenStore, UserStore, UserAdmin, ThrottleStore, ThrottleCounts {
  readonly path: string;
  readonly #options: Required<SqliteStoreOptions>;
  #writer: WriterThread;
  #restarting: Promise<WriterThread> | null = null;
  #nextRestartAt = 0;
  #reader: Database.Database | null = null;
  #read: ReadStatements | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(path: string, options: Required<SqliteStoreOptions>, writer: WriterThread) {
    this.path = path;
    this.#options = options;
    this.#writer = writer;
  }

  /**
   * Opens (creating if needed) the database file and applies pending migrations. The directory must
   * exist. Rejects with `StoreUnavailableError` when the file cannot be opened or used.
   */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const file = checkPath(path);
    const resolved = resolveOptions(options);
    const writer = await SqliteStore.#startWriter(file, resolved);
    const store = new SqliteStore(file, resolved, writer);
    try {
      const reader = new Database(file, { fileMustExist: true, timeout: resolved.busyTimeoutMs });
      store.#reader = reader;
      configureReader(reader, resolved);
      store.#read = Object.fromEntries(Object.entries(READ_SQL).map(([name, sql]) => [name, reader.prepare(sql)])) as ReadStatements;
      store.#read.userByUsername.raw(true);
      store.#read.userById.raw(true);
    } catch (error) {
      await store.close().catch(() => {});
      throw isUnavailableError(error) ? unavailable(`cannot open the SQLite database ${file}`, error) : error;
    }
    return store;
  }

  static async #startWriter(file: string, options: Required<SqliteStoreOptions>): Promise<WriterThread> {
    let writer: WriterThread;
    try {
      writer = new WriterThread({ path: file, busyTimeoutMs: options.busyTimeoutMs, synchronous: options.synchronous }, options.operationTimeoutMs);
    } catch (error) {
      throw unavailable('cannot start the SQLite writer thread', error);
    }
    try {
      await writer.ready;
    } catch (error) {
      await writer.close().catch(() => {});
      throw error;
    }
    return writer;
  }

  // ---- plumbing -----------------------------------------------------------------------------------

  #write<K extends WriteOpName>(op: K, ...args: Parameters<WriteOps[K]>): Promise<ReturnType<WriteOps[K]>> {
    if (!this.#closed && !this.#writer.dead) return this.#writer.call(op, args) as Promise<ReturnType<WriteOps[K]>>;
    return this.#liveWriter().then((writer) => writer.call(op, args) as Promise<ReturnType<WriteOps[K]>>);
  }

  /** The writer thread, replaced (at most once a second) when the previous one died. */
  async #liveWriter(): Promise<WriterThread> {
    if (this.#closed) throw new StoreUnavailableError('the SQLite store is closed');
    if (!this.#writer.dead) return this.#writer;
    if (!this.#restarting) {
      if (Date.now() < this.#nextRestartAt) throw this.#writer.dead;
      this.#nextRestartAt = Date.now() + RESTART_INTERVAL_MS;
      this.#restarting = SqliteStore.#startWriter(this.path, this.#options)
        .then((writer) => {
          if (this.#closed) {
            void writer.close();
            throw new StoreUnavailableError('the SQLite store is closed');
          }
          this.#writer = writer;
          return writer;
        })
        .finally(() => {
          this.#restarting = null;
        });
    }
    return this.#restarting;
  }

  /** Runs a read on the main thread's connection, mapping database failures to StoreUnavailableError. */
  #reading<T>(fn: (read: ReadStatements) => T): T {
    if (this.#closed || !this.#read) throw new StoreUnavailableError('the SQLite store is closed');
    try {
      return fn(this.#read);
    } catch (error) {
      throw isUnavailableError(error) ? unavailable('SQLite store unavailable', error) : error;
    }
  }

  /** Test hook, not part of the API. */
  [WORKER_FOR_TESTS](): Worker {
    return this.#writer.worker;
  }

  // ---- tokens -------------------------------------------------------------------------------------

  async startFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): Promise<void> {
    await this.#write('startFamily', token, clientInfo(client), absoluteExpiresAt);
  }

  consume(request: ConsumeRequest): Promise<ConsumeOutcome> {
    return this.#write('consume', { ...request, client: clientInfo(request.client) });
  }

  async status(jti: string, now: number): Promise<TokenStatus> {
    const row = this.#reading((r) => r.status.get(jti) as StatusRow | undefined);
    if (!row) return 'unknown';
    if (row.revoked_at !== null || row.family_found === null || row.family_revoked_at !== null) return 'revoked';
    if (row.used_at !== null) return 'used';
    if (row.absolute_expires_at !== null && row.absolute_expires_at <= now) return 'session_expired';
    return 'active';
  }

  async touch(jti: string, client: ClientInfo, now: number): Promise<void> {
    await this.#write('touch', jti, clientInfo(client), now);
  }

  blacklist(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
    return this.#write('blacklist', token, reason, now);
  }

  blacklistSession(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
    return this.#write('blacklistSession', token, reason, now);
  }

  revokeFamilyOf(jti: string, reason: RevokeReason, now: number): Promise<boolean> {
    return this.#write('revokeFamilyOf', jti, reason, now);
  }

  revokeSession(userId: string, sessionId: string, reason: RevokeReason, now: number): Promise<boolean> {
    return this.#write('revokeSession', userId, sessionId, reason, now);
  }

  revokeUserFamilies(userId: string, reason: RevokeReason, now: number): Promise<number> {
    return this.#write('revokeUserFamilies', userId, reason, now);
  }

  async listSessions(userId: string, now: number): Promise<SessionRecord[]> {
    const rows = this.#reading((r) => r.sessions.all(userId, now, now) as SessionRow[]);
    return rows.map((row) => ({
      id: row.id,
      userId: row.user_id,
      createdAt: row.created_at,
      lastUsedAt: row.last_used_at,
      expiresAt: row.expires_at,
      absoluteExpiresAt: row.absolute_expires_at,
      userAgent: row.user_agent,
      address: row.address,
    }));
  }

  /**
   * Deletes at most `batchSize` rows in one short transaction: expired tokens first, then expired
   * families with no token left, then ended throttle windows. Returns how many went; call again
   * until it returns less than `batchSize`. Pass `now` minus the verification leeway: a token the
   * verifier still accepts must not be deleted, or it would come back as "never seen" (R4).
   */
  async flushExpired(now: number, batchSize: number): Promise<number> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    return this.#write('flushExpired', now, batchSize);
  }

  /** Throws unless both connections can serve: a read here and an (empty) write transaction in the writer. */
  async ping(): Promise<void> {
    this.#reading((r) => r.ping.get());
    await this.#write('ping');
  }

  /** Finishes every write already made, then closes both connections and the writer thread. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      // The reader first: it is then not the last connection, so it never checkpoints on this thread.
      try {
        this.#reader?.close();
      } catch {
        // Closing is best effort; the writer still closes below.
      }
      this.#read = null;
      if (this.#restarting) await this.#restarting.catch(() => {});
      await this.#writer.close();
    })();
    return this.#closing;
  }

  // ---- users --------------------------------------------------------------------------------------

  async findByUsername(username: string): Promise<UserRecord | null> {
    const row = this.#reading((r) => r.userByUsername.get(username) as UserColumns | undefined);
    return row ? toUserRecord(row) : null;
  }

  async findById(id: string): Promise<UserRecord | null> {
    return this.findByIdSync(id);
  }

  /** A point query on the main thread's read connection, as `findById` does: it never waits on the writer. */
  findByIdSync(id: string): UserRecord | null {
    const rowId = parseUserId(id);
    if (rowId === null) {
      this.#reading(() => null); // still fails when closed, like every other method
      return null;
    }
    const row = this.#reading((r) => r.userById.get(rowId) as UserColumns | undefined);
    return row ? toUserRecord(row) : null;
  }

  async updateLastLogin(id: string, at: number): Promise<void> {
    await this.#write('updateLastLogin', id, at);
  }

  async setPasswordHash(id: string, passwordHash: string, rotateStamp: boolean): Promise<void> {
    await this.#write('setPasswordHash', id, passwordHash, rotateStamp);
  }

  rotateSecurityStamp(id: string): Promise<string> {
    return this.#write('rotateSecurityStamp', id);
  }

  createUser(input: { username: string; passwordHash: string; isActive: boolean }): Promise<UserRecord> {
    return this.#write('createUser', { username: input.username, passwordHash: input.passwordHash, isActive: input.isActive });
  }

  async setActive(id: string, isActive: boolean): Promise<void> {
    await this.#write('setActive', id, isActive);
  }

  // ---- throttle -----------------------------------------------------------------------------------

  takeAttempt(limits: readonly ThrottleLimit[], windowSeconds: number, now: number): Promise<AttemptOutcome> {
    return this.#write('takeAttempt', limits.map(({ key, limit }) => ({ key, limit })), windowSeconds, now);
  }

  async returnAttempt(keys: readonly string[], windowEnd: number): Promise<void> {
    await this.#write('returnAttempt', [...keys], windowEnd);
  }

  async failures(keys: readonly string[], windowSeconds: number, now: number): Promise<Array<{ key: string; count: number; resetAt: number }>> {
    const resetAt = windowEnd(windowSeconds, now);
    return this.#reading((r) =>
      keys.map((key) => ({ key, count: ((r.failures.get(key, resetAt) as { count: number } | undefined)?.count ?? 0), resetAt })),
    );
  }
}

/**
 * `tokenpair migrate`: applies pending migrations to the file (creating it) and reports the schema
 * version before and after. Safe to run while servers use the file.
 */
export async function migrateSqlite(path: string): Promise<{ from: number; to: number }> {
  const file = checkPath(path);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 5000 });
  } catch (error) {
    throw unavailable(`cannot open the SQLite database ${file}`, error);
  }
  try {
    configureWriter(db, { busyTimeoutMs: 5000, synchronous: 'FULL' });
    return runMigrations(db);
  } catch (error) {
    throw isUnavailableError(error) ? unavailable(`cannot migrate the SQLite database ${file}`, error) : error;
  } finally {
    db.close();
  }
}
