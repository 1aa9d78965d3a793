/**
 * Verification keys from a remote JWKS document (simplejwt's `JWK_URL`): fetched with a time limit,
 * cached, and re-fetched when a token names an unknown `kid` (jose's `createRemoteJWKSet` does the
 * fetching and caching). Each key is turned into a `KeyObject` once and checked against the
 * configured algorithm like a local key.
 */
import { KeyObject } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors } from 'jose';
import { TokenPairError, invalidToken } from '../errors.js';
import { ALGORITHMS, type Algorithm } from './algorithms.js';
import type { RingKey } from './keyring.js';

export interface RemoteKeyOptions {
  url: string;
  algorithm: Algorithm;
  /** Seconds. */
  cacheMaxAge: number;
  /** Seconds. */
  fetchTimeout: number;
}

export class RemoteKeySource {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  readonly #algorithm: Algorithm;
  /** One `RingKey` per fetched CryptoKey; dropped with the key when jose drops its cache. */
  readonly #converted = new WeakMap<object, RingKey>();

  constructor(options: RemoteKeyOptions) {
    this.#algorithm = options.algorithm;
    this.#jwks = createRemoteJWKSet(new URL(options.url), {
      timeoutDuration: Math.round(options.fetchTimeout * 1000),
      cacheMaxAge: Math.round(options.cacheMaxAge * 1000),
      cooldownDuration: Math.min(30_000, Math.round(options.cacheMaxAge * 1000)),
    });
  }

  /** The key for a token header whose `alg` was already checked against configuration. */
  async find(header: Record<string, unknown>): Promise<RingKey> {
    let cryptoKey: object;
    try {
      const protectedHeader = { alg: this.#algorithm, ...(typeof header.kid === 'string' ? { kid: header.kid } : {}) };
      cryptoKey = await this.#jwks(protectedHeader);
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey) {
        throw invalidToken(`no key of the remote JWKS matches kid ${JSON.stringify(header.kid)}`);
      }
      if (error instanceof joseErrors.JWKSMultipleMatchingKeys) {
        // Which one would be a guess: refused, saying why (jose refuses too; PyJWKClient takes the first).
        throw invalidToken(`the remote JWKS has several keys for kid ${JSON.stringify(header.kid)} and ${this.#algorithm}`);
      }
      // The JWKS could not be fetched or read: that is our outage, not the client's bad token.
      throw new TokenPairError('service_unavailable', `remote JWKS unavailable: ${(error as Error).message}`);
    }
    let key = this.#converted.get(cryptoKey);
    if (!key) {
      const spec = ALGORITHMS[this.#algorithm];
      const verifyKey = KeyObject.from(cryptoKey as Parameters<typeof KeyObject.from>[0]);
      const type = verifyKey.asymmetricKeyType ?? 'secret';
      const details = verifyKey.asymmetricKeyDetails ?? {};
      const fits = (spec.keyTypes as readonly string[]).includes(type)
        && (!('namedCurve' in spec) || details.namedCurve === spec.namedCurve)
        && (spec.family !== 'RSA' && spec.family !== 'RSA-PSS' || (details.modulusLength ?? 0) >= spec.minKeySize);
      if (!fits) throw invalidToken(`the remote JWKS key does not fit ${spec.name}`);
      const signatureLength = spec.signatureLength ?? Math.ceil((details.modulusLength ?? 0) / 8);
      key = { kid: typeof header.kid === 'string' ? header.kid : undefined, algorithm: spec.name, spec, signKey: undefined, verifyKey, signatureLength };
      this.#converted.set(cryptoKey, key);
    }
    return key;
  }
}
