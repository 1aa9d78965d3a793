import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthService, InvalidTokenForAnyType, MemoryStore } from '../src/index.js';
import { HS_SECRET } from './helpers/keys.js';

describe('AuthService.authenticate, stateless (userLookup: false)', () => {
  it('answers the principal from the claims, with the token user of tokenUserClass', async () => {
    const made: unknown[] = [];
    const service = new AuthService({
      settings: { signingKey: HS_SECRET, userLookup: false, tokenUserClass: (claims) => (made.push(claims.user_id), { id: claims.user_id }) },
      userStore: new MemoryStore({ warn: false }),
    });
    const token = service.tokens.access.forUser({ id: 5 });
    token.set('username', 'eve');
    const principal = await service.authenticate(`Bearer ${token.toString()}`);
    assert.deepEqual([principal.id, principal.username, principal.record], ['5', 'eve', null]);
    assert.deepEqual(principal.tokenUser, { id: '5' });
    assert.deepEqual(made, ['5']);
  });

  it('reads the scheme case-insensitively with one space, or any run of spaces and tabs', async () => {
    const service = new AuthService({ settings: { signingKey: HS_SECRET, userLookup: false }, userStore: new MemoryStore({ warn: false }) });
    const token = service.tokens.access.forUser({ id: 7 }).toString();
    for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER \t ${token}`, `Bearer\t${token}`, `  Bearer   ${token}  `]) {
      assert.equal((await service.authenticate(header)).id, '7', JSON.stringify(header.slice(0, 12)));
    }
    for (const [header, code] of [['Bearer', 'bad_authorization_header'], [`Bearer ${token} x`, 'bad_authorization_header'], [`Token ${token}`, 'not_authenticated'], ['', 'not_authenticated']] as const) {
      await assert.rejects(service.authenticate(header), (e: { code?: string }) => e.code === code, header.slice(0, 12));
    }
  });
});

describe('AuthService.authenticate with sliding tokens accepted (authTokenClasses: access, sliding)', () => {
  it('refuses a revoked or spent sliding token: the last class tried does not leave it behind as the answer', async () => {
    const store = new MemoryStore({ warn: false });
    const carol = await store.createUser({ username: 'carol', passwordHash: 'x', isActive: true });
    const service = new AuthService({ settings: { signingKey: HS_SECRET, authTokenClasses: ['access', 'sliding'] }, userStore: store, tokenStore: store });
    const sliding = await service.tokens.issueSliding(carol as never);
    const now = Math.floor(Date.now() / 1000);
    await store.startFamily({ jti: sliding.jti, userId: carol.id, familyId: 'a'.repeat(32), tokenType: 'sliding', issuedAt: now, expiresAt: sliding.exp }, { userAgent: null, address: null }, null);
    assert.equal((await service.authenticate(`Bearer ${sliding.toString()}`)).id, carol.id);
    await store.revokeFamilyOf(sliding.jti, 'logout', now);
    await assert.rejects(service.authenticate(`Bearer ${sliding.toString()}`), (error: InvalidTokenForAnyType) => {
      assert.equal(error.code, 'token_not_valid');
      assert.deepEqual(error.messages, [
        { token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' },
        { token_class: 'SlidingToken', token_type: 'sliding', message: 'Token is blacklisted' },
      ]);
      return true;
    });
  });
});
