import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenError, TokenPairError, WIRE_ERRORS, InvalidTokenForAnyType, ConfigurationError } from '../src/index.js';

describe('error table (WIRE.md "Errors")', () => {
  it('spells every token detail exactly as WIRE.md', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(WIRE_ERRORS).filter(([, e]) => e.code === 'token_not_valid').map(([k, e]) => [k, e.detail])),
      {
        token_invalid: 'Token is invalid',
        token_expired: 'Token is expired',
        token_wrong_type: 'Token has wrong type',
        token_no_id: 'Token has no id',
        token_no_type: 'Token has no type',
        token_no_exp: "Token has no 'exp' claim",
        token_refresh_exp_expired: "Token 'refresh_exp' claim has expired",
        token_blacklisted: 'Token is blacklisted',
        token_no_user_id: 'Token contained no recognizable user identification',
        token_not_valid_for_any_type: 'Given token not valid for any token type',
        refresh_cookie_missing: 'Refresh token not found',
      },
    );
  });

  it('maps an error to its status and body, never leaking the internal reason', () => {
    const error = new TokenError('token_invalid', 'alg "none" is not allowed');
    assert.equal(error.status, 401);
    assert.deepEqual(error.toJSON(), { detail: 'Token is invalid', code: 'token_not_valid' });
    assert.equal(error.reason, 'alg "none" is not allowed');
    assert.ok(error instanceof TokenPairError);
  });

  it('lists every token class in the authenticator body', () => {
    const error = new InvalidTokenForAnyType([{ token_class: 'AccessToken', token_type: 'access', message: 'Token is expired' }]);
    assert.deepEqual(error.toJSON(), {
      detail: 'Given token not valid for any token type',
      code: 'token_not_valid',
      messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token is expired' }],
    });
  });

  it('states the body of the non-token errors exactly', () => {
    assert.deepEqual(
      [WIRE_ERRORS.no_active_account, WIRE_ERRORS.service_unavailable, WIRE_ERRORS.not_authenticated, WIRE_ERRORS.bad_authorization_header],
      [
        { status: 401, code: 'no_active_account', detail: 'No active account found with the given credentials' },
        { status: 503, code: 'service_unavailable', detail: 'Service temporarily unavailable.' },
        { status: 401, code: 'not_authenticated', detail: 'Authentication credentials were not provided.' },
        { status: 401, code: 'bad_authorization_header', detail: 'Authorization header must contain two space-delimited values' },
      ],
    );
  });

  it('names the setting in configuration errors', () => {
    const error = new ConfigurationError('signingKey', 'must be at least 32 bytes for HS256 (got 11)');
    assert.equal(error.message, 'signingKey must be at least 32 bytes for HS256 (got 11)');
    assert.equal(error.setting, 'signingKey');
  });
});
