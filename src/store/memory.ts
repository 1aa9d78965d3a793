/**
 * In-memory stores: for tests and experiments only. Revocations do not survive a restart, and
 * nothing is shared between processes; `warnIfInMemory` says so loudly at start-up.
 */
import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from './types.js';
import type {
  AttemptOutcome,
  ClientInfo,
  ConsumeOutcome,
  ConsumeRequest,
  RevokeReason,
  SessionRecord,
  ThrottleCounts,
  ThrottleLimit,
  ThrottleStore,
  TokenRecord,
  TokenStatus,
  TokenStore,
  UserAdmin,
  UserRecord,
  UserStore,
} from './types.js';

interface TokenRow extends TokenRecord {
  usedAt: number | null;
  revokedAt: number | null;
  revokeReason: RevokeReason | null;
}

interface FamilyRow {
  id: string;
  userId: string;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
  absoluteExpiresAt: number | null;
  userAgent: string | null;
  address: string | null;
  revokedAt: number | null;
  revokeReason: RevokeReason | null;
}

export const IN_MEMORY_WARNING =
  'tokenpair: using the IN-MEMORY store — revoked and rotated-out tokens become valid again after a restart, and nothing is shared between processes. Use it for tests only.';

export function newStamp(): string {
  return randomUUID().replaceAll('-', '');
}

export class MemoryStore implements TokenStore, UserStore, UserAdmin, ThrottleStore, ThrottleCounts {
  readonly #tokens = new Map<string, TokenRow>();
  readonly #families = new Map<string, FamilyRow>();
  readonly #users = new Map<string, UserRecord>();
  /** key → its current window (identified by when it ends) and the failures counted in it. */
  readonly #throttle = new Map<string, { resetAt: number; count: number }>();
  #nextUserId = 1;
  #closed = false;
  static #warned = false;

  /**
   * @param options.warn `false` silences the start-up warning (tests); by default the first
   *   MemoryStore of a process prints `IN_MEMORY_WARNING` as a process warning.
   */
  constructor(options: { warn?: boolean } = {}) {
    if (options.warn !== false && !MemoryStore.#warned) {
      MemoryStore.#warned = true;
      process.emitWarning(IN_MEMORY_WARNING, { code: 'TOKENPAIR_IN_MEMORY_STORE' });
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreUnavailableError('store is closed');
  }

  /** A token's family is live while it is neither revoked nor past its expiry or absolute lifetime. */
  static #isLive(family: FamilyRow, now: number): boolean {
    return family.revokedAt === null && family.expiresAt > now && (family.absoluteExpiresAt === null || family.absoluteExpiresAt > now);
  }

  /**
   * Records a token the store has never seen (consume or blacklist of a token issued before the store
   * existed, or by a peer): in its family when that family exists (never resetting the family's
   * revocation), else in a new family.
   */
  #recordUnknown(token: TokenRecord, client: ClientInfo): TokenRow {
    const family = this.#families.get(token.familyId);
    if (family) family.expiresAt = Math.max(family.expiresAt, token.expiresAt);
    else this.#families.set(token.familyId, this.#newFamily(token, client, null));
    const row: TokenRow = { ...token, usedAt: null, revokedAt: null, revokeReason: null };
    this.#tokens.set(token.jti, row);
    return row;
  }

  #newFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): FamilyRow {
    return {
      id: token.familyId,
      userId: token.userId,
      createdAt: token.issuedAt,
      lastUsedAt: token.issuedAt,
      expiresAt: token.expiresAt,
      absoluteExpiresAt,
      userAgent: client.userAgent,
      address: client.address,
      revokedAt: null,
      revokeReason: null,
    };
  }

  // ---- tokens -------------------------------------------------------------------------------

  async startFamily(token: TokenRecord, client: ClientInfo, absoluteExpiresAt: number | null): Promise<void> {
    this.#check();
    // A jti or family id is recorded once: recording it again would erase a use or a revocation.
    if (this.#tokens.has(token.jti)) throw new Error(`token ${token.jti} is already recorded`);
    if (this.#families.has(token.familyId)) throw new Error(`family ${token.familyId} already exists`);
    this.#families.set(token.familyId, this.#newFamily(token, client, absoluteExpiresAt));
    this.#tokens.set(token.jti, { ...token, usedAt: null, revokedAt: null, revokeReason: null });
  }

  async consume(request: ConsumeRequest): Promise<ConsumeOutcome> {
    this.#check();
    const { token, successor, client, now } = request;
    if (successor && this.#tokens.has(successor.jti)) throw new Error(`token ${successor.jti} is already recorded`);
    // Never seen (issued before the store existed, or by a peer service): spend it in its family.
    const row = this.#tokens.get(token.jti) ?? this.#recordUnknown(token, client);
    const family = this.#families.get(row.familyId);
    if (row.revokedAt !== null || !family || family.revokedAt !== null) return { status: 'revoked' };
    if (row.usedAt !== null) {
      if (now - row.usedAt < request.reuseGraceSeconds) return { status: 'reused', familyRevoked: false };
      this.#revokeFamily(family, 'reuse_detected', now);
      return { status: 'reused', familyRevoked: true };
    }
    if (family.absoluteExpiresAt !== null && family.absoluteExpiresAt <= now) return { status: 'session_expired' };
    if (request.spend !== false) row.usedAt = now;
    family.lastUsedAt = now;
    family.userAgent = client.userAgent ?? family.userAgent;
    family.address = client.address ?? family.address;
    if (successor) {
      this.#tokens.set(successor.jti, { ...successor, familyId: family.id, usedAt: null, revokedAt: null, revokeReason: null });
      family.expiresAt = Math.max(family.expiresAt, successor.expiresAt);
    }
    return { status: 'consumed', familyId: family.id, absoluteExpiresAt: family.absoluteExpiresAt };
  }

  async status(jti: string, now: number): Promise<TokenStatus> {
    this.#check();
    const row = this.#tokens.get(jti);
    if (!row) return 'unknown';
    const family = this.#families.get(row.familyId);
    if (row.revokedAt !== null || !family || family.revokedAt !== null) return 'revoked';
    if (row.usedAt !== null) return 'used';
    if (family.absoluteExpiresAt !== null && family.absoluteExpiresAt <= now) return 'session_expired';
    return 'active';
  }

  async touch(jti: string, client: ClientInfo, now: number): Promise<void> {
    this.#check();
    const row = this.#tokens.get(jti);
    const family = row && this.#families.get(row.familyId);
    if (!family) return;
    family.lastUsedAt = now;
    family.userAgent = client.userAgent ?? family.userAgent;
    family.address = client.address ?? family.address;
  }

  async blacklist(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
    this.#check();
    return this.#blacklist(token, reason, now);
  }

  /** Both changes in one synchronous step: nothing runs between them. */
  async blacklistSession(token: TokenRecord, reason: RevokeReason, now: number): Promise<'blacklisted' | 'already_blacklisted'> {
    this.#check();
    const result = this.#blacklist(token, reason, now);
    if (result === 'blacklisted') this.#revokeFamilyOf(token.jti, reason, now);
    return result;
  }

  #blacklist(token: TokenRecord, reason: RevokeReason, now: number): 'blacklisted' | 'already_blacklisted' {
    const row = this.#tokens.get(token.jti) ?? this.#recordUnknown(token, { userAgent: null, address: null });
    if (row.revokedAt !== null) return 'already_blacklisted';
    row.revokedAt = now;
    row.revokeReason = reason;
    return 'blacklisted';
  }

  async revokeFamilyOf(jti: string, reason: RevokeReason, now: number): Promise<boolean> {
    this.#check();
    return this.#revokeFamilyOf(jti, reason, now);
  }

  #revokeFamilyOf(jti: string, reason: RevokeReason, now: number): boolean {
    const row = this.#tokens.get(jti);
    const family = row && this.#families.get(row.familyId);
    if (!family || family.revokedAt !== null) return false;
    this.#revokeFamily(family, reason, now);
    return true;
  }

  async revokeSession(userId: string, sessionId: string, reason: RevokeReason, now: number): Promise<boolean> {
    this.#check();
    const family = this.#families.get(sessionId);
    if (!family || family.userId !== userId || !MemoryStore.#isLive(family, now)) return false;
    this.#revokeFamily(family, reason, now);
    return true;
  }

  async revokeUserFamilies(userId: string, reason: RevokeReason, now: number): Promise<number> {
    this.#check();
    let count = 0;
    for (const family of this.#families.values()) {
      if (family.userId === userId && family.revokedAt === null) {
        if (MemoryStore.#isLive(family, now)) count++;
        this.#revokeFamily(family, reason, now);
      }
    }
    return count;
  }

  #revokeFamily(family: FamilyRow, reason: RevokeReason, now: number): void {
    family.revokedAt = now;
    family.revokeReason = reason;
  }

  async listSessions(userId: string, now: number): Promise<SessionRecord[]> {
    this.#check();
    return [...this.#families.values()]
      .filter((f) => f.userId === userId && MemoryStore.#isLive(f, now))
      .sort((a, b) => b.lastUsedAt - a.lastUsedAt || (a.id < b.id ? -1 : 1))
      .map(({ revokedAt: _r, revokeReason: _rr, ...session }) => session);
  }

  /**
   * Deletes at most `batchSize` rows: expired tokens first, then expired families that have no token
   * left, then ended throttle windows. Returns how many went; less than `batchSize` means nothing
   * expired is left. A token is deleted only once it has expired, so no revocation disappears while
   * its token could still be valid (R4).
   */
  async flushExpired(now: number, batchSize: number): Promise<number> {
    this.#check();
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    let removed = 0;
    for (const [jti, row] of this.#tokens) {
      if (removed >= batchSize) return removed;
      if (row.expiresAt <= now) {
        this.#tokens.delete(jti);
        removed++;
      }
    }
    const withTokens = new Set([...this.#tokens.values()].map((t) => t.familyId));
    for (const [id, family] of this.#families) {
      if (removed >= batchSize) return removed;
      if (!withTokens.has(id) && family.expiresAt <= now) {
        this.#families.delete(id);
        removed++;
      }
    }
    for (const [key, entry] of this.#throttle) {
      if (removed >= batchSize) return removed;
      if (entry.resetAt <= now) {
        this.#throttle.delete(key);
        removed++;
      }
    }
    return removed;
  }

  async ping(): Promise<void> {
    this.#check();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  // ---- users --------------------------------------------------------------------------------

  async findByUsername(username: string): Promise<UserRecord | null> {
    this.#check();
    for (const user of this.#users.values()) if (user.username === username) return { ...user };
    return null;
  }

  async findById(id: string): Promise<UserRecord | null> {
    return this.findByIdSync(id);
  }

  findByIdSync(id: string): UserRecord | null {
    this.#check();
    const user = this.#users.get(id);
    return user ? { ...user } : null;
  }

  async updateLastLogin(id: string, at: number): Promise<void> {
    this.#check();
    const user = this.#users.get(id);
    if (user) user.lastLogin = at;
  }

  async setPasswordHash(id: string, passwordHash: string, rotateStamp: boolean): Promise<void> {
    this.#check();
    const user = this.#users.get(id);
    if (!user) throw new Error(`no user with id ${id}`);
    user.passwordHash = passwordHash;
    if (rotateStamp) user.securityStamp = newStamp();
  }

  async rotateSecurityStamp(id: string): Promise<string> {
    this.#check();
    const user = this.#users.get(id);
    if (!user) throw new Error(`no user with id ${id}`);
    user.securityStamp = newStamp();
    return user.securityStamp;
  }

  async createUser(input: { username: string; passwordHash: string; isActive: boolean }): Promise<UserRecord> {
    this.#check();
    if (await this.findByUsername(input.username)) throw new Error(`user "${input.username}" already exists`);
    const user: UserRecord = {
      id: String(this.#nextUserId++),
      username: input.username,
      passwordHash: input.passwordHash,
      isActive: input.isActive,
      securityStamp: newStamp(),
      lastLogin: null,
      createdAt: Math.floor(Date.now() / 1000),
    };
    this.#users.set(user.id, user);
    return { ...user };
  }

  async setActive(id: string, isActive: boolean): Promise<void> {
    this.#check();
    const user = this.#users.get(id);
    if (!user) throw new Error(`no user with id ${id}`);
    user.isActive = isActive;
  }

  // ---- throttle -----------------------------------------------------------------------------

  async takeAttempt(limits: readonly ThrottleLimit[], windowSeconds: number, now: number): Promise<AttemptOutcome> {
    this.#check();
    const end = windowEnd(windowSeconds, now);
    const count = (key: string) => {
      const entry = this.#throttle.get(key);
      return entry && entry.resetAt === end ? entry.count : 0;
    };
    if (limits.some(({ key, limit }) => count(key) >= limit)) return { allowed: false, resetAt: end };
    for (const { key } of limits) this.#throttle.set(key, { resetAt: end, count: count(key) + 1 });
    return { allowed: true, windowEnd: end };
  }

  async returnAttempt(keys: readonly string[], end: number): Promise<void> {
    this.#check();
    for (const key of keys) {
      const entry = this.#throttle.get(key);
      if (entry && entry.resetAt === end && entry.count > 0) entry.count--;
    }
  }

  async failures(keys: readonly string[], windowSeconds: number, now: number): Promise<Array<{ key: string; count: number; resetAt: number }>> {
    this.#check();
    const resetAt = windowEnd(windowSeconds, now);
    return keys.map((key) => {
      const entry = this.#throttle.get(key);
      return { key, count: entry && entry.resetAt === resetAt ? entry.count : 0, resetAt };
    });
  }
}

/** The end of the fixed throttle window of `windowSeconds` that contains `now`. */
export function windowEnd(windowSeconds: number, now: number): number {
  return (Math.floor(now / windowSeconds) + 1) * windowSeconds;
}
