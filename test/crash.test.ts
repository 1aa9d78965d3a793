/**
 * R2, durable before acknowledge: `tokenpair serve` (a real child process on a real SQLite file) is
 * killed with SIGKILL by its PID while clients rotate refresh tokens and blacklist them, and is
 * restarted on the same data directory. Then what the clients were told is replayed:
 *
 * - every refresh token whose rotation was answered 200 is refused ("Token is blacklisted");
 * - every refresh token whose blacklisting was answered 200 is refused;
 * - the latest successor of every chain with nothing in flight at the kill still verifies;
 * - a request in flight at the kill may or may not have committed: both outcomes are accepted
 *   (and counted), never anything else.
 *
 * The replay uses POST /api/token/verify/, which reports spent and revoked refresh tokens as
 * blacklisted without revoking their family (a refresh replay would), so the chains go on across
 * the cycles. At the end the whole ledger is checked once more, and a sample through the refresh
 * endpoint too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, startServer, stopServer, tempDir, type ServerProcess } from './helpers/cli-process.js';

const PASSWORD = 'crash test password 9';
const USERS = ['carol', 'dave'];
/** Concurrent chains (sessions), each rotating its own refresh token. */
const CHAINS = 10;
const CYCLES = 12;
/** Of a chain's operations, this share blacklists its current token (the chain then logs in again). */
const BLACKLIST_SHARE = 0.08;
/** Load before the kill: a random delay in this range, and at least this many acknowledged rotations. */
const LOAD_MS = [100, 400] as const;
const MIN_ROTATIONS_PER_CYCLE = 5;
const REQUEST_TIMEOUT_MS = 30_000;
const BLACKLISTED = { detail: 'Token is blacklisted', code: 'token_not_valid' };

interface Reply {
  status: number;
  body: any;
}

async function post(url: string, path: string, body: unknown): Promise<Reply> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

type Op = 'login' | 'refresh' | 'blacklist';

interface Chain {
  id: number;
  username: string;
  /** The chain's current refresh token: the latest one the server handed out and nothing spent since. */
  token: string | null;
  /** The request that had not been answered when the server died. */
  inFlight: { op: Op; token: string | null } | null;
}

/** What the clients were told. */
interface Ledger {
  /** Refresh tokens whose rotation was acknowledged (200): they must stay refused; and the successor handed out. */
  rotated: Array<{ token: string; successor: string; cycle: number }>;
  /** Refresh tokens whose blacklisting was acknowledged (200): they must stay refused. */
  blacklisted: Array<{ token: string; cycle: number }>;
}

describe('kill -9 under refresh load, restart on the same data', { timeout: 240_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let dataArgs: string[];
  let server: ServerProcess | undefined;

  before(async () => {
    dir = tempDir('tokenpair-crash-');
    dataArgs = ['--data-dir', dir.path];
    const keys = await runCli(['keys', 'generate', ...dataArgs]);
    assert.equal(keys.code, 0, keys.stderr);
    for (const username of USERS) {
      const created = await runCli(['createuser', username, '--password-stdin', ...dataArgs], { input: `${PASSWORD}\n` });
      assert.equal(created.code, 0, created.stderr);
    }
  });

  after(async () => {
    // Even after a failure: no child outlives the test, and the data directory goes.
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    dir?.cleanup();
  });

  // Request logs off: thousands of lines would only slow the child and the test down. The login
  // throttle off: a login killed in flight keeps the attempt it took (it counts as a failure, by
  // design), and a dozen kills would throttle these two users for the window.
  const start = () =>
    startServer([...dataArgs, '--log-level', 'warn'], { env: { TOKENPAIR_LOGIN_THROTTLE_PER_USERNAME: '0', TOKENPAIR_LOGIN_THROTTLE_PER_ADDRESS: '0' } });

  it(`${CYCLES} kill/restart cycles: every acknowledged rotation and blacklist survives`, async () => {
    const started = Date.now();
    const ledger: Ledger = { rotated: [], blacklisted: [] };
    const chains: Chain[] = Array.from({ length: CHAINS }, (_, id) => ({ id, username: USERS[id % USERS.length]!, token: null, inFlight: null }));
    const totals = { inFlight: 0, committed: 0, notCommitted: 0 };
    server = await start();

    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const url = server.url;
      const state = { killed: false, rotations: 0, blacklists: 0 };
      /** Answers no client should ever get (any status but 200 before the kill). */
      const unexpected: string[] = [];

      const runChain = async (chain: Chain): Promise<void> => {
        while (!state.killed && unexpected.length === 0) {
          const op: Op = chain.token === null ? 'login' : Math.random() < BLACKLIST_SHARE ? 'blacklist' : 'refresh';
          const token = chain.token;
          chain.inFlight = { op, token };
          let reply: Reply;
          try {
            if (op === 'login') reply = await post(url, '/api/token/', { username: chain.username, password: PASSWORD });
            else if (op === 'refresh') reply = await post(url, '/api/token/refresh/', { refresh: token });
            else reply = await post(url, '/api/token/blacklist/', { refresh: token });
          } catch (error) {
            // No answer: the server was killed with this request in flight (anything else is a failure).
            if (!state.killed) unexpected.push(`chain ${chain.id} ${op}: ${(error as Error).message} ${String((error as Error).cause ?? '')}`);
            return;
          }
          if (reply.status !== 200) {
            unexpected.push(`chain ${chain.id} ${op}: ${reply.status} ${JSON.stringify(reply.body)}`);
            return;
          }
          // Answered 200: acknowledged, whatever happens next.
          chain.inFlight = null;
          if (op === 'login') {
            chain.token = reply.body.refresh;
          } else if (op === 'refresh') {
            if (typeof reply.body?.refresh !== 'string') {
              unexpected.push(`chain ${chain.id} refresh: 200 without a refresh token`);
              return;
            }
            ledger.rotated.push({ token: token!, successor: reply.body.refresh, cycle });
            state.rotations++;
            chain.token = reply.body.refresh;
          } else {
            ledger.blacklisted.push({ token: token!, cycle });
            state.blacklists++;
            chain.token = null;
          }
        }
      };

      const cycleStarted = Date.now();
      const loops = chains.map(runChain);
      const delay = LOAD_MS[0] + Math.floor(Math.random() * (LOAD_MS[1] - LOAD_MS[0]));
      await sleep(delay);
      // On a slow machine the first requests of a cycle may take long: wait for some real load.
      while (state.rotations < MIN_ROTATIONS_PER_CYCLE && unexpected.length === 0 && Date.now() - cycleStarted < 30_000) await sleep(5);

      // Kill first and let every client loop end, then judge: a failed assertion leaves no loop running.
      state.killed = true;
      const loadMs = Date.now() - cycleStarted;
      const killed: ServerProcess = server;
      process.kill(killed.child.pid!, 'SIGKILL');
      const exit = await killed.exited;
      await Promise.all(loops);
      assert.deepEqual(unexpected, [], `cycle ${cycle}: unexpected answers (only 200s, or no answer at the kill, are expected)`);
      assert.ok(state.rotations >= MIN_ROTATIONS_PER_CYCLE, `cycle ${cycle}: only ${state.rotations} rotations in 30 s`);
      assert.equal(exit.signal, 'SIGKILL');
      const inFlight = chains.filter((chain) => chain.inFlight !== null).length;

      server = await start();
      const restarted = server.url;

      // Every rotation and blacklist acknowledged in this cycle holds.
      const ofCycle = [...ledger.rotated, ...ledger.blacklisted].filter((entry) => entry.cycle === cycle);
      const failures: string[] = [];
      await eachLimit(ofCycle, 16, async ({ token }) => {
        const reply = await post(restarted, '/api/token/verify/', { token });
        if (reply.status !== 401 || JSON.stringify(reply.body) !== JSON.stringify(BLACKLISTED)) {
          const kind = ledger.rotated.some((entry) => entry.token === token) ? 'rotated-out' : 'blacklisted';
          failures.push(`${kind} token answered ${reply.status} ${JSON.stringify(reply.body)}`);
        }
      });
      assert.deepEqual(failures, [], `cycle ${cycle}: acknowledged writes lost after kill -9`);

      // The chains' current tokens: valid unless a request on them was in flight.
      let committed = 0;
      let notCommitted = 0;
      let successors = 0;
      for (const chain of chains) {
        const pending = chain.inFlight;
        chain.inFlight = null;
        if (chain.token === null) continue; // it had blacklisted its token, or a login was in flight
        const reply = await post(restarted, '/api/token/verify/', { token: chain.token });
        if (!pending || pending.op === 'login') {
          assert.deepEqual(reply, { status: 200, body: {} }, `cycle ${cycle}, chain ${chain.id}: the latest acknowledged successor no longer verifies`);
          successors++;
        } else if (reply.status === 200) {
          notCommitted++; // the in-flight refresh or blacklist never committed: the token lives on
        } else {
          assert.deepEqual(reply, { status: 401, body: BLACKLISTED }, `cycle ${cycle}, chain ${chain.id}: in-flight ${pending.op}`);
          committed++; // it committed, but the answer was lost: this chain logs in again
          chain.token = null;
        }
      }
      totals.inFlight += inFlight;
      totals.committed += committed;
      totals.notCommitted += notCommitted;
      console.log(
        `# cycle ${cycle}: killed after ${loadMs} ms of load; ${state.rotations} acknowledged rotations and ${state.blacklists} blacklists all refused after restart; ` +
          `${successors} successors valid; ${inFlight} in flight (${committed} committed, ${notCommitted} not, ${inFlight - committed - notCommitted} logins or unsent)`,
      );
    }

    // The kills did land under load (else the in-flight branches above were never exercised).
    assert.ok(totals.inFlight > 0, 'no request was ever in flight at a kill');

    // The whole ledger once more: later crashes lost nothing of earlier cycles either.
    const failures: string[] = [];
    const everything = [...ledger.rotated, ...ledger.blacklisted];
    await eachLimit(everything, 16, async ({ token, cycle }) => {
      const reply = await post(server!.url, '/api/token/verify/', { token });
      if (reply.status !== 401 || JSON.stringify(reply.body) !== JSON.stringify(BLACKLISTED)) failures.push(`cycle ${cycle}: ${reply.status} ${JSON.stringify(reply.body)}`);
    });
    assert.deepEqual(failures, [], 'acknowledged writes lost across later crashes');

    // The current successors still refresh ...
    for (const chain of chains) {
      if (chain.token === null) continue;
      const reply = await post(server.url, '/api/token/refresh/', { refresh: chain.token });
      assert.equal(reply.status, 200, `chain ${chain.id}: ${JSON.stringify(reply.body)}`);
    }
    // ... and a sample of the spent ones is refused by the refresh endpoint itself (this revokes families: last).
    const sample = [...ledger.rotated.filter((_, i) => i % 25 === 0), ...ledger.blacklisted.filter((_, i) => i % 5 === 0)];
    for (const { token, cycle } of sample) {
      assert.deepEqual(await post(server.url, '/api/token/refresh/', { refresh: token }), { status: 401, body: BLACKLISTED }, `replay of a token of cycle ${cycle}`);
    }

    const stopped = await stopServer(server);
    assert.equal(stopped.code, 0, server.output().stderr);

    // The HTTP surface cannot tell a recorded token from a never-seen one (both verify), so look in the
    // file: every acknowledged successor was recorded in the transaction that spent its predecessor.
    const jti = (token: string) => String(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).jti);
    const db = new Database(join(dir.path, 'tokenpair.sqlite3'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT used_at FROM issued_tokens WHERE jti = ?');
      const missing = ledger.rotated.filter(({ successor }) => row.get(jti(successor)) === undefined);
      assert.deepEqual(missing.map(({ cycle }) => `a successor handed out in cycle ${cycle} is not recorded`), []);
      const unspent = ledger.rotated.filter(({ token }) => (row.get(jti(token)) as { used_at: number | null } | undefined)?.used_at == null);
      assert.deepEqual(unspent.map(({ cycle }) => `a token rotated out in cycle ${cycle} is not marked used`), []);
    } finally {
      db.close();
    }
    console.log(
      `# ${CYCLES} cycles, ${Date.now() - started} ms: ${ledger.rotated.length} acknowledged rotations and ${ledger.blacklisted.length} acknowledged blacklists re-checked after the last restart; ` +
        `${totals.inFlight} requests in flight at the kills (${totals.committed} had committed, ${totals.notCommitted} had not); ${sample.length} refresh replays refused`,
    );
  });
});
