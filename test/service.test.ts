import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthService, MemoryStore } from '../src/index.js';
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
