/**
 * The token classes of WIRE.md "Tokens": access, refresh, sliding and untyped — simplejwt's
 * `Token` family, bound to one `Tokens` instance instead of global settings.
 */
import { randomUUID } from 'node:crypto';
import { TokenError } from '../errors.js';
import type { Claims, Settings, TokenType, UserLike } from '../settings/settings.js';
import { isUserId, numericDate } from './claims.js';

/** What a token needs from the `Tokens` instance that made it. */
export interface TokenContext {
  readonly settings: Settings;
  /** Milliseconds since the epoch (the injectable clock). */
  now(): number;
  sign(claims: Claims): string;
}

/** A new jti: a uuid4 without dashes (32 lowercase hex), as simplejwt makes them. */
export function newJti(): string {
  return randomUUID().replaceAll('-', '');
}

export abstract class Token {
  /** `null` for `UntypedToken`, which accepts any type and cannot be issued. */
  static readonly tokenType: TokenType | null = null;
  /** simplejwt's class name, used in the authenticator's `messages`. */
  static readonly className: string = 'Token';

  readonly payload: Claims;
  /** When this token object was made or verified, in ms: every time claim it sets is based on it. */
  readonly currentTime: number;
  protected readonly context: TokenContext;

  /** Use a `Tokens` instance (`tokens.refresh.forUser(user)`, `tokens.access.verify(str)`) rather than this. */
  constructor(context: TokenContext, payload?: Claims) {
    this.context = context;
    this.currentTime = context.now();
    if (payload) {
      this.payload = payload;
      return;
    }
    const type = (this.constructor as typeof Token).tokenType;
    if (type === null) throw new TypeError('an untyped token can only be made from an existing token string');
    this.payload = {};
    this.set(context.settings.tokenTypeClaim, type);
    this.setExp();
    this.setIat();
    this.setJti();
  }

  /** This class's lifetime in seconds. */
  protected abstract get lifetime(): number;

  get tokenType(): unknown {
    return this.payload[this.context.settings.tokenTypeClaim];
  }

  get jti(): string {
    return this.payload[this.context.settings.jtiClaim] as string;
  }

  /** `exp` in seconds since the epoch. */
  get exp(): number {
    return this.payload.exp as number;
  }

  get(name: string): unknown {
    return Object.hasOwn(this.payload, name) ? this.payload[name] : undefined;
  }

  /** Sets a claim. Any name is safe, `__proto__` included: it becomes an ordinary claim. */
  set(name: string, value: unknown): void {
    // Only "__proto__" has a setter on Object.prototype; every other name is a plain, fast assignment.
    if (name === '__proto__') Object.defineProperty(this.payload, name, { value, writable: true, enumerable: true, configurable: true });
    else this.payload[name] = value;
  }

  has(name: string): boolean {
    return Object.hasOwn(this.payload, name);
  }

  delete(name: string): void {
    delete this.payload[name];
  }

  setJti(): void {
    this.set(this.context.settings.jtiClaim, newJti());
  }

  /** Sets `claim` to `from + lifetime`, in whole seconds (simplejwt's `set_exp`). */
  setExp(claim = 'exp', fromMs = this.currentTime, lifetimeSeconds = this.lifetime): void {
    this.set(claim, Math.floor(fromMs / 1000 + lifetimeSeconds));
  }

  setIat(claim = 'iat', atMs = this.currentTime): void {
    this.set(claim, Math.floor(atMs / 1000));
  }

  /**
   * Throws unless `claim` is still in the future: expired **at** its second, with leeway
   * (`value <= now - leeway`).
   */
  checkExp(claim = 'exp', currentMs = this.currentTime): void {
    const value = numericDate(this.payload, claim);
    if (value === undefined) {
      throw claim === 'exp' ? new TokenError('token_no_exp') : new TokenError('token_invalid', `no "${claim}" claim`, `Token has no '${claim}' claim`);
    }
    if (value <= currentMs / 1000 - this.context.settings.leeway) {
      if (claim === 'exp') throw new TokenError('token_expired');
      if (claim === this.context.settings.slidingTokenRefreshExpClaim) throw new TokenError('token_refresh_exp_expired');
      throw new TokenError('token_invalid', `"${claim}" has expired`, `Token '${claim}' claim has expired`);
    }
  }

  /** The user id claim as a string (Django integer ids become their decimal text). */
  get userId(): string | undefined {
    const value = this.get(this.context.settings.userIdClaim);
    return isUserId(value) ? String(value) : undefined;
  }

  /** Signs the current claims. Each call signs again; `aud`/`iss` are added when configured. */
  toString(): string {
    const { audience, issuer } = this.context.settings;
    if (audience === null && issuer === null) return this.context.sign(this.payload);
    const claims: Claims = { ...this.payload };
    if (audience !== null) claims.aud = audience;
    if (issuer !== null) claims.iss = issuer;
    return this.context.sign(claims);
  }

  /** A copy of this token's claims without the per-token ones, for derived tokens (WIRE.md). */
  protected inheritableClaims(): Claims {
    const { tokenTypeClaim, jtiClaim } = this.context.settings;
    const skip = new Set([tokenTypeClaim, 'exp', 'iat', jtiClaim]);
    const claims: Claims = {};
    for (const name of Object.keys(this.payload)) {
      if (!skip.has(name)) Object.defineProperty(claims, name, { value: this.payload[name], writable: true, enumerable: true, configurable: true });
    }
    return claims;
  }

  /** @internal Adds inherited claims after the fresh token's own `token_type`, `exp`, `iat`, `jti`. */
  adopt(claims: Claims): this {
    for (const name of Object.keys(claims)) this.set(name, claims[name]);
    return this;
  }

  /** Sets the user id claim (and the revoke claim when `checkRevokeToken` is on) for `user`. */
  assignUser(user: UserLike): this {
    const { userIdField, userIdClaim, checkRevokeToken, revokeTokenClaim } = this.context.settings;
    const id = user[userIdField];
    if (!isUserId(id)) throw new TypeError(`user.${userIdField} must be a non-empty string or a safe integer to issue a token (userIdField)`);
    this.set(userIdClaim, String(id));
    if (checkRevokeToken) {
      const stamp = user.securityStamp;
      if (typeof stamp !== 'string' || stamp.length === 0) {
        throw new TypeError('user.securityStamp must be a non-empty string when checkRevokeToken is on');
      }
      this.set(revokeTokenClaim, stamp);
    }
    return this;
  }
}

export class AccessToken extends Token {
  static override readonly tokenType: TokenType = 'access';
  static override readonly className: string = 'AccessToken';
  protected get lifetime(): number {
    return this.context.settings.accessTokenLifetime;
  }
}

export class RefreshToken extends Token {
  static override readonly tokenType: TokenType = 'refresh';
  static override readonly className: string = 'RefreshToken';
  protected get lifetime(): number {
    return this.context.settings.refreshTokenLifetime;
  }

  /**
   * A new access token with every claim of this one except `token_type`, `exp`, `iat`, `jti`
   * (custom claims flow through); its `exp` counts from this token's current time.
   */
  get accessToken(): AccessToken {
    return new AccessToken(this.context).adopt(this.inheritableClaims());
  }

  /** The successor for rotation: the same claims, a new `jti`, `exp` and `iat`. */
  rotated(): RefreshToken {
    return new RefreshToken(this.context).adopt(this.inheritableClaims());
  }
}

export class SlidingToken extends Token {
  static override readonly tokenType: TokenType = 'sliding';
  static override readonly className: string = 'SlidingToken';

  constructor(context: TokenContext, payload?: Claims) {
    super(context, payload);
    if (!payload) this.setExp(context.settings.slidingTokenRefreshExpClaim, this.currentTime, context.settings.slidingTokenRefreshLifetime);
  }

  protected get lifetime(): number {
    return this.context.settings.slidingTokenLifetime;
  }

  /** The refreshed sliding token: same `jti` and `refresh_exp`, new `exp` and `iat`. Throws past `refresh_exp`. */
  refreshed(): SlidingToken {
    this.checkExp(this.context.settings.slidingTokenRefreshExpClaim);
    const next = new SlidingToken(this.context, { ...this.payload });
    next.setExp();
    next.setIat();
    return next;
  }
}

/** Any verified token, whatever its type (the verify endpoint). */
export class UntypedToken extends Token {
  static override readonly className: string = 'UntypedToken';
  protected get lifetime(): number {
    return 0;
  }
}

export type TokenConstructor<T extends Token> = (new (context: TokenContext, payload?: Claims) => T) & {
  readonly tokenType: TokenType | null;
  readonly className: string;
};
