/**
 * SECURITY.md S1–S7, one `describe` per rule. Every hostile token is forged by hand and, unless the
 * rule under test is about the signature itself, carries a VALID signature over its exact bytes, so
 * that the rule under test is the only thing that can reject it. Each group starts from a control
 * token, built the same way, that verifies.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { createTokens, TokenError, type ErrorKind, type SettingsInput, type Token, type Tokens } from '../src/index.js';
import { HS_SECRET, keyFor, generatePair } from './helpers/keys.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** 2026-01-01T00:00:00Z: the injected clock of every instance unless a test moves it. */
const NOW_MS = Date.UTC(2026, 0, 1);
const NOW = NOW_MS / 1000;
/** 9999-12-31T23:59:59Z, the last NumericDate accepted. */
const MAX_DATE = 253402300799;
const JTI = '0123456789abcdef0123456789abcdef';

/** The wire text of each kind, spelled out here so that a change in the table fails these tests. */
const DETAIL: Partial<Record<ErrorKind, string>> = {
  token_invalid: 'Token is invalid',
  token_expired: 'Token is expired',
  token_wrong_type: 'Token has wrong type',
  token_no_id: 'Token has no id',
  token_no_type: 'Token has no type',
  token_no_exp: "Token has no 'exp' claim",
};

function setup(settings: SettingsInput = {}, clockMs = NOW_MS): Tokens {
  return createTokens({ signingKey: HS_SECRET, ...settings }, { clock: () => clockMs });
}

/** What a token class offers that these tests use. */
interface Verifier {
  verify(token: unknown): Promise<Token>;
  verifySync(token: unknown): Token;
}

const b64u = (data: string | Buffer): string => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url');

/** An object/array/number becomes its JSON; a string is taken as raw JSON text (for 1e400, duplicates, bad JSON). */
const jsonText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** Access-token claims valid at NOW; `overrides` replace members, `undefined` removes one. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { token_type: 'access', exp: NOW + 300, iat: NOW, jti: JTI, user_id: '42', ...overrides };
}

/**
 * Claims as raw JSON text: the base claims with members replaced by raw JSON `overrides`
 * (`undefined` removes one), then `extra` members appended verbatim (duplicates allowed).
 */
function claimsText(overrides: Record<string, string | undefined>, extra: [string, string][] = []): string {
  const members = new Map(Object.entries(claims()).map(([k, v]) => [k, JSON.stringify(v)]));
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) members.delete(k);
    else members.set(k, v);
  }
  return `{${[...members, ...extra].map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

const hmac = (input: string, key: string | Buffer = HS_SECRET, hash = 'sha256'): Buffer => createHmac(hash, key).update(input).digest();

/** A token from raw segments, HMAC-signed over exactly those segments (so the signature is valid). */
function signSegments(headerSegment: string, payloadSegment: string, key: string | Buffer = HS_SECRET, hash = 'sha256'): string {
  const input = `${headerSegment}.${payloadSegment}`;
  return `${input}.${b64u(hmac(input, key, hash))}`;
}

/** A token with a valid HMAC over `header` and `payload` (objects, or raw JSON text). */
function forge(header: unknown, payload: unknown, key: string | Buffer = HS_SECRET, hash = 'sha256'): string {
  return signSegments(b64u(jsonText(header)), b64u(jsonText(payload)), key, hash);
}

const HS256 = { alg: 'HS256', typ: 'JWT' };

/** A token signed with an asymmetric private key (ECDSA as raw R‖S unless `dsaEncoding` says otherwise). */
function forgeAsymmetric(header: unknown, payload: unknown, key: KeyObject, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363', hash: string | null = 'sha256'): string {
  const input = `${b64u(jsonText(header))}.${b64u(jsonText(payload))}`;
  return `${input}.${b64u(cryptoSign(hash, Buffer.from(input), { key, dsaEncoding }))}`;
}

/** The token with its signature replaced by `signature`. */
function withSignature(token: string, signature: Buffer | string): string {
  return `${token.slice(0, token.lastIndexOf('.'))}.${typeof signature === 'string' ? signature : b64u(signature)}`;
}

const signatureOf = (token: string): Buffer => Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');

/** Asserts that both `verifySync` and `verify` reject `token` with exactly this kind and wire detail. */
async function rejects(verifier: Verifier, token: unknown, kind: ErrorKind, reason?: RegExp): Promise<void> {
  const check = (error: unknown): true => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${String(error)}`);
    assert.equal(error.kind, kind, `kind (reason: ${error.reason})`);
    assert.equal(error.detail, DETAIL[kind]);
    if (reason) assert.match(error.reason, reason);
    return true;
  };
  assert.throws(() => verifier.verifySync(token), check);
  await assert.rejects(verifier.verify(token), check);
}

/** Asserts that both `verifySync` and `verify` accept `token`; returns the verified token. */
async function accepts(verifier: Verifier, token: string): Promise<Token> {
  verifier.verifySync(token);
  return verifier.verify(token);
}

/** A claim filler that makes the payload segment contain both `-` and `_` (for standard-alphabet tests). */
function payloadWithUrlOnlyChars(): string {
  for (let i = 0; i < 64; i++) {
    const segment = b64u(JSON.stringify(claims({ x: `${'a'.repeat(i)}???~~~>>>???~~~` })));
    if (segment.includes('-') && segment.includes('_')) return segment;
  }
  throw new Error('no filler found');
}

/** A payload segment whose length is 4n+2 (so canonical base64 would pad it with "=="). */
function payloadNeedingPadding(): string {
  for (let i = 0; i < 3; i++) {
    const segment = b64u(JSON.stringify(claims({ x: 'a'.repeat(i) })));
    if (segment.length % 4 === 2) return segment;
  }
  throw new Error('no filler found');
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Sets an unused trailing bit of a segment whose length is not a multiple of 4: same bytes, non-canonical text. */
function nonCanonical(segment: string): string {
  assert.notEqual(segment.length % 4, 0, 'a segment of length 4n has no trailing bits');
  const last = ALPHABET.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + ALPHABET[last ^ 1];
}

/** An HS256 token of exactly `length` characters with a valid signature (header spaces and a filler claim adjust it). */
function forgeOfLength(length: number, key: string | Buffer = HS_SECRET): string {
  const unpadded = (bytes: number) => Math.floor((bytes * 4 + 2) / 3);
  const signatureLength = unpadded(32);
  for (let spaces = 0; spaces < 4; spaces++) {
    const headerText = `{"alg":"HS256","typ":"JWT"${' '.repeat(spaces)}}`;
    const base = JSON.stringify(claims({ pad: '' })).length;
    for (let filler = 0; filler < length; filler++) {
      if (unpadded(headerText.length) + 1 + unpadded(base + filler) + 1 + signatureLength === length) {
        const token = forge(headerText, claims({ pad: 'p'.repeat(filler) }), key);
        assert.equal(token.length, length);
        return token;
      }
    }
  }
  throw new Error(`no token of length ${length}`);
}

// ---------------------------------------------------------------------------------------------
// S1
// ---------------------------------------------------------------------------------------------

describe('S1 compact JWS only: three strict unpadded base64url segments, length capped first', () => {
  const tokens = setup();
  const control = forge(HS256, claims());
  const [h, p, s] = control.split('.') as [string, string, string];

  it('accepts the control token the variants below are derived from', async () => {
    assert.equal((await accepts(tokens.access, control)).userId, '42');
  });

  it('rejects values that are not a token string', async () => {
    for (const value of [undefined, null, 42, {}, [h, p, s], Buffer.from(control), '']) {
      await rejects(tokens.access, value, 'token_invalid');
    }
  });

  it('rejects 2 and 4 segments, and empty segments', async () => {
    const cases = [
      `${h}.${p}`,
      `${control}.`,
      `${control}.${s}`,
      `${h}.${p}.${s}.${h}`,
      `.${control}`,
      `${h}..${s}`,
      signSegments(h, ''),
      `.${p}.${s}`,
      `${h}.${p}.`,
      h,
    ];
    for (const token of cases) await rejects(tokens.access, token, 'token_invalid');
  });

  it('rejects thousands of dots quickly, under and over the length cap', async () => {
    const cases = ['.'.repeat(5000), 'a.'.repeat(4000), `${control}${'.'.repeat(3000)}`, '.'.repeat(1_000_000), `${h}.${'.'.repeat(8000)}`];
    const started = process.hrtime.bigint();
    for (const token of cases) await rejects(tokens.access, token, 'token_invalid');
    assert.ok(process.hrtime.bigint() - started < 2_000_000_000n, 'rejecting dots must not take seconds');
  });

  it('rejects "=" padding, in a re-signed payload and on an otherwise valid signature', async () => {
    const padded = payloadNeedingPadding();
    const control2 = signSegments(h, padded);
    await accepts(tokens.access, control2);
    await rejects(tokens.access, signSegments(h, `${padded}==`), 'token_invalid', /base64url/);
    await rejects(tokens.access, signSegments(h, `${padded}=`), 'token_invalid', /base64url/);
    assert.equal(s.length % 4, 3);
    await rejects(tokens.access, `${h}.${p}.${s}=`, 'token_invalid', /base64url/);
    await rejects(tokens.access, signSegments(`${h}====`, p), 'token_invalid', /base64url/);
  });

  it('rejects the standard alphabet ("+", "/") even though the decoded bytes are identical', async () => {
    const urlSafe = payloadWithUrlOnlyChars();
    const standard = urlSafe.replaceAll('-', '+').replaceAll('_', '/');
    assert.deepEqual(Buffer.from(standard, 'base64'), Buffer.from(urlSafe, 'base64url'));
    await accepts(tokens.access, signSegments(h, urlSafe));
    await rejects(tokens.access, signSegments(h, standard), 'token_invalid', /base64url/);
    await rejects(tokens.access, signSegments(h, urlSafe.replaceAll('-', '+')), 'token_invalid', /base64url/);
    await rejects(tokens.access, signSegments(h, urlSafe.replaceAll('_', '/')), 'token_invalid', /base64url/);

    // The same on the signature: find claims whose valid signature has a "-" or "_", then respell it.
    let signed = control;
    for (let i = 0; !/[-_]/.test(signed.split('.')[2]!); i++) signed = forge(HS256, claims({ n: i }));
    await accepts(tokens.access, signed);
    const [sh, sp, ss] = signed.split('.') as [string, string, string];
    await rejects(tokens.access, `${sh}.${sp}.${ss.replaceAll('-', '+').replaceAll('_', '/')}`, 'token_invalid', /base64url/);
  });

  it('rejects whitespace inside or around a segment, and characters outside the alphabet', async () => {
    const middle = Math.floor(p.length / 2);
    for (const insert of [' ', '\n', '\t', '\r\n', '\u00a0', 'é', '!', '%', '\u0000', '*']) {
      await rejects(tokens.access, signSegments(h, p.slice(0, middle) + insert + p.slice(middle)), 'token_invalid', /base64url/);
      await rejects(tokens.access, signSegments(insert + h, p), 'token_invalid');
    }
    await rejects(tokens.access, ` ${control}`, 'token_invalid');
    await rejects(tokens.access, `${control} `, 'token_invalid');
    await rejects(tokens.access, `${control}\n`, 'token_invalid');
    await rejects(tokens.access, `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`, 'token_invalid');
  });

  it('rejects non-canonical trailing bits (same bytes, different text) in every segment', async () => {
    assert.notEqual(s.length % 4, 0);
    const sigVariant = nonCanonical(s);
    assert.deepEqual(Buffer.from(sigVariant, 'base64url'), Buffer.from(s, 'base64url'), 'the variant decodes to the same signature');
    await rejects(tokens.access, `${h}.${p}.${sigVariant}`, 'token_invalid', /canonical/);

    const padded = payloadNeedingPadding();
    await rejects(tokens.access, signSegments(h, nonCanonical(padded)), 'token_invalid', /canonical/);

    const headerSegment = b64u('{"alg":"HS256" }'); // 16 bytes: 22 characters, 4 trailing bits
    assert.equal(headerSegment.length % 4, 2);
    await accepts(tokens.access, signSegments(headerSegment, p));
    await rejects(tokens.access, signSegments(nonCanonical(headerSegment), p), 'token_invalid', /canonical/);
  });

  it('rejects a segment of length 4n+1, which no byte string encodes to', async () => {
    const padded = payloadNeedingPadding(); // 4n+2 → drop one character
    await rejects(tokens.access, signSegments(h, padded.slice(0, -1)), 'token_invalid', /base64url/);
    await rejects(tokens.access, `${h}.${p}.${s}AA`, 'token_invalid', /base64url/);
  });

  it('caps the length before decoding: 8192 characters accepted, 8193 and 1 MB rejected', async () => {
    await accepts(tokens.access, forgeOfLength(8192));
    await rejects(tokens.access, forgeOfLength(8193), 'token_invalid', /longer than 8192/);
    const huge = forge(HS256, claims({ pad: 'x'.repeat(1024 * 1024) }));
    assert.ok(huge.length > 1024 * 1024);
    await rejects(tokens.access, huge, 'token_invalid', /longer than 8192/);
    await rejects(tokens.access, 'x'.repeat(1024 * 1024), 'token_invalid', /longer than 8192/);
  });

  it('applies a configured maxTokenLength', async () => {
    const small = setup({ maxTokenLength: 1024 });
    await accepts(small.access, forgeOfLength(1024));
    await rejects(small.access, forgeOfLength(1025), 'token_invalid', /longer than 1024/);
  });
});

// ---------------------------------------------------------------------------------------------
// S2
// ---------------------------------------------------------------------------------------------

describe('S2 header: a JSON object, alg as configured, kid exact, no forbidden parameters, typ JWT', () => {
  const tokens = setup();
  const rs = setup({ algorithm: 'RS256', signingKey: keyFor('RS256').privateKey! });

  it('accepts headers with and without typ', async () => {
    await accepts(tokens.access, forge(HS256, claims()));
    await accepts(tokens.access, forge({ alg: 'HS256' }, claims()));
  });

  it('rejects alg "none" in every spelling, with and without a signature', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = b64u(JSON.stringify({ alg, typ: 'JWT' }));
      const payload = b64u(JSON.stringify(claims()));
      const input = `${header}.${payload}`;
      const variants = [`${input}.`, `${input}.${b64u(hmac(input))}`, `${input}.AAAA`];
      for (const token of variants) {
        await rejects(tokens.access, token, 'token_invalid', /alg/);
        await rejects(tokens.refresh, token, 'token_invalid', /alg/);
        await rejects(rs.access, token, 'token_invalid', /alg/);
      }
    }
  });

  it('rejects any alg but the configured one (case-sensitive, exact string)', async () => {
    await rejects(tokens.access, forge({ alg: 'HS512', typ: 'JWT' }, claims(), HS_SECRET, 'sha512'), 'token_invalid', /alg/);
    await rejects(tokens.access, forge({ alg: 'HS384', typ: 'JWT' }, claims(), HS_SECRET, 'sha384'), 'token_invalid', /alg/);
    for (const alg of ['hs256', 'Hs256', 'HS256 ', ' HS256', 'HS256\u0000', 'HS2560', 'RS256', 'constructor', '__proto__', '']) {
      await rejects(tokens.access, forge({ alg, typ: 'JWT' }, claims()), 'token_invalid', /alg/);
    }
    for (const alg of [null, 256, ['HS256'], { name: 'HS256' }, true]) {
      await rejects(tokens.access, forge({ alg, typ: 'JWT' }, claims()), 'token_invalid', /alg/);
    }
    await rejects(tokens.access, forge({ typ: 'JWT' }, claims()), 'token_invalid', /alg/);
  });

  it('rejects every forbidden header parameter, whatever its value', async () => {
    const attacker = generatePair('rsa', { modulusLength: 2048 });
    const forbidden: Record<string, unknown> = {
      crit: ['exp'],
      jku: 'https://attacker.example/jwks.json',
      jwk: attacker.publicKey.export({ format: 'jwk' }),
      x5u: 'https://attacker.example/cert.pem',
      x5c: ['MIIBIjANBgkq'],
      zip: 'DEF',
      enc: 'A128GCM',
      b64: false,
      cty: 'JWT',
    };
    for (const [name, value] of Object.entries(forbidden)) {
      await rejects(tokens.access, forge({ ...HS256, [name]: value }, claims()), 'token_invalid', new RegExp(`"${name}"`));
      await rejects(tokens.access, forge({ ...HS256, [name]: null }, claims()), 'token_invalid', new RegExp(`"${name}"`));
    }
    // A certificate thumbprint carries no key and selects none here: ignored, as jose and PyJWT do
    // (Microsoft Entra ID puts x5t in every token).
    for (const name of ['x5t', 'x5t#S256']) await accepts(tokens.access, forge({ ...HS256, [name]: 'AAAA' }, claims()));
  });

  it('never takes a key from the token: an embedded jwk or jku naming the attacker key is refused', async () => {
    const attacker = generatePair('rsa', { modulusLength: 2048 });
    const header = { alg: 'RS256', typ: 'JWT' };
    await accepts(rs.access, forgeAsymmetric(header, claims(), keyFor('RS256').privateKey!));
    await rejects(rs.access, forgeAsymmetric(header, claims(), attacker.privateKey), 'token_invalid', /signature/);
    await rejects(rs.access, forgeAsymmetric({ ...header, jwk: attacker.publicKey.export({ format: 'jwk' }) }, claims(), attacker.privateKey), 'token_invalid', /"jwk"/);
    await rejects(rs.access, forgeAsymmetric({ ...header, jku: 'https://attacker.example/jwks.json' }, claims(), attacker.privateKey), 'token_invalid', /"jku"/);
  });

  it('accepts typ "JWT" only', async () => {
    for (const typ of ['jwt', 'Jwt', 'JWS', 'at+jwt', 'JWT ', '', null, 1, ['JWT'], { JWT: true }]) {
      await rejects(tokens.access, forge({ alg: 'HS256', typ }, claims()), 'token_invalid', /typ/);
    }
  });

  it('rejects a header that is not a JSON object, not JSON, or not UTF-8', async () => {
    const payload = b64u(JSON.stringify(claims()));
    const headers = [
      b64u('[{"alg":"HS256","typ":"JWT"}]'),
      b64u('"HS256"'),
      b64u('256'),
      b64u('null'),
      b64u('true'),
      b64u('{alg:"HS256"}'),
      b64u("{'alg':'HS256'}"),
      b64u('{"alg":"HS256",}'),
      b64u('{"alg":"HS256"'),
      b64u('\ufeff{"alg":"HS256"}'),
      Buffer.concat([Buffer.from('{"alg":"HS256","x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]).toString('base64url'),
      Buffer.concat([Buffer.from('{"alg":"HS256","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]).toString('base64url'),
      Buffer.concat([Buffer.from('{"alg":"HS256","x":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]).toString('base64url'),
    ];
    for (const header of headers) await rejects(tokens.access, signSegments(header, payload), 'token_invalid', /header/);
  });

  it('duplicate header names: the last wins, as JSON.parse decides (RFC 7515 §5.2 allows it)', async () => {
    await accepts(tokens.access, forge('{"alg":"none","alg":"HS256"}', claims()));
    await rejects(tokens.access, forge('{"alg":"HS256","alg":"none"}', claims()), 'token_invalid', /alg/);
    await rejects(tokens.access, forge('{"alg":"HS256","typ":"JWT","typ":"at+jwt"}', claims()), 'token_invalid', /typ/);
  });

  it('with a key ring: a kid must name a configured key exactly, and the key must have signed', async () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const ring = createTokens({ keyRing: [{ kid: 'k1', signingKey: k1 }, { kid: 'k2', signingKey: k2 }] }, { clock: () => NOW_MS });
    await accepts(ring.access, forge({ ...HS256, kid: 'k1' }, claims(), k1));
    await accepts(ring.access, forge({ ...HS256, kid: 'k2' }, claims(), k2));
    // Decided behaviour: a token without kid is checked against the current (first) key only.
    await accepts(ring.access, forge(HS256, claims(), k1));
    await rejects(ring.access, forge(HS256, claims(), k2), 'token_invalid', /signature/);

    for (const kid of ['k3', 'K1', 'k1 ', ' k1', 'k', '', 'constructor', '__proto__']) {
      await rejects(ring.access, forge({ ...HS256, kid }, claims(), k1), 'token_invalid', /kid/);
    }
    for (const kid of [1, null, ['k1'], { k1: true }]) {
      await rejects(ring.access, forge({ ...HS256, kid }, claims(), k1), 'token_invalid', /kid/);
    }
    await rejects(ring.access, forge({ ...HS256, kid: 'k2' }, claims(), k1), 'token_invalid', /signature/);
    await rejects(ring.access, forge({ ...HS256, kid: 'k1' }, claims(), k2), 'token_invalid', /signature/);
  });

  it('without a key ring: a token naming any kid is refused', async () => {
    await rejects(tokens.access, forge({ ...HS256, kid: 'k1' }, claims()), 'token_invalid', /kid/);
    await rejects(tokens.access, forge({ ...HS256, kid: '' }, claims()), 'token_invalid', /kid/);
    await rejects(rs.access, forgeAsymmetric({ alg: 'RS256', typ: 'JWT', kid: 'k1' }, claims(), keyFor('RS256').privateKey!), 'token_invalid', /kid/);
  });
});

// ---------------------------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------------------------

describe('S3 keys bound to one algorithm; signatures of exact length; ECDSA raw R‖S', () => {
  const tokens = setup();
  const rsKey = keyFor('RS256');
  const rs = setup({ algorithm: 'RS256', signingKey: rsKey.privateKey! });

  it('refuses HS256 tokens HMAC-signed with the RS256 public key, in every spelling of that key', async () => {
    const pem = rsKey.publicKey!.export({ type: 'spki', format: 'pem' }) as string;
    const spellings: (string | Buffer)[] = [
      pem,
      pem.trimEnd(),
      `\n${pem}`,
      `   ${pem}`,
      `\r\n${pem}\r\n`,
      pem.replaceAll('\n', '\r\n'),
      JSON.stringify(rsKey.publicKey!.export({ format: 'jwk' })),
      JSON.stringify({ ...rsKey.publicKey!.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' }),
      rsKey.publicKey!.export({ type: 'spki', format: 'der' }),
      rsKey.publicKey!.export({ type: 'pkcs1', format: 'pem' }) as string,
    ];
    await accepts(rs.access, forgeAsymmetric({ alg: 'RS256', typ: 'JWT' }, claims(), rsKey.privateKey!));
    for (const secret of spellings) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const hash = `sha${alg.slice(2)}`;
        await rejects(rs.access, forge({ alg, typ: 'JWT' }, claims(), secret, hash), 'token_invalid', /alg/);
      }
      // And the same HMAC presented under the configured alg: the wrong length is refused.
      await rejects(rs.access, forge({ alg: 'RS256', typ: 'JWT' }, claims(), secret), 'token_invalid', /signature/);
    }
  });

  it('rejects HMAC signatures of the wrong length without throwing anything but a TokenError', async () => {
    const control = forge(HS256, claims());
    const signature = signatureOf(control);
    assert.equal(signature.length, 32);
    const wrong = [
      Buffer.alloc(0),
      signature.subarray(0, 31),
      signature.subarray(0, 16),
      Buffer.concat([signature, Buffer.from([0])]),
      Buffer.concat([signature, signature]),
      hmac(control.slice(0, control.lastIndexOf('.')), HS_SECRET, 'sha512'),
      hmac(control.slice(0, control.lastIndexOf('.')), HS_SECRET, 'sha384'),
    ];
    for (const sig of wrong) await rejects(tokens.access, withSignature(control, sig), 'token_invalid', /signature/);
  });

  it('rejects an HMAC signature off by one bit, wherever the bit is', async () => {
    const control = forge(HS256, claims());
    await accepts(tokens.access, control);
    for (const bit of [0, 1, 7, 8, 127, 128, 254, 255]) {
      const flipped = Buffer.from(signatureOf(control));
      flipped[bit >> 3] ^= 1 << (bit & 7);
      await rejects(tokens.access, withSignature(control, flipped), 'token_invalid', /signature/);
    }
  });

  it('rejects an RSA signature of the wrong length or off by one bit', async () => {
    const control = forgeAsymmetric({ alg: 'RS256', typ: 'JWT' }, claims(), rsKey.privateKey!);
    const signature = signatureOf(control);
    assert.equal(signature.length, 256);
    await rejects(rs.access, withSignature(control, signature.subarray(1)), 'token_invalid', /signature/);
    await rejects(rs.access, withSignature(control, Buffer.concat([Buffer.from([0]), signature])), 'token_invalid', /signature/);
    const flipped = Buffer.from(signature);
    flipped[100] ^= 0x10;
    await rejects(rs.access, withSignature(control, flipped), 'token_invalid', /signature/);
  });

  for (const [alg, hash, length] of [['ES256', 'sha256', 64], ['ES384', 'sha384', 96], ['ES512', 'sha512', 132]] as const) {
    it(`${alg}: accepts raw R‖S; rejects DER, r = 0, s = 0 and all zeros`, async () => {
      const key = keyFor(alg);
      const es = setup({ algorithm: alg, signingKey: key.privateKey! });
      const header = { alg, typ: 'JWT' };
      const control = forgeAsymmetric(header, claims(), key.privateKey!, 'ieee-p1363', hash);
      const raw = signatureOf(control);
      assert.equal(raw.length, length);
      await accepts(es.access, control);

      const der = forgeAsymmetric(header, claims(), key.privateKey!, 'der', hash);
      const input = der.slice(0, der.lastIndexOf('.'));
      assert.ok(cryptoVerify(hash, Buffer.from(input), { key: key.publicKey!, dsaEncoding: 'der' }, signatureOf(der)), 'the DER signature is genuine');
      await rejects(es.access, der, 'token_invalid', /signature/);

      const half = length / 2;
      const zeroR = Buffer.concat([Buffer.alloc(half), raw.subarray(half)]);
      const zeroS = Buffer.concat([raw.subarray(0, half), Buffer.alloc(half)]);
      for (const sig of [Buffer.alloc(length), zeroR, zeroS, Buffer.alloc(length - 1), Buffer.alloc(length + 1)]) {
        await rejects(es.access, withSignature(control, sig), 'token_invalid', /signature/);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// S4
// ---------------------------------------------------------------------------------------------

describe('S4 signature first, then claims: a JSON object, fatal UTF-8, no prototype effects, last duplicate wins', () => {
  const tokens = setup();

  it('checks the signature before any claim', async () => {
    const other = 'another-secret-that-is-long-enough-7d1c9e2b';
    await rejects(tokens.access, forge(HS256, claims({ exp: NOW - 10 }), other), 'token_invalid', /signature/);
    await rejects(tokens.access, forge(HS256, claims({ exp: undefined }), other), 'token_invalid', /signature/);
    await rejects(tokens.access, forge(HS256, claims({ jti: undefined }), other), 'token_invalid', /signature/);
    await rejects(tokens.refresh, forge(HS256, claims(), other), 'token_invalid', /signature/);
    await rejects(tokens.access, forge(HS256, '[1,2]', other), 'token_invalid', /signature/);
    await rejects(tokens.access, forge(HS256, 'not json', other), 'token_invalid', /signature/);
    // The same claims with a good signature fail on the claim, proving the order.
    await rejects(tokens.access, forge(HS256, claims({ exp: NOW - 10 })), 'token_expired');
  });

  it('rejects claims that are not a JSON object', async () => {
    for (const payload of ['[]', JSON.stringify([claims()]), '42', 'null', '"claims"', 'true', '{"exp":', "{'exp':1}", '\ufeff{}', '']) {
      const token = payload === '' ? signSegments(b64u(JSON.stringify(HS256)), '') : forge(HS256, payload);
      await rejects(tokens.access, token, 'token_invalid');
    }
  });

  it('decodes the claims with a fatal UTF-8 decoder', async () => {
    const text = claimsText({ name: '"XX"' });
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const bytes = Buffer.from(text.replace('XX', '\u0001'), 'utf8');
      const at = bytes.indexOf(0x01);
      const payload = Buffer.concat([bytes.subarray(0, at), Buffer.from(bad), bytes.subarray(at + 1)]);
      await rejects(tokens.access, signSegments(b64u(JSON.stringify(HS256)), payload.toString('base64url')), 'token_invalid', /UTF-8/);
    }
    // Valid multi-byte UTF-8 is fine.
    const token = await accepts(tokens.access, forge(HS256, claims({ name: 'Zoë 🎉' })));
    assert.equal(token.get('name'), 'Zoë 🎉');
  });

  it('keeps "__proto__" an ordinary claim: no prototype change, no pollution', async () => {
    const text = claimsText({}, [['__proto__', '{"polluted":"yes","isAdmin":true}']]);
    const token = await accepts(tokens.access, forge(HS256, text));
    assert.equal(Object.getPrototypeOf(token.payload), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((token.payload as Record<string, unknown>).polluted, undefined);
    assert.equal((token.payload as Record<string, unknown>).isAdmin, undefined);
    assert.deepEqual(token.get('__proto__'), { polluted: 'yes', isAdmin: true });
    assert.ok(Object.hasOwn(token.payload, '__proto__'));
    assert.equal(token.userId, '42');

    const nested = await accepts(tokens.access, forge(HS256, claimsText({}, [['constructor', '{"prototype":{"polluted":"yes"}}']])));
    assert.deepEqual(nested.get('constructor'), { prototype: { polluted: 'yes' } });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('duplicate claim names: the last one wins (decided once, here)', async () => {
    const user = await accepts(tokens.access, forge(HS256, claimsText({ user_id: undefined }, [['user_id', '"1"'], ['user_id', '"2"']])));
    assert.equal(user.get('user_id'), '2');
    assert.equal(user.userId, '2');
    await accepts(tokens.access, forge(HS256, claimsText({ exp: undefined }, [['exp', String(NOW - 10)], ['exp', String(NOW + 10)]])));
    await rejects(tokens.access, forge(HS256, claimsText({ exp: undefined }, [['exp', String(NOW + 10)], ['exp', String(NOW - 10)]])), 'token_expired');
    await rejects(tokens.access, forge(HS256, claimsText({}, [['token_type', '"refresh"']])), 'token_wrong_type');
    await rejects(tokens.access, forge(HS256, claimsText({}, [['exp', '"soon"']])), 'token_invalid', /exp/);
  });
});

// ---------------------------------------------------------------------------------------------
// S5
// ---------------------------------------------------------------------------------------------

describe('S5 exp required, a sane number; nbf/iat not in the future beyond leeway; never coerced', () => {
  const tokens = setup();

  it('rejects an exp that is not a sane NumericDate', async () => {
    const values = ['"9999999999"', `"${NOW + 300}"`, 'true', 'false', 'null', `[${NOW + 300}]`, '{}', '1e400', '-1e400', '-1', `${MAX_DATE + 1}`, '1e20', '""'];
    for (const exp of values) await rejects(tokens.access, forge(HS256, claimsText({ exp })), 'token_invalid', /"exp"/);
  });

  it('accepts exp at the last second of year 9999', async () => {
    await accepts(tokens.access, forge(HS256, claims({ exp: MAX_DATE })));
  });

  it('requires exp', async () => {
    await rejects(tokens.access, forge(HS256, claims({ exp: undefined })), 'token_no_exp');
    await rejects(tokens.refresh, forge(HS256, claims({ exp: undefined, token_type: 'refresh' })), 'token_no_exp');
    await rejects(tokens.untyped, forge(HS256, claims({ exp: undefined })), 'token_no_exp');
    await rejects(tokens.access, forge(HS256, '{}'), 'token_no_exp');
  });

  it('is expired exactly at exp, valid a second (and a millisecond) before', async () => {
    const exp = NOW + 300;
    const token = forge(HS256, claims({ exp }));
    await rejects(setup({}, exp * 1000).access, token, 'token_expired');
    await rejects(setup({}, exp * 1000 + 1).access, token, 'token_expired');
    await accepts(setup({}, (exp - 1) * 1000).access, token);
    await accepts(setup({}, exp * 1000 - 1).access, token);
  });

  it('applies leeway to exp: 5 s late is valid with leeway 10, expired with leeway 0 or 5', async () => {
    const token = forge(HS256, claims({ exp: NOW - 5 }));
    await accepts(setup({ leeway: 10 }).access, token);
    await accepts(setup({ leeway: '10s' }).access, token);
    await rejects(setup({ leeway: 0 }).access, token, 'token_expired');
    await rejects(setup({ leeway: 5 }).access, token, 'token_expired');
    await rejects(setup().access, token, 'token_expired');
  });

  for (const claim of ['nbf', 'iat']) {
    it(`rejects ${claim} in the future beyond leeway, accepts it within leeway`, async () => {
      const noLeeway = setup();
      const leeway10 = setup({ leeway: 10 });
      await accepts(noLeeway.access, forge(HS256, claims({ [claim]: NOW })));
      await accepts(noLeeway.access, forge(HS256, claims({ [claim]: NOW - 1000 })));
      await rejects(noLeeway.access, forge(HS256, claims({ [claim]: NOW + 1 })), 'token_invalid', new RegExp(`"${claim}"`));
      await rejects(noLeeway.access, forge(HS256, claims({ [claim]: NOW + 86400 })), 'token_invalid', new RegExp(`"${claim}"`));
      await accepts(leeway10.access, forge(HS256, claims({ [claim]: NOW + 5 })));
      await accepts(leeway10.access, forge(HS256, claims({ [claim]: NOW + 10 })));
      await rejects(leeway10.access, forge(HS256, claims({ [claim]: NOW + 11 })), 'token_invalid', new RegExp(`"${claim}"`));
    });

    it(`rejects ${claim} that is not a sane NumericDate`, async () => {
      for (const value of [`"${NOW}"`, '"0"', 'true', 'null', `[${NOW}]`, '{}', '1e400', '-1e400', '-1', `${MAX_DATE + 1}`]) {
        await rejects(tokens.access, forge(HS256, claimsText({ [claim]: value })), 'token_invalid', new RegExp(`"${claim}"`));
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// S6
// ---------------------------------------------------------------------------------------------

describe('S6 jti a string, token_type matching the endpoint, user_id of the expected shape', () => {
  const tokens = setup();

  it('requires a jti, and a jti that is a non-empty string', async () => {
    await rejects(tokens.access, forge(HS256, claims({ jti: undefined })), 'token_no_id');
    await rejects(tokens.untyped, forge(HS256, claims({ jti: undefined })), 'token_no_id');
    for (const jti of ['42', '4.2', 'null', 'true', '["a"]', '{"id":"a"}', '""']) {
      await rejects(tokens.access, forge(HS256, claimsText({ jti })), 'token_invalid', /jti/);
    }
  });

  it('honours jtiClaim', async () => {
    const custom = setup({ jtiClaim: 'id' });
    await accepts(custom.access, forge(HS256, claims({ jti: undefined, id: JTI })));
    await rejects(custom.access, forge(HS256, claims()), 'token_no_id');
    await rejects(custom.access, forge(HS256, claims({ jti: undefined, id: 7 })), 'token_invalid', /"id"/);
  });

  it('requires token_type on typed endpoints', async () => {
    for (const cls of [tokens.access, tokens.refresh, tokens.sliding]) {
      await rejects(cls, forge(HS256, claims({ token_type: undefined })), 'token_no_type');
    }
  });

  it('never accepts one token type at another endpoint', async () => {
    const verifiers = { access: tokens.access, refresh: tokens.refresh, sliding: tokens.sliding };
    for (const [endpoint, verifier] of Object.entries(verifiers)) {
      for (const type of ['access', 'refresh', 'sliding']) {
        const token = forge(HS256, claims({ token_type: type, refresh_exp: NOW + 86400 }));
        if (type === endpoint) await accepts(verifier, token);
        else await rejects(verifier, token, 'token_wrong_type');
      }
      for (const type of [endpoint.toUpperCase(), ` ${endpoint}`, [endpoint], null, 1, { type: endpoint }, '']) {
        await rejects(verifier, forge(HS256, claims({ token_type: type })), 'token_wrong_type');
      }
    }
    // Real tokens, too: an access token at the refresh endpoint.
    await rejects(tokens.refresh, tokens.access.forUser({ id: 1 }).toString(), 'token_wrong_type');
    await rejects(tokens.access, tokens.refresh.forUser({ id: 1 }).toString(), 'token_wrong_type');
  });

  it('rejects a user_id that is not a non-empty string or a safe integer', async () => {
    const bad = ['{}', '{"$ne":null}', '[]', '["42"]', 'true', 'false', '1.5', '42.000001', '9007199254740992', '-1e400', '1e400', 'null', '""'];
    for (const userId of bad) {
      await rejects(tokens.access, forge(HS256, claimsText({ user_id: userId })), 'token_invalid', /user_id/);
      await rejects(tokens.untyped, forge(HS256, claimsText({ user_id: userId })), 'token_invalid', /user_id/);
    }
  });

  it('accepts a user_id that is a string or a safe integer', async () => {
    for (const [raw, expected] of [['"42"', '42'], ['42', '42'], ['0', '0'], ['9007199254740991', '9007199254740991'], ['"a1b2-c3"', 'a1b2-c3']]) {
      const token = await accepts(tokens.access, forge(HS256, claimsText({ user_id: raw })));
      assert.equal(token.userId, expected);
    }
  });

  it('checks the configured userIdClaim', async () => {
    const custom = setup({ userIdClaim: 'sub' });
    await accepts(custom.access, forge(HS256, claims({ user_id: undefined, sub: 'u-1' })));
    await rejects(custom.access, forge(HS256, claims({ user_id: undefined, sub: { id: 1 } })), 'token_invalid', /"sub"/);
  });
});

// ---------------------------------------------------------------------------------------------
// S7
// ---------------------------------------------------------------------------------------------

describe('S7 aud and iss when configured', () => {
  it('aud: the configured string, or an array of strings containing it', async () => {
    const tokens = setup({ audience: 'api' });
    for (const aud of ['api', ['api'], ['other', 'api'], ['api', 'other']]) {
      await accepts(tokens.access, forge(HS256, claims({ aud })));
    }
    for (const aud of [undefined, 'other', 'API', 'api ', '', ['other'], [], 42, null, true, { api: true }, [['api']], ['api', 42]]) {
      await rejects(tokens.access, forge(HS256, claims({ aud })), 'token_invalid', /aud/);
    }
    // Tokens it issues carry the audience; a token for another audience is refused.
    await accepts(tokens.access, tokens.access.forUser({ id: 1 }).toString());
    await rejects(tokens.access, setup({ audience: 'other' }).access.forUser({ id: 1 }).toString(), 'token_invalid', /aud/);
  });

  it('iss: one exact string', async () => {
    const tokens = setup({ issuer: 'https://auth.example' });
    await accepts(tokens.access, forge(HS256, claims({ iss: 'https://auth.example' })));
    for (const iss of [undefined, 'https://auth.example/', 'HTTPS://auth.example', 'https://AUTH.example', ' https://auth.example', 'https://auth.example.evil', ['https://auth.example'], 42, null, '']) {
      await rejects(tokens.access, forge(HS256, claims({ iss })), 'token_invalid', /iss/);
    }
    await accepts(tokens.access, tokens.access.forUser({ id: 1 }).toString());
    await rejects(tokens.access, setup({ issuer: 'https://other.example' }).access.forUser({ id: 1 }).toString(), 'token_invalid', /iss/);
  });

  it('aud and iss together must both match', async () => {
    const tokens = setup({ audience: 'api', issuer: 'https://auth.example' });
    await accepts(tokens.access, forge(HS256, claims({ aud: 'api', iss: 'https://auth.example' })));
    await rejects(tokens.access, forge(HS256, claims({ aud: 'api', iss: 'https://evil.example' })), 'token_invalid', /iss/);
    await rejects(tokens.access, forge(HS256, claims({ aud: 'web', iss: 'https://auth.example' })), 'token_invalid', /aud/);
  });
});
