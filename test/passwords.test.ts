import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash as argon2Hash, type Algorithm } from '@node-rs/argon2';
import { ConfigurationError } from '../src/errors.js';
import { createPasswordHasher, HasherBusyError, MAX_PASSWORD_BYTES, passwordTooLong, type PasswordHasher } from '../src/passwords/hasher.js';
import { encodeDjangoPbkdf2, MAX_PBKDF2_ITERATIONS, parseDjangoPbkdf2 } from '../src/passwords/django.js';
import { Semaphore, SemaphoreFullError } from '../src/passwords/semaphore.js';

// Real Django vectors, produced with Python's hashlib exactly as Django's PBKDF2PasswordHasher does:
//   base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'password', b'salt', 600000)).decode()
//   base64.b64encode(hashlib.pbkdf2_hmac('sha256', ' pässwörd 🔑 '.encode(), b'Zq5IhNSwO5kQ4xgtTgX4Hs', 1000)).decode()
const DJANGO = { password: 'password', encoded: 'pbkdf2_sha256$600000$salt$Zpz+UkghFv2hqiy+QJsvVsjkVjdSt6KPbqq2FO4AUXg=' };
const DJANGO_UNICODE = {
  password: ' pässwörd 🔑 ',
  encoded: 'pbkdf2_sha256$1000$Zq5IhNSwO5kQ4xgtTgX4Hs$Slup7vhPaXn+otxOJVaQEW1160F64tL30v2AX1mdCAM=',
};
const ARGON2ID = 2 as Algorithm; // Algorithm.Argon2id; the const enum is unreadable under isolatedModules

/** Counts every verification, argon2 or pbkdf2: what each login branch must cost exactly once of. */
function verifications(hasher: PasswordHasher): number {
  const s = hasher.stats();
  return s.argon2Verifications + s.pbkdf2Verifications;
}

describe('passwords: argon2id', () => {
  const hasher = createPasswordHasher();

  it('hashes with OWASP parameters as a PHC string that verifies', async () => {
    const encoded = await hasher.hash('correct horse battery staple');
    assert.match(encoded, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.deepEqual(await hasher.verify(encoded, 'correct horse battery staple'), { ok: true, needsRehash: false });
    assert.deepEqual(await hasher.verify(encoded, 'correct horse battery stapl'), { ok: false, needsRehash: false });
  });

  it('salts every hash', async () => {
    assert.notEqual(await hasher.hash('same'), await hasher.hash('same'));
  });

  it('uses passwords exactly as typed: surrounding spaces and case matter (S14)', async () => {
    const spaced = await hasher.hash('  secret ');
    assert.equal((await hasher.verify(spaced, '  secret ')).ok, true);
    assert.equal((await hasher.verify(spaced, 'secret')).ok, false);
    assert.equal((await hasher.verify(spaced, '  Secret ')).ok, false);
    const trimmed = await hasher.hash('secret');
    assert.equal((await hasher.verify(trimmed, '  secret ')).ok, false);
  });

  it('asks for a rehash of a correct password under weaker parameters, and only then', async () => {
    const weak = await argon2Hash('pw', { algorithm: ARGON2ID, memoryCost: 4096, timeCost: 2, parallelism: 1 });
    assert.match(weak, /^\$argon2id\$v=19\$m=4096,t=2,p=1\$/);
    assert.deepEqual(await hasher.verify(weak, 'pw'), { ok: true, needsRehash: true });
    assert.deepEqual(await hasher.verify(weak, 'wrong'), { ok: false, needsRehash: false });
    const fewerPasses = await argon2Hash('pw', { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 1, parallelism: 1 });
    assert.deepEqual(await hasher.verify(fewerPasses, 'pw'), { ok: true, needsRehash: true });
    const stronger = await argon2Hash('pw', { algorithm: ARGON2ID, memoryCost: 47104, timeCost: 3, parallelism: 2 });
    assert.deepEqual(await hasher.verify(stronger, 'pw'), { ok: true, needsRehash: false });
  });

  it('compares against the hasher configuration when deciding on a rehash', async () => {
    const stronger = createPasswordHasher({ memoryCost: 47104, timeCost: 2 });
    assert.match(await stronger.hash('pw'), /^\$argon2id\$v=19\$m=47104,t=2,p=1\$/);
    const standard = await hasher.hash('pw');
    assert.deepEqual(await stronger.verify(standard, 'pw'), { ok: true, needsRehash: true });
  });

  it('refuses a stored hash asking for absurd resources instead of running it', async () => {
    // Verifying m = 4 TiB would make the allocator kill the process; it must be refused unrun.
    const hostile = '$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWI';
    const manyPasses = '$argon2id$v=19$m=19456,t=100000,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWJjYWI';
    for (const encoded of [hostile, manyPasses]) {
      const before = verifications(hasher);
      assert.deepEqual(await hasher.verify(encoded, 'pw'), { ok: false, needsRehash: false });
      assert.equal(verifications(hasher), before + 1, 'one dummy verification, not the hostile one');
    }
  });

  it('rejects other argon2 variants and malformed PHC strings without throwing', async () => {
    const argon2i = await argon2Hash('pw', { algorithm: 1 as Algorithm, memoryCost: 19456, timeCost: 2 });
    assert.match(argon2i, /^\$argon2i\$/);
    const good = await hasher.hash('pw');
    for (const encoded of [
      argon2i,
      argon2i.replace('$argon2i$', '$argon2id$'), // relabelled: parameters fine, digest wrong
      '$argon2id$',
      '$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB',
      good.slice(0, -1),
      `${good}=`,
      `${good}$`,
      `${good.slice(0, 40)}${'A'.repeat(1000)}`,
    ]) {
      assert.deepEqual(await hasher.verify(encoded, 'pw'), { ok: false, needsRehash: false }, encoded);
    }
  });
});

describe('passwords: Django pbkdf2_sha256', () => {
  const hasher = createPasswordHasher();

  it('verifies a real Django hash and asks for a rehash to argon2id', async () => {
    assert.deepEqual(await hasher.verify(DJANGO.encoded, DJANGO.password), { ok: true, needsRehash: true });
    assert.deepEqual(await hasher.verify(DJANGO.encoded, 'Password'), { ok: false, needsRehash: false });
    assert.deepEqual(await hasher.verify(DJANGO.encoded, ' password'), { ok: false, needsRehash: false });
  });

  it('encodes non-ASCII passwords as UTF-8 like Django, without trimming', async () => {
    assert.deepEqual(await hasher.verify(DJANGO_UNICODE.encoded, DJANGO_UNICODE.password), { ok: true, needsRehash: true });
    assert.equal((await hasher.verify(DJANGO_UNICODE.encoded, DJANGO_UNICODE.password.trim())).ok, false);
    assert.equal((await hasher.verify(DJANGO_UNICODE.encoded, DJANGO_UNICODE.password.normalize('NFD'))).ok, false);
  });

  it('encodeDjangoPbkdf2 reproduces Django byte for byte', async () => {
    assert.equal(await encodeDjangoPbkdf2(DJANGO.password, 'salt', 600000), DJANGO.encoded);
    assert.equal(await encodeDjangoPbkdf2(DJANGO_UNICODE.password, 'Zq5IhNSwO5kQ4xgtTgX4Hs', 1000), DJANGO_UNICODE.encoded);
    await assert.rejects(encodeDjangoPbkdf2('pw', 'sa$lt', 1000), RangeError);
    await assert.rejects(encodeDjangoPbkdf2('pw', '', 1000), RangeError);
    await assert.rejects(encodeDjangoPbkdf2('pw', 'salt', 0), RangeError);
    await assert.rejects(encodeDjangoPbkdf2('pw', 'salt', MAX_PBKDF2_ITERATIONS + 1), RangeError);
  });

  it('parses only well-formed hashes', () => {
    assert.deepEqual(parseDjangoPbkdf2(DJANGO.encoded)?.iterations, 600000);
    assert.equal(parseDjangoPbkdf2(DJANGO.encoded)?.hash.length, 32);
  });

  it('treats malformed Django strings as a failed login, spending one dummy verification each', async () => {
    const digest = 'Zpz+UkghFv2hqiy+QJsvVsjkVjdSt6KPbqq2FO4AUXg=';
    const rows: Record<string, string> = {
      'non-numeric iterations': `pbkdf2_sha256$abc$salt$${digest}`,
      'negative iterations': `pbkdf2_sha256$-600000$salt$${digest}`,
      'fractional iterations': `pbkdf2_sha256$600000.0$salt$${digest}`,
      'zero iterations': `pbkdf2_sha256$0$salt$${digest}`,
      'leading zero (never verifies in Django either)': `pbkdf2_sha256$0600000$salt$${digest}`,
      'huge iterations': `pbkdf2_sha256$${MAX_PBKDF2_ITERATIONS + 1}$salt$${digest}`,
      'absurd iterations': `pbkdf2_sha256$99999999999999999999$salt$${digest}`,
      'bad base64': `pbkdf2_sha256$600000$salt$Zpz+UkghFv2hqiy+QJsvVsjkVjdSt6KPbqq2FO4AUX*=`,
      'unpadded base64': `pbkdf2_sha256$600000$salt$${digest.slice(0, -1)}`,
      'base64url alphabet': `pbkdf2_sha256$600000$salt$${digest.replace('+', '-')}`,
      'non-canonical trailing bits': `pbkdf2_sha256$600000$salt$${digest.slice(0, -2)}h=`,
      'short digest': `pbkdf2_sha256$600000$salt$${Buffer.alloc(16).toString('base64')}`,
      'long digest': `pbkdf2_sha256$600000$salt$${Buffer.alloc(64).toString('base64')}`,
      'empty salt': `pbkdf2_sha256$600000$$${digest}`,
      'missing digest': 'pbkdf2_sha256$600000$salt',
      'missing salt and digest': 'pbkdf2_sha256$600000',
      'algorithm only': 'pbkdf2_sha256$',
      'extra part': `${DJANGO.encoded}$extra`,
      'other Django algorithm': `pbkdf2_sha1$600000$salt$${digest}`,
      'wrong case': DJANGO.encoded.replace('pbkdf2_sha256', 'PBKDF2_SHA256'),
      'unusable password': `!${DJANGO.encoded}`,
      'Django unusable password marker': '!Xq7c0GXbnt4aGT7lKS4AhTLYr8cfkCbU8Ne2hRH6',
    };
    for (const [name, encoded] of Object.entries(rows)) {
      assert.equal(parseDjangoPbkdf2(encoded), undefined, name);
      const before = hasher.stats();
      assert.deepEqual(await hasher.verify(encoded, DJANGO.password), { ok: false, needsRehash: false }, name);
      const after = hasher.stats();
      assert.equal(after.argon2Verifications - before.argon2Verifications, 1, `${name}: one dummy verification`);
      assert.equal(after.pbkdf2Verifications, before.pbkdf2Verifications, `${name}: pbkdf2 never ran`);
    }
  });
});

describe('passwords: unknown formats and length cap', () => {
  const hasher = createPasswordHasher();

  it('rejects unknown formats and the empty string after one dummy verification', async () => {
    for (const encoded of ['', 'plaintext', 'md5$salt$abc', 'bcrypt_sha256$$2b$12$abc', '$2b$12$abcdefghijklmnopqrstuv', '$argon2id', '!']) {
      const before = verifications(hasher);
      assert.deepEqual(await hasher.verify(encoded, 'plaintext'), { ok: false, needsRehash: false }, encoded);
      assert.equal(verifications(hasher), before + 1, encoded);
    }
  });

  it('never throws on non-string input reaching it at run time', async () => {
    const loose = hasher as unknown as { verify(a: unknown, b: unknown): Promise<unknown> };
    assert.deepEqual(await loose.verify(null, 'pw'), { ok: false, needsRehash: false });
    assert.deepEqual(await loose.verify(DJANGO.encoded, { length: 1 }), { ok: false, needsRehash: false });
  });

  it(`caps passwords at ${MAX_PASSWORD_BYTES} UTF-8 bytes before any hashing (S14)`, async () => {
    assert.equal(passwordTooLong('a'.repeat(MAX_PASSWORD_BYTES)), false);
    assert.equal(passwordTooLong('a'.repeat(MAX_PASSWORD_BYTES + 1)), true);
    assert.equal(passwordTooLong('é'.repeat(MAX_PASSWORD_BYTES / 2)), false); // 2 bytes each: exactly the cap
    assert.equal(passwordTooLong(`${'é'.repeat(MAX_PASSWORD_BYTES / 2)}a`), true);
    assert.equal(passwordTooLong('🔑'.repeat(MAX_PASSWORD_BYTES / 4 + 1)), true); // 4 bytes per surrogate pair
    assert.equal(passwordTooLong(''), false);

    const atCap = 'x'.repeat(MAX_PASSWORD_BYTES);
    const encoded = await hasher.hash(atCap);
    assert.equal((await hasher.verify(encoded, atCap)).ok, true);

    const tooLong = `${atCap}x`;
    await assert.rejects(hasher.hash(tooLong), RangeError);
    const before = hasher.stats();
    assert.deepEqual(await hasher.verify(encoded, tooLong), { ok: false, needsRehash: false });
    assert.deepEqual(await hasher.verify(DJANGO.encoded, tooLong), { ok: false, needsRehash: false });
    await hasher.verifyDummy(tooLong);
    assert.deepEqual(hasher.stats(), before, 'nothing was hashed');
  });
});

describe('passwords: every login branch costs one verification (S13)', () => {
  it('verifyDummy, a wrong password, a right password, an unknown format each cost exactly one argon2 verification', async () => {
    const hasher = createPasswordHasher();
    const user = await hasher.hash('hunter2');
    await hasher.verifyDummy('warm-up'); // builds the cached dummy hash: one hash, once
    const baseline = hasher.stats();
    assert.equal(baseline.hashes, 2);

    const branches: Array<[string, () => Promise<unknown>]> = [
      ['unknown user (verifyDummy)', () => hasher.verifyDummy('hunter2')],
      ['inactive user (verifyDummy)', () => hasher.verifyDummy('anything')],
      ['wrong password', () => hasher.verify(user, 'hunter3')],
      ['right password', () => hasher.verify(user, 'hunter2')],
      ['unusable stored hash', () => hasher.verify('!unusable', 'hunter2')],
    ];
    for (const [name, branch] of branches) {
      const before = hasher.stats();
      await branch();
      const after = hasher.stats();
      assert.equal(after.argon2Verifications - before.argon2Verifications, 1, name);
      assert.equal(after.pbkdf2Verifications - before.pbkdf2Verifications, 0, name);
      assert.equal(after.hashes, before.hashes, `${name}: no new hash`);
    }
  });

  it('makes the dummy hash once per hasher, with the configured parameters, even under concurrent first use', async () => {
    const hasher = createPasswordHasher({ memoryCost: 47104, timeCost: 1 });
    await Promise.all([hasher.verifyDummy('a'), hasher.verifyDummy('b'), hasher.verifyDummy('c')]);
    await hasher.verifyDummy('d');
    const stats = hasher.stats();
    assert.equal(stats.hashes, 1);
    assert.equal(stats.argon2Verifications, 4);
    // Another hasher has its own dummy (nothing captured at module level).
    const other = createPasswordHasher();
    await other.verifyDummy('a');
    assert.equal(other.stats().hashes, 1);
  });
});

describe('passwords: bounded concurrency (S16)', () => {
  it('runs at most maxConcurrent operations at once and finishes them all', async () => {
    const hasher = createPasswordHasher({ maxConcurrent: 2 });
    const encoded = await hasher.hash('pw');
    const pending = Array.from({ length: 6 }, (_, i) => hasher.verify(encoded, i % 2 === 0 ? 'pw' : 'nope'));
    assert.deepEqual({ running: hasher.stats().running, queued: hasher.stats().queued }, { running: 2, queued: 4 });
    const results = await Promise.all(pending);
    assert.deepEqual(results.map((r) => r.ok), [true, false, true, false, true, false]);
    const stats = hasher.stats();
    assert.equal(stats.peakRunning, 2);
    assert.deepEqual({ running: stats.running, queued: stats.queued }, { running: 0, queued: 0 });
    assert.equal(stats.argon2Verifications, 6);
  });

  it('refuses with HasherBusyError beyond maxQueue waiting, and recovers', async () => {
    const hasher = createPasswordHasher({ maxConcurrent: 1, maxQueue: 2 });
    const encoded = await hasher.hash('pw');
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => hasher.verify(encoded, 'pw')));
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    const rejection = settled[3] as PromiseRejectedResult;
    assert.ok(rejection.reason instanceof HasherBusyError);
    assert.equal(rejection.reason.status, 503);
    assert.deepEqual(rejection.reason.toJSON(), { detail: 'Service temporarily unavailable.', code: 'service_unavailable' });
    assert.equal(hasher.stats().argon2Verifications, 3, 'the refused ones did no work');
    const hashes = await Promise.allSettled([hasher.hash('a'), hasher.hash('b'), hasher.hash('c'), hasher.hash('d')]);
    assert.ok(hashes[3]?.status === 'rejected' && hashes[3].reason instanceof HasherBusyError);
    assert.deepEqual(await hasher.verify(encoded, 'pw'), { ok: true, needsRehash: false });
  });

  it('a failed first dummy hash (busy) is not cached', async () => {
    const hasher = createPasswordHasher({ maxConcurrent: 1, maxQueue: 0 });
    const encoded = await hasher.hash('pw');
    const busy = hasher.verify(encoded, 'pw');
    await assert.rejects(hasher.verifyDummy('x'), HasherBusyError);
    await busy;
    await hasher.verifyDummy('x');
    assert.equal(hasher.stats().argon2Verifications, 2);
  });
});

describe('passwords: semaphore', () => {
  it('is FIFO, bounded, and releases on failure', async () => {
    const semaphore = new Semaphore(1, 3);
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const task = (n: number) => () => new Promise<number>((resolve) => releases.push(() => { order.push(n); resolve(n); }));
    const first = semaphore.run(task(1));
    const failing = assert.rejects(semaphore.run(() => Promise.reject(new Error('boom'))), /boom/);
    const rest = [semaphore.run(task(3)), semaphore.run(task(4))];
    await assert.rejects(semaphore.run(task(5)), SemaphoreFullError);
    assert.deepEqual(semaphore.stats(), { running: 1, queued: 3, peakRunning: 1 });
    await new Promise((r) => setImmediate(r));
    releases.shift()!();
    assert.equal(await first, 1);
    await failing;
    while (order.length < 3) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    assert.deepEqual(await Promise.all(rest), [3, 4]);
    assert.deepEqual(order, [1, 3, 4]);
    assert.deepEqual(semaphore.stats(), { running: 0, queued: 0, peakRunning: 1 });
  });

  it('validates its bounds', () => {
    assert.throws(() => new Semaphore(0, 1), RangeError);
    assert.throws(() => new Semaphore(1, -1), RangeError);
    assert.throws(() => new Semaphore(1.5, 1), RangeError);
  });
});

describe('passwords: configuration', () => {
  const refuses = (options: Parameters<typeof createPasswordHasher>[0], setting: string) =>
    assert.throws(
      () => createPasswordHasher(options),
      (error: unknown) => error instanceof ConfigurationError && error.setting === setting && error.message.startsWith(setting),
      JSON.stringify(options),
    );

  it('refuses argon2id costs below OWASP minimum, naming the option', () => {
    refuses({ memoryCost: 4096 }, 'memoryCost');
    refuses({ memoryCost: 7167, timeCost: 10 }, 'memoryCost');
    refuses({ timeCost: 1 }, 'timeCost'); // m = 19 MiB needs t ≥ 2
    refuses({ memoryCost: 12288, timeCost: 2 }, 'timeCost'); // 12 MiB needs t ≥ 3
    refuses({ parallelism: 0 }, 'parallelism');
    refuses({ memoryCost: 19456.5 }, 'memoryCost');
    refuses({ memoryCost: Number.NaN }, 'memoryCost');
    refuses({ memoryCost: 19456 * 1024 }, 'memoryCost'); // bytes instead of KiB
    refuses({ maxConcurrent: 0 }, 'maxConcurrent');
    refuses({ maxQueue: -1 }, 'maxQueue');
    assert.match(String(captureError(() => createPasswordHasher({ memoryCost: 4096 }))), /memoryCost must be at least 7168 KiB.*OWASP/);
  });

  it("accepts OWASP's equivalent configurations and stronger ones", () => {
    for (const options of [{}, { memoryCost: 47104, timeCost: 1 }, { memoryCost: 12288, timeCost: 3 }, { memoryCost: 7168, timeCost: 5 }, { memoryCost: 65536, timeCost: 3, parallelism: 4 }]) {
      assert.doesNotThrow(() => createPasswordHasher(options), JSON.stringify(options));
    }
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}
