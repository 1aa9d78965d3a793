/**
 * Verification keys from a remote JWKS (`jwkUrl`, simplejwt's JWK_URL) served by a real HTTP server
 * on 127.0.0.1: fetched once and cached, re-fetched for an unknown kid (after the cooldown), bounded
 * by `jwkFetchTimeout`, and every key checked against the configured algorithm.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import * as jose from 'jose';
import { ConfigurationError, createTokens, TokenError, TokenPairError, type PublicJwk, type Tokens } from '../src/index.js';
import { ALL_ALGORITHMS, keyFor, generatePair } from './helpers/keys.js';

interface JwksServer {
  url: string;
  /** GET /jwks.json requests served so far. */
  readonly requests: number;
  keys: object[];
  close(): Promise<void>;
}

const servers: Server[] = [];
const hanging: ServerResponse[] = [];

after(async () => {
  for (const response of hanging) response.destroy();
  await Promise.all(
    servers.map((server) => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    })),
  );
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
}

/** A JWKS server whose key set can be changed between requests. */
async function jwksServer(keys: object[], status = 200): Promise<JwksServer> {
  const state = { requests: 0, keys };
  const server = createServer((request, response) => {
    if (request.url !== '/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    state.requests++;
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  const url = await listen(server);
  return {
    url,
    get requests() {
      return state.requests;
    },
    get keys() {
      return state.keys;
    },
    set keys(next) {
      state.keys = next;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const rsa1 = generatePair('rsa', { modulusLength: 2048 });
const rsa2 = generatePair('rsa', { modulusLength: 2048 });
const ec1 = generatePair('ec', { namedCurve: 'P-256' });

/** The signing side: an ordinary instance with a key ring. */
const rsaSigner1 = createTokens({ algorithm: 'RS256', keyRing: [{ kid: 'rsa-1', signingKey: rsa1.privateKey }] });
const rsaSigner2 = createTokens({ algorithm: 'RS256', keyRing: [{ kid: 'rsa-2', signingKey: rsa2.privateKey }] });
const ecSigner = createTokens({ algorithm: 'ES256', keyRing: [{ kid: 'ec-1', signingKey: ec1.privateKey }] });

const jwk = (tokens: Tokens): PublicJwk => tokens.jwks().keys[0]!;

function isKind(kind: string) {
  return (error: unknown) => error instanceof TokenPairError && error.kind === kind;
}

describe('remote JWKS (jwkUrl)', () => {
  it('verifies RS256 tokens with keys fetched once and cached for many verifications', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    assert.equal(tokens.settings.keyRing, undefined);
    assert.equal(server.requests, 0, 'nothing is fetched before the first verification');

    const token = rsaSigner1.access.forUser({ id: 42 }).toString();
    const verified = await tokens.access.verify(token);
    assert.equal(verified.userId, '42');
    assert.equal(server.requests, 1);

    for (let i = 0; i < 25; i++) assert.equal((await tokens.access.verify(rsaSigner1.access.forUser({ id: i }).toString())).userId, String(i));
    const parallel = await Promise.all(Array.from({ length: 25 }, (_, i) => tokens.refresh.verify(rsaSigner1.refresh.forUser({ id: i }).toString())));
    assert.deepEqual(parallel.map((t) => t.userId), Array.from({ length: 25 }, (_, i) => String(i)));
    assert.equal(server.requests, 1, 'the JWKS is fetched once and cached');
  });

  it('every asymmetric algorithm verifies through a remote JWKS (keys converted from jose CryptoKeys)', async () => {
    const asymmetric = ALL_ALGORITHMS.filter((alg) => !alg.startsWith('HS'));
    const signers = asymmetric.map((alg) => createTokens({ algorithm: alg, keyRing: [{ kid: `k-${alg}`, signingKey: keyFor(alg).signingKey }] }));
    const server = await jwksServer(signers.map(jwk));
    for (const [index, alg] of asymmetric.entries()) {
      const tokens = createTokens({ algorithm: alg, jwkUrl: server.url });
      const signer = signers[index]!;
      assert.equal((await tokens.access.verify(signer.access.forUser({ id: index }).toString())).userId, String(index), alg);
      // Twice: the second time from the converted-key cache.
      assert.equal((await tokens.refresh.verify(signer.refresh.forUser({ id: index }).toString())).userId, String(index), alg);
      // A token of another algorithm in the same set is refused.
      const other = signers[(index + 1) % signers.length]!;
      await assert.rejects(tokens.access.verify(other.access.forUser({ id: 1 }).toString()), isKind('token_invalid'), alg);
    }
    assert.equal(server.requests, asymmetric.length);
  });

  it('concurrent first verifications share one fetch', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    const token = rsaSigner1.access.forUser({ id: 1 }).toString();
    await Promise.all(Array.from({ length: 10 }, () => tokens.access.verify(token)));
    assert.equal(server.requests, 1);
  });

  it('verifies ES256 tokens (and jose-signed ones) from a JWKS that also holds RSA keys', async () => {
    const server = await jwksServer([jwk(rsaSigner1), jwk(ecSigner)]);
    const tokens = createTokens({ algorithm: 'ES256', jwkUrl: server.url });
    assert.equal((await tokens.access.verify(ecSigner.access.forUser({ id: 'alice' }).toString())).userId, 'alice');
    const now = Math.floor(Date.now() / 1000);
    const joseToken = await new jose.SignJWT({ token_type: 'access', exp: now + 60, iat: now, jti: 'e'.repeat(32), user_id: 'bob' })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'ec-1' })
      .sign(ec1.privateKey);
    assert.equal((await tokens.access.verify(joseToken)).userId, 'bob');
    // An RS256 token is not accepted by the ES256 instance, although its key is in the set.
    await assert.rejects(tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString()), isKind('token_invalid'));
    // A signature by another P-256 key under the published kid fails.
    const impostor = createTokens({ algorithm: 'ES256', keyRing: [{ kid: 'ec-1', signingKey: generatePair('ec', { namedCurve: 'P-256' }).privateKey }] });
    await assert.rejects(tokens.access.verify(impostor.access.forUser({ id: 1 }).toString()), (e: unknown) =>
      e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'signature does not match');
    assert.equal(server.requests, 1);
  });

  it('a JWKS with two keys under one kid refuses that kid\'s tokens, saying so', async () => {
    const server = await jwksServer([jwk(rsaSigner1), { ...jwk(rsaSigner2), kid: 'rsa-1' }]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    await assert.rejects(tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString()), (e: unknown) =>
      e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'the remote JWKS has several keys for kid "rsa-1" and RS256');
  });

  it('an unknown kid is refused during the cooldown, then re-fetched and verified once the key is published', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url, jwkCacheMaxAge: 1 });
    await tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString());
    assert.equal(server.requests, 1);

    server.keys = [jwk(rsaSigner1), jwk(rsaSigner2)];
    const rotated = rsaSigner2.access.forUser({ id: 2 }).toString();
    // Within the cooldown (min(30 s, jwkCacheMaxAge) = 1 s) an unknown kid does not hit the server.
    await assert.rejects(tokens.access.verify(rotated), (e: unknown) =>
      e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'no key of the remote JWKS matches kid "rsa-2"');
    assert.equal(server.requests, 1);

    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await tokens.access.verify(rotated)).userId, '2');
    assert.equal(server.requests, 2, 'one re-fetch');
    assert.equal((await tokens.access.verify(rsaSigner1.access.forUser({ id: 3 }).toString())).userId, '3');
    assert.equal(server.requests, 2);
  });

  it('a kid that is still unknown after a re-fetch is token_invalid', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url, jwkCacheMaxAge: 1 });
    await tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString());
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await assert.rejects(tokens.access.verify(rsaSigner2.access.forUser({ id: 2 }).toString()), isKind('token_invalid'));
    assert.equal(server.requests, 2);
  });

  it('a server that never answers fails within jwkFetchTimeout with service_unavailable', async () => {
    const server = createServer((_request, response) => {
      hanging.push(response);
    });
    const url = await listen(server);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: url, jwkFetchTimeout: 1 });
    const started = performance.now();
    let caught: unknown;
    await assert.rejects(tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString()), (error: unknown) => {
      caught = error;
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(caught instanceof TokenPairError, `expected a TokenPairError, got ${String(caught)}`);
    assert.equal(caught.kind, 'service_unavailable');
    assert.equal(caught.status, 503);
    assert.deepEqual(caught.toJSON(), { detail: 'Service temporarily unavailable.', code: 'service_unavailable' });
    assert.ok(!(caught instanceof TokenError), 'an outage is not a bad token');
    assert.ok(elapsed >= 900 && elapsed < 2500, `failed after ${Math.round(elapsed)} ms`);
    assert.equal(hanging.length, 1);
  });

  it('a JWKS endpoint answering 500 or non-JSON is service_unavailable, never a token', async () => {
    const failing = await jwksServer([jwk(rsaSigner1)], 500);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: failing.url });
    await assert.rejects(tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString()), isKind('service_unavailable'));
    assert.equal(failing.requests, 1);

    const garbage = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": [');
    });
    const url = await listen(garbage);
    await assert.rejects(createTokens({ algorithm: 'RS256', jwkUrl: url }).access.verify(rsaSigner1.access.forUser({ id: 1 }).toString()), isKind('service_unavailable'));
  });

  it('verifySync throws a ConfigurationError when jwkUrl is set', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    const token = rsaSigner1.access.forUser({ id: 1 }).toString();
    for (const call of [() => tokens.access.verifySync(token), () => tokens.codec.verifySync(token), () => tokens.untyped.verifySync('garbage')]) {
      assert.throws(call, (e: unknown) => e instanceof ConfigurationError && e.setting === 'jwkUrl');
    }
    assert.equal(server.requests, 0);
    // A verify-only instance cannot sign.
    assert.throws(() => tokens.access.forUser({ id: 1 }).toString(), (e: unknown) => e instanceof ConfigurationError && e.setting === 'signingKey');
  });

  it('a JWKS key that is an EC key when RS256 is configured → token_invalid', async () => {
    // The served key carries the kid the token names, but it is a P-256 key.
    const server = await jwksServer([{ ...jwk(ecSigner), kid: 'rsa-1', alg: undefined }]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    await assert.rejects(tokens.access.verify(rsaSigner1.access.forUser({ id: 1 }).toString()), (e: unknown) =>
      e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'no key of the remote JWKS matches kid "rsa-1"');
    assert.equal(server.requests, 1, 'the set was fetched: the key itself was refused');
  });

  it('a JWKS RSA key under 2048 bits is refused like a local one (S3) → token_invalid', async () => {
    const weak = generatePair('rsa', { modulusLength: 1024 });
    const server = await jwksServer([{ ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256', use: 'sig' }]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    const now = Math.floor(Date.now() / 1000);
    const claims = { token_type: 'access', exp: now + 60, iat: now, jti: 'f'.repeat(32), user_id: '1' };
    const signingInput = `${Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'weak' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const { sign } = await import('node:crypto');
    const token = `${signingInput}.${sign('sha256', Buffer.from(signingInput), weak.privateKey).toString('base64url')}`;
    await assert.rejects(tokens.access.verify(token), (e: unknown) =>
      e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'the remote JWKS key does not fit RS256');
    assert.equal(server.requests, 1);
  });

  it('an HS256 token presented to the RS256 jwkUrl instance → token_invalid, without fetching', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    const now = Math.floor(Date.now() / 1000);
    const claims = { token_type: 'access', exp: now + 60, iat: now, jti: 'a'.repeat(32), user_id: '1' };
    const pem = rsa1.publicKey.export({ type: 'spki', format: 'pem' });
    for (const kid of ['rsa-1', undefined]) {
      const signingInput = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      // Keyed with the published public key (the classic confusion attack) and with an ordinary secret.
      for (const secret of [pem, 'an-hmac-secret-of-some-length-9a8b7c6d5e4f3a2b']) {
        const token = `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
        await assert.rejects(tokens.access.verify(token), (e: unknown) =>
          e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'alg "HS256" is not the configured RS256');
      }
    }
    const hsTokens = createTokens({ signingKey: 'an-hmac-secret-of-some-length-9a8b7c6d5e4f3a2b' });
    await assert.rejects(tokens.access.verify(hsTokens.access.forUser({ id: 1 }).toString()), isKind('token_invalid'));
    assert.equal(server.requests, 0, 'the configured algorithm is checked before any fetch');
  });

  it('malformed tokens are refused before any fetch', async () => {
    const server = await jwksServer([jwk(rsaSigner1)]);
    const tokens = createTokens({ algorithm: 'RS256', jwkUrl: server.url });
    for (const bad of ['', 'a.b', 'a.b.c.d', 'x'.repeat(9000), `${rsaSigner1.access.forUser({ id: 1 }).toString()}=`]) {
      await assert.rejects(tokens.access.verify(bad), isKind('token_invalid'));
    }
    assert.equal(server.requests, 0);
  });
});
