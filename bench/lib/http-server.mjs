/**
 * The server under test for bench/http-*.mjs, run as a child process (`fork`) so that it never
 * shares an event loop with the load generator. Configured by one JSON environment variable,
 * TOKENPAIR_BENCH_SERVER:
 *
 *   { kind: 'floor', secret }
 *       A bare Fastify app with one route, GET /api/me/: the raw floor of a bearer check (split,
 *       createHmac, timingSafeEqual, JSON.parse), `{id, username}` from the claims. No other checks.
 *   { kind: 'tokenpair', secret, dataDir, username, password, userLookup, store: 'sqlite' | 'naive', logger: false | 'info' }
 *       The standalone server: `buildServer` over a `SqliteStore` (synchronous=FULL) in `dataDir`,
 *       with the server defaults (rotation, blacklist after rotation, reuse detection, the security
 *       stamp in tokens), one user `username` (argon2id hash of `password`). `dist`: another build
 *       of the library to serve (default: this checkout's dist/), for before/after comparisons.
 *       `hasherConcurrency`: the password hasher's `maxConcurrent` (default: the library's, 4). `store: 'naive'` replaces only the store's `consume`
 *       (the write of every refresh) by one BEGIN IMMEDIATE … COMMIT per call on the main thread.
 *
 * It listens on 127.0.0.1, port 0, and talks to its parent over the IPC channel only:
 *   → { type: 'listening', port }                         once, when ready
 *   ← { id, type: 'begin' }      → { id }                 starts the CPU and event-loop counters
 *   ← { id, type: 'end' }        → { id, cpu, elapsedMs, loop, main, memory }   (main: the main thread's CPU and run-queue wait)
 *   ← { id, type: 'memory', gc } → { id, memory }         process.memoryUsage(), after a full GC if gc
 *   ← { id, type: 'close' }                               closes the server and the store, then exits
 * No debug route is added to the server: the counters never travel over HTTP.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import Fastify from 'fastify';
import { ROOT } from './harness.mjs';
import { openNaiveConsume } from './naive-consume.mjs';

const config = JSON.parse(process.env.TOKENPAIR_BENCH_SERVER ?? 'null');
if (!config || typeof process.send !== 'function') {
  console.error('bench/lib/http-server.mjs is started by bench/http.mjs (fork, TOKENPAIR_BENCH_SERVER)');
  process.exit(1);
}
await main(config);

async function main(config) {
  const { app, close } = config.kind === 'floor' ? floorServer(config) : await tokenpairServer(config);
  await app.listen({ host: '127.0.0.1', port: 0 });

  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let main0 = mainThread();
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  const answer = (message, body = {}) => process.send({ id: message.id, ...body });

  process.on('message', async (message) => {
    switch (message.type) {
      case 'begin':
        histogram.disable();
        histogram.reset();
        histogram.enable();
        main0 = mainThread();
        cpu0 = process.cpuUsage();
        t0 = performance.now();
        answer(message);
        break;
      case 'end': {
        const elapsedMs = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const main1 = mainThread();
        histogram.disable();
        const ms = (ns) => ns / 1e6;
        const loop = { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), mean: ms(histogram.mean) };
        const main = main0 && main1 ? { cpuMs: (main1.cpuNs - main0.cpuNs) / 1e6, waitMs: (main1.waitNs - main0.waitNs) / 1e6 } : null;
        answer(message, { cpu, elapsedMs, loop, main, memory: process.memoryUsage() });
        break;
      }
      case 'memory': {
        if (message.gc && typeof globalThis.gc === 'function') globalThis.gc();
        // The V8 heap's spaces as committed (space_size): where a step in RSS comes from.
        const spaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size]));
        answer(message, { memory: { ...process.memoryUsage(), spaces } });
        break;
      }
      case 'close':
        await close();
        process.disconnect();
        // Exit explicitly so that --cpu-prof writes its profile even if a handle lingers.
        process.exit(0);
        break;
    }
  });
  process.on('disconnect', () => process.exit(0)); // the parent went away: never outlive it
  process.send({ type: 'listening', port: app.server.address().port });
}

/**
 * The main thread's scheduler counters (Linux): time on a CPU, and time runnable but waiting for
 * one. The wait is what the other threads (argon2id on the libuv pool) and processes cost the event
 * loop. `null` where /proc has no schedstat.
 */
function mainThread() {
  try {
    const [cpuNs, waitNs] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { cpuNs, waitNs };
  } catch {
    return null;
  }
}

/** The raw floor: no header, alg, claim or shape checks. */
function floorServer({ secret }) {
  const key = Buffer.from(secret, 'utf8');
  const app = Fastify();
  const unauthorized = (reply) => reply.code(401).send({ detail: 'Given token not valid for any token type', code: 'token_not_valid' });
  app.get('/api/me/', async (request, reply) => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return unauthorized(reply);
    const token = header.slice(7);
    const first = token.indexOf('.');
    const second = token.lastIndexOf('.');
    const signature = Buffer.from(token.slice(second + 1), 'base64url');
    const expected = createHmac('sha256', key).update(token.slice(0, second)).digest();
    if (signature.length !== expected.length || !timingSafeEqual(expected, signature)) return unauthorized(reply);
    const claims = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'));
    return { id: claims.user_id, username: typeof claims.username === 'string' ? claims.username : '' };
  });
  return { app, close: () => app.close() };
}

async function tokenpairServer({ secret, dataDir, username, password, userLookup, store: storeKind = 'sqlite', logger = false, hasherConcurrency, extraUsers = 0, dist: distDir = join(ROOT, 'dist') }) {
  const dist = (path) => import(join(distDir, path));
  const [{ AuthService, createPasswordHasher }, { buildServer }, { SqliteStore }, { SERVER_DEFAULTS }] = await Promise.all([
    dist('index.js'),
    dist('server/app.js'),
    dist('store/sqlite.js'),
    dist('server/config.js'),
  ]);
  const file = join(dataDir, 'tokenpair.sqlite3');
  const sqlite = await SqliteStore.open(file, { synchronous: 'FULL' });
  const hasher = createPasswordHasher(hasherConcurrency ? { maxConcurrent: hasherConcurrency } : {});
  const passwordHash = await hasher.hash(password);
  await sqlite.createUser({ username, passwordHash, isActive: true });
  // `${username}-1` … with the same password: logins of many users at once (one user's would be throttled).
  for (let i = 1; i <= extraUsers; i++) await sqlite.createUser({ username: `${username}-${i}`, passwordHash, isActive: true });

  let store = sqlite;
  let closeNaive = async () => {};
  if (storeKind === 'naive') {
    const naive = openNaiveConsume(file);
    closeNaive = async () => naive.close();
    // Everything but `consume` goes to the SqliteStore (its methods use private fields: bind them).
    store = new Proxy(sqlite, {
      get(target, name) {
        if (name === 'consume') return naive.consume;
        const value = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  const settings = { ...SERVER_DEFAULTS, signingKey: secret, accessTokenLifetime: 3600, userLookup };
  const service = new AuthService({ settings, userStore: store, tokenStore: store, throttleStore: store, hasher });
  const app = buildServer({
    service,
    store: { close: async () => { await closeNaive(); await sqlite.close(); } },
    // `false`: no log lines at all. 'info': the server's default, every line formatted, then dropped.
    logger: logger === false ? false : { level: logger, destination: { write() {} } },
  });
  // As `tokenpair serve` does: the first login must not pay for making the dummy hash.
  await hasher.verifyDummy('');
  return { app, close: () => app.close() };
}
