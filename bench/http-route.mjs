/**
 * The JavaScript of the protected route alone, in one process, no sockets and no Fastify: the
 * floor's bearer check against the standalone server's /api/me/ handler (src/server/app.ts: the
 * synchronous `fastifyAuthenticatorSync` check where the service allows it, else the awaited
 * `fastifyAuthenticator`), stateless and with the SQLite user lookup. What http-me measures, minus
 * everything both servers share (Fastify's request cycle, the HTTP parser, the kernel's loopback
 * TCP): the part of the per-request cost that belongs to tokenpair. The floor's route is an async
 * function in http-me's server, so it is awaited here too; a synchronous tokenpair handler is
 * called as Fastify calls it. Interleaved rounds, CPU-time medians (bench/lib/harness.mjs).
 *
 *   npm run bench -- http-route [options]     (or: node --expose-gc bench/http-route.mjs [options]; --help)
 *   --compare-dist DIR   also measure the tokenpair cases on the build in DIR (e.g. of the previous
 *                        commit; DIR must be inside this checkout so that its imports resolve)
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT, check, fail, loadDist, parseOptions, report, runGroups } from './lib/harness.mjs';

// --compare-dist is this script's own option; the rest go to the harness.
const argv = process.argv.slice(2);
let compareDist = null;
let compareLabel = null;
const at = argv.indexOf('--compare-dist');
if (at !== -1) {
  compareLabel = argv[at + 1] ?? fail('--compare-dist needs a directory');
  compareDist = resolve(compareLabel);
  if (!existsSync(join(compareDist, 'index.js'))) fail(`--compare-dist ${compareDist}: no index.js there`);
  argv.splice(at, 2);
}
const options = parseOptions(argv);
await loadDist();

const secret = randomBytes(32).toString('base64url');
const key = Buffer.from(secret, 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'tokenpair-bench-route-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
// A well-formed argon2id hash: nobody logs in here, the user only has to exist.
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

let storeNo = 0;
/** preHandler + handler of the standalone server's GET /api/me/, over a SqliteStore, from the build in `dist`. */
async function tokenpairRoute(dist, userLookup) {
  const load = (path) => import(join(dist, path));
  const [{ AuthService, createPasswordHasher }, fastify, { SqliteStore }, { SERVER_DEFAULTS }] = await Promise.all([
    load('index.js'),
    load('adapters/fastify.js'),
    load('store/sqlite.js'),
    load('server/config.js'),
  ]);
  const store = await SqliteStore.open(join(scratch, `route-${storeNo++}.sqlite3`));
  await store.createUser({ username: 'bench', passwordHash: HASH, isActive: true });
  const settings = { ...SERVER_DEFAULTS, signingKey: secret, accessTokenLifetime: 3600, userLookup };
  const service = new AuthService({ settings, userStore: store, tokenStore: store, throttleStore: store, hasher: createPasswordHasher() });
  const token = (await service.tokens.issuePair(await store.findById('1'))).access.toString();
  const request = { headers: { host: '127.0.0.1:8000', connection: 'keep-alive', authorization: `Bearer ${token}` } };
  const reply = {};
  // As the /api/me/ handler of src/server/app.ts in that build: the synchronous check where the
  // build has one and the service allows it, else the awaited one.
  if (fastify.fastifyAuthenticatorSync && service.authenticatesSync) {
    const authenticate = fastify.fastifyAuthenticatorSync(service);
    const fn = () => {
      const user = authenticate(request, reply);
      if (user === undefined) throw new Error('refused');
      return { id: user.id, username: user.username };
    };
    return { fn, token, async: false };
  }
  const authenticate = fastify.fastifyAuthenticator(service);
  const fn = async () => {
    const user = await authenticate(request, reply);
    if (user === undefined) throw new Error('refused');
    return { id: user.id, username: user.username };
  };
  return { fn, token, async: true };
}

/** The floor of bench/lib/http-server.mjs, as a function of the same request. */
function floorRoute(token) {
  const request = { headers: { host: '127.0.0.1:8000', connection: 'keep-alive', authorization: `Bearer ${token}` } };
  return async () => {
    const header = request.headers.authorization;
    const t = header.slice(7);
    const first = t.indexOf('.');
    const second = t.lastIndexOf('.');
    const signature = Buffer.from(t.slice(second + 1), 'base64url');
    const expected = createHmac('sha256', key).update(t.slice(0, second)).digest();
    if (signature.length !== expected.length || !timingSafeEqual(expected, signature)) throw new Error('refused');
    const claims = JSON.parse(Buffer.from(t.slice(first + 1, second), 'base64url').toString('utf8'));
    return { id: claims.user_id, username: typeof claims.username === 'string' ? claims.username : '' };
  };
}

const dist = join(ROOT, 'dist');
const stateless = await tokenpairRoute(dist, false);
const lookup = await tokenpairRoute(dist, true);
const cases = [
  { name: 'floor: raw node:crypto check', fn: floorRoute(stateless.token), async: true, note: 'no checks' },
  { name: 'tokenpair /api/me/ handler, stateless', fn: stateless.fn, async: stateless.async },
  { name: 'tokenpair /api/me/ handler, SQLite user lookup', fn: lookup.fn, async: lookup.async },
];
if (compareDist) {
  const before = { stateless: await tokenpairRoute(compareDist, false), lookup: await tokenpairRoute(compareDist, true) };
  cases.push({ name: `tokenpair /api/me/ handler, stateless [${compareLabel}]`, fn: before.stateless.fn, async: before.stateless.async });
  cases.push({ name: `tokenpair /api/me/ handler, SQLite user lookup [${compareLabel}]`, fn: before.lookup.fn, async: before.lookup.async });
}

try {
  for (const c of cases) check((await c.fn()).id === '1', `${c.name} did not answer the user`);
} catch (error) {
  fail(error.message);
}

const results = await runGroups([{ title: 'protected route JS (no sockets, no Fastify)', baseline: cases[0].name, cases }], options);
process.exitCode = report(results, options);
process.exit();
