/**
 * The JavaScript of the protected route alone, in one process, no sockets and no Fastify: the
 * floor's bearer check against tokenpair's `fastifyRequireAuth` preHandler plus the /api/me/
 * handler, stateless and with the SQLite user lookup. What http-me measures, minus everything both
 * servers share (Fastify's request cycle, the HTTP parser, the kernel's loopback TCP): the part of
 * the per-request cost that belongs to tokenpair. Interleaved rounds, CPU-time medians (bench/lib/harness.mjs).
 *
 *   npm run bench -- http-route [options]     (or: node --expose-gc bench/http-route.mjs [options]; --help)
 *   --compare-dist DIR   also measure the tokenpair cases on the build in DIR (e.g. of the previous commit)
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
  const [{ AuthService, createPasswordHasher }, { fastifyRequireAuth }, { SqliteStore }, { SERVER_DEFAULTS }] = await Promise.all([
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
  const preHandler = fastifyRequireAuth(service);
  const request = { headers: { host: '127.0.0.1:8000', connection: 'keep-alive', authorization: `Bearer ${token}` } };
  const reply = {};
  // As in src/server/app.ts.
  const handler = async (req) => ({ id: req.user.id, username: req.user.username });
  const fn = async () => {
    if ((await preHandler(request, reply)) !== undefined) throw new Error('refused');
    return handler(request);
  };
  return { fn, token };
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
  { name: 'tokenpair preHandler + handler, stateless', fn: stateless.fn, async: true },
  { name: 'tokenpair preHandler + handler, SQLite user lookup', fn: lookup.fn, async: true },
];
if (compareDist) {
  cases.push({ name: `tokenpair preHandler + handler, stateless [${compareLabel}]`, fn: (await tokenpairRoute(compareDist, false)).fn, async: true });
  cases.push({ name: `tokenpair preHandler + handler, SQLite user lookup [${compareLabel}]`, fn: (await tokenpairRoute(compareDist, true)).fn, async: true });
}

try {
  for (const c of cases) check((await c.fn()).id === '1', `${c.name} did not answer the user`);
} catch (error) {
  fail(error.message);
}

const results = await runGroups([{ title: 'protected route JS (no sockets, no Fastify)', baseline: cases[0].name, cases }], options);
process.exitCode = report(results, options);
process.exit();
