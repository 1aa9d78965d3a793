/**
 * S8 / R1 across processes: two `tokenpair serve` processes (real children, real HTTP over
 * 127.0.0.1) on one data directory, so one SQLite file and one key file. Concurrent refreshes of
 * one refresh token split over both processes: exactly one wins, every loser gets
 * "Token is blacklisted", and the winner's successor works. Blacklist and logout-all through one
 * process hold in the other.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startServer, stopServer, tempDir, type ServerProcess } from './helpers/cli-process.js';

const PASSWORD = 'multiprocess test password 7';
const ROUNDS = 50;
const PARALLEL = 8;
const REQUEST_TIMEOUT_MS = 30_000;
const BLACKLISTED = { detail: 'Token is blacklisted', code: 'token_not_valid' };
const PASSWORD_CHANGED = { detail: "The user's password has been changed.", code: 'password_changed' };

interface Reply {
  status: number;
  body: any;
}

async function post(url: string, path: string, body: unknown, bearer?: string): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const response = await fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function get(url: string, path: string, bearer: string): Promise<Reply> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${bearer}` }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const isAlive = (server: ServerProcess | undefined): server is ServerProcess => !!server && server.child.exitCode === null && server.child.signalCode === null;

describe('two server processes on one SQLite file', { timeout: 180_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;

  before(async () => {
    dir = tempDir('tokenpair-multiprocess-');
    const dataArgs = ['--data-dir', dir.path];
    // The key file and the schema exist before either server starts: neither start races the other.
    const keys = await runCli(['keys', 'generate', ...dataArgs]);
    assert.equal(keys.code, 0, keys.stderr);
    for (const name of ['alice', 'bob']) {
      const created = await runCli(['createuser', name, '--password-stdin', ...dataArgs], { input: `${PASSWORD}\n` });
      assert.equal(created.code, 0, created.stderr);
    }
    // Request logs off: thousands of lines would only slow the children and the test down.
    [a, b] = await Promise.all([startServer([...dataArgs, '--log-level', 'warn']), startServer([...dataArgs, '--log-level', 'warn'])]);
    assert.notEqual(a.url, b.url);
  });

  after(async () => {
    // Even after a failure: no child outlives the test, and the data directory goes.
    await Promise.all([a, b].filter(isAlive).map((server) => stopServer(server, 5000)));
    dir?.cleanup();
  });

  async function login(server: ServerProcess, username: string): Promise<{ access: string; refresh: string }> {
    const reply = await post(server.url, '/api/token/', { username, password: PASSWORD });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  }

  it(`${ROUNDS} rounds of ${PARALLEL} parallel refreshes of one token over both processes: exactly one 200, the losers "Token is blacklisted", the successor works`, async () => {
    const servers = [a!, b!];
    let pair = await login(a!, 'alice');
    const started = Date.now();
    const winsByServer = [0, 0];
    for (let round = 0; round < ROUNDS; round++) {
      const refresh = pair.refresh;
      // Interleaved A, B, A, B, …: 4 + 4, all in flight at once.
      const replies = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => post(servers[i % 2]!.url, '/api/token/refresh/', { refresh })));
      const winners = replies.flatMap((reply, i) => (reply.status === 200 ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} refreshes succeeded: ${JSON.stringify(replies.map((r) => r.status))}`);
      for (const [i, reply] of replies.entries()) {
        if (i === winners[0]) continue;
        assert.equal(reply.status, 401, `round ${round}, request ${i}: ${JSON.stringify(reply)}`);
        assert.deepEqual(reply.body, BLACKLISTED, `round ${round}, request ${i}`);
      }
      const winner = winners[0]!;
      winsByServer[winner % 2]!++;
      const next = replies[winner]!.body as { access: string; refresh: string };
      assert.deepEqual(Object.keys(next).sort(), ['access', 'refresh']);
      assert.notEqual(next.refresh, refresh);
      // The spent token is refused by both processes (verify does not revoke anything).
      for (const server of servers) assert.deepEqual(await post(server.url, '/api/token/verify/', { token: refresh }), { status: 401, body: BLACKLISTED });
      // The new access token works on the other process; the new refresh token is the next round's.
      const other = servers[(winner + 1) % 2]!;
      assert.deepEqual(await get(other.url, '/api/me/', next.access), { status: 200, body: { id: '1', username: 'alice' } });
      pair = next;
    }
    // The last successor still refreshes: the losers never revoked the family (reuse grace period).
    const last = await post(b!.url, '/api/token/refresh/', { refresh: pair.refresh });
    assert.equal(last.status, 200, JSON.stringify(last.body));
    console.log(`# ${ROUNDS} rounds x ${PARALLEL} parallel refreshes: ${ROUNDS} wins (A ${winsByServer[0]}, B ${winsByServer[1]}), ${ROUNDS * (PARALLEL - 1)} "Token is blacklisted", ${Date.now() - started} ms`);
  });

  it('a refresh token blacklisted through A is refused by B (and blacklisting it again through B answers "Token is blacklisted")', async () => {
    const pair = await login(a!, 'alice');
    assert.deepEqual(await post(b!.url, '/api/token/verify/', { token: pair.refresh }), { status: 200, body: {} });
    assert.deepEqual(await post(a!.url, '/api/token/blacklist/', { refresh: pair.refresh }), { status: 200, body: {} });
    assert.deepEqual(await post(b!.url, '/api/token/verify/', { token: pair.refresh }), { status: 401, body: BLACKLISTED });
    assert.deepEqual(await post(b!.url, '/api/token/refresh/', { refresh: pair.refresh }), { status: 401, body: BLACKLISTED });
    assert.deepEqual(await post(b!.url, '/api/token/blacklist/', { refresh: pair.refresh }), { status: 401, body: BLACKLISTED });
  });

  it('logout-all through A: B refuses every refresh token and access token of the user, other users are untouched', async () => {
    const phone = await login(a!, 'bob');
    const laptop = await login(b!, 'bob');
    const rotated = await post(b!.url, '/api/token/refresh/', { refresh: laptop.refresh });
    assert.equal(rotated.status, 200);
    const alice = await login(b!, 'alice');

    const reply = await fetch(`${a!.url}/api/logout/all/`, { method: 'POST', headers: { authorization: `Bearer ${phone.access}` }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    assert.equal(reply.status, 205, await reply.text());

    for (const refresh of [phone.refresh, rotated.body.refresh as string]) {
      assert.deepEqual(await post(b!.url, '/api/token/verify/', { token: refresh }), { status: 401, body: BLACKLISTED });
      assert.deepEqual(await post(b!.url, '/api/token/refresh/', { refresh }), { status: 401, body: PASSWORD_CHANGED });
    }
    for (const access of [phone.access, rotated.body.access as string]) {
      assert.deepEqual(await get(b!.url, '/api/me/', access), { status: 401, body: PASSWORD_CHANGED });
    }
    const untouched = await post(b!.url, '/api/token/refresh/', { refresh: alice.refresh });
    assert.equal(untouched.status, 200, JSON.stringify(untouched.body));
    // A fresh login of the user works through either process.
    const fresh = await login(b!, 'bob');
    assert.equal((await post(a!.url, '/api/token/refresh/', { refresh: fresh.refresh })).status, 200);
  });

  it('both processes shut down cleanly on SIGTERM', async () => {
    for (const server of [a!, b!]) {
      const { code, signal } = await stopServer(server);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, server.output().stderr);
    }
  });
});
