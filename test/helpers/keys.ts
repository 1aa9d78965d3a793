/** Test keys for every algorithm, generated once per process. */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { Algorithm } from '../../src/index.js';

export const HS_SECRET = 'tokenpair-test-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0';

export interface TestKey {
  /** What to pass as `signingKey`: a secret string or a private KeyObject. */
  signingKey: string | KeyObject;
  /** The public key (asymmetric) or the secret bytes as a KeyObject-less value (HMAC). */
  publicKey: KeyObject | undefined;
  privateKey: KeyObject | undefined;
  secret: Buffer | undefined;
}

const cache = new Map<Algorithm, TestKey>();

export type PairOptions = { modulusLength: number } | { namedCurve: string } | undefined;

/**
 * `generateKeyPairSync`, with the keys imported again from PEM: KeyObjects that share no lock with
 * Node's key-generation job. On Node 20, exporting a freshly generated key as a JWK (jose's
 * exportJWK, `export({ format: 'jwk' })`) can deadlock when a garbage collection destroys that job
 * meanwhile (src/jws/keys.ts, ownCopy); that hung one CI run in test/cross-library.test.ts.
 */
export function generatePair(type: 'rsa' | 'ec' | 'ed25519', options?: PairOptions): { privateKey: KeyObject; publicKey: KeyObject } {
  const encoding = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  const pem = (generateKeyPairSync as (type: string, options: object) => { privateKey: string; publicKey: string })(type, { ...options, ...encoding });
  return { privateKey: createPrivateKey(pem.privateKey), publicKey: createPublicKey(pem.publicKey) };
}

export const ALL_ALGORITHMS: Algorithm[] = [
  'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
];

/** A key for `algorithm`; the same one for the whole test file. */
export function keyFor(algorithm: Algorithm): TestKey {
  let key = cache.get(algorithm);
  if (key) return key;
  if (algorithm.startsWith('HS')) {
    const bytes = { HS256: 32, HS384: 48, HS512: 64 }[algorithm as 'HS256'];
    const secret = randomBytes(bytes).toString('base64url').slice(0, bytes);
    key = { signingKey: secret, publicKey: undefined, privateKey: undefined, secret: Buffer.from(secret) };
  } else {
    const pair = algorithm.startsWith('RS') || algorithm.startsWith('PS')
      ? generatePair('rsa', { modulusLength: 2048 })
      : algorithm === 'EdDSA'
        ? generatePair('ed25519')
        : generatePair('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[algorithm as 'ES256'] });
    key = { signingKey: pair.privateKey, publicKey: pair.publicKey, privateKey: pair.privateKey, secret: undefined };
  }
  cache.set(algorithm, key);
  return key;
}
