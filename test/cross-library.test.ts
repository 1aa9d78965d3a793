/**
 * Cross-library interoperability (SECURITY.md "How to test"): tokens tokenpair signs verify in `jose`,
 * tokens `jose` signs verify in tokenpair, for every algorithm; and the RFC 7520 §4 signature
 * examples (§4.1 RS256, §4.3 ES512, §4.4 HS256) checked at the signature level.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { createTokens, TokenError, type Algorithm, type JsonWebKeyInput, type Tokens } from '../src/index.js';
import { signBytes, signatureMatches } from '../src/jws/compact.js';
import { toRingKey } from '../src/jws/keyring.js';
import { ALL_ALGORITHMS, keyFor, generatePair } from './helpers/keys.js';

const NOW_MS = Date.UTC(2030, 0, 15, 12, 0, 0);
const NOW = NOW_MS / 1000;
const clock = () => NOW_MS;
const JTI = /^[0-9a-f]{32}$/;

/** The key jose needs: the secret bytes for HMAC, the public key (verify) or private key (sign) otherwise. */
function joseVerifyKey(alg: Algorithm): KeyObject | Uint8Array {
  const key = keyFor(alg);
  return key.secret ?? key.publicKey!;
}
function joseSignKey(alg: Algorithm): KeyObject | Uint8Array {
  const key = keyFor(alg);
  return key.secret ?? key.privateKey!;
}

/** A different key of the same algorithm (and, for RSA, the same modulus length). */
function otherKey(alg: Algorithm): KeyObject | Uint8Array {
  if (alg.startsWith('HS')) return new Uint8Array(randomBytes({ HS256: 32, HS384: 48, HS512: 64 }[alg as 'HS256']));
  if (alg.startsWith('RS') || alg.startsWith('PS')) return generatePair('rsa', { modulusLength: 2048 }).privateKey;
  if (alg === 'EdDSA') return generatePair('ed25519').privateKey;
  return generatePair('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] }).privateKey;
}

function tokensFor(alg: Algorithm, kid?: string): Tokens {
  const { signingKey } = keyFor(alg);
  return kid === undefined
    ? createTokens({ algorithm: alg, signingKey }, { clock })
    : createTokens({ algorithm: alg, keyRing: [{ kid, signingKey }] }, { clock });
}

async function rejectsWith(promise: Promise<unknown>, kind: string): Promise<TokenError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof TokenError, `expected a TokenError, got ${String(caught)}`);
  assert.equal(caught.kind, kind);
  return caught;
}

describe('cross-library: tokenpair ⇄ jose, every algorithm', () => {
  for (const alg of ALL_ALGORITHMS) {
    describe(alg, () => {
      for (const kid of [undefined, `key-${alg.toLowerCase()}-2030`]) {
        const how = kid === undefined ? 'single key' : 'key ring with kid';

        it(`(a) a token tokenpair signs verifies in jose.jwtVerify with exact claims and header (${how})`, async () => {
          const tokens = tokensFor(alg, kid);
          const token = tokens.access.forUser({ id: 7 }).toString();
          const { payload, protectedHeader } = await jose.jwtVerify(token, joseVerifyKey(alg), {
            algorithms: [alg],
            currentDate: new Date(NOW_MS),
          });
          assert.deepEqual(protectedHeader, kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid });
          // Exactly these claims, in WIRE.md order.
          assert.deepEqual(Object.keys(payload), ['token_type', 'exp', 'iat', 'jti', 'user_id']);
          assert.equal(payload.token_type, 'access');
          assert.equal(payload.user_id, '7');
          assert.match(payload.jti as string, JTI);
          assert.equal(payload.iat, NOW);
          assert.equal(payload.exp, NOW + 300);
          assert.equal((payload.exp as number) - (payload.iat as number), 300);
        });

        it(`(b) a token jose.SignJWT signs verifies in tokenpair with equal claims (${how})`, async () => {
          const tokens = tokensFor(alg, kid);
          const claims = {
            token_type: 'access',
            exp: NOW + 300,
            iat: NOW,
            jti: 'a3f1c2d4e5b60718293a4b5c6d7e8f90',
            user_id: '7',
          };
          const token = await new jose.SignJWT(claims)
            .setProtectedHeader(kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid })
            .sign(joseSignKey(alg));
          const verified = await tokens.access.verify(token);
          assert.deepEqual({ ...verified.payload }, claims);
          assert.equal(verified.userId, '7');
          assert.equal(verified.jti, claims.jti);
          // The synchronous path agrees.
          assert.deepEqual({ ...tokens.access.verifySync(token).payload }, claims);
        });

        it(`(c) a jose token signed with a different ${alg} key is rejected as token_invalid (${how})`, async () => {
          const tokens = tokensFor(alg, kid);
          const token = await new jose.SignJWT({ token_type: 'access', exp: NOW + 300, iat: NOW, jti: 'b'.repeat(32), user_id: '7' })
            .setProtectedHeader(kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid })
            .sign(otherKey(alg));
          const error = await rejectsWith(tokens.access.verify(token), 'token_invalid');
          assert.equal(error.reason, 'signature does not match');
          assert.throws(() => tokens.access.verifySync(token), (e: unknown) => e instanceof TokenError && e.kind === 'token_invalid');
        });
      }
    });
  }
});

/*
 * RFC 7520 §3 keys and §4 examples, copied from the RFC (Figures 3-5, 8-12, 24-27, 30-34). The
 * payload (Figure 7) is "It’s a dangerous business, Frodo, …": not a JSON object, so a JWT verifier
 * must check the signature and then refuse the payload.
 */
const RFC7520_PAYLOAD_TEXT =
  'It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, and if you ' +
  'don\'t keep your feet, there\u2019s no knowing where you might be swept off to.';

/** Figure 8. */
const RFC7520_PAYLOAD =
  'SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH' +
  'lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk' +
  'b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm' +
  'UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4';

/** Figure 4: RSA 2048-bit private key (Figure 3 is its public half). */
const RFC7520_RSA_PRIVATE = {
  kty: 'RSA',
  kid: 'bilbo.baggins@hobbiton.example',
  use: 'sig',
  n: 'n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV' +
    'wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde' +
    '3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g' +
    'HdrNP5zw',
  e: 'AQAB',
  d: 'bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78eiZkpXxXQ0UTEs2LsNRS-8uJbvQ-A1irkwMSMkK1J3XTGgdrhCku9gRld' +
    'Y7sNA_AKZGh-Q661_42rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-bMwWWSDFu2MUBYwkHTMEzLYGqOe04noqeq1hExBTHBOBdkMXiuFhUq1BU' +
    '6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRioz75tSUQfGCshWTBnP5uDjd18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau7gdsPfHPxxjVOc' +
    'OpBrQzwQ',
  p: '3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nRaO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmG' +
    'peNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8bUq0k',
  q: 'uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7an' +
    'V5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0s7pFc',
  dp: 'B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q1NIb1rxQtD-IsXXR3-TanevuRPRt5OBOdiMGQp8pbt26gljYfKU_E9xn' +
    '-RULHz0-ed9E9gXLKD4VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX59ehik',
  dq: 'CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pErAMVeKzFEl41DlHHqqBLSM0W1sOFbwTxYWZDm6sI6og5iTbwQGIC3gnJK' +
    'bi_7k_vJgGHwHxgPaX2PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdKT1cYF8',
  qi: '3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-NZBKCQsMf3HaEGBjTVJs_jcK8-TRXvaKe-7ZMaQj8VfBdYkssbu0NKDDh' +
    'jJ-GtiseaDVWt7dcH0cfwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpPz8aaI4',
};
const RFC7520_RSA_PUBLIC = { kty: 'RSA', kid: RFC7520_RSA_PRIVATE.kid, use: 'sig', n: RFC7520_RSA_PRIVATE.n, e: RFC7520_RSA_PRIVATE.e };

/** Figure 2: EC P-521 private key (Figure 1 is its public half). */
const RFC7520_EC_PRIVATE = {
  kty: 'EC',
  kid: 'bilbo.baggins@hobbiton.example',
  use: 'sig',
  crv: 'P-521',
  x: 'AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt',
  y: 'AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1',
  d: 'AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt',
};
const RFC7520_EC_PUBLIC = { kty: 'EC', kid: RFC7520_EC_PRIVATE.kid, use: 'sig', crv: 'P-521', x: RFC7520_EC_PRIVATE.x, y: RFC7520_EC_PRIVATE.y };

/** Figure 5: HMAC SHA-256 symmetric key. */
const RFC7520_HMAC_KEY = {
  kty: 'oct',
  kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037',
  use: 'sig',
  alg: 'HS256',
  k: 'hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg',
};

/** A JWK of RFC 7520 §3: string members only. */
type Rfc7520Jwk = JsonWebKeyInput & Record<string, string>;

interface Rfc7520Example {
  section: string;
  alg: Algorithm;
  kid: string;
  /** Protected header, decoded (Figures 9, 24, 30) and base64url (Figures 10, 25, 31). */
  header: Record<string, string>;
  headerB64: string;
  /** JWS Signature, base64url (Figures 12, 26, 33). */
  signature: string;
  /** The private (or secret) key that signs; the public key that verifies. */
  signingKey: Rfc7520Jwk;
  verifyingKey: Rfc7520Jwk | undefined;
  /** RSASSA-PKCS1-v1_5 and HMAC are deterministic: the signature can be reproduced byte for byte. */
  deterministic: boolean;
}

const RFC7520_EXAMPLES: Rfc7520Example[] = [
  {
    section: '§4.1 RSA v1.5 signature (RS256)',
    alg: 'RS256',
    kid: 'bilbo.baggins@hobbiton.example',
    header: { alg: 'RS256', kid: 'bilbo.baggins@hobbiton.example' },
    headerB64: 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9',
    signature:
      'MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK' +
      'ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J' +
      'IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w' +
      'W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP' +
      'xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f' +
      'cIe8u9ipH84ogoree7vjbU5y18kDquDg',
    signingKey: RFC7520_RSA_PRIVATE,
    verifyingKey: RFC7520_RSA_PUBLIC,
    deterministic: true,
  },
  {
    section: '§4.3 ECDSA signature (ES512)',
    alg: 'ES512',
    kid: 'bilbo.baggins@hobbiton.example',
    header: { alg: 'ES512', kid: 'bilbo.baggins@hobbiton.example' },
    headerB64: 'eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9',
    signature:
      'AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb' +
      'u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv' +
      'AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2',
    signingKey: RFC7520_EC_PRIVATE,
    verifyingKey: RFC7520_EC_PUBLIC,
    deterministic: false,
  },
  {
    section: '§4.4 HMAC-SHA2 integrity protection (HS256)',
    alg: 'HS256',
    kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037',
    header: { alg: 'HS256', kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037' },
    headerB64: 'eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9',
    signature: 's0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0',
    signingKey: RFC7520_HMAC_KEY,
    verifyingKey: undefined,
    deterministic: true,
  },
];

/** Flips one bit in the middle of a base64url signature. */
function tamper(signatureB64: string): Buffer {
  const bytes = Buffer.from(signatureB64, 'base64url');
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  return bytes;
}

describe('RFC 7520 §4 signature examples', () => {
  it('Figure 8 is the base64url of the Figure 7 payload, which is not JSON', () => {
    assert.equal(Buffer.from(RFC7520_PAYLOAD_TEXT, 'utf8').toString('base64url'), RFC7520_PAYLOAD);
    assert.throws(() => JSON.parse(RFC7520_PAYLOAD_TEXT), SyntaxError);
  });

  for (const example of RFC7520_EXAMPLES) {
    describe(example.section, () => {
      const signingInput = `${example.headerB64}.${RFC7520_PAYLOAD}`;
      const compact = `${signingInput}.${example.signature}`;

      it('the protected header is the RFC figure, base64url-encoded', () => {
        assert.equal(Buffer.from(JSON.stringify(example.header), 'utf8').toString('base64url'), example.headerB64);
      });

      it("the RFC's signature verifies with the RFC's key (signatureMatches), and a changed bit does not", () => {
        const signer = toRingKey(example.kid, example.alg, example.signingKey, undefined, '');
        const signature = Buffer.from(example.signature, 'base64url');
        assert.equal(signature.length, signer.signatureLength);
        assert.equal(signatureMatches(signer, signingInput, signature), true);
        assert.equal(signatureMatches(signer, signingInput, tamper(example.signature)), false);
        assert.equal(signatureMatches(signer, `${signingInput}x`, signature), false);
        if (example.verifyingKey) {
          // The public half alone (Figures 1 and 3) verifies it too.
          const verifier = toRingKey(example.kid, example.alg, undefined, example.verifyingKey, '');
          assert.equal(verifier.signKey, undefined);
          assert.equal(signatureMatches(verifier, signingInput, signature), true);
          assert.equal(signatureMatches(verifier, signingInput, tamper(example.signature)), false);
        }
      });

      if (example.deterministic) {
        it("signBytes reproduces the RFC's signature exactly", () => {
          const signer = toRingKey(example.kid, example.alg, example.signingKey, undefined, '');
          assert.equal(signBytes(signer, signingInput).toString('base64url'), example.signature);
        });
      } else {
        it('signBytes makes a fresh signature that verifies with the RFC key (ECDSA is randomised)', () => {
          const signer = toRingKey(example.kid, example.alg, example.signingKey, undefined, '');
          const fresh = signBytes(signer, signingInput);
          assert.equal(fresh.length, 132);
          assert.notEqual(fresh.toString('base64url'), example.signature);
          assert.equal(signatureMatches(toRingKey(example.kid, example.alg, undefined, example.verifyingKey, ''), signingInput, fresh), true);
        });
      }

      it('the JWS codec checks the signature, then rejects the payload as not a JSON object (token_invalid)', async () => {
        const tokens = createTokens({ algorithm: example.alg, keyRing: [{ kid: example.kid, signingKey: example.signingKey }] }, { clock });
        // Signature first (S4): the RFC signature passes, and only the payload is refused.
        assert.throws(() => tokens.codec.verifySync(compact), (e: unknown) =>
          e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'payload is not JSON');
        await assert.rejects(tokens.codec.verify(compact), (e: unknown) =>
          e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'payload is not JSON');
        await assert.rejects(tokens.access.verify(compact), (e: unknown) =>
          e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'payload is not JSON');
        // With a changed signature it fails earlier, at the signature.
        const forged = `${signingInput}.${tamper(example.signature).toString('base64url')}`;
        assert.throws(() => tokens.codec.verifySync(forged), (e: unknown) =>
          e instanceof TokenError && e.kind === 'token_invalid' && e.reason === 'signature does not match');
        // Without the RFC's kid in the ring the token names an unknown key.
        const otherRing = createTokens({ algorithm: example.alg, keyRing: [{ kid: 'someone-else', signingKey: example.signingKey }] }, { clock });
        assert.throws(() => otherRing.codec.verifySync(compact), (e: unknown) =>
          e instanceof TokenError && e.kind === 'token_invalid' && e.reason === `unknown kid ${JSON.stringify(example.kid)}`);
      });

      it('jose agrees: the RFC compact serialization verifies and yields the Figure 7 payload', async () => {
        const key = await jose.importJWK(example.verifyingKey ?? example.signingKey, example.alg);
        const { payload, protectedHeader } = await jose.compactVerify(compact, key);
        assert.equal(new TextDecoder().decode(payload), RFC7520_PAYLOAD_TEXT);
        assert.deepEqual(protectedHeader, example.header);
      });
    });
  }
});
