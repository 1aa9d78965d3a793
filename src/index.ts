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
