/**
 * PostgreSQL for the tests. `TOKENPAIR_TEST_DATABASE_URL` names a server on which the tests may
 * create and drop databases (`scripts/pg-test-server.sh start` starts a throw-away one and prints
 * its URL). Each test file works in databases of its own (`tp_test_<random>`), dropped when the
 * file is done, so test files running in parallel, and runs side by side, never collide.
 *
 * Without the variable the PostgreSQL tests are skipped, with the reason, on a developer's machine;
 * in CI (`CI` set) they fail instead: CI must never pass by quietly not testing PostgreSQL.
 */
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.TOKENPAIR_TEST_DATABASE_URL?.trim() || null;
const IN_CI = Boolean(process.env.CI) && process.env.CI !== 'false';

export const NO_PG_REASON = 'no TOKENPAIR_TEST_DATABASE_URL: start PostgreSQL with scripts/pg-test-server.sh';

/** The options of a `describe` of PostgreSQL tests: skipped with the reason when no server is configured, outside CI. */
export const pgSuite: { skip?: string } = PG_URL || IN_CI ? {} : { skip: NO_PG_REASON };

function serverUrl(): string {
  if (!PG_URL) {
    throw new Error(
      'TOKENPAIR_TEST_DATABASE_URL is not set, and CI is: the PostgreSQL tests must run in CI. ' +
        '.ci/run starts a server with scripts/pg-test-server.sh and exports its URL; run it that way.',
    );
  }
  return PG_URL;
}

/** `base` with its database replaced by `database`. */
export function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs `fn` with a new connection to `url`, closed afterwards. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {}); // a test that terminates connections may hit this one too
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** One statement on a new connection to `url`. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  return withClient(url, async (client) => (await client.query<R>(text, values)).rows);
}

/** The name of the database `url` points at. */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** Creates an empty database and returns its URL. Drop it with `dropDatabase`. */
export async function createDatabase(): Promise<string> {
  const base = serverUrl();
  const name = `tp_test_${randomBytes(6).toString('hex')}`;
  await query(base, `CREATE DATABASE ${name}`);
  return databaseUrl(base, name);
}

export async function dropDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  if (!/^tp_test_[0-9a-f]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a test database`);
  await query(serverUrl(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * Call in a `describe`: a fresh database for the suite (created before its first test, dropped after
 * its last), plus any made with `another()`.
 */
export function testDatabases(): { readonly url: string; another(): Promise<string> } {
  const made: string[] = [];
  let url: string | null = null;
  before(async () => {
    url = await createDatabase();
    made.push(url);
  });
  after(async () => {
    for (const u of made.splice(0)) await dropDatabase(u);
  });
  return {
    get url(): string {
      if (!url) throw new Error('the test database is created in a before() hook: use it inside tests');
      return url;
    },
    async another(): Promise<string> {
      const u = await createDatabase();
      made.push(u);
      return u;
    },
  };
}
