/**
 * The store contract: one suite every store implementation passes (memory, SQLite, and later
 * PostgreSQL), with exact results. Call `storeContract(name, open, cleanup)` from a test file;
 * `open` returns a fresh, empty store for each test and `cleanup` disposes of it.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  StoreUnavailableError,
  type ClientInfo,
  type ConsumeRequest,
  type ThrottleCounts,
  type ThrottleLimit,
  type ThrottleStore,
  type TokenRecord,
  type TokenStore,
  type UserAdmin,
  type UserStore,
} from '../../src/store/types.js';

/** A store with every optional user-writing method: what the built-in stores implement. */
export type ContractStore = TokenStore &
  UserStore &
  Required<Pick<UserStore, 'updateLastLogin' | 'setPasswordHash' | 'rotateSecurityStamp'>> &
  UserAdmin &
  ThrottleStore &
  ThrottleCounts;

/** "now" for every test: 2027-01-15T08:00:00Z, a multiple of 60 (fixed throttle windows start on it). */
export const T = 1_800_000_000;
const DAY = 86_400;

export const NO_CLIENT: ClientInfo = { userAgent: null, address: null };
const FIREFOX: ClientInfo = { userAgent: 'Firefox/140', address: '203.0.113.5' };

/** A token record with fresh ids: user 7, a new family, issued at T, valid for a day. */
export function tokenRecord(over: Partial<TokenRecord> = {}): TokenRecord {
  return {
    jti: randomUUID().replaceAll('-', ''),
    userId: '7',
    familyId: `fam-${randomUUID()}`,
    tokenType: 'refresh',
    issuedAt: T,
    expiresAt: T + DAY,
    ...over,
  };
}

/** The successor of `token`: same user and family, a new jti, issued at `now`. */
export function successorOf(token: TokenRecord, now: number, lifetime = DAY): TokenRecord {
  return tokenRecord({ userId: token.userId, familyId: token.familyId, tokenType: token.tokenType, issuedAt: now, expiresAt: now + lifetime });
}

/** Throttle keys with a limit so high that it never refuses. */
export function limits(keys: readonly string[]): ThrottleLimit[] {
  return keys.map((key) => ({ key, limit: 1_000_000 }));
}

export function consumeRequest(token: TokenRecord, successor: TokenRecord | null, now: number, reuseGraceSeconds = 0, client: ClientInfo = NO_CLIENT): ConsumeRequest {
  return { token, successor, client, now, reuseGraceSeconds };
}

export function storeContract(name: string, open: () => Promise<ContractStore>, cleanup: (store: ContractStore) => Promise<void>): void {
  describe(`store contract: ${name}`, () => {
    let store: ContractStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await cleanup(store);
    });

    /** Starts a family for user `userId` with one token; returns the token. */
    async function login(over: Partial<TokenRecord> = {}, client: ClientInfo = FIREFOX, absoluteExpiresAt: number | null = null): Promise<TokenRecord> {
      const token = tokenRecord(over);
      await store.startFamily(token, client, absoluteExpiresAt);
      return token;
    }

    describe('startFamily and status', () => {
      it('records the first token of a family as active, and its session', async () => {
        const token = await login();
        assert.equal(await store.status(token.jti, T), 'active');
        assert.equal(await store.status('never-issued', T), 'unknown');
        assert.deepEqual(await store.listSessions('7', T), [
          { id: token.familyId, userId: '7', createdAt: T, lastUsedAt: T, expiresAt: T + DAY, absoluteExpiresAt: null, userAgent: 'Firefox/140', address: '203.0.113.5' },
        ]);
      });

      it('refuses to record a jti or a family id twice, and changes nothing', async () => {
        const token = await login();
        await store.consume(consumeRequest(token, null, T + 1));
        await assert.rejects(store.startFamily({ ...token, familyId: 'another' }, NO_CLIENT, null));
        await assert.rejects(store.startFamily(tokenRecord({ familyId: token.familyId }), NO_CLIENT, null));
        assert.equal(await store.status(token.jti, T + 1), 'used');
        assert.equal((await store.listSessions('7', T + 1)).length, 1);
      });
    });

    describe('consume', () => {
      it('spends the token once and records the successor in the same family', async () => {
        const token = await login();
        const next = successorOf(token, T + 60, 2 * DAY);
        assert.deepEqual(await store.consume(consumeRequest(token, next, T + 60, 0, { userAgent: 'Chrome/130', address: null })), {
          status: 'consumed',
          familyId: token.familyId,
          absoluteExpiresAt: null,
        });
        assert.equal(await store.status(token.jti, T + 60), 'used');
        assert.equal(await store.status(next.jti, T + 60), 'active');
        // The session: used now, the new user agent, the old address (null keeps it), the later expiry.
        assert.deepEqual(await store.listSessions('7', T + 60), [
          { id: token.familyId, userId: '7', createdAt: T, lastUsedAt: T + 60, expiresAt: T + 60 + 2 * DAY, absoluteExpiresAt: null, userAgent: 'Chrome/130', address: '203.0.113.5' },
        ]);
      });

      it('without rotation (no successor) spends the token and records nothing else', async () => {
        const token = await login();
        assert.deepEqual(await store.consume(consumeRequest(token, null, T + 5)), { status: 'consumed', familyId: token.familyId, absoluteExpiresAt: null });
        assert.equal(await store.status(token.jti, T + 5), 'used');
        assert.equal((await store.listSessions('7', T + 5))[0]!.expiresAt, T + DAY);
      });

      it('a second use within reuseGraceSeconds is "reused" and leaves the family alone', async () => {
        const token = await login();
        const next = successorOf(token, T + 10);
        await store.consume(consumeRequest(token, next, T + 10, 30));
        // The last whole second inside the grace period: now − usedAt = grace − 1.
        assert.deepEqual(await store.consume(consumeRequest(token, successorOf(token, T + 39), T + 39, 30)), { status: 'reused', familyRevoked: false });
        assert.equal(await store.status(next.jti, T + 39), 'active');
        assert.equal(await store.status(token.jti, T + 39), 'used');
        assert.equal((await store.listSessions('7', T + 39)).length, 1);
        // now − usedAt = grace is past it: whole seconds never stretch the grace beyond what was configured.
        assert.deepEqual(await store.consume(consumeRequest(token, null, T + 40, 30)), { status: 'reused', familyRevoked: true });
        assert.equal(await store.status(next.jti, T + 40), 'revoked');
      });

      it('with reuseGraceSeconds 0 a reuse in the very second of the winning use revokes the family', async () => {
        const token = await login();
        const next = successorOf(token, T + 10);
        await store.consume(consumeRequest(token, next, T + 10, 0));
        assert.deepEqual(await store.consume(consumeRequest(token, successorOf(token, T + 10), T + 10, 0)), { status: 'reused', familyRevoked: true });
        assert.equal(await store.status(next.jti, T + 10), 'revoked');
        assert.deepEqual(await store.listSessions('7', T + 10), []);
      });

      it('a second use after the grace period revokes the whole family (theft detection)', async () => {
        const token = await login();
        const second = successorOf(token, T + 10);
        await store.consume(consumeRequest(token, second, T + 10, 30));
        const third = successorOf(token, T + 20);
        await store.consume(consumeRequest(second, third, T + 20, 30));
        const attempt = successorOf(token, T + 41);
        assert.deepEqual(await store.consume(consumeRequest(token, attempt, T + 41, 30)), { status: 'reused', familyRevoked: true });
        for (const jti of [token.jti, second.jti, third.jti]) assert.equal(await store.status(jti, T + 41), 'revoked', jti);
        assert.equal(await store.status(attempt.jti, T + 41), 'unknown', 'no successor is recorded for a reuse');
        assert.deepEqual(await store.listSessions('7', T + 41), []);
        // The legitimate holder of the latest token is now locked out too.
        assert.deepEqual(await store.consume(consumeRequest(third, successorOf(third, T + 42), T + 42, 30)), { status: 'revoked' });
        // And a further reuse reports the revocation, not another reuse.
        assert.deepEqual(await store.consume(consumeRequest(token, null, T + 43, 30)), { status: 'revoked' });
      });

      it('a blacklisted token, or one of a revoked family, is "revoked" and records no successor', async () => {
        const token = await login();
        assert.equal(await store.blacklist(token, 'logout', T + 1), 'blacklisted');
        const next = successorOf(token, T + 2);
        assert.deepEqual(await store.consume(consumeRequest(token, next, T + 2)), { status: 'revoked' });
        assert.equal(await store.status(next.jti, T + 2), 'unknown');

        const other = await login();
        assert.equal(await store.revokeFamilyOf(other.jti, 'admin', T + 3), true);
        assert.deepEqual(await store.consume(consumeRequest(other, successorOf(other, T + 4), T + 4)), { status: 'revoked' });
      });

      it('records a token it has never seen in a new family and spends it', async () => {
        const token = tokenRecord({ userId: '9', issuedAt: T - 100, expiresAt: T + 500 });
        const next = successorOf(token, T);
        assert.deepEqual(await store.consume(consumeRequest(token, next, T, 0, FIREFOX)), { status: 'consumed', familyId: token.familyId, absoluteExpiresAt: null });
        assert.equal(await store.status(token.jti, T), 'used');
        assert.equal(await store.status(next.jti, T), 'active');
        assert.deepEqual(await store.listSessions('9', T), [
          { id: token.familyId, userId: '9', createdAt: T - 100, lastUsedAt: T, expiresAt: T + DAY, absoluteExpiresAt: null, userAgent: 'Firefox/140', address: '203.0.113.5' },
        ]);
        assert.deepEqual(await store.consume(consumeRequest(token, null, T + 100)), { status: 'reused', familyRevoked: true });
      });

      it('records an unseen token of an existing family in that family, never reviving a revoked one', async () => {
        const first = await login({}, FIREFOX, T + 1000);
        const stranger = tokenRecord({ familyId: first.familyId });
        assert.deepEqual(await store.consume(consumeRequest(stranger, null, T + 1)), { status: 'consumed', familyId: first.familyId, absoluteExpiresAt: T + 1000 });
        assert.equal(await store.status(first.jti, T + 1), 'active');

        await store.revokeFamilyOf(first.jti, 'logout_all', T + 2);
        const late = tokenRecord({ familyId: first.familyId });
        assert.deepEqual(await store.consume(consumeRequest(late, successorOf(late, T + 3), T + 3)), { status: 'revoked' });
        assert.equal(await store.status(late.jti, T + 3), 'revoked');
        assert.equal(await store.status(first.jti, T + 3), 'revoked');
        assert.deepEqual(await store.listSessions('7', T + 3), []);
      });

      it('enforces the absolute session lifetime; rotation never extends it', async () => {
        const token = await login({}, FIREFOX, T + 100);
        const next = successorOf(token, T + 50);
        assert.deepEqual(await store.consume(consumeRequest(token, next, T + 50)), { status: 'consumed', familyId: token.familyId, absoluteExpiresAt: T + 100 });
        assert.equal(await store.status(next.jti, T + 99), 'active');
        assert.equal(await store.status(next.jti, T + 100), 'session_expired');
        assert.deepEqual(await store.consume(consumeRequest(next, successorOf(next, T + 100), T + 100)), { status: 'session_expired' });
        assert.equal(await store.status(next.jti, T + 100), 'session_expired', 'an expired session spends nothing');
        assert.deepEqual((await store.listSessions('7', T + 99)).map((s) => s.absoluteExpiresAt), [T + 100]);
        assert.deepEqual(await store.listSessions('7', T + 100), []);
        // A reuse past the lifetime is still a reuse.
        assert.deepEqual(await store.consume(consumeRequest(token, null, T + 200)), { status: 'reused', familyRevoked: true });
      });

      it('spend: false (rotation without blacklisting) leaves the token usable and puts the successor in its family, within the absolute lifetime', async () => {
        const token = await login({}, FIREFOX, T + 100);
        const next = successorOf(token, T + 10, 2 * DAY);
        const request = { ...consumeRequest(token, next, T + 10, Number.POSITIVE_INFINITY, { userAgent: 'Chrome/130', address: null }), spend: false };
        assert.deepEqual(await store.consume(request), { status: 'consumed', familyId: token.familyId, absoluteExpiresAt: T + 100 });
        assert.equal(await store.status(token.jti, T + 10), 'active');
        assert.equal(await store.status(next.jti, T + 10), 'active');
        assert.deepEqual(await store.listSessions('7', T + 10), [
          { id: token.familyId, userId: '7', createdAt: T, lastUsedAt: T + 10, expiresAt: T + 10 + 2 * DAY, absoluteExpiresAt: T + 100, userAgent: 'Chrome/130', address: '203.0.113.5' },
        ]);
        // The same token again: another successor in the same family.
        const other = successorOf(token, T + 20);
        assert.deepEqual(await store.consume({ ...request, successor: other, now: T + 20 }), { status: 'consumed', familyId: token.familyId, absoluteExpiresAt: T + 100 });
        assert.equal((await store.listSessions('7', T + 20)).length, 1);
        // Past the family's absolute lifetime nothing is recorded; a revoked family refuses.
        assert.deepEqual(await store.consume({ ...request, successor: successorOf(token, T + 100), now: T + 100 }), { status: 'session_expired' });
        const live = await login();
        await store.revokeFamilyOf(live.jti, 'logout', T + 30);
        const refused = successorOf(live, T + 31);
        assert.deepEqual(await store.consume({ ...consumeRequest(live, refused, T + 31, Number.POSITIVE_INFINITY), spend: false }), { status: 'revoked' });
        assert.equal(await store.status(refused.jti, T + 31), 'unknown');
      });

      it('rejects a successor whose jti is already recorded and changes nothing', async () => {
        const token = await login();
        const other = await login();
        await assert.rejects(store.consume(consumeRequest(token, { ...successorOf(token, T + 1), jti: other.jti }, T + 1)));
        assert.equal(await store.status(token.jti, T + 1), 'active');
        assert.equal(await store.status(other.jti, T + 1), 'active');
      });

      it('of 8 concurrent consumers of one token exactly one wins (50 rounds)', async () => {
        for (let round = 0; round < 50; round++) {
          const token = await login();
          const outcomes = await Promise.all(
            Array.from({ length: 8 }, () => store.consume(consumeRequest(token, successorOf(token, T + 1), T + 1, 10))),
          );
          const winners = outcomes.filter((o) => o.status === 'consumed');
          assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(outcomes)}`);
          assert.equal(outcomes.filter((o) => o.status === 'reused' && !o.familyRevoked).length, 7);
          assert.equal(await store.status(token.jti, T + 1), 'used');
        }
      });
    });

    describe('touch', () => {
      it('marks the family used now and updates the client it was seen from', async () => {
        const token = await login({ tokenType: 'sliding' });
        await store.touch(token.jti, { userAgent: 'curl/8', address: null }, T + 30);
        assert.deepEqual(await store.listSessions('7', T + 30), [
          { id: token.familyId, userId: '7', createdAt: T, lastUsedAt: T + 30, expiresAt: T + DAY, absoluteExpiresAt: null, userAgent: 'curl/8', address: '203.0.113.5' },
        ]);
        assert.equal(await store.status(token.jti, T + 30), 'active', 'touch does not spend the token');
        await store.touch('never-issued', FIREFOX, T + 31); // no error, nothing recorded
        assert.equal(await store.status('never-issued', T + 31), 'unknown');
      });
    });

    describe('blacklist', () => {
      it('blacklists once; the second time answers already_blacklisted (R5)', async () => {
        const token = await login();
        const next = successorOf(token, T + 1);
        await store.consume(consumeRequest(token, next, T + 1));
        assert.equal(await store.blacklist(next, 'logout', T + 2), 'blacklisted');
        assert.equal(await store.blacklist(next, 'logout', T + 3), 'already_blacklisted');
        assert.equal(await store.status(next.jti, T + 3), 'revoked');
        assert.equal(await store.status(token.jti, T + 3), 'used', 'blacklisting one token leaves the others of its family');
      });

      it('records a token it has never seen, revoked', async () => {
        const token = tokenRecord({ userId: '12' });
        assert.equal(await store.blacklist(token, 'blacklist', T), 'blacklisted');
        assert.equal(await store.status(token.jti, T), 'revoked');
        assert.equal(await store.blacklist(token, 'blacklist', T + 1), 'already_blacklisted');
        assert.deepEqual(await store.consume(consumeRequest(token, successorOf(token, T + 2), T + 2)), { status: 'revoked' });
      });

      it('blacklistSession, where the store has it: the token and its family in one write; a second time changes nothing', async (t) => {
        if (typeof store.blacklistSession !== 'function') {
          t.skip(`${name} has no blacklistSession: the service calls blacklist and revokeFamilyOf`);
          return;
        }
        const token = await login();
        const next = successorOf(token, T + 1);
        await store.consume(consumeRequest(token, next, T + 1));
        const other = await login();
        assert.equal((await store.listSessions('7', T + 1)).length, 2);
        assert.equal(await store.blacklistSession(next, 'logout', T + 2), 'blacklisted');
        assert.equal(await store.status(next.jti, T + 2), 'revoked');
        assert.equal(await store.status(token.jti, T + 2), 'revoked', 'the family is revoked with it');
        assert.deepEqual((await store.listSessions('7', T + 2)).map((session) => session.id), [other.familyId], 'its session is gone, the other stays');
        assert.equal(await store.status(other.jti, T + 2), 'active');
        assert.equal(await store.blacklistSession(next, 'logout', T + 3), 'already_blacklisted');
        assert.equal(await store.blacklistSession(other, 'logout', T + 3), 'blacklisted');
        assert.deepEqual(await store.listSessions('7', T + 3), []);
        // A token never seen is recorded, revoked, and its (new) family with it.
        const unknown = tokenRecord({ userId: '12' });
        assert.equal(await store.blacklistSession(unknown, 'blacklist', T), 'blacklisted');
        assert.equal(await store.status(unknown.jti, T), 'revoked');
        assert.deepEqual(await store.listSessions('12', T), []);
        assert.equal(await store.revokeFamilyOf(unknown.jti, 'logout', T + 1), false, 'its family is revoked already');
      });
    });

    describe('revoking families', () => {
      it('revokeFamilyOf revokes every token of the family once, and no other family', async () => {
        const token = await login();
        const next = successorOf(token, T + 1);
        await store.consume(consumeRequest(token, next, T + 1));
        const other = await login();
        assert.equal(await store.revokeFamilyOf(token.jti, 'logout', T + 2), true);
        assert.equal(await store.revokeFamilyOf(next.jti, 'logout', T + 3), false, 'already revoked');
        assert.equal(await store.revokeFamilyOf('never-issued', 'logout', T + 3), false);
        assert.equal(await store.status(token.jti, T + 3), 'revoked');
        assert.equal(await store.status(next.jti, T + 3), 'revoked');
        assert.equal(await store.status(other.jti, T + 3), 'active');
      });

      it('revokeSession revokes one live session of its owner only', async () => {
        const token = await login();
        const expired = await login({ expiresAt: T + 10 });
        assert.equal(await store.revokeSession('8', token.familyId, 'session_revoked', T + 1), false, 'another user');
        assert.equal(await store.status(token.jti, T + 1), 'active');
        assert.equal(await store.revokeSession('7', 'no-such-family', 'session_revoked', T + 1), false);
        assert.equal(await store.revokeSession('7', expired.familyId, 'session_revoked', T + 10), false, 'not live any more');
        assert.equal(await store.revokeSession('7', token.familyId, 'session_revoked', T + 1), true);
        assert.equal(await store.status(token.jti, T + 1), 'revoked');
        assert.equal(await store.revokeSession('7', token.familyId, 'session_revoked', T + 2), false, 'already revoked');
      });

      it('revokeUserFamilies revokes all of the user\'s families and counts the live ones', async () => {
        const a = await login();
        const b = await login({ issuedAt: T + 5 });
        const expired = await login({ expiresAt: T + 10 });
        const overLifetime = await login({}, FIREFOX, T + 10);
        const alreadyRevoked = await login();
        await store.revokeFamilyOf(alreadyRevoked.jti, 'logout', T + 1);
        const otherUser = await login({ userId: '8' });

        assert.equal(await store.revokeUserFamilies('7', 'logout_all', T + 20), 2);
        for (const t of [a, b, expired, overLifetime, alreadyRevoked]) assert.equal(await store.status(t.jti, T + 20), 'revoked', t.jti);
        assert.equal(await store.status(otherUser.jti, T + 20), 'active');
        assert.equal((await store.listSessions('8', T + 20)).length, 1);
        assert.equal(await store.revokeUserFamilies('7', 'logout_all', T + 21), 0);
        assert.equal(await store.revokeUserFamilies('nobody', 'logout_all', T + 21), 0);
      });
    });

    describe('listSessions', () => {
      it('lists live sessions, most recently used first, with exact fields', async () => {
        const old = await login({ issuedAt: T - 100 }, { userAgent: 'A', address: '10.0.0.1' });
        const recent = await login({ issuedAt: T - 50 }, { userAgent: 'B', address: null });
        const tieA = await login({ familyId: 'tie-a', issuedAt: T - 10 }, NO_CLIENT, T + 5000);
        const tieB = await login({ familyId: 'tie-b', issuedAt: T - 10 }, NO_CLIENT);
        await store.touch(recent.jti, NO_CLIENT, T);
        const revoked = await login();
        await store.revokeFamilyOf(revoked.jti, 'logout', T);
        await login({ expiresAt: T }); // expired exactly now
        await login({}, NO_CLIENT, T); // past its absolute lifetime
        await login({ userId: '8' }); // someone else's

        assert.deepEqual(await store.listSessions('7', T), [
          { id: recent.familyId, userId: '7', createdAt: T - 50, lastUsedAt: T, expiresAt: T + DAY, absoluteExpiresAt: null, userAgent: 'B', address: null },
          { id: 'tie-a', userId: '7', createdAt: T - 10, lastUsedAt: T - 10, expiresAt: T + DAY, absoluteExpiresAt: T + 5000, userAgent: null, address: null },
          { id: 'tie-b', userId: '7', createdAt: T - 10, lastUsedAt: T - 10, expiresAt: T + DAY, absoluteExpiresAt: null, userAgent: null, address: null },
          { id: old.familyId, userId: '7', createdAt: T - 100, lastUsedAt: T - 100, expiresAt: T + DAY, absoluteExpiresAt: null, userAgent: 'A', address: '10.0.0.1' },
        ]);
        assert.ok(tieA && tieB);
        assert.deepEqual(await store.listSessions('nobody', T), []);
      });
    });

    describe('flushExpired', () => {
      it('deletes only expired rows, in bounded batches, and never a live revocation (R4)', async () => {
        for (let i = 0; i < 25; i++) await login({ expiresAt: T + 10 });
        const live = await login({ expiresAt: T + 1000 });
        const blacklisted = await login({ expiresAt: T + 1000 });
        await store.blacklist(blacklisted, 'logout', T + 1);
        const revokedFamily = await login({ expiresAt: T + 1000 });
        await store.revokeFamilyOf(revokedFamily.jti, 'logout', T + 1);
        // A family whose first token expired but whose successor lives on.
        const rotated = await login({ expiresAt: T + 10 });
        const successor = successorOf(rotated, T + 5, 1000);
        await store.consume(consumeRequest(rotated, successor, T + 5));
        const spent = await login({ expiresAt: T + 1000 });
        await store.consume(consumeRequest(spent, null, T + 5));
        // Two throttle windows that end at T + 60, before the flush.
        assert.deepEqual(await store.takeAttempt(limits(['user:bob', 'ip:203.0.113.5']), 60, T), { allowed: true, windowEnd: T + 60 });

        // 26 expired tokens + 25 families left without tokens + 2 ended throttle windows = 53 rows.
        const now = T + 100;
        const counts: number[] = [];
        for (;;) {
          const n = await store.flushExpired(now, 10);
          counts.push(n);
          if (n < 10) break;
        }
        assert.deepEqual(counts, [10, 10, 10, 10, 10, 3]);
        assert.equal(await store.flushExpired(now, 10), 0);

        assert.equal(await store.status(rotated.jti, now), 'unknown', 'expired: gone');
        assert.equal(await store.status(successor.jti, now), 'active');
        assert.equal(await store.status(live.jti, now), 'active');
        assert.equal(await store.status(blacklisted.jti, now), 'revoked', 'R4: a revoked, unexpired token stays revoked');
        assert.equal(await store.status(revokedFamily.jti, now), 'revoked', 'R4: so does a token of a revoked family');
        assert.equal(await store.status(spent.jti, now), 'used');
        const sessions = (await store.listSessions('7', now)).map((s) => s.id);
        assert.ok(sessions.includes(live.familyId) && sessions.includes(rotated.familyId), 'a family with a live token stays');
        assert.ok(!sessions.includes(revokedFamily.familyId));
        assert.deepEqual(await store.failures(['user:bob'], 60, T), [{ key: 'user:bob', count: 0, resetAt: T + 60 }]);
        await assert.rejects(store.flushExpired(now, 0), RangeError);
      });
    });

    describe('users', () => {
      it('creates users with a string id, a random stamp and no last login; usernames are unique', async () => {
        const before = Math.floor(Date.now() / 1000);
        const bob = await store.createUser({ username: 'bob', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', isActive: true });
        const after = Math.floor(Date.now() / 1000);
        assert.match(bob.id, /^[1-9][0-9]*$/);
        assert.match(bob.securityStamp, /^[0-9a-f]{32}$/);
        assert.ok(bob.createdAt >= before && bob.createdAt <= after);
        assert.deepEqual(bob, {
          id: bob.id,
          username: 'bob',
          passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
          isActive: true,
          securityStamp: bob.securityStamp,
          lastLogin: null,
          createdAt: bob.createdAt,
        });
        const alice = await store.createUser({ username: 'alice', passwordHash: 'pbkdf2_sha256$870000$salt$hash', isActive: false });
        assert.notEqual(alice.id, bob.id);
        assert.notEqual(alice.securityStamp, bob.securityStamp);
        assert.equal(alice.isActive, false);
        await assert.rejects(store.createUser({ username: 'bob', passwordHash: 'x', isActive: true }), /already exists/);

        assert.deepEqual(await store.findByUsername('bob'), bob);
        assert.deepEqual(await store.findById(bob.id), bob);
        assert.deepEqual(await store.findById(alice.id), alice);
        assert.equal(await store.findByUsername('BOB'), null, 'usernames are compared exactly');
        assert.equal(await store.findByUsername('carol'), null);
        for (const id of ['999999', '0', `0${bob.id}`, `${bob.id}.0`, ` ${bob.id}`, 'bob', '']) assert.equal(await store.findById(id), null, JSON.stringify(id));
      });

      it('findByIdSync, where the store has it, answers the stored user, or null for any other id', async (t) => {
        if (typeof store.findByIdSync !== 'function') {
          t.skip(`${name} reads over the network: it has no findByIdSync, and the authenticator awaits findById`);
          return;
        }
        const bob = await store.createUser({ username: 'bob', passwordHash: 'h1', isActive: true });
        const alice = await store.createUser({ username: 'alice', passwordHash: 'pbkdf2_sha256$870000$salt$hash', isActive: false });
        await store.updateLastLogin(alice.id, T + 3);
        // Expected values come from createUser, not from findById (which may itself call findByIdSync).
        assert.deepEqual(store.findByIdSync(bob.id), bob);
        assert.deepEqual(store.findByIdSync(alice.id), { ...alice, lastLogin: T + 3 });
        for (const id of ['999999', '0', `0${bob.id}`, `${bob.id}.0`, ` ${bob.id}`, 'bob', '', '99999999999999999999']) {
          assert.equal(store.findByIdSync(id), null, JSON.stringify(id));
        }
        // A write through the writer is seen by the next read: no stale copy.
        await store.setActive(bob.id, false);
        assert.equal(store.findByIdSync(bob.id)!.isActive, false);
        const stamp = await store.rotateSecurityStamp(bob.id);
        assert.equal(store.findByIdSync(bob.id)!.securityStamp, stamp);
        await store.close();
        assert.throws(() => store.findByIdSync!(bob.id), StoreUnavailableError);
        assert.throws(() => store.findByIdSync!('bob'), StoreUnavailableError, 'a malformed id fails too when closed');
      });

      it('setActive, setPasswordHash (with and without a new stamp), rotateSecurityStamp, updateLastLogin', async () => {
        const bob = await store.createUser({ username: 'bob', passwordHash: 'h1', isActive: true });
        const alice = await store.createUser({ username: 'alice', passwordHash: 'a1', isActive: true });

        await store.setActive(bob.id, false);
        assert.equal((await store.findById(bob.id))!.isActive, false);
        await store.setActive(bob.id, true);
        assert.equal((await store.findById(bob.id))!.isActive, true);

        await store.setPasswordHash(bob.id, 'h2', false);
        assert.deepEqual(await store.findById(bob.id), { ...bob, passwordHash: 'h2' }, 'a rehash keeps the stamp');
        await store.setPasswordHash(bob.id, 'h3', true);
        const changed = (await store.findById(bob.id))!;
        assert.equal(changed.passwordHash, 'h3');
        assert.match(changed.securityStamp, /^[0-9a-f]{32}$/);
        assert.notEqual(changed.securityStamp, bob.securityStamp, 'a password change rotates the stamp');

        const stamp = await store.rotateSecurityStamp(bob.id);
        assert.match(stamp, /^[0-9a-f]{32}$/);
        assert.notEqual(stamp, changed.securityStamp);
        assert.equal((await store.findById(bob.id))!.securityStamp, stamp);

        await store.updateLastLogin(bob.id, T + 7);
        assert.equal((await store.findById(bob.id))!.lastLogin, T + 7);
        await store.updateLastLogin('999999', T); // no such user: nothing happens
        assert.deepEqual(await store.findById(alice.id), alice, 'the other user is untouched');

        await assert.rejects(store.setActive('999999', false), /no user/);
        await assert.rejects(store.setPasswordHash('999999', 'x', true), /no user/);
        await assert.rejects(store.rotateSecurityStamp('999999'), /no user/);
        await assert.rejects(store.setActive('not-an-id', false), /no user/);
      });
    });

    describe('throttle', () => {
      it('counts attempts per key in fixed windows that end at resetAt', async () => {
        const bobFrom = limits(['user:bob', 'ip:203.0.113.5']);
        assert.deepEqual(await store.takeAttempt(bobFrom, 60, T + 1), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual(await store.takeAttempt(bobFrom, 60, T + 2), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual(await store.takeAttempt(limits(['user:bob']), 60, T + 59), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual(await store.failures(['user:bob', 'ip:203.0.113.5', 'user:alice'], 60, T + 30), [
          { key: 'user:bob', count: 3, resetAt: T + 60 },
          { key: 'ip:203.0.113.5', count: 2, resetAt: T + 60 },
          { key: 'user:alice', count: 0, resetAt: T + 60 },
        ]);
        // The next window starts from zero.
        assert.deepEqual(await store.failures(['user:bob'], 60, T + 60), [{ key: 'user:bob', count: 0, resetAt: T + 120 }]);
        assert.deepEqual(await store.takeAttempt(limits(['user:bob']), 60, T + 61), { allowed: true, windowEnd: T + 120 });
        assert.deepEqual(await store.failures(['user:bob', 'ip:203.0.113.5'], 60, T + 61), [
          { key: 'user:bob', count: 1, resetAt: T + 120 },
          { key: 'ip:203.0.113.5', count: 0, resetAt: T + 120 },
        ]);
        assert.deepEqual(await store.failures([], 60, T), []);
        assert.deepEqual(await store.takeAttempt([], 60, T), { allowed: true, windowEnd: T + 60 });
      });

      it('refuses, counting nothing, once any key has reached its limit; the refusal ends with the window', async () => {
        const both = [{ key: 'user:bob', limit: 2 }, { key: 'ip:203.0.113.5', limit: 5 }];
        assert.deepEqual(await store.takeAttempt(both, 60, T + 1), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual(await store.takeAttempt(both, 60, T + 2), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual(await store.takeAttempt(both, 60, T + 3), { allowed: false, resetAt: T + 60 });
        // The address was not counted for the refused attempt; another user from it still may.
        assert.deepEqual((await store.failures(['user:bob', 'ip:203.0.113.5'], 60, T + 3)).map((f) => f.count), [2, 2]);
        assert.deepEqual(await store.takeAttempt([{ key: 'user:carol', limit: 2 }, { key: 'ip:203.0.113.5', limit: 5 }], 60, T + 4), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual(await store.takeAttempt(both, 60, T + 60), { allowed: true, windowEnd: T + 120 });
      });

      it('returnAttempt takes one attempt back in the window it names, never below zero', async () => {
        const bob = limits(['user:bob', 'ip:203.0.113.5']);
        await store.takeAttempt(bob, 60, T + 1);
        await store.takeAttempt(bob, 60, T + 2);
        await store.returnAttempt(['user:bob', 'ip:203.0.113.5'], T + 60);
        assert.deepEqual((await store.failures(['user:bob', 'ip:203.0.113.5'], 60, T + 3)).map((f) => f.count), [1, 1]);
        await store.returnAttempt(['user:bob'], T + 120); // another window: nothing changes
        await store.returnAttempt(['user:bob'], T + 60);
        await store.returnAttempt(['user:bob'], T + 60);
        await store.returnAttempt(['user:nobody'], T + 60);
        assert.deepEqual((await store.failures(['user:bob', 'ip:203.0.113.5', 'user:nobody'], 60, T + 3)).map((f) => f.count), [0, 1, 0]);
        assert.deepEqual(await store.takeAttempt(limits(['user:bob']), 60, T + 4), { allowed: true, windowEnd: T + 60 });
        assert.deepEqual((await store.failures(['user:bob'], 60, T + 4)).map((f) => f.count), [1]);
      });

      it('of 50 concurrent attempts on one key with a limit of 10, exactly 10 are allowed', async () => {
        const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => store.takeAttempt([{ key: 'user:eve', limit: 10 }, { key: `ip:198.51.100.${i}`, limit: 10 }], 60, T + 1)));
        assert.equal(outcomes.filter((o) => o.allowed).length, 10, JSON.stringify(outcomes));
        assert.deepEqual((await store.failures(['user:eve'], 60, T + 1)).map((f) => f.count), [10]);
        const addresses = await store.failures(Array.from({ length: 50 }, (_, i) => `ip:198.51.100.${i}`), 60, T + 1);
        assert.equal(addresses.reduce((sum, f) => sum + f.count, 0), 10, 'a refused attempt counts against no key');
      });
    });

    describe('lifecycle', () => {
      it('ping resolves while open; after close every method rejects with StoreUnavailableError', async () => {
        await store.ping();
        const token = await login();
        await store.close();
        await store.close(); // idempotent
        const calls: Array<[string, () => Promise<unknown>]> = [
          ['ping', () => store.ping()],
          ['status', () => store.status(token.jti, T)],
          ['consume', () => store.consume(consumeRequest(token, null, T))],
          ['blacklist', () => store.blacklist(token, 'logout', T)],
          ['listSessions', () => store.listSessions('7', T)],
          ['findById', () => store.findById('1')],
          ['findByUsername', () => store.findByUsername('bob')],
          ['failures', () => store.failures(['k'], 60, T)],
          ['takeAttempt', () => store.takeAttempt(limits(['k']), 60, T)],
          ['returnAttempt', () => store.returnAttempt(['k'], T + 60)],
        ];
        for (const [name, call] of calls) await assert.rejects(call(), StoreUnavailableError, name);
      });
    });
  });
}
