import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthService, InvalidTokenForAnyType, MemoryStore, TokenPairError, TokenUser, WIRE_ERRORS, createPasswordHasher, type Principal, type UserStore } from '../src/index.js';
import { HS_SECRET } from './helpers/keys.js';
import { awaitedUserStore } from './helpers/http-servers.js';

describe('AuthService.authenticate, stateless (userLookup: false)', () => {
  it('answers the principal from the claims, with the token user of tokenUserClass', async () => {
    const made: unknown[] = [];
    const service = new AuthService({
      settings: { signingKey: HS_SECRET, userLookup: false, tokenUserClass: (claims) => (made.push(claims.user_id), { id: claims.user_id }) },
      userStore: new MemoryStore({ warn: false }),
    });
    const token = service.tokens.access.forUser({ id: 5 });
    token.set('username', 'eve');
    const principal = await service.authenticate(`Bearer ${token.toString()}`);
    assert.deepEqual([principal.id, principal.username, principal.record], ['5', 'eve', null]);
    assert.deepEqual(principal.tokenUser, { id: '5' });
    assert.deepEqual(made, ['5']);
  });

  it('reads the scheme case-insensitively with one space, or any run of spaces and tabs', async () => {
    const service = new AuthService({ settings: { signingKey: HS_SECRET, userLookup: false }, userStore: new MemoryStore({ warn: false }) });
    const token = service.tokens.access.forUser({ id: 7 }).toString();
    for (const header of [`Bearer ${token}`, `bearer ${token}`, `BEARER \t ${token}`, `Bearer\t${token}`, `  Bearer   ${token}  `]) {
      assert.equal((await service.authenticate(header)).id, '7', JSON.stringify(header.slice(0, 12)));
    }
    for (const [header, code] of [['Bearer', 'bad_authorization_header'], [`Bearer ${token} x`, 'bad_authorization_header'], [`Token ${token}`, 'not_authenticated'], ['', 'not_authenticated']] as const) {
      await assert.rejects(service.authenticate(header), (e: { code?: string }) => e.code === code, header.slice(0, 12));
    }
  });
});

describe('AuthService.authenticateSync (no promise on the bearer check)', () => {
  /** The outcome of one check, comparable across the two paths. */
  type Outcome =
    | { ok: true; id: string; username: string; record: unknown; claims: unknown; tokenUser: unknown }
    | { ok: false; name: string; code: string; status: number; detail: string; reason: string; messages?: unknown };
  const outcome = (run: () => Principal): Outcome => {
    try {
      const p = run();
      return { ok: true, id: p.id, username: p.username, record: p.record, claims: p.claims, tokenUser: p.tokenUser };
    } catch (error) {
      if (!(error instanceof TokenPairError)) throw error;
      const messages = error instanceof InvalidTokenForAnyType ? error.messages : undefined;
      return { ok: false, name: error.name, code: error.code, status: error.status, detail: error.detail, reason: error.reason, ...(messages ? { messages } : {}) };
    }
  };
  const outcomeAsync = async (run: () => Promise<Principal>): Promise<Outcome> => {
    let principal: Principal;
    try {
      principal = await run();
    } catch (error) {
      return outcome(() => {
        throw error;
      });
    }
    return outcome(() => principal);
  };

  async function setup(userLookup: boolean) {
    const now = Date.UTC(2026, 10, 25);
    const store = new MemoryStore({ warn: false });
    const settings = { signingKey: HS_SECRET, userLookup, checkRevokeToken: true };
    const service = new AuthService({ settings, userStore: store, tokenStore: store, clock: () => now });
    // The same settings, clock and users through a store that can only be awaited: the other path.
    const awaited = new AuthService({ settings, userStore: awaitedUserStore(store), tokenStore: store, clock: () => now });
    const alice = await store.createUser({ username: 'alice', passwordHash: 'x', isActive: true });
    const bob = await store.createUser({ username: 'bob', passwordHash: 'x', isActive: true });
    const carol = await store.createUser({ username: 'carol', passwordHash: 'x', isActive: true });
    const pair = async (user: typeof alice) => service.tokens.issuePair(user as never);
    const aliceAccess = (await pair(alice)).access;
    aliceAccess.set('username', 'alice');
    const access = aliceAccess.toString();
    const bobAccess = (await pair(bob)).access.toString();
    const carolAccess = (await pair(carol)).access.toString();
    const refresh = (await pair(alice)).refresh.toString();
    const expired = (() => {
      const token = service.tokens.access.forUser(alice as never);
      token.set('exp', Math.floor(now / 1000) - 1);
      return token.toString();
    })();
    const tampered = `${access.slice(0, -2)}${access.endsWith('AA') ? 'BA' : 'AA'}`;
    await store.setActive(bob.id, false);
    await store.rotateSecurityStamp(carol.id);
    const headers: Array<string | undefined> = [
      `Bearer ${access}`, `bearer ${access}`, `BEARER \t ${access}`, `  Bearer   ${access}  `,
      undefined, '', 'Token abc', 'Bearerabc', 'Bearer', 'Bearer a b', 'Bearer not-a-token',
      `Bearer ${refresh}`, `Bearer ${expired}`, `Bearer ${tampered}`,
      `Bearer ${service.tokens.access.create().toString()}`,
      `Bearer ${service.tokens.access.forUser({ id: '99999', securityStamp: 'gone' }).toString()}`,
      `Bearer ${bobAccess}`, `Bearer ${carolAccess}`,
    ];
    return { service, awaited, headers, users: { alice, bob, carol } };
  }

  /** The detail and, for token_not_valid_for_any_type, the message of the one access class. */
  const refused = (key: keyof typeof WIRE_ERRORS, message?: keyof typeof WIRE_ERRORS) => {
    const error = WIRE_ERRORS[key];
    return { code: error.code, detail: error.detail, ...(message ? { messages: [{ token_class: 'AccessToken', token_type: 'access', message: WIRE_ERRORS[message].detail }] } : {}) };
  };
  const brief = (o: Outcome) => (o.ok ? { id: o.id, username: o.username } : { code: o.code, detail: o.detail, ...(o.messages ? { messages: o.messages } : {}) });

  for (const userLookup of [false, true]) {
    it(`answers every header of a table with the exact principal or error (userLookup: ${userLookup})`, async () => {
      const { service, headers, users } = await setup(userLookup);
      assert.equal(service.authenticatesSync, true);
      const anyType = (message: keyof typeof WIRE_ERRORS) => refused('token_not_valid_for_any_type', message);
      const alice = { id: users.alice.id, username: 'alice' };
      // Stateless, the username comes from a claim (only alice's token has one); looked up, from the store.
      const expected = [
        alice, alice, alice, alice,
        refused('not_authenticated'), refused('not_authenticated'), refused('not_authenticated'), refused('not_authenticated'),
        refused('bad_authorization_header'), refused('bad_authorization_header'),
        anyType('token_invalid'), anyType('token_wrong_type'), anyType('token_expired'), anyType('token_invalid'),
        refused('token_no_user_id'),
        userLookup ? refused('user_not_found') : { id: '99999', username: '' },
        userLookup ? refused('user_inactive') : { id: users.bob.id, username: '' },
        userLookup ? refused('password_changed') : { id: users.carol.id, username: '' },
      ];
      assert.deepEqual(headers.map((header) => brief(outcome(() => service.authenticateSync(header)))), expected);
      // And the promise-returning entry point answers the same.
      for (const [i, header] of headers.entries()) assert.deepEqual(brief(await outcomeAsync(() => service.authenticate(header))), expected[i], String(i));
    });
  }

  it('answers exactly what the awaited path answers (a user store without findByIdSync), principal and error alike', async () => {
    const { service, awaited, headers } = await setup(true);
    assert.equal(awaited.authenticatesSync, false);
    for (const header of headers) {
      const sync = outcome(() => service.authenticateSync(header));
      const slow = await outcomeAsync(() => awaited.authenticate(header));
      assert.deepEqual(sync, slow, JSON.stringify(header?.slice(0, 16)));
    }
  });

  it('is on only with local keys, access tokens only, and no lookup or a store with findByIdSync', () => {
    const store = new MemoryStore({ warn: false });
    const awaitedOnly = awaitedUserStore(store);
    const make = (settings: Record<string, unknown>, userStore: UserStore = store) => new AuthService({ settings: { signingKey: HS_SECRET, ...settings }, userStore, tokenStore: store });
    assert.equal(make({}).authenticatesSync, true);
    assert.equal(make({ userLookup: false }, awaitedOnly).authenticatesSync, true);
    assert.equal(make({ userLookup: true }, awaitedOnly).authenticatesSync, false);
    assert.equal(make({ authTokenClasses: ['access', 'sliding'] }).authenticatesSync, false);
    const remote = new AuthService({ settings: { algorithm: 'RS256', jwkUrl: 'http://127.0.0.1:9/jwks.json' }, userStore: store });
    assert.equal(remote.authenticatesSync, false);
    assert.throws(() => remote.authenticateSync('Bearer x'), { name: 'TypeError', message: /authenticateSync needs local keys/ });
  });

  it('fails closed: a store that throws gives 503 service_unavailable, not a 500 or a 401', async () => {
    const store = new MemoryStore({ warn: false });
    const alice = await store.createUser({ username: 'alice', passwordHash: 'x', isActive: true });
    const broken: UserStore = {
      findById: store.findById.bind(store),
      findByUsername: store.findByUsername.bind(store),
      findByIdSync: () => {
        throw new Error('disk I/O error');
      },
    };
    const service = new AuthService({ settings: { signingKey: HS_SECRET }, userStore: broken });
    const access = (await service.tokens.issuePair(alice as never)).access.toString();
    for (const run of [() => service.authenticateSync(`Bearer ${access}`)]) {
      assert.throws(run, (error: TokenPairError) => error.code === 'service_unavailable' && error.status === 503 && /disk I\/O error/.test(error.reason));
    }
    await assert.rejects(service.authenticate(`Bearer ${access}`), (error: TokenPairError) => error.code === 'service_unavailable');
  });

  it('builds the stateless token user on first read only, once, and keeps it in JSON', async () => {
    let made = 0;
    const service = new AuthService({
      settings: { signingKey: HS_SECRET, userLookup: false, tokenUserClass: (claims) => (made++, { custom: claims.user_id }) },
      userStore: new MemoryStore({ warn: false }),
    });
    const principal = service.authenticateSync(`Bearer ${service.tokens.access.forUser({ id: 8 }).toString()}`);
    assert.equal(made, 0, 'not built until read');
    assert.deepEqual(principal.tokenUser, { custom: '8' });
    assert.equal(principal.tokenUser, principal.tokenUser, 'the same object on every read');
    assert.equal(made, 1);
    const json = JSON.parse(JSON.stringify(principal));
    assert.deepEqual(Object.keys(json), ['id', 'username', 'claims', 'record', 'tokenUser']);
    assert.deepEqual(json.tokenUser, { custom: '8' });
    const plain = new AuthService({ settings: { signingKey: HS_SECRET, userLookup: false }, userStore: new MemoryStore({ warn: false }) });
    const user = plain.authenticateSync(`Bearer ${plain.tokens.access.forUser({ id: 9 }).toString()}`).tokenUser as TokenUser;
    assert.ok(user instanceof TokenUser);
    assert.equal(user.id, '9');
    assert.ok(Object.isFrozen(user.claims));
  });
});

describe('AuthService.authenticate with sliding tokens accepted (authTokenClasses: access, sliding)', () => {
  it('refuses a revoked or spent sliding token: the last class tried does not leave it behind as the answer', async () => {
    const store = new MemoryStore({ warn: false });
    const carol = await store.createUser({ username: 'carol', passwordHash: 'x', isActive: true });
    const service = new AuthService({ settings: { signingKey: HS_SECRET, authTokenClasses: ['access', 'sliding'] }, userStore: store, tokenStore: store });
    const sliding = await service.tokens.issueSliding(carol as never);
    const now = Math.floor(Date.now() / 1000);
    await store.startFamily({ jti: sliding.jti, userId: carol.id, familyId: 'a'.repeat(32), tokenType: 'sliding', issuedAt: now, expiresAt: sliding.exp }, { userAgent: null, address: null }, null);
    assert.equal((await service.authenticate(`Bearer ${sliding.toString()}`)).id, carol.id);
    await store.revokeFamilyOf(sliding.jti, 'logout', now);
    await assert.rejects(service.authenticate(`Bearer ${sliding.toString()}`), (error: InvalidTokenForAnyType) => {
      assert.equal(error.code, 'token_not_valid');
      assert.deepEqual(error.messages, [
        { token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' },
        { token_class: 'SlidingToken', token_type: 'sliding', message: 'Token is blacklisted' },
      ]);
      return true;
    });
  });
});

describe('AuthService.blacklist and logout end the session', () => {
  async function setup(withBlacklistSession: boolean) {
    const store = new MemoryStore({ warn: false });
    const calls: string[] = [];
    // The store as a TokenStore that records which writes the service makes; without
    // blacklistSession it is a store that only has the required methods.
    const tokenStore = new Proxy(store, {
      get(target, name, receiver) {
        if (name === 'blacklistSession' && !withBlacklistSession) return undefined;
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (['blacklist', 'blacklistSession', 'revokeFamilyOf'].includes(String(name))) calls.push(String(name));
          return value.apply(target, args);
        };
      },
    });
    const hasher = createPasswordHasher();
    const alice = await store.createUser({ username: 'alice', passwordHash: await hasher.hash('pw'), isActive: true });
    const service = new AuthService({ settings: { signingKey: HS_SECRET, rotateRefreshTokens: true }, userStore: store, tokenStore, hasher });
    const client = { userAgent: null, address: null };
    return { service, store, calls, alice, client };
  }

  for (const withBlacklistSession of [true, false]) {
    it(`revokes the token and its session ${withBlacklistSession ? 'in one store write (blacklistSession)' : 'with blacklist then revokeFamilyOf (a store without blacklistSession)'}`, async () => {
      const { service, store, calls, alice, client } = await setup(withBlacklistSession);
      const first = await service.obtainPair({ username: 'alice', password: 'pw' }, client);
      const kept = await service.obtainPair({ username: 'alice', password: 'pw' }, client);
      const rotated = await service.refresh(first.refresh, client);
      const now = Math.floor(Date.now() / 1000);
      assert.equal((await store.listSessions(alice.id, now)).length, 2);
      await service.blacklist(rotated.refresh);
      assert.deepEqual(calls, withBlacklistSession ? ['blacklistSession'] : ['blacklist', 'revokeFamilyOf']);
      assert.equal((await store.listSessions(alice.id, now)).length, 1, 'the blacklisted token\'s session ended; the other stays');
      await assert.rejects(service.blacklist(rotated.refresh), (error: TokenPairError) => error.code === 'token_not_valid' && error.detail === 'Token is blacklisted');
      await assert.rejects(service.refresh(rotated.refresh, client), (error: TokenPairError) => error.detail === 'Token is blacklisted');
      const principal = await service.authenticate(`Bearer ${kept.access}`);
      await service.logout(principal, kept.refresh);
      assert.deepEqual(await store.listSessions(alice.id, now), []);
    });
  }
});

describe('AuthService.refresh with rotation but without blacklisting after rotation', () => {
  async function setup(extra: Record<string, unknown> = {}) {
    const store = new MemoryStore({ warn: false });
    const hasher = createPasswordHasher();
    const alice = await store.createUser({ username: 'alice', passwordHash: await hasher.hash('pw'), isActive: true });
    let now = Date.UTC(2026, 10, 25, 12);
    const clock = { advance: (seconds: number) => (now += seconds * 1000), seconds: () => Math.floor(now / 1000) };
    const service = new AuthService({
      settings: { signingKey: HS_SECRET, rotateRefreshTokens: true, blacklistAfterRotation: false, ...extra },
      userStore: store,
      tokenStore: store,
      hasher,
      clock: () => now,
    });
    return { service, store, alice, clock, client: { userAgent: null, address: null } };
  }

  it('keeps one session per login: every successor joins the login\'s family, and the old tokens stay usable', async () => {
    const { service, store, alice, clock, client } = await setup();
    const first = await service.obtainPair({ username: 'alice', password: 'pw' }, client);
    clock.advance(10);
    const second = await service.refresh(first.refresh, client);
    clock.advance(10);
    const third = await service.refresh(second.refresh!, client);
    clock.advance(10);
    const again = await service.refresh(first.refresh, client);
    assert.equal(typeof again.refresh, 'string', 'without blacklisting the first token still rotates');
    const sessions = await store.listSessions(alice.id, clock.seconds());
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    assert.equal(sessions[0]!.lastUsedAt, clock.seconds());
    // Ending the session ends every token of the chain, the first and the newest alike.
    assert.equal(await service.revokeSession(await service.authenticate(`Bearer ${third.access}`), sessions[0]!.id), true);
    for (const token of [first.refresh, second.refresh!, third.refresh!, again.refresh!]) {
      await assert.rejects(service.refresh(token, client), (error: TokenPairError) => error.detail === 'Token is blacklisted');
    }
  });

  it('holds the absolute session lifetime of the login, however often the chain rotates', async () => {
    const { service, clock, client } = await setup({ sessionAbsoluteLifetime: '60s' });
    let refresh = (await service.obtainPair({ username: 'alice', password: 'pw' }, client)).refresh;
    for (let i = 0; i < 5; i++) {
      clock.advance(11);
      refresh = (await service.refresh(refresh, client)).refresh!;
    }
    clock.advance(5); // 60 s after the login
    await assert.rejects(service.refresh(refresh, client), (error: TokenPairError) => error.code === 'token_not_valid' && error.detail === 'Token is expired');
  });
});

describe('AuthService: a sliding token\'s revocation outlives every time the token can be accepted (R4)', () => {
  it('the record lasts until refresh_exp + leeway + the sliding lifetime, so a flush never forgets a revocation the leeway still needs', async () => {
    const store = new MemoryStore({ warn: false });
    const hasher = createPasswordHasher();
    await store.createUser({ username: 'bob', passwordHash: await hasher.hash('pw'), isActive: true });
    let now = Date.UTC(2026, 10, 25, 12);
    const settings = { signingKey: HS_SECRET, leeway: 5, slidingTokenLifetime: '10s', slidingTokenRefreshLifetime: '30s' };
    const service = new AuthService({ settings, userStore: store, tokenStore: store, hasher, clock: () => now });
    const client = { userAgent: null, address: null };
    const start = Math.floor(now / 1000);
    let { token } = await service.obtainSliding({ username: 'bob', password: 'pw' }, client);
    // Refreshed every 8 s, and once more 3 s past refresh_exp (inside the leeway): exp = start + 33 + 10.
    for (const at of [8, 16, 24, 33]) {
      now = (start + at) * 1000;
      token = (await service.refreshSliding(token, client)).token;
    }
    assert.equal(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp, start + 43);
    await service.logoutAll(await service.authenticate(`Bearer ${(await service.obtainPair({ username: 'bob', password: 'pw' }, client)).access}`));
    // The token is accepted (with the leeway) until start + 48; the flush runs at now − leeway, as the CLI does.
    now = (start + 47) * 1000;
    await store.flushExpired(start + 47 - 5, 1000);
    await assert.rejects(service.verify(token), (error: TokenPairError) => error.detail === 'Token is blacklisted');
    now = (start + 48) * 1000;
    await assert.rejects(service.verify(token), (error: TokenPairError) => error.detail === 'Token is invalid or expired' || error.detail === 'Token is expired');
  });
});

describe('AuthService: a revoked token whose record is flushed while the store is slow stays refused (R4)', () => {
  for (const rotate of [true, false]) {
    it(`refresh ${rotate ? 'with rotation (consume)' : 'without rotation (status)'}: expired by the time the store answered, it is refused, not recorded as never seen and accepted`, async () => {
      const store = new MemoryStore({ warn: false });
      const hasher = createPasswordHasher();
      await store.createUser({ username: 'dora', passwordHash: await hasher.hash('pw'), isActive: true });
      let now = Date.UTC(2026, 10, 25, 12);
      // The store call the refresh makes waits at this gate, as behind a lock of a slow database.
      let open: () => void = () => {};
      let arrived: () => void = () => {};
      const atGate = new Promise<void>((resolve) => (arrived = resolve));
      const gate = new Promise<void>((resolve) => (open = resolve));
      const slowOp = rotate ? 'consume' : 'status';
      let gated = false;
      const slow = new Proxy(store, {
        get(target, name, receiver) {
          const value = Reflect.get(target, name, receiver);
          if (typeof value !== 'function') return value;
          if (name !== slowOp) return value.bind(target);
          return async (...args: unknown[]) => {
            if (gated) {
              arrived();
              await gate;
            }
            return value.apply(target, args);
          };
        },
      });
      const settings = { signingKey: HS_SECRET, rotateRefreshTokens: rotate, refreshTokenLifetime: '10s', leeway: 0 };
      const service = new AuthService({ settings, userStore: store, tokenStore: slow, hasher, clock: () => now });
      const client = { userAgent: null, address: null };
      const { refresh } = await service.obtainPair({ username: 'dora', password: 'pw' }, client);
      await service.blacklist(refresh);
      now += 9_000; // still valid when the refresh checks the signature and exp
      gated = true;
      const pending = service.refresh(refresh, client);
      await atGate;
      now += 2_000; // expired now: the flush (at now − leeway) deletes its record, the revocation with it
      assert.ok((await store.flushExpired(Math.floor(now / 1000), 1000)) >= 1);
      open();
      await assert.rejects(pending, (error: TokenPairError) => error.code === 'token_not_valid' && error.detail === 'Token is expired');
    });
  }
});

describe('AuthService fails closed when a custom store throws instead of rejecting (S12)', () => {
  it('a user store and a token store whose methods throw synchronously: 503 service_unavailable, never the raw error', async () => {
    const memory = new MemoryStore({ warn: false });
    const hasher = createPasswordHasher();
    const erin = await memory.createUser({ username: 'erin', passwordHash: await hasher.hash('pw'), isActive: true });
    let broken = false;
    const poolClosed = () => {
      throw new Error('pool is closed');
    };
    // Plain methods, not async: a driver that throws before it returns a promise.
    const users: UserStore = {
      findById: (id) => (broken ? poolClosed() : memory.findById(id)),
      findByUsername: (name) => (broken ? poolClosed() : memory.findByUsername(name)),
    };
    const tokens = new Proxy(memory, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => (broken && ['consume', 'status', 'startFamily', 'blacklist', 'blacklistSession'].includes(String(name)) ? poolClosed() : value.apply(target, args));
      },
    });
    const service = new AuthService({ settings: { signingKey: HS_SECRET, rotateRefreshTokens: true }, userStore: users, tokenStore: tokens, hasher });
    const client = { userAgent: null, address: null };
    const pair = await service.obtainPair({ username: 'erin', password: 'pw' }, client);
    assert.equal(service.authenticatesSync, false);
    assert.equal((await service.authenticate(`Bearer ${pair.access}`)).id, erin.id);
    broken = true;
    const unavailable = (error: TokenPairError) => error.code === 'service_unavailable' && error.status === 503;
    await assert.rejects(service.authenticate(`Bearer ${pair.access}`), unavailable);
    await assert.rejects(service.obtainPair({ username: 'erin', password: 'pw' }, client), unavailable);
    await assert.rejects(service.refresh(pair.refresh, client), unavailable);
    await assert.rejects(service.blacklist(pair.refresh), unavailable);
  });
});
