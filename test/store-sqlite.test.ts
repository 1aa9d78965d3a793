/**
 * SQLite-only store behaviour: single use across processes (R1), durable before acknowledge under
 * kill -9 (R2), fail closed and come back (R3/S12), migrations, persistence, close. The contract
 * every store shares is in store-contract.test.ts.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore, WORKER_FOR_TESTS, migrateSqlite } from '../src/store/sqlite.js';
import { SCHEMA_VERSION } from '../src/store/sqlite-schema.js';
import { StoreUnavailableError } from '../src/store/types.js';
import { acknowledgedWritesSurviveKill, everyTokenConsumedOnce } from './helpers/store-child.js';
import { NO_CLIENT, T, consumeRequest, successorOf, tokenRecord } from './helpers/store-contract.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenpair-sqlite-'));
  dirs.push(dir);
  return join(dir, 'tokenpair.sqlite3');
}



describe('SqliteStore across processes (R1)', () => {
  it('two processes consuming the same 100 tokens concurrently: each token is consumed exactly once', { timeout: 60_000 }, async () => {
    const file = tempFile();
    await everyTokenConsumedOnce('sqlite', file, () => SqliteStore.open(file));
  });

  it('two stores on one file in one process (two instances) also let exactly one consumer win', async () => {
    const file = tempFile();
    const a = await SqliteStore.open(file);
    const b = await SqliteStore.open(file);
    try {
      for (let round = 0; round < 20; round++) {
        const token = tokenRecord();
        await a.startFamily(token, NO_CLIENT, null);
        const outcomes = await Promise.all(
          Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).consume(consumeRequest(token, successorOf(token, T + 1), T + 1, 10))),
        );
        assert.equal(outcomes.filter((o) => o.status === 'consumed').length, 1, JSON.stringify(outcomes));
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('SqliteStore durability (R2)', () => {
  it('every acknowledged consume and blacklist survives kill -9 of the process right after', { timeout: 60_000 }, async () => {
    const file = tempFile();
    const { consumes, blacklists } = await acknowledgedWritesSurviveKill('sqlite', file, { known: 4000, minAcks: 400, inFlight: 16, open: () => SqliteStore.open(file) });
    assert.ok(consumes > 50 && blacklists > 50, `${consumes} consumes, ${blacklists} blacklists checked`);
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      db.close();
    }
  });
});

describe('SqliteStore fails closed and comes back (R3, S12)', () => {
  it('while another process holds the write lock past the busy timeout: writes reject as unavailable, reads still work, then it recovers', async () => {
    const file = tempFile();
    const store = await SqliteStore.open(file, { busyTimeoutMs: 100 });
    const token = tokenRecord();
    await store.startFamily(token, NO_CLIENT, null);
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const started = Date.now();
      const results = await Promise.allSettled([
        store.consume(consumeRequest(token, successorOf(token, T + 1), T + 1)),
        store.blacklist(tokenRecord(), 'logout', T + 1),
        store.createUser({ username: 'bob', passwordHash: 'x', isActive: true }),
        store.ping(),
      ]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.reason instanceof StoreUnavailableError, String(r.reason));
      }
      assert.ok(Date.now() - started < 5000, 'failed within the busy timeout, not after a hang');
      assert.equal(await store.status(token.jti, T + 1), 'active', 'the failed consume changed nothing, and reads still work');
      other.exec('ROLLBACK');

      assert.equal((await store.consume(consumeRequest(token, successorOf(token, T + 2), T + 2))).status, 'consumed');
      await store.ping();
    } finally {
      other.close();
      await store.close();
    }
  });

  it('a writer thread that dies rejects every pending call at once; a new one is started at most once a second', async () => {
    const file = tempFile();
    const store = await SqliteStore.open(file);
    try {
      const pending = Array.from({ length: 20 }, () => store.startFamily(tokenRecord(), NO_CLIENT, null));
      await store[WORKER_FOR_TESTS]().terminate();
      for (const r of await Promise.allSettled(pending)) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.reason instanceof StoreUnavailableError, String(r.reason));
      }
      // The next call starts a new writer and succeeds.
      const token = tokenRecord();
      await store.startFamily(token, NO_CLIENT, null);
      assert.equal(await store.status(token.jti, T), 'active');

      // A second death within the second: calls fail at once instead of restarting in a loop.
      await store[WORKER_FOR_TESTS]().terminate();
      const started = Date.now();
      await assert.rejects(store.consume(consumeRequest(token, null, T + 1)), StoreUnavailableError);
      await assert.rejects(store.ping(), StoreUnavailableError);
      assert.ok(Date.now() - started < 500);
      assert.equal(await store.status(token.jti, T + 1), 'active', 'reads are served meanwhile');

      await new Promise((resolve) => setTimeout(resolve, 1100));
      assert.equal((await store.consume(consumeRequest(token, null, T + 2))).status, 'consumed');
    } finally {
      await store.close();
    }
  });

  it('a writer that does not answer within operationTimeoutMs is given up on (no hang), then replaced', { timeout: 30_000 }, async () => {
    const file = tempFile();
    const store = await SqliteStore.open(file, { busyTimeoutMs: 3000, operationTimeoutMs: 300 });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const started = Date.now();
      await assert.rejects(store.startFamily(tokenRecord(), NO_CLIENT, null), (e: unknown) => e instanceof StoreUnavailableError && /not answered/.test(e.message));
      assert.ok(Date.now() - started < 2500, `gave up after ${Date.now() - started} ms`);
      other.exec('ROLLBACK');
      // The stuck thread is replaced once the restart interval has passed.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const token = tokenRecord();
      await store.startFamily(token, NO_CLIENT, null);
      assert.equal(await store.status(token.jti, T), 'active');
    } finally {
      other.close();
      await store.close();
    }
  });

  it('a file that cannot be a database refuses to open with StoreUnavailableError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenpair-sqlite-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'a-directory'));
    writeFileSync(join(dir, 'not-a-database'), 'this is plain text, not SQLite '.repeat(200));
    for (const path of [join(dir, 'a-directory'), join(dir, 'missing-dir', 'x.sqlite3'), join(dir, 'not-a-database')]) {
      await assert.rejects(SqliteStore.open(path), StoreUnavailableError, path);
    }
    await assert.rejects(SqliteStore.open(':memory:'), TypeError);
    await assert.rejects(SqliteStore.open(''), TypeError);
  });
});

describe('SqliteStore schema and lifecycle', () => {
  it('ping writes (the heartbeat row): a store that cannot write is not ready, and is again once it can', async () => {
    const file = tempFile();
    const store = await SqliteStore.open(file);
    const other = new Database(file);
    try {
      const before = Date.now();
      await store.ping();
      const row = other.prepare('SELECT id, at FROM heartbeat').get() as { id: number; at: number };
      assert.equal(row.id, 1);
      assert.ok(row.at >= before && row.at <= Date.now(), 'the heartbeat was written now');
      // Writes fail as on a full disk (a trigger refuses them): an empty transaction would not notice.
      other.exec("CREATE TRIGGER refuse_heartbeat BEFORE UPDATE ON heartbeat BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;");
      await assert.rejects(store.ping());
      other.exec('DROP TRIGGER refuse_heartbeat');
      await store.ping();
    } finally {
      other.close();
      await store.close();
    }
  });

  it('migrateSqlite creates the schema once and reports versions; a newer schema is refused', async () => {
    const file = tempFile();
    assert.deepEqual(await migrateSqlite(file), { from: 0, to: SCHEMA_VERSION });
    assert.deepEqual(await migrateSqlite(file), { from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    const db = new Database(file);
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      const columns = (table: string) => (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
      assert.deepEqual(columns('issued_tokens'), ['jti', 'family_id', 'user_id', 'token_type', 'issued_at', 'expires_at', 'used_at', 'revoked_at', 'revoke_reason']);
      assert.deepEqual(columns('users'), ['id', 'username', 'password_hash', 'is_active', 'security_stamp', 'last_login', 'created_at']);
      assert.deepEqual(columns('login_failures'), ['key', 'window_end', 'count']);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('from the future');
    } finally {
      db.close();
    }
    await assert.rejects(SqliteStore.open(file), /newer than this tokenpair knows/);
    await assert.rejects(migrateSqlite(file), /newer than this tokenpair knows/);
  });

  it('open() migrates a new file; data survives close and reopen', async () => {
    const file = tempFile();
    const first = await SqliteStore.open(file, { synchronous: 'NORMAL' });
    const bob = await first.createUser({ username: 'bob', passwordHash: 'h', isActive: true });
    const token = tokenRecord({ userId: bob.id });
    await first.startFamily(token, { userAgent: 'ua', address: '::1' }, T + 1000);
    await first.blacklist(token, 'logout', T + 1);
    await first.close();
    assert.ok(!existsSync(`${file}-wal`), 'the last connection to close checkpointed and removed the WAL');

    const second = await SqliteStore.open(file);
    try {
      assert.deepEqual(await second.findByUsername('bob'), bob);
      assert.equal(await second.status(token.jti, T + 2), 'revoked');
      const alice = await second.createUser({ username: 'alice', passwordHash: 'h', isActive: true });
      assert.equal(Number(alice.id), Number(bob.id) + 1);
    } finally {
      await second.close();
    }
  });

  it('close() finishes every write already made before it closes', async () => {
    const file = tempFile();
    const store = await SqliteStore.open(file);
    const tokens = Array.from({ length: 300 }, () => tokenRecord());
    const writes = tokens.map((t) => store.startFamily(t, NO_CLIENT, null));
    const closing = store.close();
    await Promise.all(writes);
    await closing;
    await assert.rejects(store.startFamily(tokenRecord(), NO_CLIENT, null), StoreUnavailableError);

    const reopened = await SqliteStore.open(file);
    try {
      for (const t of tokens) assert.equal(await reopened.status(t.jti, T), 'active');
    } finally {
      await reopened.close();
    }
  });

  it('refuses invalid options', async () => {
    const file = tempFile();
    await assert.rejects(SqliteStore.open(file, { busyTimeoutMs: -1 }), TypeError);
    await assert.rejects(SqliteStore.open(file, { synchronous: 'OFF' as 'FULL' }), TypeError);
  });
});
