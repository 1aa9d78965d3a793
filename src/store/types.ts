/**
 * The storage contracts (DESIGN.md "Stores"). Small on purpose: every implementation (memory, SQLite,
 * PostgreSQL, a user's own) passes the same contract suite.
 *
 * Times are integer **seconds** since the epoch. Token strings are never stored: only their `jti`.
 */

/** Who presented a token: kept with a session so a user can recognise it. */
export interface ClientInfo {
  userAgent: string | null;
  address: string | null;
}

/** An issued refresh or sliding token, as recorded (its `jti`, never its bytes). */
export interface TokenRecord {
  jti: string;
  userId: string;
  /** The family (session) the token belongs to: every token rotated from one login shares it. */
  familyId: string;
  tokenType: 'refresh' | 'sliding';
  issuedAt: number;
  expiresAt: number;
}

/** A family of tokens seen from the outside: one login on one device. */
export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: number;
  lastUsedAt: number;
  /** The latest `exp` of the family's tokens. */
  expiresAt: number;
  /** The absolute session limit, if any: no rotation extends the family past it. */
  absoluteExpiresAt: number | null;
  userAgent: string | null;
  address: string | null;
}

/** Why a token or a family was revoked; kept for audits. */
export type RevokeReason = 'logout' | 'logout_all' | 'blacklist' | 'reuse_detected' | 'password_changed' | 'admin' | 'session_revoked';

/** The outcome of presenting a refresh token for single use. */
export type ConsumeOutcome =
  /** This caller won: the token is spent and the successor (if any) recorded, in one transaction. */
  | { status: 'consumed'; familyId: string; absoluteExpiresAt: number | null }
  /**
   * The token was already spent. Outside the grace period the whole family is now revoked
   * (`familyRevoked: true`); inside it (a concurrent refresh of the same token) it is not.
   */
  | { status: 'reused'; familyRevoked: boolean }
  /** The token, or its family, is blacklisted or revoked. */
  | { status: 'revoked' }
  /** The family is past its absolute lifetime. */
  | { status: 'session_expired' };

export interface ConsumeRequest {
  /**
   * The presented token. Recorded as spent if the store has never seen it: in its `familyId` when
   * that family exists (a revoked family stays revoked), else in a new family of that id.
   */
  token: TokenRecord;
  /**
   * The successor to record in the same transaction; `null` without rotation. Its `familyId` is
   * ignored: the store puts it in the consumed token's family.
   */
  successor: TokenRecord | null;
  /**
   * `false`: rotation without blacklisting after rotation. The presented token stays usable (it is
   * not marked used) but passes the same checks, and the successor still joins its family, in the
   * same transaction, so the session and its absolute lifetime carry over. Default `true`.
   */
  spend?: boolean;
  client: ClientInfo;
  now: number;
  /**
   * A reuse fewer than this many whole seconds after the winning use (`now - usedAt < reuseGraceSeconds`)
   * does not revoke the family (concurrent refreshes); 0: every reuse revokes.
   */
  reuseGraceSeconds: number;
}

/** The state of one token, read without changing it. */
export type TokenStatus = 'active' | 'used' | 'revoked' | 'unknown' | 'session_expired';

export interface TokenStore {
  /** Records the first token of a new family (a login). Rejects a `jti` or family id already recorded. */
  startFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): Promise<void>;
  /**
   * Spends `request.token` once — one atomic conditional write: of N concurrent callers exactly one
   * gets `consumed`, across processes sharing the store. The successor is recorded in the same
   * transaction, and the promise resolves only once that transaction is durable.
   */
  consume(request: ConsumeRequest): Promise<ConsumeOutcome>;
  /** A token's state (verify endpoint, refresh without rotation, sliding tokens). */
  status(jti: string, now: number): Promise<TokenStatus>;
  /** Marks a family used now (refresh without rotation, sliding refresh). */
  touch(jti: string, client: ClientInfo, now: number): Promise<void>;
  /**
   * Blacklists one token; records it first if the store has never seen it. Durable before resolving.
   * `already_blacklisted` when it was revoked before (R5).
   */
  blacklist(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'>;
  /**
   * Optional: `blacklist`, then, when it answers `blacklisted`, `revokeFamilyOf` for the same token,
   * in ONE durable transaction (logout and the blacklist endpoint end the token's session). Without
   * it the service makes the two calls, and a crash between their commits can leave the session
   * listed as live. The built-in stores have it.
   */
  blacklistSession?(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'>;
  /** Revokes every token of the family the token `jti` belongs to. */
  revokeFamilyOf(jti: string, reason: RevokeReason, now: number): Promise<boolean>;
  /** Revokes one session of a user; `false` (and nothing changes) when the user has no such live session (as `listSessions` counts them). */
  revokeSession(userId: string, sessionId: string, reason: RevokeReason, now: number): Promise<boolean>;
  /** Revokes every family of a user (logout-all, password change); returns how many were live (as `listSessions` counts them). */
  revokeUserFamilies(userId: string, reason: RevokeReason, now: number): Promise<number>;
  /** The user's live sessions, most recently used first. */
  listSessions(userId: string, now: number): Promise<SessionRecord[]>;
  /**
   * Deletes at most `batchSize` (a positive integer) expired rows: tokens whose `expiresAt <= now`,
   * then families past their expiry with no token left, then ended throttle windows. Returns how many
   * rows went; call again until it returns less than `batchSize`. Pass `now` minus the verification
   * leeway, so that no revocation disappears while its token could still be accepted (R4).
   */
  flushExpired(now: number, batchSize: number): Promise<number>;
  /** Throws when the store cannot serve (readiness). After `close()`, every method rejects with `StoreUnavailableError`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A user as the auth service needs it. */
export interface UserRecord {
  id: string;
  username: string;
  /** An argon2id PHC string, or an imported Django `pbkdf2_sha256$…` hash. */
  passwordHash: string;
  isActive: boolean;
  /** Random; changed by a password change and logout-all, so that older tokens stop working. */
  securityStamp: string;
  lastLogin: number | null;
  createdAt: number;
}

/**
 * Where users come from. Pass your own to use an existing users table; only the two finders are
 * required. The optional methods enable the features that write.
 */
export interface UserStore {
  findByUsername(username: string): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /**
   * `findById` without a promise, for stores whose reads never wait on I/O (an embedded database
   * read on the calling thread, memory). When present, the bearer authenticator with `userLookup`
   * answers synchronously (`AuthService.authenticatesSync`). Must agree with `findById`; throw
   * (any error) when the store cannot serve: the service answers 503.
   */
  findByIdSync?(id: string): UserRecord | null;
  /** Your own password check (e.g. bcrypt); without it tokenpair verifies `passwordHash` itself. */
  verifyPassword?(user: UserRecord, password: string): Promise<boolean>;
  updateLastLogin?(id: string, at: number): Promise<void>;
  /** Replace the hash (rehash on login keeps the stamp: `rotateStamp` false). */
  setPasswordHash?(id: string, passwordHash: string, rotateStamp: boolean): Promise<void>;
  /** Sets a new random security stamp and returns it (logout-all). */
  rotateSecurityStamp?(id: string): Promise<string>;
}

/** User administration of the built-in stores (the CLI). */
export interface UserAdmin {
  createUser(input: { username: string; passwordHash: string; isActive: boolean }): Promise<UserRecord>;
  setActive(id: string, isActive: boolean): Promise<void>;
}

/** One throttle key (e.g. `u:alice`, `a:203.0.113.5`) and the most attempts it may have per window. */
export interface ThrottleLimit {
  key: string;
  limit: number;
}

/** The answer of `ThrottleStore.takeAttempt`. */
export type AttemptOutcome =
  /** Counted, for every key, in the window that ends at `windowEnd` (give it back with `returnAttempt`). */
  | { allowed: true; windowEnd: number }
  /** A key had reached its limit: nothing was counted. Try again at `resetAt` (seconds since the epoch). */
  | { allowed: false; resetAt: number };

/**
 * Counters for login throttling, shared by every instance that shares the store. An attempt is
 * counted BEFORE the password is checked, in one atomic step with the check of the limits, so that
 * a burst of concurrent logins gets no more than the limit (S15); a successful login gives its
 * attempt back. What stays counted are the failures.
 */
export interface ThrottleStore {
  /**
   * Atomically, across every process sharing the store: when no key has reached its limit in its
   * current fixed window of `windowSeconds`, adds one to each and answers `allowed`; otherwise
   * changes nothing and answers when the latest of the full windows ends. Windows older than the
   * current one are forgotten.
   */
  takeAttempt(limits: readonly ThrottleLimit[], windowSeconds: number, now: number): Promise<AttemptOutcome>;
  /** Takes back one attempt from each key in the window that ends at `windowEnd` (never below 0). */
  returnAttempt(keys: readonly string[], windowEnd: number): Promise<void>;
}

/** What the built-in stores also offer for inspection (tests, operators); the service does not need it. */
export interface ThrottleCounts {
  /** The attempts counted for each key in its current window, and when that window ends. */
  failures(keys: readonly string[], windowSeconds: number, now: number): Promise<Array<{ key: string; count: number; resetAt: number }>>;
}

/** The error a store throws when it cannot serve; the service turns it into 503 (fail closed, S12). */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
