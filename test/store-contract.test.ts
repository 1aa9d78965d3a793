/**
 * The store contract (test/helpers/store-contract.ts) run against every built-in store. SQLite runs
 * on a real file in a temporary directory. SQLite-only behaviour (processes, crashes, outages):
 * store-sqlite.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { storeContract, type ContractStore } from './helpers/store-contract.js';

storeContract(
  'MemoryStore',
  async () => new MemoryStore(),
  async (store) => store.close(),
);

const sqliteDirs = new WeakMap<ContractStore, string>();
storeContract(
  'SqliteStore',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenpair-store-'));
    const store = await SqliteStore.open(join(dir, 'tokenpair.sqlite3'));
    sqliteDirs.set(store, dir);
    return store;
  },
  async (store) => {
    await store.close();
    const dir = sqliteDirs.get(store);
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
);
