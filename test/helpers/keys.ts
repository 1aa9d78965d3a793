/** Test keys for every algorithm, generated once per process. */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
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
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : algorithm === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[algorithm as 'ES256'] });
    key = { signingKey: pair.privateKey, publicKey: pair.publicKey, privateKey: pair.privateKey, secret: undefined };
  }
  cache.set(algorithm, key);
  return key;
}
