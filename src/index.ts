/**
 * tokenpair — JSON Web Token authentication for Node.js HTTP APIs.
 *
 * The core: settings, JWS (every algorithm, key rotation, JWKS), token classes and the error table.
 */
export { createTokens, Tokens, TokenClass, type Clock, type TokensOptions } from './tokens/tokens.js';
export { Token, AccessToken, RefreshToken, SlidingToken, UntypedToken, newJti, type TokenContext } from './tokens/token.js';
export { TokenUser } from './tokens/token-user.js';
export {
  defineSettings,
  defaultUserAuthenticationRule,
  SETTING_NAMES,
  type Settings,
  type SettingsInput,
  type Claims,
  type TokenType,
  type UserLike,
  type RefreshTransport,
  type CookieSameSite,
} from './settings/settings.js';
export { parseDuration } from './settings/duration.js';
export {
  WIRE_ERRORS,
  TokenPairError,
  TokenError,
  InvalidTokenForAnyType,
  ConfigurationError,
  type ErrorKind,
  type WireError,
  type TokenClassMessage,
} from './errors.js';
export { ALGORITHMS, ALGORITHM_NAMES, type Algorithm, type AlgorithmSpec } from './jws/algorithms.js';
export { KeyRing, type KeyRingEntry, type PublicJwk, type RingKey } from './jws/keyring.js';
export type { KeyInput, JsonWebKeyInput } from './jws/keys.js';
export { ThrottledError } from './errors.js';

// The lifecycle service and its stores
export { AuthService, newFamilyId, type AuthServiceOptions, type ClientContext, type Credentials, type Principal, type SessionView } from './service/auth-service.js';
export { LoginThrottle, normaliseUsername } from './service/throttle.js';
export { MemoryStore, IN_MEMORY_WARNING } from './store/memory.js';
export {
  StoreUnavailableError,
  type TokenStore,
  type UserStore,
  type UserAdmin,
  type ThrottleStore,
  type ThrottleCounts,
  type ThrottleLimit,
  type AttemptOutcome,
  type UserRecord,
  type TokenRecord,
  type SessionRecord,
  type ClientInfo,
  type ConsumeOutcome,
  type ConsumeRequest,
  type TokenStatus,
  type RevokeReason,
} from './store/types.js';

// Passwords
export { createPasswordHasher, HasherBusyError, MAX_PASSWORD_BYTES, passwordTooLong, type PasswordHasher } from './passwords/hasher.js';
export { encodeDjangoPbkdf2 } from './passwords/django.js';

// Framework-neutral HTTP
export {
  createAuthHandler,
  authenticateHeaderSync,
  authenticateRequest,
  errorResponse,
  DEFAULT_PATHS,
  type AuthRequest,
  type AuthResponse,
  type AuthHandler,
  type EndpointPaths,
  type HandlerOptions,
} from './http/handler.js';
