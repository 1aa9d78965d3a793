/**
 * The JWS half of a `Tokens` instance: built once from settings (keys imported, header pre-encoded),
 * then `sign` and `verify` on the hot path with no option parsing.
 */
import { ConfigurationError, invalidToken } from '../errors.js';
import type { Algorithm } from './algorithms.js';
import { CompactParser, type JsonObject, type ParsedJws, decodeJsonObject, encodeJson, signBytes, signatureMatches } from './compact.js';
import type { KeyRing, RingKey } from './keyring.js';
import type { RemoteKeySource } from './remote.js';

export interface JwsCodecOptions {
  keyRing: KeyRing | undefined;
  remote: RemoteKeySource | undefined;
  /** The configured algorithm: the only one accepted when keys come from a remote JWKS. */
  algorithm: Algorithm;
  maxTokenLength: number;
}

export class JwsCodec {
  readonly #ring: KeyRing | undefined;
  readonly #remote: RemoteKeySource | undefined;
  readonly #algorithm: Algorithm;
  readonly #parser: CompactParser;
  readonly #signingHeader: string | undefined;

  constructor(options: JwsCodecOptions) {
    this.#ring = options.keyRing;
    this.#remote = options.remote;
    this.#algorithm = options.algorithm;
    this.#parser = new CompactParser(options.maxTokenLength);
    const current = options.keyRing?.current;
    this.#signingHeader = current
      ? encodeJson({ alg: current.algorithm, typ: 'JWT', ...(current.kid !== undefined ? { kid: current.kid } : {}) })
      : undefined;
  }

  /** Signs claims with the current key of the ring. */
  sign(claims: JsonObject): string {
    const current = this.#ring?.current;
    if (!current || this.#signingHeader === undefined) {
      throw new ConfigurationError('signingKey', 'is not set: this instance only verifies tokens');
    }
    const signingInput = `${this.#signingHeader}.${encodeJson(claims)}`;
    return `${signingInput}.${signBytes(current, signingInput).toString('base64url')}`;
  }

  /**
   * Verifies shape, header and signature, then decodes the claims (signature first: S4). Keys come
   * from the local ring; with `jwkUrl` use `verify`, which may fetch.
   */
  verifySync(token: unknown): JsonObject {
    if (this.#remote) throw new ConfigurationError('jwkUrl', 'is set: keys may need fetching, use the asynchronous verify');
    const parsed = this.#parser.parse(token);
    return this.#finish(parsed, this.#localKey(parsed));
  }

  async verify(token: unknown): Promise<JsonObject> {
    if (!this.#remote) return this.verifySync(token);
    const parsed = this.#parser.parse(token);
    if (parsed.header.alg !== this.#algorithm) throw invalidToken(`alg ${JSON.stringify(parsed.header.alg)} is not the configured ${this.#algorithm}`);
    return this.#finish(parsed, await this.#remote.find(parsed.header));
  }

  #localKey(parsed: ParsedJws): RingKey {
    const { kid, alg } = parsed.header;
    if (kid !== undefined && !this.#ring?.usesKid) throw invalidToken('token names a kid but no key ring is configured');
    const key = this.#ring?.find(kid);
    if (!key) throw invalidToken(`unknown kid ${JSON.stringify(kid)}`);
    if (alg !== key.algorithm) throw invalidToken(`alg ${JSON.stringify(alg)} is not the key's ${key.algorithm}`);
    return key;
  }

  #finish(parsed: ParsedJws, key: RingKey): JsonObject {
    if (!signatureMatches(key, parsed.signingInput, parsed.signature)) throw invalidToken('signature does not match');
    return decodeJsonObject(parsed.payloadSegment, 'payload');
  }
}
