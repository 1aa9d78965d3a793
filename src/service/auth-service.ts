/**
 * The token lifecycle in one place (DESIGN.md "The lifecycle"): login, refresh with atomic single use
 * and reuse detection, verify, blacklist, sliding tokens, logout, logout-all, sessions and the bearer
 * authenticator. Plain async functions over settings and stores; no HTTP here.
 */
import { randomUUID } from 'node:crypto';
import { ConfigurationError, InvalidTokenForAnyType, ThrottledError, TokenError, TokenPairError, type TokenClassMessage } from '../errors.js';
import { type PasswordHasher, createPasswordHasher, passwordTooLong } from '../passwords/hasher.js';
import type { Claims, Settings, SettingsInput, UserLike } from '../settings/settings.js';
import { newStamp } from '../store/memory.js';
import {
  type ClientInfo,
  type SessionRecord,
  type ThrottleStore,
  type TokenRecord,
  type TokenStore,
  type UserRecord,
  type UserStore,
} from '../store/types.js';
import type { RefreshToken, SlidingToken, Token } from '../tokens/token.js';
import { type Clock, Tokens } from '../tokens/tokens.js';
import { type Principal, StatelessPrincipal } from './principal.js';
import { LoginThrottle, type Attempt } from './throttle.js';

export type { Principal };

/** Who is calling: kept with sessions and passed to the login hooks. */
export interface ClientContext extends ClientInfo {
  /** The framework's request object, for `onLoginSuccess` / `onLoginFailed`. */
  request?: unknown;
}

/** A session as the sessions endpoint shows it. */
export interface SessionView {
  id: string;
  created: string;
  last_used: string;
  expires: string;
  user_agent: string | null;
  address: string | null;
}

export interface AuthServiceOptions {
  /** Settings, or an existing `Tokens` instance (which carries its settings and clock). */
  settings?: Settings | SettingsInput;
  tokens?: Tokens;
  clock?: Clock;
  userStore: UserStore;
  /** Records issued tokens: needed for blacklisting, rotation with single use, sessions. */
  tokenStore?: TokenStore | null;
  /** Counters for login throttling; without one throttling is off. */
  throttleStore?: ThrottleStore | null;
  hasher?: PasswordHasher;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Store and hasher failures become 503 (fail closed, S12); tokenpair's own errors pass through.
 * StoreUnavailableError, HasherBusyError or a driver's own error: cannot serve now, so 503 and no token.
 */
function failClosed(error: unknown): never {
  if (error instanceof TokenPairError) throw error;
  throw new TokenPairError('service_unavailable', `store unavailable: ${(error as Error)?.message ?? error}`);
}

/**
 * A store or hasher call, failing closed. A thunk, so that a method that throws instead of
 * rejecting (a custom store that is not `async`, a driver's synchronous "pool is closed") fails
 * closed as well.
 */
async function guarded<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    return failClosed(error);
  }
}

/** `guarded` for a synchronous store read. */
function guardedSync<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    return failClosed(error);
  }
}

export class AuthService {
  readonly tokens: Tokens;
  readonly settings: Settings;
  readonly users: UserStore;
  readonly store: TokenStore | null;
  readonly hasher: PasswordHasher;
  readonly #throttle: LoginThrottle | null;
  /** `authHeaderTypes`, lower case: the scheme of an Authorization header is matched case-insensitively. */
  readonly #authSchemes: ReadonlySet<string>;
  /** Keys are local (no `jwkUrl`): a bearer token is verified without a promise per token class. */
  readonly #verifiesSync: boolean;
  /**
   * `authenticateSync` can answer: keys are local (no `jwkUrl`), `authTokenClasses` accepts access
   * tokens only (the other classes need the token store's revocation check), and either
   * `userLookup` is off or the user store has `findByIdSync`. Adapters use it to check a bearer
   * token without a promise on the route clients call most.
   */
  readonly authenticatesSync: boolean;

  constructor(options: AuthServiceOptions) {
    this.tokens = options.tokens ?? new Tokens(options.settings ?? {}, { clock: options.clock });
    this.settings = this.tokens.settings;
    this.users = options.userStore;
    this.store = options.tokenStore ?? null;
    this.hasher = options.hasher ?? createPasswordHasher();
    const s = this.settings;
    if (!this.users || typeof this.users.findByUsername !== 'function' || typeof this.users.findById !== 'function') {
      throw new ConfigurationError('userStore', 'is required and must have findByUsername and findById');
    }
    if (!this.store && s.blacklistAfterRotation) {
      throw new ConfigurationError('tokenStore', 'is required when blacklistAfterRotation is on (rotated-out tokens must be recorded as spent)');
    }
    const throttleOn = s.loginThrottlePerUsername > 0 || s.loginThrottlePerAddress > 0;
    this.#authSchemes = new Set(s.authHeaderTypes.map((type) => type.toLowerCase()));
    this.#verifiesSync = s.jwkUrl === null;
    this.authenticatesSync = this.#verifiesSync
      && s.authTokenClasses.length > 0 && s.authTokenClasses.every((type) => type === 'access')
      && (!s.userLookup || typeof this.users.findByIdSync === 'function');
    this.#throttle = throttleOn && options.throttleStore
      ? new LoginThrottle({ store: options.throttleStore, perUsername: s.loginThrottlePerUsername, perAddress: s.loginThrottlePerAddress, window: s.loginThrottleWindow })
      : null;
  }

  /** Seconds since the epoch, whole, from the tokens' clock. */
  #now(): number {
    return Math.floor(this.tokens.context.now() / 1000);
  }

  #record(token: RefreshToken | SlidingToken, familyId: string): TokenRecord {
    const sliding = token.tokenType === 'sliding';
    const refreshExp = token.get(this.settings.slidingTokenRefreshExpClaim);
    return {
      jti: token.jti,
      userId: token.userId ?? '',
      familyId,
      tokenType: sliding ? 'sliding' : 'refresh',
      issuedAt: Number(token.get('iat') ?? this.#now()),
      // A sliding token keeps its jti across refreshes until refresh_exp (checked with the leeway), and
      // the last refresh lives one more sliding lifetime: its record (and so its revocation) must
      // outlive all of that (R4). The flush subtracts the leeway once more, for that token's own exp.
      expiresAt: sliding && typeof refreshExp === 'number'
        ? Math.max(token.exp, Math.ceil(refreshExp + this.settings.leeway + this.settings.slidingTokenLifetime))
        : token.exp,
    };
  }

  #absoluteExpiry(now: number): number | null {
    const lifetime = this.settings.sessionAbsoluteLifetime;
    return lifetime === null ? null : now + Math.ceil(lifetime);
  }

  // ---- login --------------------------------------------------------------------------------

  /**
   * Checks credentials with one password verification in every branch (S13), under the login
   * throttle (S15). Returns the active user or throws `no_active_account` / `throttled`.
   */
  async authenticateCredentials(credentials: Credentials, client: ClientContext): Promise<UserRecord> {
    const { username, password } = credentials;
    const now = this.#now();
    let attempt: Attempt | null = null;
    if (this.#throttle) {
      const throttle = this.#throttle;
      const taken = await guarded(() => throttle.attempt(username, client.address, now));
      if ('retryAfter' in taken) throw new ThrottledError(taken.retryAfter);
      attempt = taken.attempt;
    }
    let user: UserRecord | null = null;
    let ok = false;
    if (!passwordTooLong(password)) {
      const found = await guarded(() => this.users.findByUsername(username));
      user = found;
      const verifyPassword = this.users.verifyPassword?.bind(this.users);
      if (!found) {
        await guarded(() => this.hasher.verifyDummy(password));
      } else if (verifyPassword) {
        ok = await guarded(() => verifyPassword(found, password));
      } else {
        const result = await guarded(() => this.hasher.verify(found.passwordHash, password));
        ok = result.ok;
        if (ok && result.needsRehash && this.users.setPasswordHash) {
          // Imported Django hashes (and weaker argon2 parameters) become argon2id on first login (S16).
          await guarded(() => this.hasher.hash(password).then((hash) => this.users.setPasswordHash!(user!.id, hash, false)));
        }
      }
    } else {
      await guarded(() => this.hasher.verifyDummy(password.slice(0, 64)));
    }
    if (!ok || !user || !this.settings.userAuthenticationRule(user as unknown as UserLike)) {
      // The attempt, counted before the check, stays counted: it is a failure.
      if (this.settings.onLoginFailed) await this.settings.onLoginFailed({ [this.settings.usernameField]: username }, client.request);
      throw new TokenPairError('no_active_account');
    }
    if (attempt) await guarded(() => this.#throttle!.forgive(attempt));
    const updateLastLogin = this.users.updateLastLogin?.bind(this.users);
    const userId = user.id;
    if (this.settings.updateLastLogin && updateLastLogin) await guarded(() => updateLastLogin(userId, now));
    if (this.settings.onLoginSuccess) await this.settings.onLoginSuccess(user as unknown as UserLike, client.request);
    return user;
  }

  /** POST /api/token/ — `{refresh, access}`. */
  async obtainPair(credentials: Credentials, client: ClientContext): Promise<{ refresh: string; access: string }> {
    const user = await this.authenticateCredentials(credentials, client);
    const { refresh, access } = await this.tokens.issuePair(this.#userLike(user));
    const store = this.store;
    if (store) {
      const now = this.#now();
      await guarded(() => store.startFamily(this.#record(refresh, newFamilyId()), client, this.#absoluteExpiry(now)));
    }
    return { refresh: refresh.toString(), access: access.toString() };
  }

  /** POST /api/token/sliding/ — `{token}`. */
  async obtainSliding(credentials: Credentials, client: ClientContext): Promise<{ token: string }> {
    const user = await this.authenticateCredentials(credentials, client);
    const token = await this.tokens.issueSliding(this.#userLike(user));
    const store = this.store;
    if (store) {
      await guarded(() => store.startFamily(this.#record(token, newFamilyId()), client, this.#absoluteExpiry(this.#now())));
    }
    return { token: token.toString() };
  }

  #userLike(user: UserRecord): UserLike {
    return user as unknown as UserLike;
  }

  // ---- refresh ------------------------------------------------------------------------------

  /** The user of a refresh or sliding token must still exist, be active and (with checkRevokeToken) carry the same stamp (S11). */
  async #checkTokenUser(token: Token): Promise<void> {
    const id = token.userId;
    if (id === undefined) throw new TokenError('token_no_user_id');
    const user = await guarded(() => this.users.findById(id));
    if (!user || !this.settings.userAuthenticationRule(user as unknown as UserLike)) throw new TokenPairError('no_active_account_for_token');
    this.#checkStamp(token.payload, user);
  }

  #checkStamp(claims: Claims, user: UserRecord): void {
    const { checkRevokeToken, revokeTokenClaim } = this.settings;
    if (checkRevokeToken && claims[revokeTokenClaim] !== user.securityStamp) throw new TokenPairError('password_changed');
  }

  /** The state of a refresh/sliding token in the store, as the wire error it implies. */
  async #checkNotRevoked(token: Token): Promise<void> {
    const store = this.store;
    if (!store) return;
    const status = await guarded(() => store.status(token.jti, this.#now()));
    if (status === 'revoked' || status === 'used') throw new TokenError('token_blacklisted');
    if (status === 'session_expired') throw new TokenError('token_expired');
    this.#stillUnexpired(token);
  }

  /**
   * `exp` again, on the clock of now, after the store answered (R4). The store may have taken
   * seconds (a lock, a slow database), and `flushexpiredtokens` deletes the record of a token once
   * it has expired beyond the leeway: a revoked token whose record went in the meantime would look
   * never seen ("unknown"), and pass. Any record the flush could have deleted belongs to a token this
   * check now refuses.
   */
  #stillUnexpired(token: Token): void {
    token.checkExp('exp', this.tokens.context.now());
  }

  /**
   * POST /api/token/refresh/ — `{access}`, with rotation `{access, refresh}`. With blacklisting after
   * rotation the presented token is spent by one atomic conditional write (S8); a replay of a spent
   * token revokes its family (S9).
   */
  async refresh(refreshToken: unknown, client: ClientContext): Promise<{ access: string; refresh?: string }> {
    const token = await this.tokens.refresh.verify(refreshToken);
    await this.#checkTokenUser(token);
    const s = this.settings;
    if (!s.rotateRefreshTokens) {
      await this.#checkNotRevoked(token);
      const store = this.store;
      if (store) await guarded(() => store.touch(token.jti, client, this.#now()));
      return { access: token.accessToken.toString() };
    }
    const successor = token.rotated();
    if (this.store) {
      // With blacklisting after rotation the presented token is spent; without it, it stays usable.
      // Either way its successor joins its family (its session) in the same transaction.
      const spend = s.blacklistAfterRotation;
      const store = this.store;
      const outcome = await guarded(() => store.consume({
        token: this.#record(token, newFamilyId()),
        successor: this.#record(successor, ''),
        spend,
        client,
        now: this.#now(),
        reuseGraceSeconds: spend && s.reuseDetection ? s.reuseGracePeriod : Number.POSITIVE_INFINITY,
      }));
      if (outcome.status === 'session_expired') throw new TokenError('token_expired');
      if (outcome.status !== 'consumed') throw new TokenError('token_blacklisted');
      // A token whose record was flushed while this waited was recorded again as never seen: refuse it.
      this.#stillUnexpired(token);
    }
    return { access: token.accessToken.toString(), refresh: successor.toString() };
  }

  /** POST /api/token/sliding/refresh/ — same `jti` and `refresh_exp`, new `exp`/`iat`. */
  async refreshSliding(slidingToken: unknown, client: ClientContext): Promise<{ token: string }> {
    const token = await this.tokens.sliding.verify(slidingToken);
    await this.#checkNotRevoked(token);
    await this.#checkTokenUser(token);
    const next = token.refreshed();
    const store = this.store;
    if (store) await guarded(() => store.touch(token.jti, client, this.#now()));
    return { token: next.toString() };
  }

  // ---- verify, blacklist, logout ----------------------------------------------------------

  /** POST /api/token/verify/ — any valid token; refresh and sliding tokens must not be revoked or spent. */
  async verify(token: unknown): Promise<void> {
    const verified = await this.tokens.untyped.verify(token);
    const type = verified.tokenType;
    if (type === 'refresh' || type === 'sliding') await this.#checkNotRevoked(verified);
  }

  /**
   * POST /api/token/blacklist/ — blacklists the refresh token and ends its session. A second
   * blacklist answers "Token is blacklisted" (R5).
   */
  async blacklist(refreshToken: unknown): Promise<void> {
    const token = await this.tokens.refresh.verify(refreshToken);
    await this.#revokeToken(token);
  }

  async #revokeToken(token: RefreshToken | SlidingToken): Promise<void> {
    const store = this.#requireStore();
    const now = this.#now();
    const status = await guarded(() => store.status(token.jti, now));
    if (status === 'revoked' || status === 'used') throw new TokenError('token_blacklisted');
    const record = this.#record(token, newFamilyId());
    if (store.blacklistSession) {
      // The token and its session in one durable write.
      const blacklistSession = store.blacklistSession.bind(store);
      if ((await guarded(() => blacklistSession(record, 'logout', now))) === 'already_blacklisted') throw new TokenError('token_blacklisted');
      return;
    }
    const result = await guarded(() => store.blacklist(record, 'logout', now));
    if (result === 'already_blacklisted') throw new TokenError('token_blacklisted');
    await guarded(() => store.revokeFamilyOf(token.jti, 'logout', now));
  }

  #requireStore(): TokenStore {
    if (!this.store) throw new TokenPairError('service_unavailable', 'no token store is configured: blacklisting is impossible');
    return this.store;
  }

  /** POST /api/logout/ — the caller's refresh token is blacklisted; it must belong to the caller. */
  async logout(principal: Principal, refreshToken: unknown): Promise<void> {
    const token = await this.tokens.refresh.verify(refreshToken);
    if (token.userId !== principal.id) throw new TokenError('token_invalid', 'refresh token belongs to another user');
    await this.#revokeToken(token);
  }

  /** POST /api/logout/all/ — every family revoked and the security stamp changed (S10). */
  async logoutAll(principal: Principal): Promise<number> {
    const store = this.#requireStore();
    const count = await guarded(() => store.revokeUserFamilies(principal.id, 'logout_all', this.#now()));
    const rotateSecurityStamp = this.users.rotateSecurityStamp?.bind(this.users);
    if (rotateSecurityStamp) await guarded(() => rotateSecurityStamp(principal.id));
    return count;
  }

  /** GET /api/sessions/ */
  async listSessions(principal: Principal): Promise<SessionView[]> {
    const sessions = await guarded(() => this.#requireStore().listSessions(principal.id, this.#now()));
    return sessions.map(sessionView);
  }

  /** DELETE /api/sessions/{id}/ — `false` when the user has no such live session (404). */
  async revokeSession(principal: Principal, sessionId: string): Promise<boolean> {
    return guarded(() => this.#requireStore().revokeSession(principal.id, sessionId, 'session_revoked', this.#now()));
  }

  // ---- the bearer authenticator ------------------------------------------------------------

  /**
   * Authenticates an `Authorization` header value (WIRE.md "Protected routes"): scheme
   * case-insensitive, any run of spaces or tabs, every token class of `authTokenClasses` tried.
   */
  async authenticate(header: string | undefined | null): Promise<Principal> {
    if (this.authenticatesSync) return this.authenticateSync(header);
    const raw = this.rawToken(header);
    const messages: TokenClassMessage[] = [];
    let token: Token | undefined;
    for (const type of this.settings.authTokenClasses) {
      const tokenClass = this.tokens.classFor(type);
      try {
        const verified = this.#verifiesSync ? tokenClass.verifySync(raw) : await tokenClass.verify(raw);
        if (type !== 'access') await this.#checkNotRevoked(verified);
        // Only a token that passed every check of its class is the answer: a revoked sliding token
        // must not stay behind as the result when the next class refuses it too.
        token = verified;
        break;
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        messages.push({ token_class: tokenClass.className, token_type: type, message: error.detail });
      }
    }
    if (!token) throw new InvalidTokenForAnyType(messages);
    const id = this.#bearerUserId(token);
    if (!this.settings.userLookup) return this.#statelessPrincipal(token, id);
    return this.#lookedUpPrincipal(token, id, await guarded(() => this.users.findById(id)));
  }

  /**
   * `authenticate` without a promise, when `authenticatesSync` is true (else it throws a
   * `TypeError`): the same checks, the same errors, the same principal.
   */
  authenticateSync(header: string | undefined | null): Principal {
    if (!this.authenticatesSync) {
      throw new TypeError('authenticateSync needs local keys (no jwkUrl), authTokenClasses ["access"], and userLookup off or a user store with findByIdSync; use authenticate');
    }
    const raw = this.rawToken(header);
    const access = this.tokens.access;
    let token: Token;
    try {
      token = access.verifySync(raw);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      throw new InvalidTokenForAnyType([{ token_class: access.className, token_type: 'access', message: error.detail }]);
    }
    const id = this.#bearerUserId(token);
    if (!this.settings.userLookup) return this.#statelessPrincipal(token, id);
    const users = this.users;
    return this.#lookedUpPrincipal(token, id, guardedSync(() => users.findByIdSync!(id)));
  }

  #bearerUserId(token: Token): string {
    const id = token.userId;
    if (id === undefined) throw new TokenError('token_no_user_id');
    return id;
  }

  #statelessPrincipal(token: Token, id: string): Principal {
    const username = token.get(this.settings.usernameField);
    return new StatelessPrincipal(this.tokens, token, id, typeof username === 'string' ? username : '');
  }

  #lookedUpPrincipal(token: Token, id: string, user: UserRecord | null): Principal {
    if (!user) throw new TokenPairError('user_not_found');
    if (this.settings.checkUserIsActive && !user.isActive) throw new TokenPairError('user_inactive');
    this.#checkStamp(token.payload, user);
    return { id, username: user.username, claims: token.payload, record: user, tokenUser: null };
  }

  /** The token of an `Authorization` header, or the 401 WIRE.md gives for a bad header. */
  rawToken(header: string | undefined | null): string {
    if (typeof header !== 'string') throw new TokenPairError('not_authenticated');
    // The usual header, "<scheme> <token>" with one space and no tab, without a regexp split: the
    // same result as the general rule below, which handles every other spelling.
    const space = header.indexOf(' ');
    if (space > 0 && space < header.length - 1 && header.indexOf(' ', space + 1) === -1 && !header.includes('\t')) {
      if (!this.#authSchemes.has(header.slice(0, space).toLowerCase())) throw new TokenPairError('not_authenticated');
      return header.slice(space + 1);
    }
    const parts = header.split(/[ \t]+/).filter((part) => part.length > 0);
    if (parts.length === 0) throw new TokenPairError('not_authenticated');
    if (!this.#authSchemes.has(parts[0]!.toLowerCase())) throw new TokenPairError('not_authenticated');
    if (parts.length !== 2) throw new TokenPairError('bad_authorization_header');
    return parts[1]!;
  }

  /** Readiness: the stores answer. */
  async ready(): Promise<boolean> {
    try {
      if (this.store) await this.store.ping();
      return true;
    } catch {
      return false;
    }
  }
}

export function newFamilyId(): string {
  return randomUUID().replaceAll('-', '');
}

function sessionView(session: SessionRecord): SessionView {
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  return {
    id: session.id,
    created: iso(session.createdAt),
    last_used: iso(session.lastUsedAt),
    expires: iso(session.absoluteExpiresAt === null ? session.expiresAt : Math.min(session.expiresAt, session.absoluteExpiresAt)),
    user_agent: session.userAgent,
    address: session.address,
  };
}

export { newStamp };
