/**
 * Settings (WIRE.md "Settings", SECURITY.md S3 and S5): simplejwt's defaults, durations, and every
 * refusal at start-up as a `ConfigurationError` naming the setting, with its exact message.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  ConfigurationError,
  createTokens,
  defaultUserAuthenticationRule,
  defineSettings,
  SETTING_NAMES,
  TokenError,
  type SettingsInput,
} from '../src/index.js';
import { HS_SECRET, keyFor, generatePair } from './helpers/keys.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const NOW_MS = Date.UTC(2026, 0, 1);
const NOW = NOW_MS / 1000;

/** The advice appended to every weak-secret refusal. */
const RANDOM_ADVICE = ': use a random secret, e.g. `node -e "console.log(crypto.randomBytes(32).toString(\'base64url\'))"`';
const NOT_HMAC = 'looks like an asymmetric key (PEM, SSH or JWK) but HS256 needs a shared secret: a public key is never an HMAC secret';
const LIFETIME_EXPECTED = 'must be a positive number of seconds up to ten years, or a duration like "30s", "5m", "12h", "1d"';

/** Settings as a user might really pass them, wrong types included. */
const loose = (input: Record<string, unknown>): SettingsInput => input as SettingsInput;

/** Asserts that `defineSettings(input)` throws a ConfigurationError for `setting` with exactly `message`. */
function refuses(input: Record<string, unknown> | undefined, setting: string, message: string | RegExp): ConfigurationError {
  let caught: unknown;
  assert.throws(() => defineSettings(input === undefined ? undefined : loose(input)), (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ConfigurationError, `expected a ConfigurationError, got ${String(caught)}`);
  assert.equal(caught.setting, setting);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  // createTokens refuses the same input the same way.
  assert.throws(() => createTokens(input === undefined ? {} : loose(input)), (error: unknown) => error instanceof ConfigurationError && error.setting === (input === undefined ? 'signingKey' : setting));
  return caught;
}

const rsaPublicPem = (): string => keyFor('RS256').publicKey!.export({ type: 'spki', format: 'pem' }) as string;

// ---------------------------------------------------------------------------------------------
// Defaults and values
// ---------------------------------------------------------------------------------------------

describe('defaults: simplejwt\'s', () => {
  it('equal simplejwt\'s defaults for every setting', () => {
    const s = defineSettings({ signingKey: HS_SECRET });
    assert.deepEqual(
      {
        accessTokenLifetime: s.accessTokenLifetime,
        refreshTokenLifetime: s.refreshTokenLifetime,
        slidingTokenLifetime: s.slidingTokenLifetime,
        slidingTokenRefreshLifetime: s.slidingTokenRefreshLifetime,
        rotateRefreshTokens: s.rotateRefreshTokens,
        blacklistAfterRotation: s.blacklistAfterRotation,
        updateLastLogin: s.updateLastLogin,
        algorithm: s.algorithm,
        audience: s.audience,
        issuer: s.issuer,
        jwkUrl: s.jwkUrl,
        leeway: s.leeway,
        authHeaderTypes: s.authHeaderTypes,
        authHeaderName: s.authHeaderName,
        userIdField: s.userIdField,
        userIdClaim: s.userIdClaim,
        authTokenClasses: s.authTokenClasses,
        tokenTypeClaim: s.tokenTypeClaim,
        jtiClaim: s.jtiClaim,
        tokenUserClass: s.tokenUserClass,
        slidingTokenRefreshExpClaim: s.slidingTokenRefreshExpClaim,
        checkRevokeToken: s.checkRevokeToken,
        revokeTokenClaim: s.revokeTokenClaim,
        checkUserIsActive: s.checkUserIsActive,
        onLoginSuccess: s.onLoginSuccess,
        onLoginFailed: s.onLoginFailed,
        customizeClaims: s.customizeClaims,
        customizeTokenResponse: s.customizeTokenResponse,
        maxTokenLength: s.maxTokenLength,
      },
      {
        accessTokenLifetime: 300,
        refreshTokenLifetime: 86400,
        slidingTokenLifetime: 300,
        slidingTokenRefreshLifetime: 86400,
        rotateRefreshTokens: false,
        blacklistAfterRotation: false,
        updateLastLogin: false,
        algorithm: 'HS256',
        audience: null,
        issuer: null,
        jwkUrl: null,
        leeway: 0,
        authHeaderTypes: ['Bearer'],
        authHeaderName: 'Authorization',
        userIdField: 'id',
        userIdClaim: 'user_id',
        authTokenClasses: ['access'],
        tokenTypeClaim: 'token_type',
        jtiClaim: 'jti',
        tokenUserClass: null,
        slidingTokenRefreshExpClaim: 'refresh_exp',
        checkRevokeToken: false,
        revokeTokenClaim: 'hash_password',
        checkUserIsActive: true,
        onLoginSuccess: null,
        onLoginFailed: null,
        customizeClaims: null,
        customizeTokenResponse: null,
        maxTokenLength: 8192,
      },
    );
    assert.equal(s.userAuthenticationRule, defaultUserAuthenticationRule);
    assert.equal(s.jwkCacheMaxAge, 600);
    assert.equal(s.jwkFetchTimeout, 5);
    assert.equal(s.keyRing?.keys.length, 1);
    assert.equal(s.keyRing?.current?.algorithm, 'HS256');
  });

  it('default user rule: a user that exists and is not inactive', () => {
    assert.deepEqual(
      [null, undefined, {}, { is_active: true }, { isActive: true }, { is_active: false }, { isActive: false }, { is_active: 0 }].map(defaultUserAuthenticationRule),
      [false, false, true, true, true, false, false, false],
    );
  });

  it('issues tokens with the default lifetimes', () => {
    const tokens = createTokens({ signingKey: HS_SECRET }, { clock: () => NOW_MS });
    assert.equal(tokens.access.create().exp, NOW + 300);
    assert.equal(tokens.refresh.create().exp, NOW + 86400);
    assert.equal(tokens.sliding.create().exp, NOW + 300);
    assert.equal(tokens.sliding.create().get('refresh_exp'), NOW + 86400);
  });

  it('has a camelCase twin for every simplejwt setting, and points a SIMPLEJWT_NAME at it', () => {
    const twins: Record<string, string> = {
      ACCESS_TOKEN_LIFETIME: 'accessTokenLifetime',
      REFRESH_TOKEN_LIFETIME: 'refreshTokenLifetime',
      ROTATE_REFRESH_TOKENS: 'rotateRefreshTokens',
      BLACKLIST_AFTER_ROTATION: 'blacklistAfterRotation',
      UPDATE_LAST_LOGIN: 'updateLastLogin',
      ALGORITHM: 'algorithm',
      SIGNING_KEY: 'signingKey',
      VERIFYING_KEY: 'verifyingKey',
      AUDIENCE: 'audience',
      ISSUER: 'issuer',
      JWK_URL: 'jwkUrl',
      LEEWAY: 'leeway',
      AUTH_HEADER_TYPES: 'authHeaderTypes',
      AUTH_HEADER_NAME: 'authHeaderName',
      USER_ID_FIELD: 'userIdField',
      USER_ID_CLAIM: 'userIdClaim',
      USER_AUTHENTICATION_RULE: 'userAuthenticationRule',
      AUTH_TOKEN_CLASSES: 'authTokenClasses',
      TOKEN_TYPE_CLAIM: 'tokenTypeClaim',
      JTI_CLAIM: 'jtiClaim',
      TOKEN_USER_CLASS: 'tokenUserClass',
      SLIDING_TOKEN_REFRESH_EXP_CLAIM: 'slidingTokenRefreshExpClaim',
      SLIDING_TOKEN_LIFETIME: 'slidingTokenLifetime',
      SLIDING_TOKEN_REFRESH_LIFETIME: 'slidingTokenRefreshLifetime',
      CHECK_REVOKE_TOKEN: 'checkRevokeToken',
      REVOKE_TOKEN_CLAIM: 'revokeTokenClaim',
      CHECK_USER_IS_ACTIVE: 'checkUserIsActive',
      ON_LOGIN_SUCCESS: 'onLoginSuccess',
      ON_LOGIN_FAILED: 'onLoginFailed',
    };
    for (const [simplejwt, camel] of Object.entries(twins)) {
      assert.ok(SETTING_NAMES.includes(camel), camel);
      refuses({ signingKey: HS_SECRET, [simplejwt]: 1 }, simplejwt, `${simplejwt} is not a tokenpair setting (did you mean ${camel}?)`);
    }
  });
});

describe('lifetimes: seconds or "30s" / "5m" / "12h" / "1d"', () => {
  it('parses every accepted spelling', () => {
    const cases: [number | string, number][] = [[90, 90], ['30s', 30], ['5m', 300], ['12h', 43200], ['1d', 86400], ['2w', 1209600], ['90', 90], ['1.5h', 5400]];
    for (const [input, seconds] of cases) {
      const s = defineSettings({ signingKey: HS_SECRET, accessTokenLifetime: input, refreshTokenLifetime: input, slidingTokenLifetime: input, slidingTokenRefreshLifetime: input });
      assert.deepEqual([s.accessTokenLifetime, s.refreshTokenLifetime, s.slidingTokenLifetime, s.slidingTokenRefreshLifetime], [seconds, seconds, seconds, seconds], String(input));
    }
  });

  it('puts the configured lifetime into exp', () => {
    const tokens = createTokens({ signingKey: HS_SECRET, accessTokenLifetime: '5m', refreshTokenLifetime: '12h', slidingTokenLifetime: 90, slidingTokenRefreshLifetime: '1d' }, { clock: () => NOW_MS });
    assert.equal(tokens.access.create().exp, NOW + 300);
    assert.equal(tokens.refresh.create().exp, NOW + 43200);
    assert.equal(tokens.sliding.create().exp, NOW + 90);
    assert.equal(tokens.sliding.create().get('refresh_exp'), NOW + 86400);
  });

  it('refuses anything else, naming the setting and the value', () => {
    const cases: [unknown, string][] = [
      ['5 minutes', '"5 minutes"'],
      ['5min', '"5min"'],
      ['1y', '"1y"'],
      ['-5m', '"-5m"'],
      ['', '""'],
      ['0s', '"0s"'],
      [0, 'number 0'],
      [-1, 'number -1'],
      [Number.NaN, 'number NaN'],
      [Number.POSITIVE_INFINITY, 'number Infinity'],
      [true, 'boolean true'],
      [null, 'null'],
      [[300], 'an array'],
      [{ minutes: 5 }, 'an object'],
      ['3660d', '"3660d"'],
      [315576001, 'number 315576001'],
    ];
    for (const name of ['accessTokenLifetime', 'refreshTokenLifetime', 'slidingTokenLifetime', 'slidingTokenRefreshLifetime']) {
      for (const [value, shown] of cases) {
        refuses({ signingKey: HS_SECRET, [name]: value }, name, `${name} ${LIFETIME_EXPECTED} (got ${shown})`);
      }
    }
  });
});

describe('simplejwt spellings of values', () => {
  it('authHeaderName: a Django META name is the header it stands for; other names stay as given', () => {
    const cases: [string, string][] = [['HTTP_AUTHORIZATION', 'Authorization'], ['HTTP_X_API_TOKEN', 'X-Api-Token'], ['X-Token', 'X-Token'], ['authorization', 'authorization']];
    for (const [input, header] of cases) assert.equal(defineSettings({ signingKey: HS_SECRET, authHeaderName: input }).authHeaderName, header, input);
  });

  it('authTokenClasses: Python class paths are refused, saying what to write instead', () => {
    refuses(
      { signingKey: HS_SECRET, authTokenClasses: ['rest_framework_simplejwt.tokens.AccessToken'] },
      'authTokenClasses',
      'authTokenClasses lists token types, not Python class paths (got "rest_framework_simplejwt.tokens.AccessToken"): e.g. ["access"] for simplejwt\'s AccessToken, ["access", "sliding"]',
    );
  });
});

describe('token and session lifetimes under one second', () => {
  const names = ['accessTokenLifetime', 'refreshTokenLifetime', 'slidingTokenLifetime', 'slidingTokenRefreshLifetime', 'sessionAbsoluteLifetime'];

  it('are refused: the token would be expired when issued', () => {
    const cases: [unknown, string][] = [['500ms', '"500ms"'], ['999ms', '"999ms"'], [0.5, 'number 0.5'], ['0.5', '"0.5"'], ['0.99s', '"0.99s"']];
    for (const name of names) {
      for (const [value, shown] of cases) {
        refuses({ signingKey: HS_SECRET, [name]: value }, name, `${name} must be at least 1 second: exp is counted in whole seconds, so a shorter token is expired when issued (got ${shown})`);
      }
    }
  });

  it('one second or more, fractions included, is accepted', () => {
    for (const name of names) {
      for (const [value, seconds] of [['1000ms', 1], [1, 1], ['1.5', 1.5], ['1500ms', 1.5]] as const) {
        const settings = defineSettings({ signingKey: HS_SECRET, [name]: value }) as unknown as Record<string, unknown>;
        assert.equal(settings[name], seconds, `${name} ${value}`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

describe('unknown settings', () => {
  it('refuses an unknown key, with a hint when it is a known one spelled differently', () => {
    refuses({ signingKey: HS_SECRET, ACCESS_TOKEN_LIFETIME: 300 }, 'ACCESS_TOKEN_LIFETIME', 'ACCESS_TOKEN_LIFETIME is not a tokenpair setting (did you mean accessTokenLifetime?)');
    refuses({ signingKey: HS_SECRET, accesstokenlifetime: 300 }, 'accesstokenlifetime', 'accesstokenlifetime is not a tokenpair setting (did you mean accessTokenLifetime?)');
    refuses({ signingKey: HS_SECRET, access_token_lifetime: 300 }, 'access_token_lifetime', 'access_token_lifetime is not a tokenpair setting (did you mean accessTokenLifetime?)');
    refuses({ signing_key: HS_SECRET }, 'signing_key', 'signing_key is not a tokenpair setting (did you mean signingKey?)');
    refuses({ signingKey: HS_SECRET, acessTokenLifetime: 300 }, 'acessTokenLifetime', 'acessTokenLifetime is not a tokenpair setting');
    refuses({ signingKey: HS_SECRET, secret: 'x' }, 'secret', 'secret is not a tokenpair setting');
    refuses(JSON.parse(`{"signingKey":${JSON.stringify(HS_SECRET)},"__proto__":{"algorithm":"none"}}`), '__proto__', '__proto__ is not a tokenpair setting');
    assert.equal(({} as Record<string, unknown>).algorithm, undefined);
  });

  it('refuses settings that are not an object', () => {
    for (const input of [null, [], 'HS256', 42]) {
      assert.throws(() => defineSettings(input as unknown as SettingsInput), (e: unknown) => e instanceof ConfigurationError && e.setting === 'settings' && e.message === 'settings must be an object');
    }
  });
});

describe('wrong types and ranges', () => {
  it('refuses a boolean given as a string or a number', () => {
    for (const name of ['rotateRefreshTokens', 'blacklistAfterRotation', 'updateLastLogin', 'checkRevokeToken', 'checkUserIsActive']) {
      refuses({ signingKey: HS_SECRET, [name]: 'false' }, name, `${name} must be true or false (got "false")`);
      refuses({ signingKey: HS_SECRET, [name]: 0 }, name, `${name} must be true or false (got number 0)`);
    }
  });

  it('refuses an algorithm that is not one of the table, case-sensitively', () => {
    const all = 'HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA';
    for (const [value, shown] of [['none', '"none"'], ['hs256', '"hs256"'], ['HS256 ', '"HS256 "'], ['constructor', '"constructor"'], [256, 'number 256']] as const) {
      refuses({ signingKey: HS_SECRET, algorithm: value }, 'algorithm', `algorithm must be one of ${all} (got ${shown})`);
    }
  });

  it('leeway: a finite number of seconds from 0 to 300', () => {
    const message = (shown: string) => `leeway must be a finite number of seconds from 0 to 300 (got ${shown})`;
    const cases: [unknown, string][] = [
      [Number.NaN, 'number NaN'],
      [Number.POSITIVE_INFINITY, 'number Infinity'],
      [Number.NEGATIVE_INFINITY, 'number -Infinity'],
      [-1, 'number -1'],
      [301, 'number 301'],
      [1e9, 'number 1000000000'],
      ['6m', '"6m"'],
      ['301s', '"301s"'],
      ['10 seconds', '"10 seconds"'],
      [true, 'boolean true'],
    ];
    for (const [value, shown] of cases) refuses({ signingKey: HS_SECRET, leeway: value }, 'leeway', message(shown));
    for (const [value, seconds] of [[0, 0], [2.5, 2.5], [300, 300], ['10s', 10], ['5m', 300]] as const) {
      assert.equal(defineSettings({ signingKey: HS_SECRET, leeway: value }).leeway, seconds);
    }
  });

  it('maxTokenLength: an integer from 256 to 65536', () => {
    for (const [value, shown] of [[100, 'number 100'], [65537, 'number 65537'], [1024.5, 'number 1024.5'], ['8192', '"8192"'], [Number.POSITIVE_INFINITY, 'number Infinity']] as const) {
      refuses({ signingKey: HS_SECRET, maxTokenLength: value }, 'maxTokenLength', `maxTokenLength must be an integer from 256 to 65536 (got ${shown})`);
    }
  });

  it('claim names: 1-64 printable ASCII characters', () => {
    for (const name of ['userIdClaim', 'tokenTypeClaim', 'jtiClaim', 'slidingTokenRefreshExpClaim', 'revokeTokenClaim']) {
      refuses({ signingKey: HS_SECRET, [name]: '' }, name, `${name} must be a claim name of 1-64 printable ASCII characters (got "")`);
      refuses({ signingKey: HS_SECRET, [name]: 'user id' }, name, `${name} must be a claim name of 1-64 printable ASCII characters (got "user id")`);
    }
  });
});

describe('HMAC secrets (S3)', () => {
  it('refuses a secret shorter than the hash', () => {
    refuses({ signingKey: 'hello world' }, 'signingKey', 'signingKey must be at least 32 bytes for HS256 (got 11)');
    refuses({ signingKey: randomBytes(24).toString('hex').slice(0, 31) }, 'signingKey', 'signingKey must be at least 32 bytes for HS256 (got 31)');
    refuses({ algorithm: 'HS384', signingKey: randomBytes(20).toString('hex') }, 'signingKey', 'signingKey must be at least 48 bytes for HS384 (got 40)');
    refuses({ algorithm: 'HS512', signingKey: randomBytes(20).toString('hex') }, 'signingKey', 'signingKey must be at least 64 bytes for HS512 (got 40)');
    refuses({ signingKey: randomBytes(16) }, 'signingKey', 'signingKey must be at least 32 bytes for HS256 (got 16)');
    refuses({ signingKey: { kty: 'oct', k: randomBytes(16).toString('base64url') } }, 'signingKey', 'signingKey must be at least 32 bytes for HS256 (got 16)');
    refuses({ signingKey: '' }, 'signingKey', 'signingKey must be at least 32 bytes for HS256 (got 0)');
  });

  it('counts bytes, not characters', () => {
    const ascii = randomBytes(24).toString('base64url');
    refuses({ signingKey: `${ascii.slice(0, 29)}ü` }, 'signingKey', 'signingKey must be at least 32 bytes for HS256 (got 31)'); // 30 characters
    assert.equal(defineSettings({ signingKey: `${ascii.slice(0, 30)}ü` }).algorithm, 'HS256'); // 31 characters, 32 bytes
  });

  it('accepts a long enough random secret as a string, bytes, a secret KeyObject or an oct JWK', () => {
    const bytes = randomBytes(64);
    for (const signingKey of [bytes.toString('base64url'), bytes, new Uint8Array(bytes), createSecretKey(bytes), { kty: 'oct', k: bytes.toString('base64url') }]) {
      const tokens = createTokens({ algorithm: 'HS512', signingKey });
      assert.equal(tokens.access.verifySync(tokens.access.forUser({ id: 1 }).toString()).userId, '1');
    }
  });

  it('refuses known weak values', () => {
    const cases: [string, string][] = [
      ['a-string-secret-at-least-256-bits-long', 'is a published example value'],
      ['  A-String-Secret-At-Least-256-Bits-Long\n', 'is a published example value'],
      ['please-change-this-secret-in-production', 'is a published example value'],
      ['abc'.repeat(14).slice(0, 40), 'has fewer than 8 distinct bytes'],
      ['a'.repeat(40), 'has fewer than 8 distinct bytes'],
      ['abcdefghij'.repeat(4), 'is a 10-byte pattern repeated'],
      ['secret-key!'.repeat(4), 'is a 11-byte pattern repeated'],
      ['django-insecure-7x#k2$m9@q!vz&3p^w8e*r4t(y6u)i0o', 'is a Django development key (prefix "django-insecure-")'],
    ];
    for (const [secret, why] of cases) refuses({ signingKey: secret }, 'signingKey', `signingKey ${why}${RANDOM_ADVICE}`);
    refuses({ signingKey: Buffer.alloc(32) }, 'signingKey', `signingKey has fewer than 8 distinct bytes${RANDOM_ADVICE}`);
  });

  it('never uses public key material as an HMAC secret', () => {
    const rsa = keyFor('RS256');
    const pem = rsaPublicPem();
    for (const text of [pem, `\n${pem}`, `   ${pem}`, rsa.privateKey!.export({ type: 'pkcs8', format: 'pem' }) as string]) {
      refuses({ signingKey: text }, 'signingKey', `signingKey ${NOT_HMAC}`);
    }
    refuses({ signingKey: JSON.stringify(rsa.publicKey!.export({ format: 'jwk' })) }, 'signingKey', `signingKey ${NOT_HMAC}`);
    refuses({ signingKey: ` ${JSON.stringify({ ...rsa.publicKey!.export({ format: 'jwk' }), alg: 'RS256' })}` }, 'signingKey', `signingKey ${NOT_HMAC}`);
    refuses({ signingKey: rsa.publicKey!.export({ format: 'jwk' }) }, 'signingKey',
      'signingKey must be a JWK of kty "oct" for HS256 (got kty "RSA"): a public key is never an HMAC secret');
    refuses({ signingKey: rsa.publicKey }, 'signingKey', 'signingKey must be a shared secret for HS256, not a public key: a public key is never an HMAC secret');
    refuses({ signingKey: rsa.privateKey }, 'signingKey', 'signingKey must be a shared secret for HS256, not a private key: a public key is never an HMAC secret');
    const ssh = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${'A'.repeat(43)} user@host`;
    refuses({ signingKey: ssh }, 'signingKey', `signingKey ${NOT_HMAC}`);
    // A PEM body without its armour, as Keycloak shows a realm's public key: base64 DER.
    const bare = 'signingKey is base64-encoded asymmetric key material (a PEM body without its armour) but HS256 needs a shared secret: a public key is never an HMAC secret';
    const der = rsa.publicKey!.export({ type: 'spki', format: 'der' });
    for (const text of [der.toString('base64'), der.toString('base64url'), der.toString('base64').replace(/(.{64})/g, '$1\n'), keyFor('ES256').publicKey!.export({ type: 'spki', format: 'der' }).toString('base64')]) {
      refuses({ signingKey: text }, 'signingKey', bare);
    }
    // A random secret written in base64 is still a secret.
    assert.equal(defineSettings({ signingKey: randomBytes(48).toString('base64') }).algorithm, 'HS256');
  });

  it('never uses public key material given as bytes (a Buffer from readFileSync) as an HMAC secret', () => {
    const rsa = keyFor('RS256');
    refuses({ signingKey: Buffer.from(rsaPublicPem()) }, 'signingKey', `signingKey ${NOT_HMAC}`);
    refuses({ signingKey: new Uint8Array(Buffer.from(`\n${rsaPublicPem()}`)) }, 'signingKey', `signingKey ${NOT_HMAC}`);
    refuses({ signingKey: Buffer.from(JSON.stringify(rsa.publicKey!.export({ format: 'jwk' }))) }, 'signingKey', `signingKey ${NOT_HMAC}`);
    const derMessage = 'signingKey is DER-encoded asymmetric key material but HS256 needs a shared secret: a public key is never an HMAC secret';
    refuses({ signingKey: rsa.publicKey!.export({ type: 'spki', format: 'der' }) }, 'signingKey', derMessage);
    refuses({ signingKey: rsa.publicKey!.export({ type: 'pkcs1', format: 'der' }) }, 'signingKey', derMessage);
    refuses({ signingKey: keyFor('ES256').publicKey!.export({ type: 'spki', format: 'der' }) }, 'signingKey', derMessage);
    refuses({ signingKey: rsa.privateKey!.export({ type: 'pkcs8', format: 'der' }) }, 'signingKey', derMessage);
  });

  it('refuses a verifyingKey with HMAC', () => {
    refuses({ signingKey: HS_SECRET, verifyingKey: HS_SECRET }, 'verifyingKey', 'verifyingKey is not used with HS256: HMAC verifies with signingKey; remove it');
  });

  it('requires a key', () => {
    refuses({}, 'signingKey', 'signingKey is required (or keyRing, or jwkUrl to only verify tokens)');
    refuses(undefined, 'signingKey', 'signingKey is required (or keyRing, or jwkUrl to only verify tokens)');
    refuses({ signingKey: undefined, accessTokenLifetime: 60 }, 'signingKey', 'signingKey is required (or keyRing, or jwkUrl to only verify tokens)');
    refuses({ algorithm: 'RS256' }, 'signingKey', 'signingKey is required (or keyRing, or jwkUrl to only verify tokens)');
  });
});

describe('asymmetric keys (S3)', () => {
  it('refuses an RSA key under 2048 bits, as signing or verifying key', () => {
    const small = generatePair('rsa', { modulusLength: 1024 });
    for (const algorithm of ['RS256', 'PS256'] as const) {
      refuses({ algorithm, signingKey: small.privateKey }, 'signingKey', `signingKey must be an RSA key of at least 2048 bits for ${algorithm} (got 1024)`);
      refuses({ algorithm, verifyingKey: small.publicKey }, 'verifyingKey', `verifyingKey must be an RSA key of at least 2048 bits for ${algorithm} (got 1024)`);
    }
    refuses({ algorithm: 'RS256', signingKey: small.privateKey.export({ type: 'pkcs8', format: 'pem' }) }, 'signingKey', 'signingKey must be an RSA key of at least 2048 bits for RS256 (got 1024)');
  });

  it('refuses an RSA-PSS (rsa-pss) key for PS*: it may be restricted to another hash, and cannot be published in the JWKS', () => {
    const pem = (generateKeyPairSync as (type: string, options: object) => { privateKey: string; publicKey: string })('rsa-pss', {
      modulusLength: 2048,
      hashAlgorithm: 'sha512',
      mgf1HashAlgorithm: 'sha512',
      saltLength: 64,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const why = 'key: give PS256 a plain RSA key (PKCS#8 "rsaEncryption"; PS256 signs it with PSS padding). An rsa-pss key may be restricted to another hash or salt length, and cannot be published in the JWKS';
    refuses({ algorithm: 'PS256', signingKey: createPrivateKey(pem.privateKey) }, 'signingKey', `signingKey is an RSA-PSS (rsa-pss) ${why}`);
    refuses({ algorithm: 'PS256', verifyingKey: pem.publicKey }, 'verifyingKey', `verifyingKey is an RSA-PSS (rsa-pss) ${why}`);
  });

  it('refuses a key of the wrong type or curve', () => {
    refuses({ algorithm: 'ES256', signingKey: keyFor('ES384').privateKey }, 'signingKey', 'signingKey is on curve secp384r1, but ES256 needs prime256v1');
    refuses({ algorithm: 'ES512', verifyingKey: keyFor('ES256').publicKey }, 'verifyingKey', 'verifyingKey is on curve prime256v1, but ES512 needs secp521r1');
    refuses({ algorithm: 'RS256', signingKey: keyFor('EdDSA').privateKey }, 'signingKey', 'signingKey is a ed25519 key, which does not fit RS256 (needs rsa)');
    refuses({ algorithm: 'ES256', signingKey: keyFor('RS256').privateKey }, 'signingKey', 'signingKey is a rsa key, which does not fit ES256 (needs ec)');
    refuses({ algorithm: 'EdDSA', signingKey: keyFor('ES256').privateKey }, 'signingKey', 'signingKey is a ec key, which does not fit EdDSA (needs ed25519)');
  });

  it('refuses a public key or a secret as the signing key', () => {
    refuses({ algorithm: 'RS256', signingKey: keyFor('RS256').publicKey }, 'signingKey', 'signingKey must be a private key (PEM, JWK or KeyObject): a public key cannot sign');
    refuses({ algorithm: 'RS256', signingKey: createSecretKey(randomBytes(32)) }, 'signingKey', 'signingKey must be a private key (PEM, JWK or KeyObject): a shared secret is not an asymmetric key');
    refuses({ algorithm: 'RS256', signingKey: { kty: 'oct', k: randomBytes(32).toString('base64url') } }, 'signingKey',
      'signingKey must be a private key (PEM, JWK or KeyObject): a JWK of kty "oct" is a shared secret, not an asymmetric key');
    refuses({ algorithm: 'RS256', signingKey: HS_SECRET }, 'signingKey', /^signingKey must be a private key \(PEM, JWK or KeyObject\): /);
  });

  it('refuses a verifyingKey that is not the public half of signingKey', () => {
    const other = generatePair('rsa', { modulusLength: 2048 });
    refuses({ algorithm: 'RS256', signingKey: keyFor('RS256').privateKey, verifyingKey: other.publicKey }, 'verifyingKey', 'verifyingKey is not the public half of signingKey');
    refuses({ algorithm: 'ES256', signingKey: keyFor('ES256').privateKey, verifyingKey: generatePair('ec', { namedCurve: 'P-256' }).publicKey }, 'verifyingKey',
      'verifyingKey is not the public half of signingKey');
    // The matching half, in any form, is fine.
    const key = keyFor('RS256');
    for (const verifyingKey of [key.publicKey!, key.publicKey!.export({ type: 'spki', format: 'pem' }) as string, key.publicKey!.export({ format: 'jwk' }) as { kty: string }]) {
      assert.equal(defineSettings({ algorithm: 'RS256', signingKey: key.privateKey!, verifyingKey }).algorithm, 'RS256');
    }
  });
});

describe('jwkUrl', () => {
  it('accepts https anywhere and http on loopback only', () => {
    for (const url of ['https://auth.example/.well-known/jwks.json', 'http://localhost:8080/jwks.json', 'http://127.0.0.1/jwks.json', 'http://[::1]:9000/jwks.json']) {
      const s = defineSettings({ algorithm: 'RS256', jwkUrl: url });
      assert.equal(s.jwkUrl, new URL(url).href);
      assert.equal(s.keyRing, undefined);
    }
  });

  it('refuses http on another host, other schemes and non-URLs', () => {
    for (const url of ['http://auth.example/jwks.json', 'http://localhost.attacker.example/jwks.json', 'http://127.0.0.1.nip.io/jwks.json', 'http://10.0.0.1/jwks.json', 'ftp://auth.example/jwks.json', 'file:///etc/jwks.json']) {
      refuses({ algorithm: 'RS256', jwkUrl: url }, 'jwkUrl', `jwkUrl must be an https: URL (http: only on localhost) (got ${JSON.stringify(url.length > 40 ? `${url.slice(0, 40)}…` : url)})`);
    }
    refuses({ algorithm: 'RS256', jwkUrl: 'jwks.json' }, 'jwkUrl', 'jwkUrl must be an absolute URL (got "jwks.json")');
  });

  it('refuses jwkUrl with an HMAC algorithm', () => {
    refuses({ jwkUrl: 'https://auth.example/jwks.json' }, 'jwkUrl', 'jwkUrl needs an asymmetric algorithm: a JWKS publishes public keys, never HS256 secrets');
    refuses({ algorithm: 'HS512', signingKey: randomBytes(64), jwkUrl: 'https://auth.example/jwks.json' }, 'jwkUrl',
      'jwkUrl needs an asymmetric algorithm: a JWKS publishes public keys, never HS512 secrets');
  });
});

describe('keyRing', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  it('accepts a ring: the first entry signs and its kid goes into the header', () => {
    const tokens = createTokens({ keyRing: [{ kid: 'k1', signingKey: k1 }, { kid: 'k2', signingKey: k2 }] });
    const token = tokens.access.forUser({ id: 1 }).toString();
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT', kid: 'k1' });
  });

  it('refuses keyRing together with signingKey or verifyingKey', () => {
    refuses({ signingKey: HS_SECRET, keyRing: [{ kid: 'k1', signingKey: k1 }] }, 'keyRing', 'keyRing replaces signingKey and verifyingKey: set one or the other');
    refuses({ algorithm: 'RS256', verifyingKey: keyFor('RS256').publicKey, keyRing: [{ kid: 'k1', signingKey: keyFor('RS256').privateKey }] }, 'keyRing',
      'keyRing replaces signingKey and verifyingKey: set one or the other');
  });

  it('refuses a duplicate kid', () => {
    refuses({ keyRing: [{ kid: 'k1', signingKey: k1 }, { kid: 'k1', signingKey: k2 }] }, 'keyRing[1].kid', 'keyRing[1].kid "k1" is used twice');
  });

  it('refuses a ring whose first entry cannot sign', () => {
    refuses({ keyRing: [{ kid: 'k1' }, { kid: 'k2', signingKey: k2 }] }, 'keyRing[0].signingKey', 'keyRing[0].signingKey is required: the first key of the ring signs new tokens');
    refuses({ algorithm: 'RS256', keyRing: [{ kid: 'k1', verifyingKey: keyFor('RS256').publicKey }] }, 'keyRing[0].signingKey',
      'keyRing[0].signingKey is required: the first key of the ring signs new tokens');
  });

  it('validates every entry like a single key, naming the entry', () => {
    refuses({ keyRing: [] }, 'keyRing', 'keyRing must be a non-empty array of { kid, algorithm?, signingKey?, verifyingKey? }');
    refuses({ keyRing: [{ kid: 'k1', signingKey: k1 }, { kid: 'k2', signingKey: 'short' }] }, 'keyRing[1].signingKey', 'keyRing[1].signingKey must be at least 32 bytes for HS256 (got 5)');
    refuses({ keyRing: [{ kid: 'k1', signingKey: k1 }, { kid: 'k2', signingKey: rsaPublicPem() }] }, 'keyRing[1].signingKey', `keyRing[1].signingKey ${NOT_HMAC}`);
    refuses({ keyRing: [{ kid: 'k 1', signingKey: k1 }] }, 'keyRing[0].kid', 'keyRing[0].kid must be 1-128 printable ASCII characters without spaces (got "k 1")');
    refuses({ keyRing: [{ kid: 'k1', signing_key: k1 }] }, 'keyRing[0].signing_key', 'keyRing[0].signing_key is not a key ring setting (allowed: kid, algorithm, signingKey, verifyingKey)');
    refuses({ keyRing: [{ kid: 'k1', algorithm: 'none', signingKey: k1 }] }, 'keyRing[0].algorithm',
      'keyRing[0].algorithm must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA (got "none")');
  });
});

// ---------------------------------------------------------------------------------------------
// Instances, immutability, secrecy
// ---------------------------------------------------------------------------------------------

describe('instances side by side', () => {
  it('keep their own secrets, lifetimes and claim names in one process', async () => {
    const secretB = randomBytes(32).toString('base64url');
    const a = createTokens({ signingKey: HS_SECRET, accessTokenLifetime: '1m' }, { clock: () => NOW_MS });
    const b = createTokens({ signingKey: secretB, accessTokenLifetime: '2h', userIdClaim: 'sub' }, { clock: () => NOW_MS });
    const ta = a.access.forUser({ id: 7 });
    const tb = b.access.forUser({ id: 7 });
    assert.equal(ta.exp, NOW + 60);
    assert.equal(tb.exp, NOW + 7200);
    assert.equal(ta.get('user_id'), '7');
    assert.equal(tb.get('sub'), '7');
    assert.equal(tb.get('user_id'), undefined);
    assert.equal((await a.access.verify(ta.toString())).userId, '7');
    assert.equal((await b.access.verify(tb.toString())).userId, '7');
    const invalid = (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid' && e.detail === 'Token is invalid';
    await assert.rejects(b.access.verify(ta.toString()), invalid);
    await assert.rejects(a.access.verify(tb.toString()), invalid);
    assert.equal(a.settings.accessTokenLifetime, 60, 'creating b changed nothing in a');
    assert.equal(a.settings.userIdClaim, 'user_id');
  });

  it('with one secret, still keep their audiences apart', async () => {
    const a = createTokens({ signingKey: HS_SECRET, audience: 'a' });
    const b = createTokens({ signingKey: HS_SECRET, audience: 'b' });
    await assert.rejects(b.access.verify(a.access.forUser({ id: 1 }).toString()), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
    assert.equal((await a.access.verify(a.access.forUser({ id: 1 }).toString())).userId, '1');
  });
});

describe('immutability', () => {
  it('returns a frozen object, with frozen lists, detached from the input', () => {
    const input = { signingKey: HS_SECRET, authHeaderTypes: ['Bearer', 'JWT'], authTokenClasses: ['access' as const] };
    const s = defineSettings(input);
    assert.ok(Object.isFrozen(s));
    assert.ok(Object.isFrozen(s.authHeaderTypes));
    assert.ok(Object.isFrozen(s.authTokenClasses));
    assert.throws(() => {
      (s as { leeway: number }).leeway = 300;
    }, TypeError);
    assert.throws(() => (s.authHeaderTypes as string[]).push('Token'), TypeError);
    input.authHeaderTypes.push('Token');
    input.authTokenClasses.push('refresh' as 'access');
    assert.deepEqual(s.authHeaderTypes, ['Bearer', 'JWT']);
    assert.deepEqual(s.authTokenClasses, ['access']);
    assert.equal(s.leeway, 0);
  });

  it('passes validated settings through unchanged, and shares them between instances', () => {
    const s = defineSettings({ signingKey: HS_SECRET });
    assert.equal(defineSettings(s), s);
    assert.equal(createTokens(s).settings, s);
  });

  it('does not accept a look-alike object as validated settings', () => {
    const copy = { ...defineSettings({ signingKey: HS_SECRET }) };
    assert.throws(() => defineSettings(copy as unknown as SettingsInput), (e: unknown) =>
      e instanceof ConfigurationError && e.setting === 'keyRing' && e.message === 'keyRing must be a non-empty array of { kid, algorithm?, signingKey?, verifyingKey? }');
  });
});

describe('secrecy of error messages', () => {
  it('never puts the secret text into a message or stack', () => {
    const marker = 'LEAK7q2w9';
    const secret = (length: number) => `${marker}${randomBytes(64).toString('base64url')}`.slice(0, length);
    const cases: Record<string, unknown>[] = [
      { signingKey: secret(20) },
      { algorithm: 'HS512', signingKey: secret(40) },
      { signingKey: `django-insecure-${secret(40)}` },
      { signingKey: `${secret(10)}`.repeat(4) },
      { algorithm: 'RS256', signingKey: secret(40) },
      { algorithm: 'RS256', verifyingKey: secret(40) },
      { signingKey: secret(40), verifyingKey: secret(40) },
      { SIGNING_KEY: secret(40) },
      { secret: secret(40) },
      { keyRing: [{ kid: 'k1', signingKey: secret(20) }] },
      { keyRing: [{ kid: 'k1', signingKey: randomBytes(32) }, { kid: 'k2', signingKey: secret(20) }] },
      { algorithm: 'RS256', signingKey: { kty: 'RSA', n: secret(40), e: 'AQAB', d: secret(40) } },
      { signingKey: { kty: 'oct', k: secret(10) } },
    ];
    for (const input of cases) {
      let error: unknown;
      try {
        createTokens(loose(input));
      } catch (caught) {
        error = caught;
      }
      assert.ok(error instanceof ConfigurationError, `refused: ${JSON.stringify(Object.keys(input))}`);
      assert.ok(!error.message.includes(marker), error.message);
      assert.ok(!String(error.stack).includes(marker), error.message);
      assert.ok(!JSON.stringify(error).includes(marker));
    }
  });
});
