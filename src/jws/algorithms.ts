/**
 * RFC 7518 §3 (and RFC 8037 for EdDSA): the one table of JWS algorithms. Everything else looks an
 * algorithm up here instead of branching on its name.
 */

export type AlgorithmFamily = 'HMAC' | 'RSA' | 'RSA-PSS' | 'ECDSA' | 'EdDSA';

export interface AlgorithmSpec {
  readonly name: Algorithm;
  readonly family: AlgorithmFamily;
  /** node:crypto digest name; `null` for EdDSA, which hashes internally. */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** Signature length in bytes when fixed by the algorithm (HMAC, ECDSA, EdDSA); RSA: the modulus length. */
  readonly signatureLength: number | null;
  /** node:crypto `asymmetricKeyType`s a key may have; empty for HMAC (secret keys). */
  readonly keyTypes: readonly string[];
  /** ECDSA: the only curve allowed (node:crypto's name). */
  readonly namedCurve?: string;
  /** HMAC: the smallest secret in bytes (the hash length, RFC 7518 §3.2). RSA: the smallest modulus in bits. */
  readonly minKeySize: number;
}

const HMAC = (name: Algorithm, hash: 'sha256' | 'sha384' | 'sha512', bytes: number): AlgorithmSpec => ({
  name,
  family: 'HMAC',
  hash,
  signatureLength: bytes,
  keyTypes: [],
  minKeySize: bytes,
});
const RSA = (name: Algorithm, family: 'RSA' | 'RSA-PSS', hash: 'sha256' | 'sha384' | 'sha512'): AlgorithmSpec => ({
  name,
  family,
  hash,
  signatureLength: null,
  // Plain RSA keys only, PS* too: an 'rsa-pss' key may be restricted to another hash or salt
  // (every signature would then fail), and Node cannot export it as a JWK (the JWKS endpoint).
  keyTypes: ['rsa'],
  minKeySize: 2048,
});
const ECDSA = (name: Algorithm, hash: 'sha256' | 'sha384' | 'sha512', namedCurve: string, bytes: number): AlgorithmSpec => ({
  name,
  family: 'ECDSA',
  hash,
  signatureLength: bytes,
  keyTypes: ['ec'],
  namedCurve,
  minKeySize: 0,
});

export const ALGORITHMS = {
  HS256: HMAC('HS256', 'sha256', 32),
  HS384: HMAC('HS384', 'sha384', 48),
  HS512: HMAC('HS512', 'sha512', 64),
  RS256: RSA('RS256', 'RSA', 'sha256'),
  RS384: RSA('RS384', 'RSA', 'sha384'),
  RS512: RSA('RS512', 'RSA', 'sha512'),
  PS256: RSA('PS256', 'RSA-PSS', 'sha256'),
  PS384: RSA('PS384', 'RSA-PSS', 'sha384'),
  PS512: RSA('PS512', 'RSA-PSS', 'sha512'),
  ES256: ECDSA('ES256', 'sha256', 'prime256v1', 64),
  ES384: ECDSA('ES384', 'sha384', 'secp384r1', 96),
  ES512: ECDSA('ES512', 'sha512', 'secp521r1', 132),
  EdDSA: { name: 'EdDSA', family: 'EdDSA', hash: null, signatureLength: 64, keyTypes: ['ed25519'], minKeySize: 0 },
} as const satisfies Record<string, AlgorithmSpec>;

export type Algorithm =
  | 'HS256' | 'HS384' | 'HS512'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA';

export const ALGORITHM_NAMES = Object.keys(ALGORITHMS) as Algorithm[];

/** Case-sensitive lookup that never walks the prototype chain (`"constructor"` is not an algorithm). */
export function algorithmSpec(name: unknown): AlgorithmSpec | undefined {
  return typeof name === 'string' && Object.hasOwn(ALGORITHMS, name) ? ALGORITHMS[name as Algorithm] : undefined;
}
