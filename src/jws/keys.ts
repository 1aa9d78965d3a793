/**
 * Key material: imported once at start-up into `KeyObject`s and bound to one algorithm (SECURITY.md S3).
 * Every refusal is a `ConfigurationError` that names the setting.
 */
import { KeyObject, createPrivateKey, createPublicKey, createSecretKey } from 'node:crypto';
import { ConfigurationError } from '../errors.js';
import type { AlgorithmSpec } from './algorithms.js';

/** What a user may pass as a key: a secret or PEM string, raw bytes, a `KeyObject`, or a JWK object. */
export type KeyInput = string | Uint8Array | KeyObject | JsonWebKeyInput;

/** A JSON Web Key as a plain object (RFC 7517). */
export interface JsonWebKeyInput {
  kty: string;
  [member: string]: unknown;
}

export interface ImportedKeys {
  /** The key that signs; absent for verify-only keys. */
  signKey: KeyObject | undefined;
  /** The key that verifies: the same secret for HMAC, a public key otherwise. */
  verifyKey: KeyObject;
}

/**
 * Values that are public, published as examples, or otherwise known to attackers. Compared
 * case-insensitively after trimming. Short ones are refused by the length rule anyway; they are here
 * so that the message says why.
 */
const KNOWN_WEAK_SECRETS = new Set([
  'secret',
  'changeme',
  'change-me',
  'password',
  'secretkey',
  'secret-key',
  'secret_key',
  'jwt-secret',
  'jwt_secret',
  'mysecret',
  'supersecret',
  'your-256-bit-secret',
  'your-384-bit-secret',
  'your-512-bit-secret',
  'a-string-secret-at-least-256-bits-long',
  'your-secret-key-here',
  'your_jwt_secret_key_here',
  'please-change-this-secret-in-production',
  'insecure-secret-key-for-development-only',
]);

/** Why a secret is weak, or `undefined`. */
function weakSecretReason(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8').trim().toLowerCase();
  if (KNOWN_WEAK_SECRETS.has(text)) return 'is a published example value';
  if (text.startsWith('django-insecure-')) return 'is a Django development key (prefix "django-insecure-")';
  if (new Set(bytes).size < 8) return 'has fewer than 8 distinct bytes';
  // A short unit repeated ("secretsecretsecret…", "abcabcabc…") carries the entropy of the unit only.
  for (let unit = 1; unit <= 16 && unit * 2 <= bytes.length; unit++) {
    let repeats = true;
    for (let i = unit; i < bytes.length && repeats; i++) repeats = bytes[i] === bytes[i % unit];
    if (repeats) return `is a ${unit}-byte pattern repeated`;
  }
  return undefined;
}

function isJwkObject(value: unknown): value is JsonWebKeyInput {
  return typeof value === 'object' && value !== null && !(value instanceof KeyObject) && !ArrayBuffer.isView(value)
    && typeof (value as { kty?: unknown }).kty === 'string';
}

/** A string that is, or contains, asymmetric key material: it must never become an HMAC secret. */
function looksLikePublicKeyMaterial(text: string): boolean {
  if (text.includes('-----BEGIN')) return true;
  if (/^\s*ssh-(rsa|ed25519|dss)\s/.test(text) || /^\s*ecdsa-sha2-/.test(text)) return true;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      return isJwkObject(parsed) && parsed.kty !== 'oct';
    } catch {
      return false;
    }
  }
  return false;
}

/** True when `bytes` parse as a DER-encoded public or private key (SPKI, PKCS#1, PKCS#8, SEC1). */
function isDerKeyMaterial(bytes: Buffer): boolean {
  if (bytes[0] !== 0x30) return false; // every DER key is a SEQUENCE
  const parsers = [
    () => createPublicKey({ key: bytes, format: 'der', type: 'spki' }),
    () => createPublicKey({ key: bytes, format: 'der', type: 'pkcs1' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'pkcs1' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'sec1' }),
  ];
  return parsers.some((parse) => {
    try {
      parse();
      return true;
    } catch {
      return false;
    }
  });
}

function importHmacSecret(setting: string, spec: AlgorithmSpec, input: KeyInput): KeyObject {
  let bytes: Buffer;
  if (input instanceof KeyObject) {
    if (input.type !== 'secret') {
      throw new ConfigurationError(setting, `must be a shared secret for ${spec.name}, not a ${input.type} key: a public key is never an HMAC secret`);
    }
    bytes = input.export();
  } else if (typeof input === 'string') {
    if (looksLikePublicKeyMaterial(input)) {
      throw new ConfigurationError(setting, `looks like an asymmetric key (PEM, SSH or JWK) but ${spec.name} needs a shared secret: a public key is never an HMAC secret`);
    }
    // A PEM body without its armour (how Keycloak and others show a realm's public key) is base64 DER.
    const compact = input.replace(/\s+/g, '');
    if (compact.length >= 64 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) && isDerKeyMaterial(Buffer.from(compact, 'base64'))) {
      throw new ConfigurationError(setting, `is base64-encoded asymmetric key material (a PEM body without its armour) but ${spec.name} needs a shared secret: a public key is never an HMAC secret`);
    }
    bytes = Buffer.from(input, 'utf8');
  } else if (ArrayBuffer.isView(input)) {
    bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  } else if (isJwkObject(input)) {
    if (input.kty !== 'oct' || typeof input.k !== 'string') {
      throw new ConfigurationError(setting, `must be a JWK of kty "oct" for ${spec.name} (got kty "${input.kty}"): a public key is never an HMAC secret`);
    }
    bytes = Buffer.from(input.k, 'base64url');
  } else {
    throw new ConfigurationError(setting, `must be a string, bytes, a KeyObject or a JWK (got ${describe(input)})`);
  }
  // Bytes (a Buffer from readFileSync('public.pem')), a secret KeyObject or an oct JWK may hold key material too.
  if (typeof input !== 'string' && looksLikePublicKeyMaterial(bytes.toString('latin1'))) {
    throw new ConfigurationError(setting, `looks like an asymmetric key (PEM, SSH or JWK) but ${spec.name} needs a shared secret: a public key is never an HMAC secret`);
  }
  if (isDerKeyMaterial(bytes)) {
    throw new ConfigurationError(setting, `is DER-encoded asymmetric key material but ${spec.name} needs a shared secret: a public key is never an HMAC secret`);
  }
  if (bytes.length < spec.minKeySize) {
    throw new ConfigurationError(setting, `must be at least ${spec.minKeySize} bytes for ${spec.name} (got ${bytes.length})`);
  }
  const weak = weakSecretReason(bytes);
  if (weak) throw new ConfigurationError(setting, `${weak}: use a random secret, e.g. \`node -e "console.log(crypto.randomBytes(32).toString('base64url'))"\``);
  return createSecretKey(bytes);
}

/**
 * A KeyObject of our own with the same key, imported from its DER encoding. A KeyObject that
 * `generateKeyPairSync`/`generateKeyPair` returned shares a lock with the key-generation job that
 * made it; on Node 20 (seen on 20.20.2) a garbage collection that destroys that job while the key
 * is being exported as a JWK deadlocks the process (the export holds the lock while it allocates;
 * the job's destructor takes the same lock). Exporting DER never hung under the stress that hangs a
 * JWK export within seconds (test/key-ring.test.ts), and the copy shares no lock with any job, so
 * every later export (the JWKS) is safe.
 */
function ownCopy(key: KeyObject): KeyObject {
  return key.type === 'private'
    ? createPrivateKey({ key: key.export({ type: 'pkcs8', format: 'der' }), type: 'pkcs8', format: 'der' })
    : createPublicKey({ key: key.export({ type: 'spki', format: 'der' }), type: 'spki', format: 'der' });
}

function importAsymmetric(setting: string, input: KeyInput, kind: 'private' | 'public'): KeyObject {
  try {
    if (input instanceof KeyObject) {
      if (input.type === 'secret') throw new Error('a shared secret is not an asymmetric key');
      if (kind === 'private' && input.type !== 'private') throw new Error('a public key cannot sign');
      const own = ownCopy(input);
      return kind === 'public' && own.type === 'private' ? createPublicKey(own) : own;
    }
    if (isJwkObject(input)) {
      if (input.kty === 'oct') throw new Error('a JWK of kty "oct" is a shared secret, not an asymmetric key');
      const jwk = input as unknown as import('node:crypto').JsonWebKey;
      return kind === 'private' ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
    }
    if (typeof input === 'string' || ArrayBuffer.isView(input)) {
      const pem = typeof input === 'string' ? input.trim() : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
      return kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
    }
    throw new Error(`got ${describe(input)}`);
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    const what = kind === 'private' ? 'a private key (PEM, JWK or KeyObject)' : 'a public or private key (PEM, JWK or KeyObject)';
    throw new ConfigurationError(setting, `must be ${what}: ${(error as Error).message}`);
  }
}

function checkAsymmetricFits(setting: string, spec: AlgorithmSpec, key: KeyObject): void {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'rsa-pss') {
    throw new ConfigurationError(setting, `is an RSA-PSS (rsa-pss) key: give ${spec.name} a plain RSA key (PKCS#8 "rsaEncryption"; ${spec.name} signs it with PSS padding). An rsa-pss key may be restricted to another hash or salt length, and cannot be published in the JWKS`);
  }
  if (!spec.keyTypes.includes(type)) {
    throw new ConfigurationError(setting, `is a ${type} key, which does not fit ${spec.name} (needs ${spec.keyTypes.join(' or ')})`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (spec.family === 'RSA' || spec.family === 'RSA-PSS') {
    const bits = details.modulusLength ?? 0;
    if (bits < spec.minKeySize) throw new ConfigurationError(setting, `must be an RSA key of at least ${spec.minKeySize} bits for ${spec.name} (got ${bits})`);
  }
  if (spec.namedCurve && details.namedCurve !== spec.namedCurve) {
    throw new ConfigurationError(setting, `is on curve ${details.namedCurve ?? 'unknown'}, but ${spec.name} needs ${spec.namedCurve}`);
  }
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

/**
 * Imports the signing and verifying keys of one algorithm. For HMAC one secret does both; for the
 * others the verifying key is derived from the private key when not given.
 *
 * @param names the setting names to use in messages, e.g. `{ signing: "signingKey", verifying: "verifyingKey" }`
 */
export function importKeys(
  spec: AlgorithmSpec,
  signing: KeyInput | undefined,
  verifying: KeyInput | undefined,
  names: { signing: string; verifying: string },
): ImportedKeys {
  if (spec.family === 'HMAC') {
    if (verifying !== undefined) {
      throw new ConfigurationError(names.verifying, `is not used with ${spec.name}: HMAC verifies with ${names.signing}; remove it`);
    }
    if (signing === undefined) throw new ConfigurationError(names.signing, `is required for ${spec.name}`);
    const secret = importHmacSecret(names.signing, spec, signing);
    return { signKey: secret, verifyKey: secret };
  }
  if (signing === undefined && verifying === undefined) {
    throw new ConfigurationError(names.signing, `or ${names.verifying} is required for ${spec.name}`);
  }
  const signKey = signing === undefined ? undefined : importAsymmetric(names.signing, signing, 'private');
  if (signKey) checkAsymmetricFits(names.signing, spec, signKey);
  const verifyKey = verifying === undefined ? createPublicKey(signKey!) : importAsymmetric(names.verifying, verifying, 'public');
  checkAsymmetricFits(names.verifying, spec, verifyKey);
  if (signKey && verifying !== undefined && !samePublicKey(createPublicKey(signKey), verifyKey)) {
    throw new ConfigurationError(names.verifying, `is not the public half of ${names.signing}`);
  }
  return { signKey, verifyKey };
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
