/**
 * Property-based tests (SECURITY.md "How to test"): whatever string arrives, `verify` either returns a
 * token or fails with a 401 `TokenError` — never another exception, never a crash. Validly signed
 * well-formed claim sets always verify and keep their claims; any one-character change is refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { AccessToken, createTokens, TokenError, TokenPairError, type Token, type TokenClass } from '../src/index.js';

const SECRET = 'property-test-secret-4b1d9e7a20c6f5183e9d0a7b6c5f4e3d';
const NOW_MS = Date.UTC(2031, 5, 1, 8, 30, 0);
const NOW = NOW_MS / 1000;
const tokens = createTokens({ signingKey: SECRET }, { clock: () => NOW_MS });

const B64URL_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const hs256 = (signingInput: string, secret = SECRET) => createHmac('sha256', secret).update(signingInput).digest('base64url');

/** A compact JWS whose HMAC is valid for the configured secret, over arbitrary header and payload text. */
function signRaw(headerJson: string, payloadJson: string): string {
  const signingInput = `${b64(headerJson)}.${b64(payloadJson)}`;
  return `${signingInput}.${hs256(signingInput)}`;
}

/** Only a 401 `TokenError` (token_not_valid) is an acceptable failure. */
function isTokenRejection(error: unknown): boolean {
  return error instanceof TokenPairError && error instanceof TokenError && error.status === 401 && error.code === 'token_not_valid';
}

/** Runs `verify` and `verifySync` on `input`: each must give an `AccessToken` or a 401 TokenError. */
async function verifiesOrRejectsCleanly(tokenClass: TokenClass<AccessToken>, input: unknown): Promise<void> {
  let asyncResult: Token | undefined;
  try {
    asyncResult = await tokenClass.verify(input);
  } catch (error) {
    if (!isTokenRejection(error)) throw new Error(`verify threw a non-TokenError: ${String(error)}`, { cause: error });
  }
  if (asyncResult !== undefined) assert.ok(asyncResult instanceof AccessToken);
  let syncResult: Token | undefined;
  try {
    syncResult = tokenClass.verifySync(input);
  } catch (error) {
    if (!isTokenRejection(error)) throw new Error(`verifySync threw a non-TokenError: ${String(error)}`, { cause: error });
  }
  assert.equal(syncResult === undefined, asyncResult === undefined, 'verify and verifySync disagree');
}

const base64urlSegment = fc.string({ unit: fc.constantFrom(...B64URL_CHARS), maxLength: 120 });

/** Claims that are reserved or checked; random extra claims stay clear of them. */
const RESERVED = new Set(['token_type', 'exp', 'iat', 'nbf', 'jti', 'user_id', 'aud', 'iss']);

/** Mostly `good`, sometimes `bad`: so that claim sets with one or two wrong claims are common. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: bad, weight: 1 });

/** A claim-shaped object whose checked claims are mostly sane and sometimes arbitrary JSON or absent. */
const claimLike = fc.record(
  {
    token_type: mostly(fc.constant('access'), fc.oneof(fc.constantFrom('refresh', 'sliding', 'ACCESS', ''), fc.jsonValue())),
    exp: mostly(fc.integer({ min: NOW - 100, max: NOW + 1000 }), fc.oneof(fc.double(), fc.jsonValue(), fc.constantFrom('9999999999', 1e400, 253402300800, -1))),
    iat: mostly(fc.integer({ min: NOW - 1000, max: NOW + 5 }), fc.oneof(fc.jsonValue(), fc.constantFrom(`${NOW}`, true))),
    nbf: mostly(fc.integer({ min: NOW - 1000, max: NOW + 5 }), fc.oneof(fc.jsonValue(), fc.constant([NOW]))),
    jti: mostly(fc.string({ minLength: 1, maxLength: 40 }), fc.oneof(fc.jsonValue(), fc.constantFrom('', 'x'.repeat(256)))),
    user_id: mostly(fc.oneof(fc.string({ minLength: 1 }), fc.integer()), fc.oneof(fc.double(), fc.jsonValue(), fc.constant({ id: 1 }))),
  },
  { requiredKeys: [] },
);

const randomHeader = fc.oneof(
  fc.jsonValue(),
  fc.object(),
  fc.record({ alg: fc.constantFrom('HS256', 'hs256', 'none', 'HS512', 'RS256') }),
  fc.tuple(fc.constantFrom('HS256', 'HS384', 'none'), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }))
    .map(([alg, extra]) => ({ ...extra, alg })),
  fc.constant({ alg: 'HS256', typ: 'JWT' }),
);
const randomPayload = fc.oneof(fc.jsonValue(), fc.object(), claimLike, fc.dictionary(fc.string(), fc.jsonValue()));

describe('property: verify never throws anything but a 401 TokenError', () => {
  it('random strings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('.', 'a', '=', '-', '_', ' ', '\u0000', 'é') })), (input) =>
        verifiesOrRejectsCleanly(tokens.access, input)),
      { numRuns: 1000 },
    );
  });

  it('random non-string inputs', async () => {
    await fc.assert(fc.asyncProperty(fc.anything(), (input) => verifiesOrRejectsCleanly(tokens.access, input)), { numRuns: 300 });
  });

  it('random three-segment strings of base64url characters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.tuple(base64urlSegment, base64urlSegment, base64urlSegment), ([a, b, c]) =>
        verifiesOrRejectsCleanly(tokens.access, `${a}.${b}.${c}`)),
      { numRuns: 1000 },
    );
  });

  it('random bytes encoded as segments', async () => {
    const segment = fc.uint8Array({ maxLength: 96 }).map((bytes) => Buffer.from(bytes).toString('base64url'));
    await fc.assert(
      fc.asyncProperty(fc.tuple(segment, segment, segment), ([a, b, c]) => verifiesOrRejectsCleanly(tokens.access, `${a}.${b}.${c}`)),
      { numRuns: 1000 },
    );
  });

  it('random JSON headers and payloads, validly HMAC-signed with the configured secret', async () => {
    await fc.assert(
      fc.asyncProperty(randomHeader, randomPayload, async (header, payload) => {
        const token = signRaw(JSON.stringify(header) ?? 'null', JSON.stringify(payload) ?? 'null');
        await verifiesOrRejectsCleanly(tokens.access, token);
      }),
      { numRuns: 1000 },
    );
  });

  it('payloads with claim-shaped values under a valid header are refused unless every checked claim is sane', async () => {
    await fc.assert(
      fc.asyncProperty(claimLike, async (claims) => {
        const token = signRaw('{"alg":"HS256","typ":"JWT"}', JSON.stringify(claims));
        let verified: AccessToken | undefined;
        try {
          verified = await tokens.access.verify(token);
        } catch (error) {
          if (!isTokenRejection(error)) throw error;
        }
        if (verified !== undefined) {
          // Acceptance implies every rule of S5/S6 held.
          const c = claims as Record<string, unknown>;
          assert.equal(c.token_type, 'access');
          assert.equal(typeof c.exp, 'number');
          assert.ok((c.exp as number) > NOW && Number.isFinite(c.exp));
          assert.equal(typeof c.jti, 'string');
          assert.ok((c.jti as string).length > 0);
          if ('iat' in c) assert.ok(typeof c.iat === 'number' && c.iat <= NOW);
          if ('nbf' in c) assert.ok(typeof c.nbf === 'number' && c.nbf <= NOW);
          if ('user_id' in c) assert.ok(typeof c.user_id === 'string' || Number.isSafeInteger(c.user_id));
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('property: validly signed, well-formed claim sets', () => {
  const extraClaims = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 12 }).filter((name) => !RESERVED.has(name)),
    fc.jsonValue({ maxDepth: 3 }),
    { maxKeys: 6 },
  );
  const wellFormed = fc.record({
    type: fc.constantFrom('access', 'refresh', 'sliding') as fc.Arbitrary<'access' | 'refresh' | 'sliding'>,
    exp: fc.oneof(fc.integer({ min: NOW + 1, max: 253402300799 }), fc.double({ min: NOW + 0.001, max: NOW + 1e6, noNaN: true })),
    iat: fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }),
    nbf: fc.option(fc.integer({ min: 0, max: NOW }), { nil: undefined }),
    jti: fc.string({ minLength: 1, maxLength: 255 }),
    userId: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 255 }), fc.maxSafeInteger()), { nil: undefined }),
    extra: extraClaims,
    typ: fc.boolean(),
  });

  it('always verify, in the class of their type, and round-trip their claims exactly', async () => {
    await fc.assert(
      fc.asyncProperty(wellFormed, async ({ type, exp, iat, nbf, jti, userId, extra, typ }) => {
        const claims: Record<string, unknown> = { token_type: type, exp, jti };
        if (iat !== undefined) claims.iat = iat;
        if (nbf !== undefined) claims.nbf = nbf;
        if (userId !== undefined) claims.user_id = userId;
        for (const [name, value] of Object.entries(extra)) {
          Object.defineProperty(claims, name, { value, enumerable: true, writable: true, configurable: true });
        }
        const json = JSON.stringify(claims);
        const token = signRaw(typ ? '{"alg":"HS256","typ":"JWT"}' : '{"alg":"HS256"}', json);
        const expected = JSON.parse(json) as Record<string, unknown>;

        const verified = await tokens[type].verify(token);
        assert.deepEqual({ ...verified.payload }, expected);
        assert.equal(verified.tokenType, type);
        assert.equal(verified.jti, jti);
        assert.deepEqual({ ...tokens[type].verifySync(token).payload }, expected);
        assert.deepEqual({ ...(await tokens.untyped.verify(token)).payload }, expected);
        // Every other type refuses it as the wrong type (S6).
        for (const other of (['access', 'refresh', 'sliding'] as const).filter((t) => t !== type)) {
          await assert.rejects(tokens[other].verify(token), (e: unknown) => e instanceof TokenError && e.kind === 'token_wrong_type');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a different secret never verifies them', async () => {
    const other = createTokens({ signingKey: 'another-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0' }, { clock: () => NOW_MS });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('access', 'refresh', 'sliding') as fc.Arbitrary<'access' | 'refresh' | 'sliding'>, fc.integer({ min: 0, max: 1e6 }), async (type, id) => {
        const token = tokens[type].forUser({ id }).toString();
        await assert.rejects(other[type].verify(token), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
      }),
      { numRuns: 300 },
    );
  });
});

describe('property: a one-character change to a valid token is always rejected', () => {
  const mutation = fc.record({
    type: fc.constantFrom('access', 'refresh', 'sliding') as fc.Arbitrary<'access' | 'refresh' | 'sliding'>,
    id: fc.oneof(fc.integer({ min: 0, max: 1e9 }), fc.string({ minLength: 1, maxLength: 40 })),
    position: fc.nat(),
    replacement: fc.oneof(fc.constantFrom(...B64URL_CHARS, '.', '=', '+', '/', ' '), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })),
  });

  it('in any position, by any other character', async () => {
    await fc.assert(
      fc.asyncProperty(mutation, async ({ type, id, position, replacement }) => {
        const token = tokens[type].forUser({ id }).toString();
        // The unmodified token verifies: the rejection below is caused by the change alone.
        assert.equal((await tokens[type].verify(token)).userId, String(id));
        const index = position % token.length;
        fc.pre(token[index] !== replacement);
        const mutated = token.slice(0, index) + replacement + token.slice(index + 1);
        assert.notEqual(mutated, token);
        await assert.rejects(tokens[type].verify(mutated), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
        assert.throws(() => tokens[type].verifySync(mutated), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
        await assert.rejects(tokens.untyped.verify(mutated), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
      }),
      { numRuns: 1000 },
    );
  });
});
