/**
 * WIRE.md over real HTTP, once per adapter: Express, Fastify and the Fetch handler. The standalone
 * server joins by calling `runHttpContract` with its own start function. Below the suite: what is
 * particular to mounting each adapter.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { requireAuth, tokenpairRouter } from '../src/adapters/express.js';
import { fastifyRequireAuth, tokenpairFastify } from '../src/adapters/fastify.js';
import { createFetchHandler } from '../src/adapters/fetch.js';
import { call, runHttpContract } from './helpers/http-contract.js';
import { PASSWORD, awaitedUserStore, buildService, createTestUser, serveFetch, startExpress, startFastify, startFetch } from './helpers/http-servers.js';

runHttpContract('Express adapter', startExpress);
runHttpContract('Fastify adapter', startFastify);
runHttpContract('Fetch adapter (node:http bridge)', startFetch);
// With a user store that can only be awaited (an application's own users table), the bearer check
// takes its awaited path instead of the synchronous one: the same contract holds.
runHttpContract('Express adapter, awaited user store', (options) => startExpress({ ...options, userStore: awaitedUserStore }));
runHttpContract('Fastify adapter, awaited user store', (options) => startFastify({ ...options, userStore: awaitedUserStore }));
runHttpContract('Fetch adapter, awaited user store', (options) => startFetch({ ...options, userStore: awaitedUserStore }));

describe('which path the bearer check takes', () => {
  it('synchronous over a MemoryStore, awaited over a user store without findByIdSync', async () => {
    for (const start of [startExpress, startFastify, startFetch]) {
      const plain = await start();
      const awaited = await start({ userStore: awaitedUserStore });
      assert.equal(plain.service.authenticatesSync, true);
      assert.equal(awaited.service.authenticatesSync, false);
      await plain.close();
      await awaited.close();
    }
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Mounted under /auth: the endpoints move, the root paths are not served, a login works. */
async function assertMountedUnderAuth(baseUrl: string, username: string): Promise<void> {
  const login = await call(baseUrl, 'POST', '/auth/api/token/', { json: { username, password: PASSWORD } });
  assert.equal(login.status, 200, login.text);
  assert.deepEqual(Object.keys(login.body as object), ['refresh', 'access']);
  const root = await call(baseUrl, 'POST', '/api/token/', { json: { username, password: PASSWORD } });
  assert.equal(root.status, 404);
}

describe('mounting the adapters', () => {
  const servers: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of servers) await close();
  });

  it('Express: under a path with app.use("/auth", …)', async () => {
    const { service, store } = buildService();
    await createTestUser(store, 'alice');
    const app = express();
    app.use('/auth', tokenpairRouter(service));
    const server = createServer(app);
    const baseUrl = await listen(server);
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    await assertMountedUnderAuth(baseUrl, 'alice');
  });

  it('Express: after express.json() and express.urlencoded(), the parsed body is used', async () => {
    const { service, store } = buildService();
    await createTestUser(store, 'alice');
    const app = express();
    app.use(express.json(), express.urlencoded({ extended: false }));
    app.use(tokenpairRouter(service));
    const server = createServer(app);
    const baseUrl = await listen(server);
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const json = await call(baseUrl, 'POST', '/api/token/', { json: { username: 'alice', password: PASSWORD } });
    assert.equal(json.status, 200, json.text);
    const form = await call(baseUrl, 'POST', '/api/token/', { body: new URLSearchParams({ username: 'alice', password: PASSWORD }) });
    assert.equal(form.status, 200, form.text);
    const fields = await call(baseUrl, 'POST', '/api/token/', { json: { username: { nested: true } } });
    assert.equal(fields.status, 400);
    assert.deepEqual(fields.body, { username: ['Not a valid string.'], password: ['This field is required.'] });
    // The stream was not consumed by a parser (not its content type): tokenpair reads it itself.
    const text = await call(baseUrl, 'POST', '/api/token/', { body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.status, 415);
    // Deeply nested bodies the parser accepted: the same 400s as without it, never a 500 (S18).
    const deepList = await call(baseUrl, 'POST', '/api/token/', { body: `${'['.repeat(5000)}${']'.repeat(5000)}`, headers: { 'content-type': 'application/json' } });
    assert.deepEqual([deepList.status, deepList.body], [400, { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] }]);
    const deepField = await call(baseUrl, 'POST', '/api/token/', { body: `{"username":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)},"password":"x"}`, headers: { 'content-type': 'application/json' } });
    assert.deepEqual([deepField.status, deepField.body], [400, { username: ['Not a valid string.'] }]);
  });

  it('Express requireAuth: a 401 that comes after another middleware answered is not sent again, and crashes nothing', async () => {
    const { service, store } = buildService({ userStore: (memory) => awaitedUserStore(memory) });
    const bob = await createTestUser(store, 'bob');
    const app = express();
    // A timeout middleware of the usual kind: it answers 503 and lets the chain go on.
    app.use((_req, res, next) => {
      res.status(503).json({ detail: 'timed out' });
      next();
    });
    let errors = 0;
    app.get('/protected/', requireAuth(service), (_req, res) => {
      res.json({ ok: true });
    });
    app.use((_error: unknown, _req: express.Request, _res: express.Response, next: express.NextFunction) => {
      errors += 1;
      next();
    });
    const server = createServer(app);
    const baseUrl = await listen(server);
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    await store.setActive(bob.id, false);
    const token = service.tokens.access.forUser(bob as never).toString();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const reply = await call(baseUrl, 'GET', '/protected/', { bearer: token });
      assert.deepEqual([reply.status, reply.body], [503, { detail: 'timed out' }]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.equal(errors, 0);
  });

  it('Fastify: with a prefix; the application keeps its own JSON parser and error format', async () => {
    const { service, store } = buildService();
    await createTestUser(store, 'alice');
    const app = Fastify();
    await app.register(tokenpairFastify, { service, prefix: '/auth' });
    app.post('/echo/', async (request) => ({ echo: request.body }));
    const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
    servers.push(async () => {
      app.server.closeAllConnections();
      await app.close();
    });
    await assertMountedUnderAuth(baseUrl, 'alice');
    const echo = await call(baseUrl, 'POST', '/echo/', { json: { a: 1 } });
    assert.deepEqual(echo.body, { echo: { a: 1 } });
    // Outside the plugin, Fastify's own parser answers a bad body with its own format.
    const bad = await call(baseUrl, 'POST', '/echo/', { body: '{', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { code?: string }).code, 'FST_ERR_CTP_INVALID_JSON_BODY');
  });

  it('Fastify: with the app\'s logger off (the default), the start-up warning still reaches console.warn; with it on, the app\'s log', async () => {
    const { service } = buildService({ settings: { refreshTransport: 'cookie', refreshCookieSecure: false } });
    const warned: unknown[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => warned.push(args.join(' '));
    try {
      const quiet = Fastify();
      await quiet.register(tokenpairFastify, { service });
      await quiet.ready();
      await quiet.close();
      const WARNING = 'tokenpair: refresh cookie without Secure: only for http://localhost development (requests to any other host still get Secure)';
      assert.deepEqual(warned, [WARNING]);
      const lines: string[] = [];
      const logged = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } } });
      await logged.register(tokenpairFastify, { service });
      await logged.ready();
      await logged.close();
      assert.equal(warned.length, 1, 'not on the console when the app logs');
      assert.equal(lines.filter((line) => (JSON.parse(line) as { msg?: string }).msg === WARNING).length, 1, lines.join(''));
    } finally {
      console.warn = original;
    }
  });

  it('Fastify: a prefix with a trailing slash ("/auth/") works as "/auth"', async () => {
    const { service, store } = buildService();
    await createTestUser(store, 'alice');
    const app = Fastify();
    await app.register(tokenpairFastify, { service, prefix: '/auth/' });
    const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
    servers.push(async () => {
      app.server.closeAllConnections();
      await app.close();
    });
    await assertMountedUnderAuth(baseUrl, 'alice');
  });

  it('Fastify: the plugin decorates requests with user: null for the application\'s routes; fastifyRequireAuth sets the principal', async () => {
    const { service, store } = buildService();
    await createTestUser(store, 'alice');
    const app = Fastify();
    await app.register(tokenpairFastify, { service, prefix: '/auth' });
    app.get('/open/', async (request) => ({ user: request.user, decorated: 'user' in request }));
    app.get('/closed/', { preHandler: fastifyRequireAuth(service) }, async (request) => ({ username: request.user!.username }));
    const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
    servers.push(async () => {
      app.server.closeAllConnections();
      await app.close();
    });
    assert.equal(app.hasRequestDecorator('user'), true);
    assert.deepEqual((await call(baseUrl, 'GET', '/open/')).body, { user: null, decorated: true });
    const login = await call(baseUrl, 'POST', '/auth/api/token/', { json: { username: 'alice', password: PASSWORD } });
    assert.deepEqual((await call(baseUrl, 'GET', '/closed/', { bearer: (login.body as { access: string }).access })).body, { username: 'alice' });
  });

  it('Fetch: with basePath and an address function', async () => {
    const { service, store } = buildService();
    await createTestUser(store, 'alice');
    const handle = createFetchHandler(service, { basePath: '/auth/', address: () => '203.0.113.9' });
    const server = serveFetch(async (request) => (await handle(request)) ?? new Response(null, { status: 404 }), new WeakMap());
    const baseUrl = await listen(server);
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    await assertMountedUnderAuth(baseUrl, 'alice');
    const login = await call(baseUrl, 'POST', '/auth/api/token/', { json: { username: 'alice', password: PASSWORD } });
    const sessions = await call(baseUrl, 'GET', '/auth/api/sessions/', { bearer: (login.body as { access: string }).access });
    assert.deepEqual((sessions.body as Array<{ address: string }>).map((s) => s.address), ['203.0.113.9', '203.0.113.9']);
  });
});

describe('the client address each adapter records', () => {
  for (const [name, start] of [['Express', startExpress], ['Fastify', startFastify], ['Fetch', startFetch]] as const) {
    let server: Awaited<ReturnType<typeof start>>;
    before(async () => {
      server = await start();
    });
    after(() => server.close());
    it(`${name}: the socket's address, on the session`, async () => {
      await createTestUser(server.store, 'alice');
      const login = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: 'alice', password: PASSWORD } });
      const sessions = await call(server.baseUrl, 'GET', '/api/sessions/', { bearer: (login.body as { access: string }).access });
      assert.deepEqual((sessions.body as Array<{ address: string }>).map((s) => s.address), ['127.0.0.1']);
    });
  }
});
