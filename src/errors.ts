/**
 * Typed errors and the one table that maps each to its wire status and body (WIRE.md "Errors").
 *
 * Every failure tokenpair reports to a client is a `TokenPairError` whose `kind` is a key of
 * `WIRE_ERRORS`. The HTTP layer never invents a body: it looks the kind up here.
 */

/** A wire error: HTTP status, the `code` field and the exact `detail` text. */
export interface WireError {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
}

/** Every error body tokenpair sends, keyed by a stable kind. Details are spelled exactly as WIRE.md. */
export const WIRE_ERRORS = {
  // Token verification (401 token_not_valid)
  token_invalid: { status: 401, code: 'token_not_valid', detail: 'Token is invalid' },
  token_expired: { status: 401, code: 'token_not_valid', detail: 'Token is expired' },
  token_wrong_type: { status: 401, code: 'token_not_valid', detail: 'Token has wrong type' },
  token_no_id: { status: 401, code: 'token_not_valid', detail: 'Token has no id' },
  token_no_type: { status: 401, code: 'token_not_valid', detail: 'Token has no type' },
  token_no_exp: { status: 401, code: 'token_not_valid', detail: "Token has no 'exp' claim" },
  token_refresh_exp_expired: { status: 401, code: 'token_not_valid', detail: "Token 'refresh_exp' claim has expired" },
  token_blacklisted: { status: 401, code: 'token_not_valid', detail: 'Token is blacklisted' },
  token_no_user_id: { status: 401, code: 'token_not_valid', detail: 'Token contained no recognizable user identification' },
  token_not_valid_for_any_type: { status: 401, code: 'token_not_valid', detail: 'Given token not valid for any token type' },
  refresh_cookie_missing: { status: 401, code: 'token_not_valid', detail: 'Refresh token not found' },

  // Accounts and credentials
  no_active_account: { status: 401, code: 'no_active_account', detail: 'No active account found with the given credentials' },
  no_active_account_for_token: { status: 401, code: 'no_active_account', detail: 'No active account found for the given token.' },
  password_changed: { status: 401, code: 'password_changed', detail: "The user's password has been changed." },
  user_not_found: { status: 401, code: 'user_not_found', detail: 'User not found' },
  user_inactive: { status: 401, code: 'user_inactive', detail: 'User is inactive' },

  // The bearer authenticator
  not_authenticated: { status: 401, code: 'not_authenticated', detail: 'Authentication credentials were not provided.' },
  bad_authorization_header: {
    status: 401,
    code: 'bad_authorization_header',
    detail: 'Authorization header must contain two space-delimited values',
  },

  // Request shape
  invalid_fields: { status: 400, code: 'invalid', detail: 'Invalid input.' },
  parse_error: { status: 400, code: 'parse_error', detail: 'JSON parse error' },
  unsupported_media_type: { status: 415, code: 'unsupported_media_type', detail: 'Unsupported media type in request.' },
  payload_too_large: { status: 413, code: 'payload_too_large', detail: 'Request body too large.' },
  method_not_allowed: { status: 405, code: 'method_not_allowed', detail: 'Method not allowed.' },
  not_found: { status: 404, code: 'not_found', detail: 'Not found.' },
  csrf_failed: { status: 403, code: 'csrf_failed', detail: 'CSRF Failed: Origin not allowed.' },
  throttled: { status: 429, code: 'throttled', detail: 'Request was throttled.' },

  // What the standalone server answers before a request reaches a route (HTTP that does not parse,
  // headers over Node's limit, a request not received within the request timeout)
  malformed_request: { status: 400, code: 'parse_error', detail: 'Malformed request.' },
  request_timeout: { status: 408, code: 'request_timeout', detail: 'Request timed out.' },
  request_headers_too_large: { status: 431, code: 'request_header_fields_too_large', detail: 'Request header fields too large.' },

  // Infrastructure
  service_unavailable: { status: 503, code: 'service_unavailable', detail: 'Service temporarily unavailable.' },
} as const satisfies Record<string, WireError>;

export type ErrorKind = keyof typeof WIRE_ERRORS;

/** The base class of every error tokenpair throws on purpose. */
export class TokenPairError extends Error {
  override name = 'TokenPairError';
  readonly kind: ErrorKind;
  readonly status: number;
  readonly code: string;
  /** The exact `detail` string sent to the client. */
  readonly detail: string;
  /**
   * Why, for logs and tests only (never sent): e.g. `alg "none" is not allowed`.
   * Clients see only `detail`, so an attacker learns nothing about which check failed.
   */
  readonly reason: string;

  constructor(kind: ErrorKind, reason?: string, detail?: string) {
    const wire = WIRE_ERRORS[kind];
    super(reason ? `${detail ?? wire.detail}: ${reason}` : (detail ?? wire.detail));
    this.kind = kind;
    this.status = wire.status;
    this.code = wire.code;
    this.detail = detail ?? wire.detail;
    this.reason = reason ?? this.detail;
  }

  /** The JSON body sent to the client. */
  toJSON(): Record<string, unknown> {
    return { detail: this.detail, code: this.code };
  }
}

/** A token failed verification or a claim check. Always 401 with code `token_not_valid`. */
export class TokenError extends TokenPairError {
  override name = 'TokenError';
}

/** Too many failed logins: 429 with `Retry-After` (S15). */
export class ThrottledError extends TokenPairError {
  override name = 'ThrottledError';
  /** Whole seconds until the window ends. */
  readonly retryAfter: number;

  constructor(retryAfter: number) {
    super('throttled', `retry in ${retryAfter} s`, `Request was throttled. Expected available in ${retryAfter} seconds.`);
    this.retryAfter = retryAfter;
  }
}

/** One token class's reason for rejecting a token, as listed in the authenticator's `messages`. */
export interface TokenClassMessage {
  token_class: string;
  token_type: string;
  message: string;
}

/** The authenticator's error when a bearer token fails for every accepted token class. */
export class InvalidTokenForAnyType extends TokenPairError {
  override name = 'InvalidTokenForAnyType';
  readonly messages: readonly TokenClassMessage[];

  constructor(messages: readonly TokenClassMessage[]) {
    super('token_not_valid_for_any_type', messages.map((m) => m.message).join('; '));
    this.messages = messages;
  }

  override toJSON(): Record<string, unknown> {
    return { detail: this.detail, code: this.code, messages: this.messages };
  }
}

/**
 * Invalid configuration. Thrown at start-up, never per request; the message names the setting.
 * Example: `signingKey must be at least 32 bytes for HS256 (got 11)`.
 */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(`${setting} ${message}`);
    this.setting = setting;
  }
}

/** Shorthand used by the verifier: a `TokenError` of kind `token_invalid` with a reason for logs. */
export function invalidToken(reason: string): TokenError {
  return new TokenError('token_invalid', reason);
}
