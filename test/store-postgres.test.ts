/**
 * PostgresStore: the store contract every store passes (test/helpers/store-contract.ts), then what
 * is PostgreSQL's own: single use across processes (R1), acknowledge after a durable commit (R2),
 * fail closed and come back without a reopen (R3, S12), migrations across instances.
 *
 * Needs TOKENPAIR_TEST_DATABASE_URL (scripts/pg-test-server.sh); see test/helpers/postgres.ts.
 * Outages are made with a TCP proxy between the store and the server (refused, reset, or silent
 * connections) and with pg_terminate_backend, so that other test files sharing the server go on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { PostgresStore, migratePostgres } from '../src/store/postgres.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/postgres-schema.js';
import { StoreUnavailableError } from '../src/store/types.js';
import { acknowledgedWritesSurviveKill, everyTokenConsumedOnce } from './helpers/store-child.js';
import { NO_CLIENT, T, consumeRequest, limits, storeContract, successorOf, tokenRecord } from './helpers/store-contract.js';
import { databaseName, databaseUrl, pgSuite, query, testDatabases } from './helpers/postgres.js';


const TABLES = 'users, token_families, issued_tokens, login_failures';


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function assertUnavailable(calls: Array<[string, () => Promise<unknown>]>, withinMs: number): Promise<void> {
  const started = Date.now();
  const results = await Promise.allSettled(calls.map(([, call]) => call()));
  for (const [i, result] of results.entries()) {
    assert.equal(result.status, 'rejected', `${calls[i]![0]} should have failed`);
    const reason = (result as PromiseRejectedResult).reason as unknown;
    assert.ok(reason instanceof StoreUnavailableError, `${calls[i]![0]}: ${String(reason)}`);
  }
  const took = Date.now() - started;
  assert.ok(took < withinMs, `failed after ${took} ms, expected under ${withinMs} ms (no hang)`);
}

/**
 * A TCP proxy in front of the server, to cut the store off: `stop()` refuses new connections and
 * resets the open ones (the server went away); `freeze()` keeps every connection open but lets no
 * byte through and answers no new one (a network that hangs); `start()`/`heal()` restore it.
 */
class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<[net.Socket, net.Socket | null]>();
  #server: net.Server | null = null;
  #frozen = false;
  port = 0;

  constructor(targetUrl: string) {
    const url = new URL(targetUrl);
    this.#target = { host: url.hostname, port: Number(url.port || 5432) };
  }

  url(base: string): string {
    const url = new URL(base);
    url.host = `127.0.0.1:${this.port}`;
    return url.toString();
  }

  async start(): Promise<void> {
    this.#frozen = false;
    const server = net.createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  #accept(client: net.Socket): void {
    const pair: [net.Socket, net.Socket | null] = [client, null];
    this.#pairs.add(pair);
    const close = () => {
      client.destroy();
      pair[1]?.destroy();
      this.#pairs.delete(pair);
    };
    client.on('error', close).on('close', close);
    if (this.#frozen) return; // accepted, never answered
    const upstream = net.connect(this.#target);
    pair[1] = upstream;
    upstream.on('error', close).on('close', close);
    client.on('data', (data) => {
      if (!this.#frozen) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!this.#frozen) client.write(data);
    });
  }

  /** Refuses new connections (ECONNREFUSED) and resets every open one. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const [client, upstream] of this.#pairs) {
      client.resetAndDestroy();
      upstream?.destroy();
    }
    this.#pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  freeze(): void {
    this.#frozen = true;
  }

  /** Lets bytes through again. Connections that lost bytes meanwhile are out of step: the store dropped those. */
  heal(): void {
    this.#frozen = false;
  }
}

describe('PostgresStore', pgSuite, () => {
  const db = testDatabases();

  storeContract(
    'PostgresStore',
    async () => {
      const store = await PostgresStore.open(db.url);
      await query(db.url, `TRUNCATE ${TABLES} RESTART IDENTITY`);
      return store;
    },
    async (store) => store.close(),
  );

  describe('single use across processes (R1)', () => {
    it('two processes consuming the same 100 tokens concurrently: each token is consumed exactly once', { timeout: 60_000 }, async () => {
      const url = await db.another();
      await everyTokenConsumedOnce('postgres', url, () => PostgresStore.open(url));
    });

    it('two stores (two instances) racing on tokens never seen before: exactly one consumer wins each', async () => {
      const a = await PostgresStore.open(db.url);
      const b = await PostgresStore.open(db.url);
      try {
        for (let round = 0; round < 20; round++) {
          const token = tokenRecord(); // recorded by whichever consumer gets there first
          const outcomes = await Promise.all(
            Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).consume(consumeRequest(token, successorOf(token, T + 1), T + 1, 10))),
          );
          assert.equal(outcomes.filter((o) => o.status === 'consumed').length, 1, JSON.stringify(outcomes));
          assert.equal(outcomes.filter((o) => o.status === 'reused' && !o.familyRevoked).length, 7, JSON.stringify(outcomes));
        }
        // The same for blacklisting: one "blacklisted", the rest "already_blacklisted" (R5).
        const token = tokenRecord();
        const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).blacklist(token, 'logout', T)));
        assert.deepEqual(answers.sort(), ['already_blacklisted', 'already_blacklisted', 'already_blacklisted', 'already_blacklisted', 'already_blacklisted', 'blacklisted']);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  describe('durable before acknowledge (R2)', () => {
    it('every write commits with synchronous_commit on, even where the database default is off', async () => {
      const url = await db.another();
      await query(url, `ALTER DATABASE ${databaseName(url)} SET synchronous_commit TO off`);
      const store = await PostgresStore.open(url);
      // Look inside the store's own transactions: right after each BEGIN, on the same connection.
      const seen: string[] = [];
      const statements: string[] = [];
      const original = pg.Client.prototype.query;
      const patched = async function (this: pg.Client, ...args: unknown[]) {
        const text = typeof args[0] === 'string' ? args[0] : '';
        statements.push(text.trim().split(/\s+/).slice(0, 2).join(' '));
        const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
        if (text.startsWith('BEGIN')) {
          const { rows } = await (original as (t: string) => Promise<pg.QueryResult<{ synchronous_commit: string }>>).call(this, 'SHOW synchronous_commit');
          seen.push(rows[0]!.synchronous_commit);
        }
        return result;
      };
      pg.Client.prototype.query = patched as typeof original;
      try {
        assert.equal((await query<{ synchronous_commit: string }>(url, 'SHOW synchronous_commit'))[0]!.synchronous_commit, 'off');
        const token = tokenRecord();
        await store.startFamily(token, NO_CLIENT, null);
        statements.length = 0;
        const outcome = await store.consume(consumeRequest(token, successorOf(token, T + 1), T + 1));
        assert.equal(outcome.status, 'consumed');
        assert.deepEqual(statements, ['BEGIN ISOLATION', 'UPDATE issued_tokens', 'UPDATE token_families', 'INSERT INTO', 'COMMIT'], 'one transaction, answered after COMMIT');
        assert.equal(await store.blacklist(tokenRecord(), 'logout', T), 'blacklisted');
        await store.revokeUserFamilies('7', 'logout_all', T + 2);
        await store.createUser({ username: 'bob', passwordHash: 'h', isActive: true });
        assert.equal(seen.length, 5);
        assert.deepEqual(new Set(seen), new Set(['on']));
      } finally {
        pg.Client.prototype.query = original;
        await store.close();
      }
    });

    it('every acknowledged consume and blacklist is committed when the process is killed right after (kill -9)', { timeout: 60_000 }, async () => {
      const url = await db.another();
      await acknowledgedWritesSurviveKill('postgres', url, { known: 3000, minAcks: 300, inFlight: 8, open: () => PostgresStore.open(url) });
    });
  });

  describe('fails closed and comes back by itself (R3, S12)', () => {
    /** Every kind of call, each on a token or user that exists. */
    function everyCall(store: PostgresStore, token: ReturnType<typeof tokenRecord>, userId: string): Array<[string, () => Promise<unknown>]> {
      return [
        ['consume', () => store.consume(consumeRequest(token, successorOf(token, T + 1), T + 1))],
        ['blacklist', () => store.blacklist(token, 'logout', T + 1)],
        ['status', () => store.status(token.jti, T + 1)],
        ['listSessions', () => store.listSessions('7', T + 1)],
        ['revokeUserFamilies', () => store.revokeUserFamilies('7', 'logout_all', T + 1)],
        ['findById', () => store.findById(userId)],
        ['findByUsername', () => store.findByUsername('bob')],
        ['createUser', () => store.createUser({ username: 'carol', passwordHash: 'h', isActive: true })],
        ['takeAttempt', () => store.takeAttempt(limits(['user:bob']), 60, T)],
        ['returnAttempt', () => store.returnAttempt(['user:bob'], T + 60)],
        ['failures', () => store.failures(['user:bob'], 60, T)],
        ['flushExpired', () => store.flushExpired(T, 100)],
        ['ping', () => store.ping()],
      ];
    }

    it('the server goes away (connections reset, then refused): every call rejects at once; it returns: calls succeed, no reopen', async () => {
      const proxy = new TcpProxy(db.url);
      await proxy.start();
      const store = await PostgresStore.open(proxy.url(db.url), { connectionTimeoutMs: 2000, statementTimeoutMs: 2000 });
      try {
        const token = tokenRecord();
        await store.startFamily(token, NO_CLIENT, null);
        const bob = await store.createUser({ username: 'bob', passwordHash: 'h', isActive: true });
        // Several pooled connections, all of which will be reset.
        await Promise.all(Array.from({ length: 6 }, () => store.status(token.jti, T)));

        await proxy.stop();
        await assertUnavailable(everyCall(store, token, bob.id), 1500); // on connections that were reset
        await assertUnavailable(everyCall(store, token, bob.id), 1500); // on new connections: refused

        await proxy.start(); // same port
        await store.ping();
        assert.equal(await store.status(token.jti, T + 1), 'active', 'the failed calls changed nothing');
        assert.equal(await store.findByUsername('carol'), null);
        assert.equal((await store.consume(consumeRequest(token, successorOf(token, T + 2), T + 2))).status, 'consumed');
        assert.deepEqual(await store.findById(bob.id), bob);
      } finally {
        await store.close();
        await proxy.stop();
      }
    });

    it('the network hangs (no byte gets through): calls reject within the timeouts instead of hanging; then it recovers', { timeout: 30_000 }, async () => {
      const proxy = new TcpProxy(db.url);
      await proxy.start();
      const store = await PostgresStore.open(proxy.url(db.url), { connectionTimeoutMs: 500, statementTimeoutMs: 500 });
      try {
        const token = tokenRecord();
        await store.startFamily(token, NO_CLIENT, null);
        await Promise.all(Array.from({ length: 3 }, () => store.status(token.jti, T)));

        proxy.freeze();
        // A call on a pooled connection waits for the client-side read timeout (statement timeout + 2 s);
        // a call that needs a new connection gives up after connectionTimeoutMs.
        await assertUnavailable(
          [
            ['status', () => store.status(token.jti, T)],
            ['consume', () => store.consume(consumeRequest(token, successorOf(token, T + 1), T + 1))],
            ['ping', () => store.ping()],
            ['blacklist', () => store.blacklist(token, 'logout', T + 1)],
            ['createUser', () => store.createUser({ username: 'dave', passwordHash: 'h', isActive: true })],
          ],
          6000,
        );
        proxy.heal();
        await store.ping();
        assert.equal(await store.status(token.jti, T + 1), 'active');
        assert.equal((await store.consume(consumeRequest(token, successorOf(token, T + 2), T + 2))).status, 'consumed');
      } finally {
        await store.close();
        await proxy.stop();
      }
    });

    it('connections terminated by the server (admin shutdown), the database refusing connections: unavailable; then it recovers', async () => {
      const url = await db.another();
      const name = databaseName(url);
      const admin = databaseUrl(url, 'postgres');
      const store = await PostgresStore.open(url, { statementTimeoutMs: 10_000 });
      const locker = new pg.Client({ connectionString: url });
      locker.on('error', () => {});
      try {
        const token = tokenRecord();
        await store.startFamily(token, NO_CLIENT, null);
        const bob = await store.createUser({ username: 'bob', passwordHash: 'h', isActive: true });
        await Promise.all(Array.from({ length: 4 }, () => store.status(token.jti, T)));

        // A consume in the middle of its transaction, waiting for a row lock, when its backend is terminated.
        await locker.connect();
        await locker.query('BEGIN');
        await locker.query('SELECT 1 FROM issued_tokens WHERE jti = $1 FOR UPDATE', [token.jti]);
        // Its outcome is taken at once: it fails while we are still terminating (no unhandled rejection).
        const inFlight = store.consume(consumeRequest(token, successorOf(token, T + 1), T + 1)).then(
          (outcome) => outcome,
          (error: unknown) => error,
        );
        await sleep(200);
        await query(admin, `ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        await query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tokenpair'", [name]);
        const interrupted = await inFlight;
        assert.ok(interrupted instanceof StoreUnavailableError, `the interrupted consume: ${String(interrupted)}`);
        await locker.query('ROLLBACK');

        await assertUnavailable(everyCall(store, token, bob.id), 1500);

        await query(admin, `ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
        await store.ping();
        assert.equal(await store.status(token.jti, T + 2), 'active', 'the interrupted consume was rolled back');
        assert.equal((await store.consume(consumeRequest(token, successorOf(token, T + 2), T + 2))).status, 'consumed');
      } finally {
        await query(admin, `ALTER DATABASE ${name} ALLOW_CONNECTIONS true`).catch(() => {});
        await locker.end().catch(() => {});
        await store.close();
      }
    });

    it('a statement blocked past statementTimeoutMs, or no free connection within connectionTimeoutMs: unavailable, not a hang', async () => {
      const store = await PostgresStore.open(db.url, { max: 2, statementTimeoutMs: 1500, connectionTimeoutMs: 300 });
      const lockers = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
      try {
        const tokens = [tokenRecord(), tokenRecord()];
        for (const t of tokens) await store.startFamily(t, NO_CLIENT, null);
        for (const [i, locker] of lockers.entries()) {
          await locker.connect();
          await locker.query('BEGIN');
          await locker.query('SELECT 1 FROM issued_tokens WHERE jti = $1 FOR UPDATE', [tokens[i]!.jti]);
        }
        // Both of the store's connections wait for a lock ...
        const blocked = tokens.map((t) => store.consume(consumeRequest(t, null, T + 1)));
        await sleep(100);
        // ... so the next call finds no free connection.
        await assertUnavailable([['status', () => store.status(tokens[0]!.jti, T)]], 1000);
        // The blocked statements are cancelled by statement_timeout.
        const started = Date.now();
        for (const r of await Promise.allSettled(blocked)) {
          assert.equal(r.status, 'rejected');
          assert.ok(r.reason instanceof StoreUnavailableError, String(r.reason));
        }
        assert.ok(Date.now() - started < 3000);
        for (const locker of lockers) await locker.query('ROLLBACK');
        for (const t of tokens) assert.equal((await store.consume(consumeRequest(t, null, T + 2))).status, 'consumed');
      } finally {
        for (const locker of lockers) await locker.end().catch(() => {});
        await store.close();
      }
    });

    it('a database that cannot be reached, or does not exist, refuses to open with StoreUnavailableError', async () => {
      const closedPort = await new Promise<number>((resolve) => {
        const server = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as net.AddressInfo;
          server.close(() => resolve(port));
        });
      });
      await assert.rejects(PostgresStore.open(`postgres://postgres@127.0.0.1:${closedPort}/x`), StoreUnavailableError);
      await assert.rejects(migratePostgres(`postgres://postgres@127.0.0.1:${closedPort}/x`), StoreUnavailableError);
      await assert.rejects(PostgresStore.open(databaseUrl(db.url, 'tp_test_does_not_exist')), StoreUnavailableError);
      await assert.rejects(PostgresStore.open(''), TypeError);
      await assert.rejects(PostgresStore.open(db.url, { max: 0 }), TypeError);
      await assert.rejects(PostgresStore.open(db.url, { statementTimeoutMs: 1.5 }), TypeError);
    });
  });

  describe('schema and lifecycle', () => {
    it('three instances migrating at once: the schema is created once', async () => {
      const url = await db.another();
      const results = await Promise.all([migratePostgres(url), migratePostgres(url), migratePostgres(url)]);
      assert.deepEqual(
        results.map((r) => r.from).sort(),
        [0, SCHEMA_VERSION, SCHEMA_VERSION],
        'one found an empty database, the others found it migrated',
      );
      for (const r of results) assert.equal(r.to, SCHEMA_VERSION);
      assert.deepEqual(await migratePostgres(url), { from: SCHEMA_VERSION, to: SCHEMA_VERSION });
      const rows = await query<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    });

    it('three stores opening a new database at once all start, and share one schema', async () => {
      const url = await db.another();
      const stores = await Promise.all([PostgresStore.open(url), PostgresStore.open(url), PostgresStore.open(url)]);
      try {
        const token = tokenRecord();
        await stores[0]!.startFamily(token, NO_CLIENT, null);
        for (const store of stores) assert.equal(await store.status(token.jti, T), 'active');
        const rows = await query<{ version: number }>(url, 'SELECT version FROM schema_migrations');
        assert.equal(rows.length, MIGRATIONS.length);
        // The same tables and columns as the SQLite store.
        const columns = async (table: string) =>
          (await query<{ column_name: string }>(url, 'SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position', [table])).map((c) => c.column_name);
        assert.deepEqual(await columns('issued_tokens'), ['jti', 'family_id', 'user_id', 'token_type', 'issued_at', 'expires_at', 'used_at', 'revoked_at', 'revoke_reason']);
        assert.deepEqual(await columns('token_families'), ['id', 'user_id', 'created_at', 'last_used_at', 'expires_at', 'absolute_expires_at', 'user_agent', 'address', 'revoked_at', 'revoke_reason']);
        assert.deepEqual(await columns('users'), ['id', 'username', 'password_hash', 'is_active', 'security_stamp', 'last_login', 'created_at']);
        assert.deepEqual(await columns('login_failures'), ['key', 'window_end', 'count']);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('a schema newer than this code knows is refused', async () => {
      const url = await db.another();
      await migratePostgres(url);
      await query(url, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from the future', 0)");
      await assert.rejects(PostgresStore.open(url), /newer than this tokenpair knows/);
      await assert.rejects(migratePostgres(url), /newer than this tokenpair knows/);
    });

    it('data survives close and reopen; close waits for the calls in progress', async () => {
      const url = await db.another();
      const first = await PostgresStore.open(url);
      const bob = await first.createUser({ username: 'bob', passwordHash: 'h', isActive: true });
      const tokens = Array.from({ length: 100 }, () => tokenRecord({ userId: bob.id }));
      const writes = tokens.map((t) => first.startFamily(t, NO_CLIENT, null));
      const closing = first.close();
      await Promise.all(writes);
      await closing;
      await assert.rejects(first.startFamily(tokenRecord(), NO_CLIENT, null), StoreUnavailableError);

      const second = await PostgresStore.open(url);
      try {
        assert.deepEqual(await second.findByUsername('bob'), bob);
        for (const t of tokens) assert.equal(await second.status(t.jti, T), 'active');
        const alice = await second.createUser({ username: 'alice', passwordHash: 'h', isActive: true });
        assert.equal(Number(alice.id), Number(bob.id) + 1);
      } finally {
        await second.close();
      }
    });

    it('values PostgreSQL cannot store (NUL, lone surrogates) find nothing and count apart, instead of failing', async () => {
      const store = await PostgresStore.open(db.url);
      try {
        assert.equal(await store.findByUsername('bob\0'), null);
        assert.equal(await store.findByUsername('\uD800'), null);
        assert.equal(await store.status('jti\0', T), 'unknown');
        assert.deepEqual(await store.listSessions('\0', T), []);
        const keys = ['user:a\0', 'user:a\\u0000', 'user:\uD800', 'user:\uDC00', 'user:\uFFFD'];
        await store.takeAttempt(limits(keys), 60, T);
        await store.takeAttempt(limits(['user:a\0', 'user:a\0']), 60, T);
        assert.deepEqual(
          (await store.failures(keys, 60, T)).map((f) => f.count),
          [3, 1, 1, 1, 1],
        );
      } finally {
        await store.close();
      }
    });
  });
});

// ---- child processes --------------------------------------------------------------------------------

