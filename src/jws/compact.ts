/**
 * RFC 7515 §7.1: JWS Compact Serialization — strict parsing, signing and signature checks
 * (SECURITY.md S1–S4). Claims are decoded here but checked by the token layer.
 */
import { createHmac, sign as cryptoSign, verify as cryptoVerify, timingSafeEqual, constants, type KeyObject } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { invalidToken } from '../errors.js';
import type { AlgorithmSpec } from './algorithms.js';
import type { RingKey } from './keyring.js';

/** A JSON object decoded from a token: header or claims. */
export type JsonObject = Record<string, unknown>;

/** A token split into its parts, header checked, signature not yet. */
export interface ParsedJws {
  readonly header: JsonObject;
  readonly signingInput: string;
  readonly payloadSegment: string;
  readonly signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The 6-bit value of each base64url character, by char code (only looked up after `BASE64URL` matched). */
const SEXTET = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) SEXTET[c.charCodeAt(0)] = i;

/**
 * Header parameters that would let the token choose its own key or change how it is processed (S2).
 * `x5t` / `x5t#S256` (a certificate thumbprint) are not among them: they carry no key, are never
 * looked at here, and issuers such as Microsoft Entra ID put them in every token (jwkUrl).
 */
const FORBIDDEN_HEADER_PARAMS = ['crit', 'jku', 'jwk', 'x5u', 'x5c', 'zip', 'enc', 'b64', 'cty'];

/**
 * Strict base64url (RFC 4648 §5, no padding): only the URL alphabet, no length of the form 4n+1, and
 * canonical trailing bits, i.e. re-encoding gives the same text. That holds exactly when the bits of
 * the last character that carry no data are zero (4 of them when length % 4 is 2, 2 when it is 3),
 * which is checked instead of re-encoding: same rule, without a second pass over the segment.
 */
export function decodeBase64url(segment: string, what: string): Buffer {
  const rest = segment.length % 4;
  if (rest === 1 || !BASE64URL.test(segment)) throw invalidToken(`${what} is not base64url`);
  if (rest !== 0 && (SEXTET[segment.charCodeAt(segment.length - 1)]! & (rest === 2 ? 0x0f : 0x03)) !== 0) {
    throw invalidToken(`${what} is not canonical base64url`);
  }
  return Buffer.from(segment, 'base64url');
}

export function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Decodes a segment holding a JSON object: fatal UTF-8, no arrays or primitives. Duplicate names: the last wins. */
export function decodeJsonObject(segment: string, what: string): JsonObject {
  const bytes = decodeBase64url(segment, what);
  if (!isUtf8(bytes)) throw invalidToken(`${what} is not UTF-8`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidToken(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidToken(`${what} is not a JSON object`);
  return value as JsonObject;
}

function checkHeader(header: JsonObject): void {
  for (const name of FORBIDDEN_HEADER_PARAMS) {
    if (Object.hasOwn(header, name)) throw invalidToken(`header parameter "${name}" is not accepted`);
  }
  if (typeof header.alg !== 'string') throw invalidToken('header has no "alg"');
  if (Object.hasOwn(header, 'typ') && header.typ !== 'JWT') throw invalidToken('header "typ" is not "JWT"');
  if (Object.hasOwn(header, 'kid') && typeof header.kid !== 'string') throw invalidToken('header "kid" is not a string');
}

/**
 * Headers already seen and accepted, by their exact segment: most tokens of one deployment share a
 * handful of headers, so the decode is done once. Only headers that passed `checkHeader` are kept,
 * and the cache is bounded.
 */
const HEADER_CACHE_LIMIT = 64;

export class CompactParser {
  readonly #maxLength: number;
  readonly #headers = new Map<string, JsonObject>();
  /** The last header found in the cache: compared in place, without slicing and hashing the segment. */
  #lastSegment = '';
  #lastHeader: JsonObject | undefined;

  constructor(maxLength: number) {
    this.#maxLength = maxLength;
  }

  /** The checked header of the segment `token.slice(0, first)`, from the cache when seen before. */
  #header(token: string, first: number): JsonObject {
    const last = this.#lastHeader;
    if (last !== undefined && first === this.#lastSegment.length && token.startsWith(this.#lastSegment)) return last;
    const segment = token.slice(0, first);
    let header = this.#headers.get(segment);
    if (header === undefined) {
      header = decodeJsonObject(segment, 'header');
      checkHeader(header);
      if (this.#headers.size >= HEADER_CACHE_LIMIT) return header;
      this.#headers.set(segment, Object.freeze(header));
    }
    this.#lastSegment = segment;
    this.#lastHeader = header;
    return header;
  }

  /** Splits and checks a token's shape and header (S1, S2). Throws `TokenError` (`token_invalid`). */
  parse(token: unknown): ParsedJws {
    if (typeof token !== 'string') throw invalidToken('token is not a string');
    if (token.length > this.#maxLength) throw invalidToken(`token is longer than ${this.#maxLength} characters`);
    const first = token.indexOf('.');
    const second = first < 0 ? -1 : token.indexOf('.', first + 1);
    if (second < 0 || token.indexOf('.', second + 1) >= 0) throw invalidToken('token does not have exactly three segments');
    const header = this.#header(token, first);
    const payloadSegment = token.slice(first + 1, second);
    if (payloadSegment.length === 0) throw invalidToken('payload is empty');
    const signature = decodeBase64url(token.slice(second + 1), 'signature');
    return { header, signingInput: token.slice(0, second), payloadSegment, signature };
  }
}

function signatureOptions(spec: AlgorithmSpec, key: KeyObject) {
  switch (spec.family) {
    case 'RSA-PSS':
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
    case 'ECDSA':
      return { key, dsaEncoding: 'ieee-p1363' as const };
    default:
      return key;
  }
}

/** Signs `signingInput` with the key's algorithm; returns the raw signature. */
export function signBytes(key: RingKey, signingInput: string): Buffer {
  const signKey = key.signKey!;
  if (key.spec.family === 'HMAC') return createHmac(key.spec.hash!, signKey).update(signingInput).digest();
  return cryptoSign(key.spec.hash, Buffer.from(signingInput), signatureOptions(key.spec, signKey));
}

/** True when both halves (r and s) of a raw ECDSA signature are non-zero (CVE-2022-21449). */
function ecdsaHalvesNonZero(signature: Buffer): boolean {
  const half = signature.length / 2;
  let r = 0;
  let s = 0;
  for (let i = 0; i < half; i++) {
    r |= signature[i]!;
    s |= signature[half + i]!;
  }
  return r !== 0 && s !== 0;
}

/** Checks a signature of exactly the expected length; HMACs compared in constant time (S3). */
export function signatureMatches(key: RingKey, signingInput: string, signature: Buffer): boolean {
  if (signature.length !== key.signatureLength) return false;
  const spec = key.spec;
  if (spec.family === 'HMAC') {
    const expected = createHmac(spec.hash!, key.verifyKey).update(signingInput).digest();
    return timingSafeEqual(expected, signature);
  }
  if (spec.family === 'ECDSA' && !ecdsaHalvesNonZero(signature)) return false;
  return cryptoVerify(spec.hash, Buffer.from(signingInput), signatureOptions(spec, key.verifyKey), signature);
}
