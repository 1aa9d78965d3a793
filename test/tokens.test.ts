import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTokens, TokenError, TokenUser, type SettingsInput } from '../src/index.js';
import { HS_SECRET } from './helpers/keys.js';

/** 2026-01-01T00:00:00Z, plus whatever the test moves it by. */
const T0 = Date.UTC(2026, 0, 1);
const T0_SECONDS = T0 / 1000;

function setup(settings: Partial<SettingsInput> = {}) {
  const clock = { now: T0 };
  const tokens = createTokens({ signingKey: HS_SECRET, ...settings }, { clock: () => clock.now });
  return { tokens, clock };
}

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('issuing tokens for a user', () => {
  it('writes the claims in WIRE.md order with simplejwt lifetimes', () => {
    const { tokens } = setup();
    const refresh = tokens.refresh.forUser({ id: 42 });
    const claims = decodePayload(refresh.toString());
    assert.deepEqual(Object.keys(claims), ['token_type', 'exp', 'iat', 'jti', 'user_id']);
    assert.equal(claims.token_type, 'refresh');
    assert.equal(claims.iat, T0_SECONDS);
    assert.equal(claims.exp, T0_SECONDS + 86400);
    assert.match(claims.jti as string, /^[0-9a-f]{32}$/);
    assert.equal(claims.user_id, '42', 'user_id is the id as a string');

    const access = decodePayload(tokens.access.forUser({ id: 42 }).toString());
    assert.equal(access.exp, T0_SECONDS + 300);
    assert.equal(access.token_type, 'access');
  });

  it('uses the configured header, user id field and claim names', () => {
    const { tokens } = setup({ userIdField: 'uuid', userIdClaim: 'sub', tokenTypeClaim: 'typ', jtiClaim: 'id', accessTokenLifetime: '10m' });
    const token = tokens.access.forUser({ uuid: 'a1b2' }).toString();
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
    const claims = decodePayload(token);
    assert.deepEqual(Object.keys(claims), ['typ', 'exp', 'iat', 'id', 'sub']);
    assert.equal(claims.sub, 'a1b2');
    assert.equal(claims.exp, T0_SECONDS + 600);
  });

  it('refuses a user without a usable id', () => {
    const { tokens } = setup();
    assert.throws(() => tokens.access.forUser({ name: 'x' }), /user\.id must be a non-empty string or a safe integer/);
    assert.throws(() => tokens.access.forUser({ id: { $ne: 1 } }), /user\.id must be/);
  });

  it('adds aud and iss last when configured', () => {
    const { tokens } = setup({ audience: 'api', issuer: 'https://auth.example' });
    const claims = decodePayload(tokens.access.forUser({ id: 1 }).toString());
    assert.deepEqual(Object.keys(claims), ['token_type', 'exp', 'iat', 'jti', 'user_id', 'aud', 'iss']);
    assert.equal(claims.aud, 'api');
    assert.equal(claims.iss, 'https://auth.example');
  });

  it('applies customizeClaims (sync or async) to the refresh token and the access token derived from it', async () => {
    const { tokens } = setup({
      customizeClaims: async (token, user) => {
        await Promise.resolve();
        token.set('username', user.username);
        token.set('roles', ['admin']);
      },
    });
    const { refresh, access } = await tokens.issuePair({ id: 5, username: 'ada' });
    const r = decodePayload(refresh.toString());
    const a = decodePayload(access.toString());
    assert.deepEqual(Object.keys(r), ['token_type', 'exp', 'iat', 'jti', 'user_id', 'username', 'roles']);
    assert.deepEqual([a.username, a.roles, a.token_type], ['ada', ['admin'], 'access']);
  });

  it('sets a "__proto__" claim as an ordinary claim, never as the prototype', () => {
    const { tokens } = setup();
    const token = tokens.access.forUser({ id: 1 });
    token.set('__proto__', { isAdmin: true });
    assert.equal(Object.getPrototypeOf(token.payload), Object.prototype);
    assert.equal((token.payload as { isAdmin?: unknown }).isAdmin, undefined);
    assert.deepEqual(token.get('__proto__'), { isAdmin: true });
    assert.equal(JSON.stringify(decodePayload(token.toString()).__proto__), '{"isAdmin":true}');
  });

  it('puts the security stamp in the revoke claim when checkRevokeToken is on', () => {
    const { tokens } = setup({ checkRevokeToken: true, revokeTokenClaim: 'stamp' });
    const claims = decodePayload(tokens.access.forUser({ id: 1, securityStamp: 's-1' }).toString());
    assert.equal(claims.stamp, 's-1');
    assert.throws(() => tokens.access.forUser({ id: 1 }), /securityStamp must be a non-empty string/);
  });
});

describe('refresh → access derivation', () => {
  it('copies every claim but token_type, exp, iat, jti; iat is now and exp counts from now', async () => {
    const { tokens, clock } = setup();
    const refresh = tokens.refresh.forUser({ id: 9 });
    refresh.set('tenant', 't-1');
    const refreshString = refresh.toString();

    clock.now = T0 + 3600_000;
    const verified = await tokens.refresh.verify(refreshString);
    const access = decodePayload(verified.accessToken.toString());
    assert.deepEqual(Object.keys(access), ['token_type', 'exp', 'iat', 'jti', 'user_id', 'tenant']);
    assert.equal(access.token_type, 'access');
    assert.equal(access.iat, T0_SECONDS + 3600);
    assert.equal(access.exp, T0_SECONDS + 3600 + 300);
    assert.equal(access.tenant, 't-1');
    assert.notEqual(access.jti, refresh.jti);
  });

  it('rotation keeps the claims and renews jti, exp and iat', async () => {
    const { tokens, clock } = setup();
    const refresh = tokens.refresh.forUser({ id: 9 });
    refresh.set('tenant', 't-1');
    clock.now = T0 + 60_000;
    const verified = await tokens.refresh.verify(refresh.toString());
    const next = verified.rotated();
    assert.equal(next.get('tenant'), 't-1');
    assert.equal(next.get('user_id'), '9');
    assert.notEqual(next.jti, refresh.jti);
    assert.equal(next.get('iat'), T0_SECONDS + 60);
    assert.equal(next.exp, T0_SECONDS + 60 + 86400);
    assert.deepEqual(Object.keys(next.payload), ['token_type', 'exp', 'iat', 'jti', 'user_id', 'tenant']);
  });
});

describe('expiry (check_exp semantics)', () => {
  it('is valid one second before exp and expired at exp', async () => {
    const { tokens, clock } = setup();
    const token = tokens.access.forUser({ id: 1 }).toString();
    clock.now = T0 + 299_000;
    assert.equal((await tokens.access.verify(token)).userId, '1');
    clock.now = T0 + 300_000;
    await assert.rejects(tokens.access.verify(token), (e: unknown) => e instanceof TokenError && e.kind === 'token_expired' && e.detail === 'Token is expired');
  });

  it('honours leeway', async () => {
    const { tokens, clock } = setup({ leeway: 10 });
    const token = tokens.access.forUser({ id: 1 }).toString();
    clock.now = T0 + 309_000;
    assert.equal((await tokens.access.verify(token)).userId, '1');
    clock.now = T0 + 310_000;
    await assert.rejects(tokens.access.verify(token), (e: unknown) => e instanceof TokenError && e.kind === 'token_expired');
  });

  it('checkExp names other claims in its message', () => {
    const { tokens } = setup();
    const token = tokens.access.forUser({ id: 1 });
    token.set('custom_exp', T0_SECONDS);
    assert.throws(() => token.checkExp('custom_exp'), (e: unknown) => e instanceof TokenError && e.detail === "Token 'custom_exp' claim has expired");
    assert.throws(() => token.checkExp('missing'), (e: unknown) => e instanceof TokenError && e.detail === "Token has no 'missing' claim");
  });
});

describe('sliding tokens', () => {
  it('carries refresh_exp after iat/jti and before user_id', () => {
    const { tokens } = setup();
    const claims = decodePayload(tokens.sliding.forUser({ id: 3 }).toString());
    assert.deepEqual(Object.keys(claims), ['token_type', 'exp', 'iat', 'jti', 'refresh_exp', 'user_id']);
    assert.equal(claims.token_type, 'sliding');
    assert.equal(claims.exp, T0_SECONDS + 300);
    assert.equal(claims.refresh_exp, T0_SECONDS + 86400);
  });

  it('refreshes with the same jti and refresh_exp and a new exp/iat', async () => {
    const { tokens, clock } = setup();
    const original = tokens.sliding.forUser({ id: 3 });
    clock.now = T0 + 200_000;
    const next = (await tokens.sliding.verify(original.toString())).refreshed();
    assert.equal(next.jti, original.jti);
    assert.equal(next.get('refresh_exp'), T0_SECONDS + 86400);
    assert.equal(next.get('iat'), T0_SECONDS + 200);
    assert.equal(next.exp, T0_SECONDS + 200 + 300);
  });

  it('refuses to refresh past refresh_exp', async () => {
    const { tokens, clock } = setup({ slidingTokenLifetime: '2d', slidingTokenRefreshLifetime: '1d' });
    const token = tokens.sliding.forUser({ id: 3 }).toString();
    clock.now = T0 + 86400_000;
    const verified = await tokens.sliding.verify(token);
    assert.throws(() => verified.refreshed(), (e: unknown) => e instanceof TokenError && e.kind === 'token_refresh_exp_expired' && e.detail === "Token 'refresh_exp' claim has expired");
  });
});

describe('token types', () => {
  it('never accepts one type for another', async () => {
    const { tokens } = setup();
    const refresh = tokens.refresh.forUser({ id: 1 }).toString();
    const sliding = tokens.sliding.forUser({ id: 1 }).toString();
    const wrongType = (e: unknown) => e instanceof TokenError && e.kind === 'token_wrong_type' && e.detail === 'Token has wrong type';
    await assert.rejects(tokens.access.verify(refresh), wrongType);
    await assert.rejects(tokens.access.verify(sliding), wrongType);
    await assert.rejects(tokens.sliding.verify(refresh), wrongType);
    await assert.rejects(tokens.refresh.verify(sliding), wrongType);
  });

  it('untyped verifies any type and cannot be issued', async () => {
    const { tokens } = setup();
    const verified = await tokens.untyped.verify(tokens.refresh.forUser({ id: 1 }).toString());
    assert.equal(verified.tokenType, 'refresh');
    assert.throws(() => tokens.untyped.create(), /untyped token can only be made from an existing token string/);
  });
});

describe('the stateless token user', () => {
  it('exposes id, username and the claims', async () => {
    const { tokens } = setup();
    const token = tokens.access.forUser({ id: 12 });
    token.set('username', 'grace');
    const user = tokens.tokenUser(await tokens.access.verify(token.toString())) as TokenUser;
    assert.ok(user instanceof TokenUser);
    assert.deepEqual([user.id, user.username, user.isAuthenticated, user.isActive], ['12', 'grace', true, true]);
    assert.equal(user.get('token_type'), 'access');
    assert.deepEqual(user.toJSON(), { id: '12', username: 'grace' });
  });

  it('uses tokenUserClass when set', async () => {
    const { tokens } = setup({ tokenUserClass: (claims) => ({ custom: claims.user_id }) });
    const user = tokens.tokenUser(await tokens.access.verify(tokens.access.forUser({ id: 4 }).toString()));
    assert.deepEqual(user, { custom: '4' });
  });
});

describe('independent instances', () => {
  it('keep their own clock, settings and keys in one process', async () => {
    const a = setup({ accessTokenLifetime: 60 });
    const b = createTokens({ signingKey: 'another-secret-for-instance-b-7c41e9a2d0f3', accessTokenLifetime: 120 }, { clock: () => T0 + 1000 });
    const ta = a.tokens.access.forUser({ id: 1 }).toString();
    const tb = b.access.forUser({ id: 1 }).toString();
    assert.equal(decodePayload(ta).exp, T0_SECONDS + 60);
    assert.equal(decodePayload(tb).exp, T0_SECONDS + 1 + 120);
    await assert.rejects(b.access.verify(ta), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
    await assert.rejects(a.tokens.access.verify(tb), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
  });
});
