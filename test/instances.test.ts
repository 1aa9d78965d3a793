/**
 * Scaling out (DESIGN.md "Scaling out"): three `tokenpair serve` processes (real children, real
 * HTTP over 127.0.0.1) on one PostgreSQL database (`--database-url` / `TOKENPAIR_DATABASE_URL`)
 * with one `TOKENPAIR_SIGNING_KEY`. Whatever one instance did, the others see: rotation, blacklist,
 * sessions, logout, logout-all and the login throttle live in the database, not in a process.
 *
 * Faults: `kill -9` of one instance under refresh load (the others keep answering; nothing the
 * killed one acknowledged is lost), and a database outage (503 and nothing issued; service resumes
 * by itself). The outage is made with a TCP proxy between the servers and PostgreSQL, so that the
 * shared test cluster, which other test files use at the same time, is never stopped.
 *
 * Also the command line on PostgreSQL: migrate, createuser, sessions, revoke, flushexpiredtokens,
 * check, and that the URL's password is never printed.
 *
 * Needs TOKENPAIR_TEST_DATABASE_URL (scripts/pg-test-server.sh); see test/helpers/postgres.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { runCli, startServer, stopServer, tempDir, type ServerProcess } from './helpers/cli-process.js';
import { pgSuite, query, testDatabases, withClient } from './helpers/postgres.js';

const PASSWORD = 'instances test password 3';
const SIGNING_KEY = randomBytes(32).toString('base64url');
/** In the servers' URL only: the test cluster trusts 127.0.0.1, so it is never checked, and must never be printed. */
const URL_PASSWORD = `url-secret-${randomBytes(6).toString('hex')}`;
const REQUEST_TIMEOUT_MS = 30_000;
const ROUNDS = 50;
const PARALLEL = 8;
const THROTTLE = 3;
const BLACKLISTED = { detail: 'Token is blacklisted', code: 'token_not_valid' };
const PASSWORD_CHANGED = { detail: "The user's password has been changed.", code: 'password_changed' };
const UNAVAILABLE = { detail: 'Service temporarily unavailable.', code: 'service_unavailable' };

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

async function call(url: string, method: string, path: string, options: { body?: unknown; bearer?: string; agent?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  if (options.agent) headers['user-agent'] = options.agent;
  const response = await fetch(`${url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const post = (url: string, path: string, body: unknown, bearer?: string) => call(url, 'POST', path, { body, bearer });
/** Status and body only, for deepEqual. */
const sb = (reply: Reply) => ({ status: reply.status, body: reply.body });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const isAlive = (server: ServerProcess | undefined): server is ServerProcess => !!server && server.child.exitCode === null && server.child.signalCode === null;

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Polls until `check` holds or `ms` have passed; returns whether it held. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

/**
 * A TCP proxy between the servers and PostgreSQL: `stop()` refuses new connections and resets the
 * open ones (the database went away), `start()` listens again on the same port.
 */
class TcpProxy {
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | null = null;
  #target: { host: string; port: number } = { host: '127.0.0.1', port: 5432 };
  port = 0;

  /** `base` pointed at the proxy, with `password` in it. */
  url(base: string, password: string): string {
    const url = new URL(base);
    url.host = `127.0.0.1:${this.port}`;
    url.password = password;
    return url.toString();
  }

  async start(targetUrl?: string): Promise<void> {
    if (targetUrl) {
      const url = new URL(targetUrl);
      this.#target = { host: url.hostname, port: Number(url.port || 5432) };
    }
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target);
      this.#sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('three tokenpair serve processes on one PostgreSQL database', { ...pgSuite, timeout: 300_000 }, () => {
  const db = testDatabases();
  const proxy = new TcpProxy();
  let dataDir: ReturnType<typeof tempDir> | undefined;
  /** Given to the servers, never created: with a configured key and PostgreSQL nothing is written there. */
  let unusedDir = '';
  let servers: ServerProcess[] = [];
  let serverUrl = '';

  const start = () =>
    startServer(['--data-dir', unusedDir, '--log-level', 'warn'], {
      env: { TOKENPAIR_DATABASE_URL: serverUrl, TOKENPAIR_SIGNING_KEY: SIGNING_KEY, TOKENPAIR_LOGIN_THROTTLE_PER_USERNAME: String(THROTTLE) },
    });
  const cli = (args: string[], input?: string) => runCli([...args, '--database-url', db.url], { env: { TOKENPAIR_SIGNING_KEY: SIGNING_KEY }, input });

  before(async () => {
    dataDir = tempDir('tokenpair-instances-');
    unusedDir = join(dataDir.path, 'unused');
    await proxy.start(db.url);
    serverUrl = proxy.url(db.url, URL_PASSWORD);
    // Migrations run once, before any instance starts (as docs/scaling.md says to roll out).
    const migrated = await cli(['migrate']);
    assert.equal(migrated.code, 0, migrated.stderr);
    for (const name of ['alice', 'bob', 'carol', 'dave']) {
      const created = await cli(['createuser', name, '--password-stdin'], `${PASSWORD}\n`);
      assert.equal(created.code, 0, created.stderr);
    }
    servers = await Promise.all([start(), start(), start()]);
    assert.equal(new Set(servers.map((s) => s.url)).size, 3);
  });

  after(async () => {
    // Even after a failure: no child outlives the test.
    await Promise.all(servers.filter(isAlive).map((server) => stopServer(server, 5000)));
    await proxy.stop();
    dataDir?.cleanup();
  });

  const A = () => servers[0]!.url;
  const B = () => servers[1]!.url;
  const C = () => servers[2]!.url;

  async function login(url: string, username: string, agent?: string): Promise<{ access: string; refresh: string }> {
    const reply = await call(url, 'POST', '/api/token/', { body: { username, password: PASSWORD }, agent });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  }

  it('each instance says which store it uses, without the URL password, and is ready', async () => {
    for (const server of servers) {
      const { stdout, stderr } = server.output();
      assert.match(stdout, /^tokenpair listening on http:\/\/127\.0\.0\.1:\d+ \(database: PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:\d+\/tp_test_[0-9a-f]+\)$/m);
      assert.ok(!`${stdout}${stderr}`.includes(URL_PASSWORD), 'the URL password was printed');
      assert.deepEqual(sb(await call(server.url, 'GET', '/readyz')), { status: 200, body: { status: 'ready' } });
    }
  });

  it('log in on A, refresh on B, verify and /api/me/ on C, sessions, blacklist and logout across instances', async () => {
    const first = await login(A(), 'alice', 'agent-a');
    const second = await call(B(), 'POST', '/api/token/refresh/', { body: { refresh: first.refresh }, agent: 'agent-a' });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const pair = second.body as { access: string; refresh: string };
    assert.deepEqual(sb(await post(C(), '/api/token/verify/', { token: pair.refresh })), { status: 200, body: {} });
    assert.deepEqual(sb(await post(C(), '/api/token/verify/', { token: first.refresh })), { status: 401, body: BLACKLISTED });
    assert.deepEqual(sb(await call(C(), 'GET', '/api/me/', { bearer: pair.access })), { status: 200, body: { id: '1', username: 'alice' } });
    assert.deepEqual(sb(await call(A(), 'GET', '/api/me/', { bearer: first.access })), { status: 200, body: { id: '1', username: 'alice' } });

    // Sessions: a login on C is listed by B and revoked through A; its refresh token then fails on B.
    const other = await login(C(), 'alice', 'agent-c');
    const listed = await call(B(), 'GET', '/api/sessions/', { bearer: pair.access });
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    const agents = (listed.body as Array<{ user_agent: string | null }>).map((s) => s.user_agent).sort();
    assert.deepEqual(agents, ['agent-a', 'agent-c']);
    const target = (listed.body as Array<{ id: string; user_agent: string }>).find((s) => s.user_agent === 'agent-c')!;
    assert.equal((await call(A(), 'DELETE', `/api/sessions/${target.id}/`, { bearer: pair.access })).status, 204);
    assert.deepEqual(sb(await post(B(), '/api/token/refresh/', { refresh: other.refresh })), { status: 401, body: BLACKLISTED });
    const remaining = await call(C(), 'GET', '/api/sessions/', { bearer: pair.access });
    assert.deepEqual((remaining.body as Array<{ user_agent: string }>).map((s) => s.user_agent), ['agent-a']);

    // Blacklist on C: refused by A and B.
    assert.deepEqual(sb(await post(C(), '/api/token/blacklist/', { refresh: pair.refresh })), { status: 200, body: {} });
    assert.deepEqual(sb(await post(A(), '/api/token/refresh/', { refresh: pair.refresh })), { status: 401, body: BLACKLISTED });
    assert.deepEqual(sb(await post(B(), '/api/token/blacklist/', { refresh: pair.refresh })), { status: 401, body: BLACKLISTED });

    // Logout on B of a login on A: C refuses the refresh token.
    const third = await login(A(), 'alice');
    assert.equal((await post(B(), '/api/logout/', { refresh: third.refresh }, third.access)).status, 205);
    assert.deepEqual(sb(await post(C(), '/api/token/verify/', { token: third.refresh })), { status: 401, body: BLACKLISTED });
    assert.deepEqual(sb(await post(A(), '/api/token/refresh/', { refresh: third.refresh })), { status: 401, body: BLACKLISTED });

    // Sliding tokens: obtained on A, refreshed on B, verified on C.
    const sliding = await post(A(), '/api/token/sliding/', { username: 'alice', password: PASSWORD });
    assert.equal(sliding.status, 200, JSON.stringify(sliding.body));
    const slid = await post(B(), '/api/token/sliding/refresh/', { token: sliding.body.token });
    assert.equal(slid.status, 200, JSON.stringify(slid.body));
    assert.deepEqual(sb(await post(C(), '/api/token/verify/', { token: slid.body.token })), { status: 200, body: {} });
  });

  it(`${ROUNDS} rounds of ${PARALLEL} parallel refreshes of one token over A, B and C: exactly one 200, seven "Token is blacklisted", the successor works`, async () => {
    let pair = await login(A(), 'bob');
    const wins = [0, 0, 0];
    const started = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      const refresh = pair.refresh;
      const replies = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => post(servers[i % 3]!.url, '/api/token/refresh/', { refresh })));
      const winners = replies.flatMap((reply, i) => (reply.status === 200 ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} refreshes succeeded: ${JSON.stringify(replies.map((r) => r.status))}`);
      for (const [i, reply] of replies.entries()) {
        if (i !== winners[0]) assert.deepEqual(sb(reply), { status: 401, body: BLACKLISTED }, `round ${round}, request ${i}`);
      }
      const winner = winners[0]!;
      wins[winner % 3]!++;
      const next = replies[winner]!.body as { access: string; refresh: string };
      assert.deepEqual(Object.keys(next).sort(), ['access', 'refresh']);
      // The successor's access token works on another instance.
      assert.equal((await call(servers[(winner + 1) % 3]!.url, 'GET', '/api/me/', { bearer: next.access })).status, 200);
      pair = next;
    }
    // The last successor still refreshes: the losers did not revoke the family (reuse grace period).
    assert.equal((await post(C(), '/api/token/refresh/', { refresh: pair.refresh })).status, 200);
    console.log(`# ${ROUNDS} rounds x ${PARALLEL} parallel refreshes over 3 instances: wins A ${wins[0]}, B ${wins[1]}, C ${wins[2]}; ${Date.now() - started} ms`);
  });

  it('a username too long for a PostgreSQL index (20,000 random characters) is a plain 401, and is still throttled', async () => {
    const long = randomBytes(15_000).toString('base64url').slice(0, 20_000);
    for (let i = 0; i < THROTTLE; i++) {
      assert.deepEqual(sb(await post(A(), '/api/token/', { username: long, password: 'wrong' })), {
        status: 401,
        body: { detail: 'No active account found with the given credentials', code: 'no_active_account' },
      });
    }
    const throttled = await post(B(), '/api/token/', { username: long, password: 'wrong' });
    assert.equal(throttled.status, 429, JSON.stringify(throttled.body));
  });

  it(`failed logins on A count toward the throttle on B and C (${THROTTLE} per username)`, async () => {
    for (let i = 0; i < THROTTLE; i++) {
      const reply = await post(A(), '/api/token/', { username: 'carol', password: 'wrong password' });
      assert.equal(reply.status, 401, JSON.stringify(reply.body));
    }
    for (const url of [B(), C()]) {
      // Even the right password: the username is throttled for the window.
      const reply = await post(url, '/api/token/', { username: 'carol', password: PASSWORD });
      assert.equal(reply.status, 429, JSON.stringify(reply.body));
      assert.equal(reply.body.code, 'throttled');
      const retryAfter = Number(reply.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After: ${reply.headers.get('retry-after')}`);
    }
    // Other usernames are not throttled.
    await login(B(), 'dave');
  });

  it('logout-all on A: the sessions used on B and C are refused everywhere, access tokens too', async () => {
    const phone = await login(A(), 'dave');
    const tablet = await login(B(), 'dave');
    const laptop = await login(C(), 'dave');
    const rotated = await post(C(), '/api/token/refresh/', { refresh: laptop.refresh });
    assert.equal(rotated.status, 200);
    const alice = await login(B(), 'alice');

    assert.equal((await post(A(), '/api/logout/all/', {}, phone.access)).status, 205);

    for (const [url, refresh] of [[B(), tablet.refresh], [C(), rotated.body.refresh as string], [A(), phone.refresh]] as const) {
      assert.deepEqual(sb(await post(url, '/api/token/refresh/', { refresh })), { status: 401, body: PASSWORD_CHANGED }, url);
      assert.deepEqual(sb(await post(url, '/api/token/verify/', { token: refresh })), { status: 401, body: BLACKLISTED }, url);
    }
    for (const [url, access] of [[B(), tablet.access], [C(), rotated.body.access as string]] as const) {
      assert.deepEqual(sb(await call(url, 'GET', '/api/me/', { bearer: access })), { status: 401, body: PASSWORD_CHANGED }, url);
    }
    assert.equal((await post(C(), '/api/token/refresh/', { refresh: alice.refresh })).status, 200, 'another user is untouched');
  });

  it('kill -9 of C under refresh load: A and B keep answering, and every rotation C acknowledged stays spent', async () => {
    const VICTIM = 2;
    const CHAINS = 9;
    type Chain = { id: number; server: number; token: string; inFlight: boolean };
    const chains: Chain[] = [];
    for (let id = 0; id < CHAINS; id++) {
      const server = id % 3;
      chains.push({ id, server, token: (await login(servers[server]!.url, id % 2 ? 'alice' : 'bob')).refresh, inFlight: false });
    }
    const rotated: Array<{ token: string; server: number }> = [];
    const perServer = [0, 0, 0];
    const afterKill = [0, 0, 0];
    const state = { killed: false, stop: false };
    const unexpected: string[] = [];

    const run = async (chain: Chain): Promise<void> => {
      while (!state.stop && unexpected.length === 0) {
        const url = servers[chain.server]!.url;
        chain.inFlight = true;
        let reply: Reply;
        try {
          reply = await post(url, '/api/token/refresh/', { refresh: chain.token });
        } catch (error) {
          // No answer: only the killed instance may fail that way, and only once it was killed.
          if (!(state.killed && chain.server === VICTIM)) unexpected.push(`chain ${chain.id} on ${chain.server}: ${(error as Error).message} ${String((error as Error).cause ?? '')}`);
          return;
        }
        if (reply.status !== 200 || typeof reply.body?.refresh !== 'string') {
          unexpected.push(`chain ${chain.id} on ${chain.server}: ${reply.status} ${JSON.stringify(reply.body)}`);
          return;
        }
        // Answered 200: acknowledged.
        chain.inFlight = false;
        rotated.push({ token: chain.token, server: chain.server });
        chain.token = reply.body.refresh;
        perServer[chain.server]!++;
        if (state.killed) afterKill[chain.server]!++;
      }
    };

    const loops = chains.map(run);
    const loaded = await eventually(async () => unexpected.length > 0 || perServer.every((n) => n >= 15), 30_000);
    assert.ok(loaded, `too little load: ${perServer.join(' / ')} rotations`);
    state.killed = true;
    const victim = servers[VICTIM]!;
    process.kill(victim.child.pid!, 'SIGKILL');
    const exit = await victim.exited;
    assert.equal(exit.signal, 'SIGKILL');
    // The survivors keep rotating their chains.
    const survived = await eventually(async () => unexpected.length > 0 || (afterKill[0]! >= 30 && afterKill[1]! >= 30), 30_000);
    state.stop = true;
    await Promise.all(loops);
    assert.deepEqual(unexpected, [], 'only 200s, or no answer from the killed instance, are expected');
    assert.ok(survived, `after the kill: A ${afterKill[0]}, B ${afterKill[1]} rotations`);

    // Every acknowledged rotation holds: the spent tokens are refused by a surviving instance.
    const failures: string[] = [];
    await eachLimit(rotated, 16, async ({ token, server }) => {
      const reply = await post(servers[server === 0 ? 1 : 0]!.url, '/api/token/verify/', { token });
      if (reply.status !== 401 || JSON.stringify(reply.body) !== JSON.stringify(BLACKLISTED)) failures.push(`rotated on ${server}: ${reply.status} ${JSON.stringify(reply.body)}`);
    });
    assert.deepEqual(failures, [], 'acknowledged rotations lost');

    // The chains' current tokens: valid, unless C was killed with a request on one in flight (then either).
    let inFlight = 0;
    for (const chain of chains) {
      const reply = await post(A(), '/api/token/verify/', { token: chain.token });
      if (chain.server === VICTIM && chain.inFlight) {
        inFlight++;
        assert.ok(reply.status === 200 || JSON.stringify(reply.body) === JSON.stringify(BLACKLISTED), `in-flight chain ${chain.id}: ${reply.status}`);
      } else {
        assert.deepEqual(sb(reply), { status: 200, body: {} }, `chain ${chain.id} on ${chain.server}`);
      }
    }
    console.log(`# kill -9 under load: ${rotated.length} acknowledged rotations (A ${perServer[0]}, B ${perServer[1]}, C ${perServer[2]}); after the kill A ${afterKill[0]}, B ${afterKill[1]}; ${inFlight} in flight on C at the kill`);

    // A new C on the same database picks up where the old one left off.
    servers[VICTIM] = await start();
    const survivor = chains.find((chain) => chain.server === 0)!;
    assert.equal((await post(C(), '/api/token/refresh/', { refresh: survivor.token })).status, 200);
  });

  it('database outage: refresh answers 503 and issues nothing, /readyz 503; once it is back both work again without a restart', async () => {
    const pair = await login(A(), 'alice');
    const pids = servers.map((server) => server.child.pid);
    await proxy.stop();
    try {
      for (const server of servers) {
        const refresh = await post(server.url, '/api/token/refresh/', { refresh: pair.refresh });
        assert.deepEqual(sb(refresh), { status: 503, body: UNAVAILABLE }, `refresh on ${server.url}`);
        assert.deepEqual(sb(await call(server.url, 'GET', '/readyz')), { status: 503, body: UNAVAILABLE });
        assert.deepEqual(sb(await post(server.url, '/api/token/', { username: 'alice', password: PASSWORD })), { status: 503, body: UNAVAILABLE });
        assert.deepEqual(sb(await post(server.url, '/api/token/blacklist/', { refresh: pair.refresh })), { status: 503, body: UNAVAILABLE });
        // A protected route with the user lookup (the server's default) needs the database too.
        assert.deepEqual(sb(await call(server.url, 'GET', '/api/me/', { bearer: pair.access })), { status: 503, body: UNAVAILABLE });
        // Liveness is not readiness: the process is fine, only its database is away.
        assert.deepEqual(sb(await call(server.url, 'GET', '/healthz')), { status: 200, body: { status: 'ok' } });
      }
    } finally {
      await proxy.start();
    }
    for (const server of servers) {
      const ready = await eventually(async () => (await call(server.url, 'GET', '/readyz')).status === 200, 20_000);
      assert.ok(ready, `${server.url} did not become ready again`);
    }
    // Nothing was spent during the outage: the same refresh token rotates once, on any instance.
    let refresh = pair.refresh;
    for (const server of servers) {
      const reply = await post(server.url, '/api/token/refresh/', { refresh });
      assert.equal(reply.status, 200, `${server.url}: ${JSON.stringify(reply.body)}`);
      refresh = reply.body.refresh;
    }
    assert.deepEqual(servers.map((server) => server.child.pid), pids, 'no server was restarted');
    assert.ok(servers.every(isAlive));
  });

  it('every instance shuts down cleanly on SIGTERM, never printed the URL password, and wrote nothing to --data-dir', async () => {
    for (const server of servers) {
      const { code, signal } = await stopServer(server);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, server.output().stderr);
      const { stdout, stderr } = server.output();
      assert.ok(!`${stdout}${stderr}`.includes(URL_PASSWORD), 'the URL password was printed');
    }
    assert.equal(existsSync(unusedDir), false);
  });
});

describe('the command line on PostgreSQL', { ...pgSuite, timeout: 120_000 }, () => {
  const db = testDatabases();
  let dir: ReturnType<typeof tempDir> | undefined;
  before(() => {
    dir = tempDir('tokenpair-cli-pg-');
  });
  after(() => dir?.cleanup());
  /** The URL with a password the trusting test cluster ignores: it must never be printed. */
  const url = () => {
    const u = new URL(db.url);
    u.password = URL_PASSWORD;
    return u.toString();
  };
  const cli = (args: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
    runCli([...args, '--data-dir', join(dir!.path, 'data')], { input: options.input, env: { TOKENPAIR_SIGNING_KEY: SIGNING_KEY, TOKENPAIR_DATABASE_URL: url(), ...options.env } });

  /** Runs `args` and checks exit 0 and that the password appears nowhere. */
  async function ok(args: string[], input?: string): Promise<string> {
    const result = await cli(args, { input });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!`${result.stdout}${result.stderr}`.includes(URL_PASSWORD), 'the URL password was printed');
    return result.stdout;
  }

  it('migrate (TOKENPAIR_DATABASE_URL) creates the schema once, then reports it up to date; the password is not shown', async () => {
    assert.match(await ok(['migrate']), /^migrated PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:\d+\/tp_test_[0-9a-f]+ from schema version 0 to \d+\n$/);
    assert.match(await ok(['migrate']), /^PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:\d+\/tp_test_[0-9a-f]+ is up to date \(schema version \d+\)\n$/);
    const rows = await query<{ n: string }>(db.url, 'SELECT COUNT(*) AS n FROM schema_migrations');
    assert.ok(Number(rows[0]!.n) >= 1);
  });

  it('check names the PostgreSQL store, without the password; --database-url wins over the variable', async () => {
    const out = await ok(['check']);
    assert.match(out, /^database: PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:\d+\/tp_test_[0-9a-f]+$/m);
    const flag = await cli(['check', '--database-url', 'postgresql://other@db.example:5433/x?sslmode=require&password=hunter2']);
    assert.equal(flag.code, 0, flag.stderr);
    assert.match(flag.stdout, /^database: PostgreSQL postgresql:\/\/other@db\.example:5433\/x\?sslmode=require&password=redacted$/m);
    assert.ok(!flag.stdout.includes('hunter2'));
  });

  it('a URL that is not postgres:// is refused (2) without echoing it', async () => {
    for (const bad of ['mysql://root:hunter2@db/x', 'hunter2 is not a url']) {
      const result = await cli(['createuser', 'zed', '--password-stdin'], { input: 'pw\n', env: { TOKENPAIR_DATABASE_URL: bad } });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^tokenpair: invalid configuration: --database-url /);
      assert.ok(!result.stderr.includes('hunter2'));
    }
  });

  it('an unreachable database: exit 1 with a message, the password not shown', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await cli(['sessions', 'nobody'], { env: { TOKENPAIR_DATABASE_URL: `postgres://u:${URL_PASSWORD}@127.0.0.1:${port}/x` } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^tokenpair: the store is unavailable: cannot connect to PostgreSQL: .*ECONNREFUSED/);
    assert.ok(!result.stderr.includes(URL_PASSWORD));
  });

  it('createuser, changepassword, deactivate/activate, sessions and revoke work on the shared database', async () => {
    assert.match(await ok(['createuser', 'erin', '--password-stdin'], `${PASSWORD}\n`), /^created user "erin" \(id \d+\)\n$/);
    const duplicate = await cli(['createuser', 'erin', '--password-stdin'], { input: `${PASSWORD}\n` });
    assert.equal(duplicate.code, 1);
    assert.match(await ok(['sessions', 'erin']), /no live sessions/);
    const [user] = await query<{ id: string; is_active: boolean }>(db.url, 'SELECT id, is_active FROM users WHERE username = $1', ['erin']);
    assert.equal(user!.is_active, true);
    assert.match(await ok(['deactivate', 'erin']), /is now inactive/);
    assert.match(await ok(['activate', 'erin']), /is now active/);
    // A session, as a login on any instance makes one.
    const now = Math.floor(Date.now() / 1000);
    await query(db.url, "INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at, user_agent, address) VALUES ($1, $2, $3, $3, $4, 'cli-agent', '10.0.0.1')", ['f'.repeat(32), user!.id, now, now + 3600]);
    assert.match(await ok(['sessions', 'erin']), /f{32} .*10\.0\.0\.1\s+cli-agent/);
    assert.equal(await ok(['revoke', 'erin', '--all']), 'revoked 1 session of "erin"\n');
    assert.match(await ok(['changepassword', 'erin', '--password-stdin'], 'a new password 4\n'), /changed the password of "erin"/);
  });

  it('serve --database-pool-size (or TOKENPAIR_DATABASE_POOL_SIZE) caps the connections one server opens', async () => {
    await ok(['createuser', 'pool-user', '--password-stdin'], `${PASSWORD}\n`);
    const cases: Array<{ name: string; args: string[]; env: Record<string, string>; size: number }> = [
      { name: 'tp-pool-flag', args: ['--database-pool-size', '2'], env: {}, size: 2 },
      { name: 'tp-pool-env', args: [], env: { TOKENPAIR_DATABASE_POOL_SIZE: '5' }, size: 5 },
    ];
    for (const { name, args, env, size } of cases) {
      // A URL parameter wins over the store's own application_name: this server's connections are told apart.
      const named = new URL(url());
      named.searchParams.set('application_name', name);
      const server = await startServer(['--data-dir', join(dir!.path, 'data'), '--log-level', 'warn', ...args], {
        env: { TOKENPAIR_SIGNING_KEY: SIGNING_KEY, TOKENPAIR_DATABASE_URL: named.toString(), ...env },
      });
      try {
        const { refresh } = (await post(server.url, '/api/token/', { username: 'pool-user', password: PASSWORD })).body;
        // 40 verifications at once, each a blacklist lookup, held up by a lock on the table: every
        // connection of the pool is busy, so the pool opens all it may, and no more.
        const replies = await withClient(db.url, async (locker) => {
          await locker.query('BEGIN');
          await locker.query('LOCK TABLE issued_tokens IN ACCESS EXCLUSIVE MODE');
          const pending = Promise.all(Array.from({ length: 40 }, () => post(server.url, '/api/token/verify/', { token: refresh })));
          let open = 0;
          for (let waited = 0; waited < 3000 && open < size + 1; waited += 100) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            const [row] = await query<{ n: string }>(db.url, 'SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = $1', [name]);
            open = Number(row!.n);
            if (open === size && waited >= 1000) break;
          }
          assert.equal(open, size, name);
          await locker.query('COMMIT');
          return pending;
        });
        assert.deepEqual(replies.map(sb), Array.from({ length: 40 }, () => ({ status: 200, body: {} })));
      } finally {
        assert.equal((await stopServer(server)).code, 0);
      }
    }
  });

  it('flushexpiredtokens deletes expired records in batches and leaves live ones', async () => {
    const now = Math.floor(Date.now() / 1000);
    await query(db.url, 'INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at) VALUES ($1, $2, $3, $3, $3), ($4, $2, $3, $3, $5)', ['old-family', '99', now - 7200, 'live-family', now + 3600]);
    // 2,500 expired tokens: more than one batch of 1,000.
    await query(db.url, "INSERT INTO issued_tokens (jti, family_id, user_id, token_type, issued_at, expires_at) SELECT 'old-' || i, 'old-family', '99', 'refresh', $1, $1 FROM generate_series(1, 2500) AS i", [now - 7200]);
    await query(db.url, "INSERT INTO issued_tokens (jti, family_id, user_id, token_type, issued_at, expires_at) VALUES ('live', 'live-family', '99', 'refresh', $1, $2)", [now, now + 3600]);
    assert.equal(await ok(['flushexpiredtokens']), 'flushed 2501 expired records\n');
    assert.deepEqual(await query(db.url, "SELECT jti FROM issued_tokens WHERE user_id = '99'"), [{ jti: 'live' }]);
    assert.deepEqual(await query(db.url, "SELECT id FROM token_families WHERE user_id = '99'"), [{ id: 'live-family' }]);
    assert.equal(await ok(['flushexpiredtokens']), 'flushed 0 expired records\n');
  });
});
