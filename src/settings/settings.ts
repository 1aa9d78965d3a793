/**
 * Settings: simplejwt's, in camelCase, with simplejwt's defaults (WIRE.md "Settings"), validated once
 * when created. Nothing is captured at import time: every `Settings` object stands alone.
 */
import { ConfigurationError } from '../errors.js';
import { ALGORITHM_NAMES, type Algorithm, algorithmSpec } from '../jws/algorithms.js';
import { type KeyInput, describe } from '../jws/keys.js';
import { KeyRing, type KeyRingEntry, toRingKey } from '../jws/keyring.js';
import { parseDuration } from './duration.js';
import { hasCredentials, redactUrl } from './redact-url.js';

/** The user object tokens are issued for: at least the field named by `userIdField`. */
export type UserLike = Record<string, unknown>;

/** The claims of a token, as a plain object. */
export type Claims = Record<string, unknown>;

/** Token types of WIRE.md; `authTokenClasses` lists which ones the bearer authenticator accepts. */
export type TokenType = 'access' | 'refresh' | 'sliding';

/** How the refresh token travels (WIRE.md "Cookie transport"): in JSON bodies, or in an HttpOnly cookie. */
export type RefreshTransport = 'body' | 'cookie';

/** The refresh cookie's `SameSite` attribute. */
export type CookieSameSite = 'Strict' | 'Lax' | 'None';

/** What a user may pass; every field optional except a key. Lifetimes: seconds or "5m"-style strings. */
export interface SettingsInput {
  accessTokenLifetime?: number | string;
  refreshTokenLifetime?: number | string;
  rotateRefreshTokens?: boolean;
  blacklistAfterRotation?: boolean;
  updateLastLogin?: boolean;
  algorithm?: Algorithm;
  signingKey?: KeyInput;
  verifyingKey?: KeyInput;
  /** Key rotation: the first entry signs (its `kid` goes into every token), the rest only verify. */
  keyRing?: KeyRingEntry[];
  audience?: string | null;
  issuer?: string | null;
  /** Verification keys from a remote JWKS document (https, or http on loopback). */
  jwkUrl?: string | null;
  /** How long fetched JWKS keys are trusted before re-fetching. */
  jwkCacheMaxAge?: number | string;
  /** The time limit of one JWKS fetch. */
  jwkFetchTimeout?: number | string;
  leeway?: number | string;
  authHeaderTypes?: string[];
  authHeaderName?: string;
  userIdField?: string;
  userIdClaim?: string;
  userAuthenticationRule?: (user: UserLike | null | undefined) => boolean;
  authTokenClasses?: TokenType[];
  tokenTypeClaim?: string;
  jtiClaim?: string;
  tokenUserClass?: (claims: Claims) => unknown;
  slidingTokenRefreshExpClaim?: string;
  slidingTokenLifetime?: number | string;
  slidingTokenRefreshLifetime?: number | string;
  checkRevokeToken?: boolean;
  revokeTokenClaim?: string;
  checkUserIsActive?: boolean;
  onLoginSuccess?: ((user: UserLike, request: unknown) => void | Promise<void>) | null;
  onLoginFailed?: ((credentials: Record<string, unknown>, request: unknown) => void | Promise<void>) | null;
  /** Add claims when a token is issued for a user (simplejwt's `get_token` override). */
  customizeClaims?: ((token: { set(name: string, value: unknown): void }, user: UserLike) => void | Promise<void>) | null;
  /** Reshape the body of a successful obtain/refresh response. */
  customizeTokenResponse?: ((body: Record<string, unknown>, context: { user?: UserLike; endpoint: string }) => Record<string, unknown> | Promise<Record<string, unknown>>) | null;
  /** Longest token accepted, in characters, checked before any decoding (S1). */
  maxTokenLength?: number;
  /** The login field name (simplejwt: the user model's USERNAME_FIELD). */
  usernameField?: string;
  /** The bearer authenticator loads the user (exists, active, security stamp); false: stateless. */
  userLookup?: boolean;
  /** A spent refresh token presented again revokes its whole family (needs rotation + blacklist). */
  reuseDetection?: boolean;
  /** Seconds after a refresh token is spent during which a replay is refused but revokes nothing (concurrent tabs). */
  reuseGracePeriod?: number | string;
  /** Optional absolute lifetime of a session (token family): no rotation extends it. */
  sessionAbsoluteLifetime?: number | string | null;
  /** Failed logins per normalised username per window before 429 (0 turns it off). */
  loginThrottlePerUsername?: number;
  /** Failed logins per client address per window before 429 (0 turns it off). */
  loginThrottlePerAddress?: number;
  /** The fixed window of the login throttle. */
  loginThrottleWindow?: number | string;
  /** The largest request body accepted, in bytes (413 beyond). */
  maxBodySize?: number;
  /** `"cookie"`: the refresh token travels only in an HttpOnly cookie, never in a body (rotation then on by default). */
  refreshTransport?: RefreshTransport;
  /** The refresh cookie's name; `__Host-` and `__Secure-` prefixes are checked at start-up. */
  refreshCookieName?: string;
  /** The refresh cookie's `Path`: must cover the refresh and logout endpoints (with any mount prefix). */
  refreshCookiePath?: string;
  /** The refresh cookie's `Domain`; `null`: host-only (the safest). */
  refreshCookieDomain?: string | null;
  /** The refresh cookie's `SameSite` (`"None"` needs `refreshCookieSecure`). */
  refreshCookieSameSite?: CookieSameSite;
  /** The refresh cookie's `Secure`; `false` only for http://localhost development (warned about). */
  refreshCookieSecure?: boolean;
  /** Origins (`"https://app.example.com"`) allowed besides the same origin: credentialed CORS and the CSRF check. */
  allowedOrigins?: string[];
}

/** Validated settings: lifetimes in seconds, keys imported into a key ring. Frozen. */
export interface Settings {
  readonly accessTokenLifetime: number;
  readonly refreshTokenLifetime: number;
  readonly rotateRefreshTokens: boolean;
  readonly blacklistAfterRotation: boolean;
  readonly updateLastLogin: boolean;
  readonly algorithm: Algorithm;
  readonly audience: string | null;
  readonly issuer: string | null;
  readonly jwkUrl: string | null;
  readonly jwkCacheMaxAge: number;
  readonly jwkFetchTimeout: number;
  readonly leeway: number;
  readonly authHeaderTypes: readonly string[];
  readonly authHeaderName: string;
  readonly userIdField: string;
  readonly userIdClaim: string;
  readonly userAuthenticationRule: (user: UserLike | null | undefined) => boolean;
  readonly authTokenClasses: readonly TokenType[];
  readonly tokenTypeClaim: string;
  readonly jtiClaim: string;
  readonly tokenUserClass: ((claims: Claims) => unknown) | null;
  readonly slidingTokenRefreshExpClaim: string;
  readonly slidingTokenLifetime: number;
  readonly slidingTokenRefreshLifetime: number;
  readonly checkRevokeToken: boolean;
  readonly revokeTokenClaim: string;
  readonly checkUserIsActive: boolean;
  readonly onLoginSuccess: SettingsInput['onLoginSuccess'];
  readonly onLoginFailed: SettingsInput['onLoginFailed'];
  readonly customizeClaims: SettingsInput['customizeClaims'];
  readonly customizeTokenResponse: SettingsInput['customizeTokenResponse'];
  readonly maxTokenLength: number;
  readonly usernameField: string;
  readonly userLookup: boolean;
  readonly reuseDetection: boolean;
  readonly reuseGracePeriod: number;
  readonly sessionAbsoluteLifetime: number | null;
  readonly loginThrottlePerUsername: number;
  readonly loginThrottlePerAddress: number;
  readonly loginThrottleWindow: number;
  readonly maxBodySize: number;
  readonly refreshTransport: RefreshTransport;
  readonly refreshCookieName: string;
  readonly refreshCookiePath: string;
  readonly refreshCookieDomain: string | null;
  readonly refreshCookieSameSite: CookieSameSite;
  readonly refreshCookieSecure: boolean;
  /** Normalised origins (`scheme://host[:port]`, lower case, default port omitted). */
  readonly allowedOrigins: readonly string[];
  /** The imported keys; `undefined` only with `jwkUrl` and no local key (verify-only instance). */
  readonly keyRing: KeyRing | undefined;
}

/** simplejwt's default rule: a user exists and is active. */
export function defaultUserAuthenticationRule(user: UserLike | null | undefined): boolean {
  if (!user) return false;
  const active = user.isActive ?? user.is_active;
  return active === undefined ? true : active === true;
}

const LEEWAY_MAX_SECONDS = 300;
const CLAIM_NAME = /^[\x21-\x7e]{1,64}$/;

/**
 * simplejwt's `AUTH_HEADER_NAME` is a Django `request.META` key: `HTTP_AUTHORIZATION` is the
 * `Authorization` header, `HTTP_X_API_TOKEN` is `X-Api-Token`. Other names are returned unchanged.
 */
function fromDjangoMetaName(value: string): string {
  if (!/^HTTP_[A-Z0-9]+(?:_[A-Z0-9]+)*$/.test(value)) return value;
  return value.slice('HTTP_'.length).split('_').map((word) => word[0] + word.slice(1).toLowerCase()).join('-');
}

/** One row per setting: its default and how a raw value becomes a valid one. */
type Parser<T> = (value: unknown, name: string) => T;

const fail = (name: string, expected: string, value: unknown): never => {
  throw new ConfigurationError(name, `must be ${expected} (got ${describe(value)})`);
};

/** Ten years: longer lifetimes would put `exp` past any sane NumericDate. */
const MAX_LIFETIME_SECONDS = 10 * 365.25 * 86400;

const lifetime: Parser<number> = (value, name) => {
  const seconds = parseDuration(value);
  if (seconds === undefined || seconds <= 0 || seconds > MAX_LIFETIME_SECONDS) {
    fail(name, 'a positive number of seconds up to ten years, or a duration like "30s", "5m", "12h", "1d"', value);
  }
  return seconds!;
};
/**
 * The lifetime of a token or a session: also at least one second, since `exp` is in whole seconds
 * and a shorter token would be expired when issued.
 */
const tokenLifetime: Parser<number> = (value, name) => {
  const seconds = lifetime(value, name);
  if (seconds < 1) throw new ConfigurationError(name, `must be at least 1 second: exp is counted in whole seconds, so a shorter token is expired when issued (got ${describe(value)})`);
  return seconds;
};
const bool: Parser<boolean> = (value, name) => (typeof value === 'boolean' ? value : fail(name, 'true or false', value));
const claimName: Parser<string> = (value, name) =>
  typeof value === 'string' && CLAIM_NAME.test(value) ? value : fail(name, 'a claim name of 1-64 printable ASCII characters', value);
const nonEmptyString: Parser<string> = (value, name) => (typeof value === 'string' && value.length > 0 ? value : fail(name, 'a non-empty string', value));
const optionalString: Parser<string | null> = (value, name) => (value === null || value === undefined ? null : nonEmptyString(value, name));
const optionalFunction = <F>(value: unknown, name: string): F | null =>
  value === null || value === undefined ? null : typeof value === 'function' ? (value as F) : fail(name, 'a function', value);

const count: Parser<number> = (value, name) =>
  Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fail(name, 'a whole number, 0 or more', value);

/** An RFC 6265 cookie name: an HTTP token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;
/** A cookie `Path`: starts with "/", printable ASCII without ";" or spaces. */
const COOKIE_PATH = /^\/[\x21-\x3a\x3c-\x7e]{0,1023}$/;
/** A cookie `Domain`: a host name (no leading dot, no port). */
const COOKIE_DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const SAME_SITE: readonly CookieSameSite[] = ['Strict', 'Lax', 'None'];

/** An origin as browsers send it: `scheme://host[:port]`, http or https, no path, no wildcard. Returns the normalised form. */
function origin(value: unknown, name: string): string {
  const expected = 'an array of origins like "https://app.example.com" (scheme://host[:port]: no path, no trailing slash, no "*")';
  if (typeof value !== 'string' || value.includes('*') || !/^https?:\/\/[^/?#]+$/i.test(value)) return fail(name, expected, value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(name, expected, value);
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) fail(name, expected, value);
  return url.origin;
}

const PARSERS: { [K in keyof Omit<Settings, 'keyRing'>]: [Settings[K], Parser<Settings[K]>] } = {
  accessTokenLifetime: [300, tokenLifetime],
  refreshTokenLifetime: [86400, tokenLifetime],
  rotateRefreshTokens: [false, bool],
  blacklistAfterRotation: [false, bool],
  updateLastLogin: [false, bool],
  algorithm: ['HS256', (value, name) => (algorithmSpec(value) ? (value as Algorithm) : fail(name, `one of ${ALGORITHM_NAMES.join(', ')}`, value))],
  audience: [null, optionalString],
  issuer: [null, optionalString],
  jwkUrl: [null, (value, name) => {
    const text = optionalString(value, name);
    if (text === null) return null;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail(name, 'an absolute URL', /[@?]/.test(text) ? '(not shown: it may hold credentials)' : value);
    }
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) fail(name, 'an https: URL (http: only on localhost)', hasCredentials(url) ? redactUrl(text) : value);
    return url.href;
  }],
  jwkCacheMaxAge: [600, lifetime],
  jwkFetchTimeout: [5, (value, name) => {
    const seconds = lifetime(value, name);
    return seconds > 60 ? fail(name, 'at most 60 seconds', value) : seconds;
  }],
  leeway: [0, (value, name) => {
    const seconds = parseDuration(value);
    if (seconds === undefined || seconds > LEEWAY_MAX_SECONDS) fail(name, `a finite number of seconds from 0 to ${LEEWAY_MAX_SECONDS}`, value);
    return seconds!;
  }],
  authHeaderTypes: [['Bearer'], (value, name) => {
    if (!Array.isArray(value) || value.length === 0 || !value.every((t) => typeof t === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(t))) {
      fail(name, 'a non-empty array of authentication scheme names like ["Bearer"]', value);
    }
    return Object.freeze([...(value as string[])]);
  }],
  authHeaderName: ['Authorization', (value, name) => {
    const header = typeof value === 'string' ? fromDjangoMetaName(value) : value;
    return typeof header === 'string' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header) ? header : fail(name, 'an HTTP header name', value);
  }],
  userIdField: ['id', nonEmptyString],
  userIdClaim: ['user_id', claimName],
  userAuthenticationRule: [defaultUserAuthenticationRule, (value, name) => optionalFunction(value, name) ?? fail(name, 'a function', value)],
  authTokenClasses: [['access'], (value, name) => {
    const allowed = ['access', 'refresh', 'sliding'];
    const classPath = Array.isArray(value) ? value.find((t) => typeof t === 'string' && t.includes('.')) : undefined;
    if (classPath !== undefined) {
      throw new ConfigurationError(name, `lists token types, not Python class paths (got ${JSON.stringify(classPath)}): e.g. ["access"] for simplejwt's AccessToken, ["access", "sliding"]`);
    }
    if (!Array.isArray(value) || value.length === 0 || !value.every((t) => allowed.includes(t as string))) {
      fail(name, 'a non-empty array of "access", "refresh" or "sliding"', value);
    }
    return Object.freeze([...new Set(value as TokenType[])]);
  }],
  tokenTypeClaim: ['token_type', claimName],
  jtiClaim: ['jti', claimName],
  tokenUserClass: [null, optionalFunction],
  slidingTokenRefreshExpClaim: ['refresh_exp', claimName],
  slidingTokenLifetime: [300, tokenLifetime],
  slidingTokenRefreshLifetime: [86400, tokenLifetime],
  checkRevokeToken: [false, bool],
  revokeTokenClaim: ['hash_password', claimName],
  checkUserIsActive: [true, bool],
  onLoginSuccess: [null, optionalFunction],
  onLoginFailed: [null, optionalFunction],
  customizeClaims: [null, optionalFunction],
  customizeTokenResponse: [null, optionalFunction],
  maxTokenLength: [8192, (value, name) =>
    Number.isInteger(value) && (value as number) >= 256 && (value as number) <= 65536 ? (value as number) : fail(name, 'an integer from 256 to 65536', value)],
  usernameField: ['username', nonEmptyString],
  userLookup: [true, bool],
  reuseDetection: [true, bool],
  reuseGracePeriod: [5, (value, name) => {
    const seconds = parseDuration(value);
    return seconds === undefined || seconds > 60 ? fail(name, 'a number of seconds from 0 to 60', value) : seconds;
  }],
  sessionAbsoluteLifetime: [null, (value, name) => (value === null ? null : tokenLifetime(value, name))],
  loginThrottlePerUsername: [10, count],
  loginThrottlePerAddress: [100, count],
  loginThrottleWindow: ['15m' as unknown as number, lifetime],
  maxBodySize: [65536, (value, name) =>
    Number.isInteger(value) && (value as number) >= 1024 && (value as number) <= 16 * 1024 * 1024 ? (value as number) : fail(name, 'a number of bytes from 1024 to 16777216', value)],
  refreshTransport: ['body', (value, name) => (value === 'body' || value === 'cookie' ? value : fail(name, '"body" or "cookie"', value))],
  refreshCookieName: ['refresh_token', (value, name) =>
    typeof value === 'string' && COOKIE_NAME.test(value) ? value : fail(name, 'a cookie name (an HTTP token of 1-128 characters, e.g. "refresh_token" or "__Host-refresh")', value)],
  refreshCookiePath: ['/', (value, name) =>
    typeof value === 'string' && COOKIE_PATH.test(value) ? value : fail(name, 'a cookie path starting with "/" (printable ASCII, no ";" or spaces)', value)],
  refreshCookieDomain: [null, (value, name) => {
    if (value === null || value === undefined) return null;
    const domain = typeof value === 'string' ? value.toLowerCase() : '';
    return COOKIE_DOMAIN.test(domain) ? domain : fail(name, 'null (host-only) or a host name like "example.com" (no leading dot, no port)', value);
  }],
  refreshCookieSameSite: ['Strict', (value, name) =>
    SAME_SITE.find((v) => typeof value === 'string' && v.toLowerCase() === value.toLowerCase()) ?? fail(name, '"Strict", "Lax" or "None"', value)],
  refreshCookieSecure: [true, bool],
  allowedOrigins: [[], (value, name) => {
    if (!Array.isArray(value)) fail(name, 'an array of origins like "https://app.example.com"', value);
    return Object.freeze([...new Set((value as unknown[]).map((item) => origin(item, name)))]);
  }],
};

/** Every setting name, for tools that list or map them (the server's environment loader). */
export const SETTING_NAMES: readonly string[] = [...Object.keys(PARSERS), 'signingKey', 'verifyingKey', 'keyRing'];

function closest(name: string): string | undefined {
  const lower = name.toLowerCase();
  return SETTING_NAMES.find((known) => known.toLowerCase() === lower || known.toLowerCase().replaceAll('_', '') === lower.replaceAll('_', ''));
}

/**
 * Validates settings and imports keys. Throws `ConfigurationError` naming the first bad setting.
 *
 * @example
 * const settings = defineSettings({ signingKey: process.env.JWT_SECRET, accessTokenLifetime: '10m' });
 */
export function defineSettings(input: SettingsInput | Settings = {}): Settings {
  if (isSettings(input)) return input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigurationError('settings', 'must be an object');
  const raw = input as Record<string, unknown>;
  for (const name of Object.keys(raw)) {
    if (!SETTING_NAMES.includes(name)) {
      const hint = closest(name);
      throw new ConfigurationError(name, `is not a tokenpair setting${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
  }
  const settings: Record<string, unknown> = {};
  for (const [name, [fallback, parse]] of Object.entries(PARSERS) as [string, [unknown, Parser<unknown>]][]) {
    settings[name] = parse(raw[name] === undefined ? fallback : raw[name], name);
  }
  // WIRE.md: a browser's refresh token must rotate (RFC 9700), so the cookie transport turns rotation on
  // unless it is explicitly turned off.
  if (raw.rotateRefreshTokens === undefined && settings.refreshTransport === 'cookie') settings.rotateRefreshTokens = true;
  // WIRE.md: when rotation is on, blacklisting after rotation is on unless explicitly turned off.
  if (raw.blacklistAfterRotation === undefined) settings.blacklistAfterRotation = settings.rotateRefreshTokens;
  checkCookieSettings(settings);
  if (settings.jwkUrl !== null && algorithmSpec(settings.algorithm)!.family === 'HMAC') {
    throw new ConfigurationError('jwkUrl', `needs an asymmetric algorithm: a JWKS publishes public keys, never ${String(settings.algorithm)} secrets`);
  }
  settings.keyRing = buildKeyRing(raw, settings);
  const frozen = Object.freeze(settings) as unknown as Settings;
  VALIDATED.add(frozen);
  return frozen;
}

/** The combinations browsers refuse (RFC 6265bis): refused at start-up, naming the setting to change. */
function checkCookieSettings(settings: Record<string, unknown>): void {
  const name = settings.refreshCookieName as string;
  const secure = settings.refreshCookieSecure as boolean;
  const lower = name.toLowerCase();
  if (settings.refreshCookieSameSite === 'None' && !secure) {
    throw new ConfigurationError('refreshCookieSecure', 'must be true with refreshCookieSameSite "None" (browsers drop SameSite=None cookies without Secure)');
  }
  if (lower.startsWith('__host-')) {
    const prefix = `with the __Host- cookie name prefix (refreshCookieName "${name}")`;
    if (!secure) throw new ConfigurationError('refreshCookieSecure', `must be true ${prefix}`);
    if (settings.refreshCookiePath !== '/') throw new ConfigurationError('refreshCookiePath', `must be "/" ${prefix} (got ${describe(settings.refreshCookiePath)})`);
    if (settings.refreshCookieDomain !== null) throw new ConfigurationError('refreshCookieDomain', `must be null ${prefix} (got ${describe(settings.refreshCookieDomain)})`);
  } else if (lower.startsWith('__secure-') && !secure) {
    throw new ConfigurationError('refreshCookieSecure', `must be true with the __Secure- cookie name prefix (refreshCookieName "${name}")`);
  }
}

const VALIDATED = new WeakSet<object>();

function isSettings(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && VALIDATED.has(value);
}

function buildKeyRing(raw: Record<string, unknown>, settings: Record<string, unknown>): KeyRing | undefined {
  const hasSingle = raw.signingKey !== undefined || raw.verifyingKey !== undefined;
  if (raw.keyRing !== undefined) {
    if (hasSingle) throw new ConfigurationError('keyRing', 'replaces signingKey and verifyingKey: set one or the other');
    return KeyRing.fromEntries(raw.keyRing, settings.algorithm);
  }
  if (!hasSingle) {
    if (settings.jwkUrl !== null) return undefined;
    throw new ConfigurationError('signingKey', `is required (or keyRing, or jwkUrl to only verify tokens)`);
  }
  return new KeyRing([toRingKey(undefined, settings.algorithm, raw.signingKey as KeyInput | undefined, raw.verifyingKey as KeyInput | undefined, '')]);
}
