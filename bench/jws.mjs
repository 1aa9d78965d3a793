/**
 * JWS sign/verify throughput: tokenpair against a raw node:crypto floor, jose and fast-jwt, all in
 * the same run. What each case does and does not check: bench/README.md.
 *
 *   npm run bench -- jws [options]              (or: node --expose-gc bench/jws.mjs [options])
 *   options: --rounds N, --slice MS, --judge cpu|wall, --only TEXT, --json FILE, --strict, --quick (see --help)
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, timingSafeEqual, verify as cryptoVerify, webcrypto } from 'node:crypto';
import { SignJWT, importJWK, jwtVerify } from 'jose';
import { createSigner, createVerifier } from 'fast-jwt';
import { check, fail, loadDist, parseOptions, report, runGroups } from './lib/harness.mjs';

const options = parseOptions();
const { createTokens } = await loadDist();

const USER = { id: 1 };
const USER_ID = '1';

// ---------------------------------------------------------------------------------------------
// HS256

const secretText = randomBytes(32).toString('base64url'); // 43 random characters
const secretBytes = Buffer.from(secretText, 'utf8');
const hs = createTokens({ signingKey: secretText, algorithm: 'HS256' });
const hsToken = hs.access.forUser(USER).toString();

/** The floor: split, HMAC, constant-time compare, JSON.parse. No header, claim or shape checks. */
function rawHs256Verify(token) {
  const first = token.indexOf('.');
  const second = token.lastIndexOf('.');
  const signature = Buffer.from(token.slice(second + 1), 'base64url');
  const expected = createHmac('sha256', secretBytes).update(token.slice(0, second)).digest();
  if (signature.length !== expected.length || !timingSafeEqual(expected, signature)) throw new Error('bad signature');
  return JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'));
}

const HS_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
/** The sign floor: a pre-encoded header, JSON.stringify, base64url, HMAC. */
function rawHs256Sign(claims) {
  const signingInput = `${HS_HEADER}.${Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url')}`;
  return `${signingInput}.${createHmac('sha256', secretBytes).update(signingInput).digest('base64url')}`;
}

// jose's fastest HS256 key form here is a CryptoKey imported once (jose then skips its own import on
// every call); a Uint8Array secret is what most jose code passes, so both are measured.
const joseHsCryptoKey = await webcrypto.subtle.importKey('raw', secretBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
const joseHsBytes = new Uint8Array(secretBytes);
const fastHsVerify = createVerifier({ key: secretText, algorithms: ['HS256'] }); // cache: off (default)
const fastHsSign = createSigner({ key: secretText, algorithm: 'HS256' });

// The claims of a fresh access token (token_type, exp, iat, jti, user_id), signed by every sign case.
const accessClaims = { ...hs.access.forUser(USER).payload };

// ---------------------------------------------------------------------------------------------
// Asymmetric: the same KeyObject for the raw floor and tokenpair (passed as verifyingKey, which
// tokenpair keeps as is).

function asymmetric(algorithm, type, options, hash, rawOptions) {
  // Generated as PEM and imported: a KeyObject straight from generateKeyPairSync can deadlock a
  // JWK export on Node 20 (src/jws/keys.ts, ownCopy), and jose's key below is made from a JWK.
  const pem = generateKeyPairSync(type, { ...options, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const tokens = createTokens({ algorithm, signingKey: createPrivateKey(pem.privateKey), verifyingKey: createPublicKey(pem.publicKey) });
  const token = tokens.access.forUser(USER).toString();
  // The floor verifies with the very KeyObject tokenpair verifies with (its own copy of the key).
  const publicKey = tokens.settings.keyRing.keys[0].verifyKey;
  const verifyOptions = rawOptions ? { key: publicKey, ...rawOptions } : publicKey;
  /** The floor: split, base64url, crypto.verify with the KeyObject, JSON.parse. No checks. */
  const raw = (t) => {
    const first = t.indexOf('.');
    const second = t.lastIndexOf('.');
    const signature = Buffer.from(t.slice(second + 1), 'base64url');
    if (!cryptoVerify(hash, Buffer.from(t.slice(0, second)), verifyOptions, signature)) throw new Error('bad signature');
    return JSON.parse(Buffer.from(t.slice(first + 1, second), 'base64url').toString('utf8'));
  };
  return { algorithm, tokens, token, publicKey, raw };
}

const rs = asymmetric('RS256', 'rsa', { modulusLength: 2048 }, 'sha256', null);
const es = asymmetric('ES256', 'ec', { namedCurve: 'P-256' }, 'sha256', { dsaEncoding: 'ieee-p1363' });
const ed = asymmetric('EdDSA', 'ed25519', {}, null, null);

for (const a of [rs, es, ed]) {
  a.joseKey = await importJWK(a.publicKey.export({ format: 'jwk' }), a.algorithm); // a CryptoKey: jose's fastest form
  a.fastVerify = createVerifier({ key: a.publicKey.export({ type: 'spki', format: 'pem' }), algorithms: [a.algorithm] });
}

// ---------------------------------------------------------------------------------------------
// Self-checks: every verifier accepts its token and yields the user, and refuses the same token with
// one signature character changed; every signer makes a token that tokenpair accepts. A benchmark
// that measured a failure path, or a verifier that checks nothing, would be worthless.

/** The token with the middle character of its signature changed. */
function tampered(token) {
  const at = token.lastIndexOf('.') + Math.floor((token.length - token.lastIndexOf('.')) / 2);
  return `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
}

async function refuses(verify, token, what) {
  try {
    await verify(tampered(token));
  } catch {
    return;
  }
  check(false, `${what} accepted a token with a changed signature`);
}

try {
  check(rawHs256Verify(hsToken).user_id === USER_ID, 'raw HS256 verify');
  check(hs.access.verifySync(hsToken).userId === USER_ID, 'tokenpair verifySync');
  check((await hs.access.verify(hsToken)).userId === USER_ID, 'tokenpair verify');
  check((await jwtVerify(hsToken, joseHsCryptoKey, { algorithms: ['HS256'] })).payload.user_id === USER_ID, 'jose HS256 (CryptoKey)');
  check((await jwtVerify(hsToken, joseHsBytes, { algorithms: ['HS256'] })).payload.user_id === USER_ID, 'jose HS256 (Uint8Array)');
  check(fastHsVerify(hsToken).user_id === USER_ID, 'fast-jwt HS256');
  await refuses(rawHs256Verify, hsToken, 'raw HS256 verify');
  await refuses((t) => hs.access.verifySync(t), hsToken, 'tokenpair verifySync');
  await refuses((t) => jwtVerify(t, joseHsCryptoKey, { algorithms: ['HS256'] }), hsToken, 'jose HS256 (CryptoKey)');
  await refuses((t) => jwtVerify(t, joseHsBytes, { algorithms: ['HS256'] }), hsToken, 'jose HS256 (Uint8Array)');
  await refuses(fastHsVerify, hsToken, 'fast-jwt HS256');
  const signed = {
    raw: rawHs256Sign(accessClaims),
    codec: hs.codec.sign(accessClaims),
    jose: await new SignJWT(accessClaims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(joseHsCryptoKey),
    fast: fastHsSign(accessClaims),
  };
  for (const [name, token] of Object.entries(signed)) check(hs.access.verifySync(token).userId === USER_ID, `${name} HS256 sign`);
  check(signed.raw === signed.codec, 'raw and tokenpair sign the same bytes');
  check(hs.access.verifySync(hs.access.forUser(USER).toString()).userId === USER_ID, 'tokenpair forUser().toString()');
  for (const a of [rs, es, ed]) {
    check(a.raw(a.token).user_id === USER_ID, `raw ${a.algorithm}`);
    check(a.tokens.access.verifySync(a.token).userId === USER_ID, `tokenpair ${a.algorithm}`);
    check((await jwtVerify(a.token, a.joseKey, { algorithms: [a.algorithm] })).payload.user_id === USER_ID, `jose ${a.algorithm}`);
    check(a.fastVerify(a.token).user_id === USER_ID, `fast-jwt ${a.algorithm}`);
    await refuses(a.raw, a.token, `raw ${a.algorithm}`);
    await refuses((t) => a.tokens.access.verifySync(t), a.token, `tokenpair ${a.algorithm}`);
    await refuses((t) => jwtVerify(t, a.joseKey, { algorithms: [a.algorithm] }), a.token, `jose ${a.algorithm}`);
    await refuses(a.fastVerify, a.token, `fast-jwt ${a.algorithm}`);
  }
} catch (error) {
  fail(error.message);
}

// ---------------------------------------------------------------------------------------------
// The groups

const FLOOR = 'raw node:crypto floor';
const JOSE_BYTES = 'jose jwtVerify, Uint8Array';
const JOSE_KEY = 'jose jwtVerify, CryptoKey';
const IN_FLIGHT = 16;
const JOSE_IN_FLIGHT = `${JOSE_KEY}, ${IN_FLIGHT} in flight`;
const joseHs = (key) => jwtVerify(hsToken, key, { algorithms: ['HS256'] });
const verifyCases = [
  { name: FLOOR, fn: () => rawHs256Verify(hsToken), note: 'no checks' },
  {
    name: 'tokenpair access.verifySync',
    fn: () => hs.access.verifySync(hsToken),
    targets: [
      { label: '≥ 0.70× floor', min: 0.7 },
      { label: '≥ 8× jose (Uint8Array)', against: JOSE_BYTES, min: 8 },
      { label: 'vs jose CryptoKey (info)', against: JOSE_KEY },
      { label: `vs jose ${IN_FLIGHT} in flight (info)`, against: JOSE_IN_FLIGHT },
    ],
  },
  { name: 'tokenpair access.verify (await)', fn: () => hs.access.verify(hsToken), async: true },
  { name: 'tokenpair codec.verifySync', fn: () => hs.codec.verifySync(hsToken), note: 'JWS only, no claim checks' },
  { name: JOSE_BYTES, fn: () => joseHs(joseHsBytes), async: true, note: 'the usual way; a KeyObject is no faster' },
  { name: JOSE_KEY, fn: () => joseHs(joseHsCryptoKey), async: true, note: "jose's fastest key form" },
  {
    name: JOSE_IN_FLIGHT,
    fn: () => Promise.all(Array.from({ length: IN_FLIGHT }, () => joseHs(joseHsCryptoKey))),
    async: true,
    opsPerCall: IN_FLIGHT,
    note: 'WebCrypto runs on the libuv pool: uses the 2nd core',
  },
  { name: 'fast-jwt createVerifier', fn: () => fastHsVerify(hsToken), note: 'cache off (default)' },
];

const groups = [
  { title: 'HS256 verify', baseline: FLOOR, cases: verifyCases },
  {
    title: 'HS256 sign',
    baseline: 'raw node:crypto floor',
    cases: [
      { name: 'raw node:crypto floor', fn: () => rawHs256Sign(accessClaims), note: 'fixed claims' },
      { name: 'tokenpair codec.sign', fn: () => hs.codec.sign(accessClaims), note: 'fixed claims' },
      { name: 'tokenpair access.forUser().toString()', fn: () => hs.access.forUser(USER).toString(), note: 'new jti, exp, iat' },
      { name: 'jose SignJWT, CryptoKey', fn: () => new SignJWT(accessClaims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(joseHsCryptoKey), async: true },
      { name: 'fast-jwt createSigner', fn: () => fastHsSign(accessClaims), note: 'sets iat' },
    ],
  },
  ...[rs, es, ed].map((a) => ({
    title: `${a.algorithm} verify`,
    baseline: 'raw node:crypto',
    cases: [
      { name: 'raw node:crypto', fn: () => a.raw(a.token), note: 'same KeyObject, no checks' },
      { name: 'tokenpair access.verifySync', fn: () => a.tokens.access.verifySync(a.token), targets: [{ label: '≥ 0.90× raw', min: 0.9 }] },
      { name: 'jose jwtVerify, CryptoKey', fn: () => jwtVerify(a.token, a.joseKey, { algorithms: [a.algorithm] }), async: true },
      { name: 'fast-jwt createVerifier', fn: () => a.fastVerify(a.token), note: 'PEM key' },
    ],
  })),
];

const results = await runGroups(groups, options);
process.exitCode = report(results, options);
