/**
 * RFC 7519 §4.1 registered-claim checks (SECURITY.md S5–S7), applied after the signature is verified.
 * Numbers are never coerced: a string, boolean or non-finite `exp` is invalid, not "no exp".
 */
import { TokenError, invalidToken } from '../errors.js';
import type { Claims } from '../settings/settings.js';

/** 9999-12-31T23:59:59Z: beyond it a NumericDate is nonsense, however finite. */
export const MAX_NUMERIC_DATE = 253402300799;
const MAX_JTI_LENGTH = 255;
const MAX_USER_ID_LENGTH = 255;

export interface ClaimRules {
  /** Seconds since the epoch, fractional. */
  now: number;
  leeway: number;
  audience: string | null;
  issuer: string | null;
  jtiClaim: string;
  userIdClaim: string;
}

/** `undefined` when absent; the number when it is a sane NumericDate; otherwise the token is invalid. */
export function numericDate(claims: Claims, name: string): number | undefined {
  if (!Object.hasOwn(claims, name)) return undefined;
  const value = claims[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_NUMERIC_DATE) {
    throw invalidToken(`claim "${name}" is not a NumericDate`);
  }
  return value;
}

/** The checks every token gets, in simplejwt's order; the token type is checked by the caller. */
export function checkRegisteredClaims(claims: Claims, rules: ClaimRules): void {
  const exp = numericDate(claims, 'exp');
  const nbf = numericDate(claims, 'nbf');
  const iat = numericDate(claims, 'iat');
  if (iat !== undefined && iat > rules.now + rules.leeway) throw invalidToken('"iat" is in the future');
  if (nbf !== undefined && nbf > rules.now + rules.leeway) throw invalidToken('"nbf" is in the future');
  if (exp !== undefined && exp <= rules.now - rules.leeway) throw new TokenError('token_expired');
  if (rules.audience !== null && !audienceMatches(claims.aud, rules.audience)) throw invalidToken('"aud" does not contain the configured audience');
  if (rules.issuer !== null && claims.iss !== rules.issuer) throw invalidToken('"iss" is not the configured issuer');
  if (exp === undefined) throw new TokenError('token_no_exp');
  if (!Object.hasOwn(claims, rules.jtiClaim)) throw new TokenError('token_no_id');
  const jti = claims[rules.jtiClaim];
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw invalidToken(`claim "${rules.jtiClaim}" is not a string id`);
  if (Object.hasOwn(claims, rules.userIdClaim) && !isUserId(claims[rules.userIdClaim])) {
    throw invalidToken(`claim "${rules.userIdClaim}" is not a string or an integer`);
  }
}

/** S7: `aud` is the configured audience, or an array that contains it. */
function audienceMatches(aud: unknown, audience: string): boolean {
  if (typeof aud === 'string') return aud === audience;
  return Array.isArray(aud) && aud.length <= 64 && aud.every((a) => typeof a === 'string') && aud.includes(audience);
}

/** S6: a user id is a non-empty bounded string or a safe integer (Django's integer primary keys). */
export function isUserId(value: unknown): value is string | number {
  if (typeof value === 'string') return value.length > 0 && value.length <= MAX_USER_ID_LENGTH;
  return Number.isSafeInteger(value);
}
