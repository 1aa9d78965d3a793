/**
 * The key ring: one current signing key plus older verify-only keys, each named by a `kid`
 * (RFC 7515 §4.1.4). Keys rotate without logging anyone out: add a new current key, keep the old
 * one for verification until every token it signed has expired, then drop it.
 */
import type { KeyObject } from 'node:crypto';
import { ConfigurationError } from '../errors.js';
import { type Algorithm, type AlgorithmSpec, algorithmSpec, ALGORITHM_NAMES } from './algorithms.js';
import { type KeyInput, importKeys } from './keys.js';

/** One key of the ring, imported and bound to its algorithm. */
export interface RingKey {
  readonly kid: string | undefined;
  readonly algorithm: Algorithm;
  readonly spec: AlgorithmSpec;
  readonly signKey: KeyObject | undefined;
  readonly verifyKey: KeyObject;
  /** Exact signature length in bytes (RSA: from the modulus). */
  readonly signatureLength: number;
}

/** A key of the `keyRing` setting. The first entry signs; the others only verify. */
export interface KeyRingEntry {
  kid: string;
  /** Defaults to the `algorithm` setting. */
  algorithm?: Algorithm;
  signingKey?: KeyInput;
  verifyingKey?: KeyInput;
}

/** A public JWK as published in a JWKS document. */
export interface PublicJwk {
  kty: string;
  kid?: string;
  alg: string;
  use: 'sig';
  [member: string]: unknown;
}

const KID = /^[\x21-\x7e]{1,128}$/;

export function toRingKey(kid: string | undefined, algorithm: unknown, signing: KeyInput | undefined, verifying: KeyInput | undefined, prefix: string): RingKey {
  const spec = algorithmSpec(algorithm);
  if (!spec) {
    throw new ConfigurationError(prefix ? `${prefix}.algorithm` : 'algorithm', `must be one of ${ALGORITHM_NAMES.join(', ')} (got ${JSON.stringify(algorithm)})`);
  }
  const names = prefix
    ? { signing: `${prefix}.signingKey`, verifying: `${prefix}.verifyingKey` }
    : { signing: 'signingKey', verifying: 'verifyingKey' };
  const { signKey, verifyKey } = importKeys(spec, signing, verifying, names);
  const signatureLength = spec.signatureLength ?? Math.ceil((verifyKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  return { kid, algorithm: spec.name, spec, signKey, verifyKey, signatureLength };
}

export class KeyRing {
  /** The key that signs new tokens; `undefined` for a verify-only configuration. */
  readonly current: RingKey | undefined;
  /** Every key, current first. */
  readonly keys: readonly RingKey[];
  /** True when keys carry a `kid` (tokens then carry it too). */
  readonly usesKid: boolean;
  readonly #byKid = new Map<string, RingKey>();
  #jwks: { keys: PublicJwk[] } | undefined;

  constructor(keys: readonly RingKey[]) {
    this.keys = keys;
    this.current = keys[0]?.signKey ? keys[0] : undefined;
    this.usesKid = keys.some((key) => key.kid !== undefined);
    for (const key of keys) if (key.kid !== undefined) this.#byKid.set(key.kid, key);
  }

  /** Builds the ring of the `keyRing` setting, validating every entry. */
  static fromEntries(entries: unknown, defaultAlgorithm: unknown): KeyRing {
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new ConfigurationError('keyRing', 'must be a non-empty array of { kid, algorithm?, signingKey?, verifyingKey? }');
    }
    const seen = new Set<string>();
    const keys = entries.map((entry: unknown, index) => {
      const prefix = `keyRing[${index}]`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigurationError(prefix, 'must be an object');
      const { kid, algorithm, signingKey, verifyingKey, ...rest } = entry as Record<string, unknown>;
      const unknownKeys = Object.keys(rest);
      if (unknownKeys.length > 0) throw new ConfigurationError(`${prefix}.${unknownKeys[0]}`, 'is not a key ring setting (allowed: kid, algorithm, signingKey, verifyingKey)');
      if (typeof kid !== 'string' || !KID.test(kid)) throw new ConfigurationError(`${prefix}.kid`, `must be 1-128 printable ASCII characters without spaces (got ${JSON.stringify(kid)})`);
      if (seen.has(kid)) throw new ConfigurationError(`${prefix}.kid`, `"${kid}" is used twice`);
      seen.add(kid);
      if (index === 0 && signingKey === undefined) throw new ConfigurationError(`${prefix}.signingKey`, 'is required: the first key of the ring signs new tokens');
      return toRingKey(kid, algorithm ?? defaultAlgorithm, signingKey as KeyInput | undefined, verifyingKey as KeyInput | undefined, prefix);
    });
    return new KeyRing(keys);
  }

  /**
   * The key for a token's header. A `kid` must name a key exactly; a token without one is checked
   * against the current key only (tokens signed before the ring was introduced).
   */
  find(kid: unknown): RingKey | undefined {
    if (kid === undefined) return this.keys[0];
    return typeof kid === 'string' ? this.#byKid.get(kid) : undefined;
  }

  /**
   * The public keys as a JWKS document (RFC 7517 §5). Shared secrets are never published. Made on
   * the first call and then kept (the keys never change): the JWKS endpoint does no key export per
   * request. Each call returns a fresh copy, so a caller may change it.
   */
  jwks(): { keys: PublicJwk[] } {
    if (this.#jwks === undefined) {
      const keys: PublicJwk[] = [];
      for (const key of this.keys) {
        if (key.spec.family === 'HMAC') continue;
        const jwk = key.verifyKey.export({ format: 'jwk' }) as Record<string, unknown>;
        keys.push({ ...jwk, kty: String(jwk.kty), ...(key.kid !== undefined ? { kid: key.kid } : {}), alg: key.algorithm, use: 'sig' });
      }
      this.#jwks = { keys };
    }
    return { keys: this.#jwks.keys.map((jwk) => ({ ...jwk })) };
  }
}
