/**
 * `createTokens(settings)`: one self-contained instance that issues and verifies every token type.
 * Two instances with different settings work side by side; nothing is global.
 */
import { ConfigurationError, TokenError } from '../errors.js';
import { JwsCodec } from '../jws/codec.js';
import type { PublicJwk } from '../jws/keyring.js';
import { RemoteKeySource } from '../jws/remote.js';
import { type Claims, type Settings, type SettingsInput, type TokenType, type UserLike, defineSettings } from '../settings/settings.js';
import { checkRegisteredClaims } from './claims.js';
import { AccessToken, RefreshToken, SlidingToken, type Token, type TokenConstructor, type TokenContext, UntypedToken } from './token.js';
import { TokenUser } from './token-user.js';

/** Milliseconds since the epoch. Inject one in tests to move time. */
export type Clock = () => number;

export interface TokensOptions {
  clock?: Clock;
}

/** Issues and verifies one token type (simplejwt's token class). */
export class TokenClass<T extends Token> {
  readonly #tokens: Tokens;
  readonly #ctor: TokenConstructor<T>;

  constructor(tokens: Tokens, ctor: TokenConstructor<T>) {
    this.#tokens = tokens;
    this.#ctor = ctor;
  }

  /** `"access"`, `"refresh"`, `"sliding"`, or `null` for untyped. */
  get tokenType(): TokenType | null {
    return this.#ctor.tokenType;
  }

  /** simplejwt's class name (`"AccessToken"` …). */
  get className(): string {
    return this.#ctor.className;
  }

  /** A fresh token with `token_type`, `exp`, `iat`, `jti` set. */
  create(): T {
    return new this.#ctor(this.#tokens.context);
  }

  /** A fresh token for `user`: the user id claim set (no customisation hook: see `Tokens.issuePair`). */
  forUser(user: UserLike): T {
    return this.create().assignUser(user);
  }

  /** Verifies a token string: shape, header, signature, then claims and type. Throws `TokenError`. */
  async verify(token: unknown): Promise<T> {
    return this.#check(await this.#tokens.codec.verify(token));
  }

  /** Like `verify`, without a promise. Not available with `jwkUrl` (keys may need fetching). */
  verifySync(token: unknown): T {
    return this.#check(this.#tokens.codec.verifySync(token));
  }

  #check(claims: Claims): T {
    const { settings } = this.#tokens;
    const token = new this.#ctor(this.#tokens.context, claims);
    checkRegisteredClaims(claims, {
      now: token.currentTime / 1000,
      leeway: settings.leeway,
      audience: settings.audience,
      issuer: settings.issuer,
      jtiClaim: settings.jtiClaim,
      userIdClaim: settings.userIdClaim,
    });
    const expected = this.#ctor.tokenType;
    if (expected !== null) {
      if (!Object.hasOwn(claims, settings.tokenTypeClaim)) throw new TokenError('token_no_type');
      if (claims[settings.tokenTypeClaim] !== expected) throw new TokenError('token_wrong_type');
    }
    return token;
  }
}

export class Tokens {
  readonly settings: Settings;
  readonly access: TokenClass<AccessToken>;
  readonly refresh: TokenClass<RefreshToken>;
  readonly sliding: TokenClass<SlidingToken>;
  readonly untyped: TokenClass<UntypedToken>;
  /** @internal the JWS codec; exposed for the HTTP layer and benchmarks. */
  readonly codec: JwsCodec;
  /** @internal what token objects see of this instance. */
  readonly context: TokenContext;

  constructor(settings: Settings | SettingsInput, options: TokensOptions = {}) {
    this.settings = defineSettings(settings);
    const clock = options.clock ?? Date.now;
    if (typeof clock !== 'function') throw new ConfigurationError('clock', 'must be a function returning milliseconds since the epoch');
    const s = this.settings;
    const remote = s.jwkUrl === null
      ? undefined
      : new RemoteKeySource({ url: s.jwkUrl, algorithm: s.algorithm, cacheMaxAge: s.jwkCacheMaxAge, fetchTimeout: s.jwkFetchTimeout });
    this.codec = new JwsCodec({ keyRing: s.keyRing, remote, algorithm: s.algorithm, maxTokenLength: s.maxTokenLength });
    const codec = this.codec;
    this.context = { settings: s, now: clock, sign: (claims) => codec.sign(claims) };
    this.access = new TokenClass(this, AccessToken);
    this.refresh = new TokenClass(this, RefreshToken);
    this.sliding = new TokenClass(this, SlidingToken);
    this.untyped = new TokenClass(this, UntypedToken);
  }

  /** The token class for a type name. */
  classFor(type: TokenType): TokenClass<AccessToken> | TokenClass<RefreshToken> | TokenClass<SlidingToken> {
    return this[type];
  }

  /**
   * A refresh token for `user` with `customizeClaims` applied, and the access token derived from it
   * (so custom claims appear in both).
   */
  async issuePair(user: UserLike): Promise<{ refresh: RefreshToken; access: AccessToken }> {
    const refresh = this.refresh.forUser(user);
    if (this.settings.customizeClaims) await this.settings.customizeClaims(refresh, user);
    return { refresh, access: refresh.accessToken };
  }

  /** A sliding token for `user` with `customizeClaims` applied. */
  async issueSliding(user: UserLike): Promise<SlidingToken> {
    const token = this.sliding.forUser(user);
    if (this.settings.customizeClaims) await this.settings.customizeClaims(token, user);
    return token;
  }

  /** The stateless user a verified token stands for (`tokenUserClass`, or `TokenUser`). */
  tokenUser(token: Token): unknown {
    const factory = this.settings.tokenUserClass;
    return factory ? factory({ ...token.payload }) : new TokenUser(token.payload, this.settings.userIdClaim);
  }

  /** The public keys as a JWKS document; `{ keys: [] }` for HMAC. */
  jwks(): { keys: PublicJwk[] } {
    return this.settings.keyRing?.jwks() ?? { keys: [] };
  }
}

/**
 * Validates settings, imports keys and returns the token engine.
 *
 * @example
 * const tokens = createTokens({ signingKey: process.env.JWT_SECRET! });
 * const refresh = tokens.refresh.forUser({ id: 42 });
 * const pair = { refresh: refresh.toString(), access: refresh.accessToken.toString() };
 * const access = await tokens.access.verify(pair.access); // throws TokenError when invalid
 */
export function createTokens(settings: Settings | SettingsInput, options?: TokensOptions): Tokens {
  return new Tokens(settings, options);
}
