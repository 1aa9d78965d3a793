/**
 * `tokenpair/client` against real tokenpair servers over loopback HTTP (Express, Fastify, Fetch):
 * login, the bearer, single-flight refresh, session expiry, proactive refresh, logout, sessions.
 * Time moves through the server's injected clock (access tokens expire) or the client's (the
 * proactive window); every request the client sends is recorded by a wrapping `fetch`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { type ClientOptions, type FetchLike, type TokenpairClient, REFRESH_RETRY_MS, TokenpairClientError, createClient, memoryStorage, readTokenTimes } from '../src/client/index.js';
import { type ContractServer, type StartServer, PASSWORD, createTestUser, startExpress, startFastify, startFetch } from './helpers/http-servers.js';

interface Sent {
  method: string;
  url: URL;
  headers: Headers;
  body: string | null;
  credentials: RequestCredentials | undefined;
}

/**
 * A `fetch` that records what is sent, then passes it to the real one, unless `fake` answers
 * instead (e.g. a route that always says `token_not_valid`).
 */
function recordingFetch(fake?: (sent: Sent) => Response | undefined) {
  const sent: Sent[] = [];
  const fetch: FetchLike = async (input, init) => {
    const request = new Request(input, init);
    const body = request.body ? await request.clone().text() : null;
    const entry: Sent = { method: request.method, url: new URL(request.url), headers: request.headers, body, credentials: init?.credentials };
    sent.push(entry);
    return fake?.(entry) ?? globalThis.fetch(request);
  };
  return {
    fetch,
    sent,
    to: (path: string) => sent.filter((entry) => entry.url.pathname === path),
  };
}

const REFRESH = '/api/token/refresh/';
const ME = '/api/me/';

function bearer(entry: Sent): string | null {
  return entry.headers.get('authorization')?.replace(/^Bearer /, '') ?? null;
}

async function json(response: Response): Promise<unknown> {
  return response.json();
}

const TOKEN_NOT_VALID = { detail: 'Given token not valid for any token type', code: 'token_not_valid' };

function alwaysTokenNotValid(path: string) {
  return (sent: Sent) => (sent.url.pathname === path ? Response.json(TOKEN_NOT_VALID, { status: 401 }) : undefined);
}

/** A server whose clock can be moved, with user alice, and clients wired to record their requests. */
async function setup(start: StartServer) {
  let serverOffset = 0;
  const server = await start({ clock: () => Date.now() + serverOffset });
  const alice = await createTestUser(server.store, 'alice');
  return {
    server,
    alice,
    /** Moves the server's clock: access tokens issued before now + seconds - 300 are expired. */
    advanceServer(seconds: number) {
      serverOffset += seconds * 1000;
    },
    client(overrides: Partial<ClientOptions> = {}, fake?: (sent: Sent) => Response | undefined) {
      const recorder = recordingFetch(fake);
      const client = createClient({ baseUrl: server.baseUrl, fetch: recorder.fetch, ...overrides });
      return { client, ...recorder };
    },
  };
}

type Setup = Awaited<ReturnType<typeof setup>>;

async function loggedIn(env: Setup, overrides: Partial<ClientOptions> = {}, fake?: (sent: Sent) => Response | undefined) {
  const made = env.client(overrides, fake);
  const tokens = await made.client.login('alice', PASSWORD);
  return { ...made, tokens };
}

function concurrently(client: TokenpairClient, n: number, path = ME): Promise<Response[]> {
  return Promise.all(Array.from({ length: n }, () => client.fetch(path)));
}

function runClientSuite(name: string, start: StartServer): void {
  describe(`client against ${name}`, () => {
    let env: Setup;
    let server: ContractServer;
    before(async () => {
      env = await setup(start);
      server = env.server;
    });
    after(() => server.close());

    describe('login', () => {
      it('stores the pair and attaches the bearer to requests for the API', async () => {
        const storage = memoryStorage();
        const { client, tokens, sent, to } = await loggedIn(env, { storage });
        assert.deepEqual(Object.keys(tokens), ['refresh', 'access']);
        assert.equal(await storage.get('access'), tokens.access);
        assert.equal(await storage.get('refresh'), tokens.refresh);
        assert.equal(await client.getAccessToken(), tokens.access);
        assert.equal(await client.isAuthenticated(), true);
        const login = sent[0]!;
        assert.equal(login.method, 'POST');
        assert.equal(login.url.pathname, '/api/token/');
        assert.deepEqual(JSON.parse(login.body!), { username: 'alice', password: PASSWORD });

        const response = await client.fetch(ME);
        assert.equal(response.status, 200);
        assert.deepEqual(await json(response), { id: env.alice.id, username: 'alice' });
        assert.equal(to(ME)[0]!.headers.get('authorization'), `Bearer ${tokens.access}`);
      });

      it('wrong credentials: a TokenpairClientError with the wire body; nothing stored', async () => {
        const { client } = env.client();
        const error: unknown = await client.login('alice', 'wrong').catch((e: unknown) => e);
        assert.ok(error instanceof TokenpairClientError);
        assert.equal(error.status, 401);
        assert.equal(error.code, 'no_active_account');
        assert.equal(error.detail, 'No active account found with the given credentials');
        assert.deepEqual(error.body, { detail: 'No active account found with the given credentials', code: 'no_active_account' });
        assert.equal(await client.isAuthenticated(), false);
      });

      it('a missing field: status 400, code "invalid", the field named in detail', async () => {
        const { client } = env.client();
        const error: unknown = await client.login('', PASSWORD).catch((e: unknown) => e);
        assert.ok(error instanceof TokenpairClientError);
        assert.equal(error.status, 400);
        assert.equal(error.code, 'invalid');
        assert.equal(error.detail, 'username: This field may not be blank.');
      });

      it('the token goes only to the API origin, and not over an Authorization header set by the caller', async () => {
        const elsewhere = 'http://elsewhere.invalid/data';
        const { client, sent } = await loggedIn(env, {}, (s) => (s.url.origin === 'http://elsewhere.invalid' ? Response.json({}) : undefined));
        await client.fetch(elsewhere);
        assert.equal(sent.at(-1)!.headers.get('authorization'), null);
        const response = await client.fetch(ME, { headers: { authorization: 'Bearer caller-token' } });
        assert.equal(sent.at(-1)!.headers.get('authorization'), 'Bearer caller-token');
        assert.equal(response.status, 401);
        assert.equal(sent.filter((s) => s.url.pathname === REFRESH).length, 0);
      });
    });

    describe('single-flight refresh', () => {
      it('10 concurrent requests with an expired access token: exactly one refresh, all 10 succeed', async () => {
        const storage = memoryStorage();
        const { client, tokens, to } = await loggedIn(env, { storage });
        env.advanceServer(301);
        const responses = await concurrently(client, 10);
        assert.deepEqual(
          responses.map((r) => r.status),
          Array(10).fill(200),
        );
        for (const response of responses) assert.deepEqual(await json(response), { id: env.alice.id, username: 'alice' });
        assert.equal(to(REFRESH).length, 1);
        assert.deepEqual(JSON.parse(to(REFRESH)[0]!.body!), { refresh: tokens.refresh });
        const fresh = await storage.get('access');
        assert.notEqual(fresh, tokens.access);
        // 10 first attempts with the old token, 10 retries with the new one.
        const used = to(ME).map(bearer);
        assert.equal(used.filter((t) => t === tokens.access).length, 10);
        assert.equal(used.filter((t) => t === fresh).length, 10);
      });

      it('a refresh that fails without ending the session (503): one refresh for a burst of 20, each gets its 401, no other refresh for REFRESH_RETRY_MS', async () => {
        let refreshDown = true;
        let clientNow = Date.now();
        const storage = memoryStorage();
        const unavailable = (sent: Sent) =>
          refreshDown && sent.url.pathname === REFRESH ? Response.json({ detail: 'Service temporarily unavailable.', code: 'service_unavailable' }, { status: 503 }) : undefined;
        const { client, tokens, to } = await loggedIn(env, { storage, clock: () => clientNow }, unavailable);
        env.advanceServer(301);
        const burst = await concurrently(client, 20);
        assert.deepEqual(burst.map((r) => r.status), Array(20).fill(401));
        assert.equal(to(REFRESH).length, 1, 'a refresh storm');
        assert.equal(await storage.get('access'), tokens.access, 'the session is kept');
        // Within REFRESH_RETRY_MS of the failure: the 401 as is, no refresh.
        clientNow += REFRESH_RETRY_MS - 1;
        assert.equal((await client.fetch(ME)).status, 401);
        assert.equal(to(REFRESH).length, 1);
        // Later, with the server back, the next 401 refreshes again, and the request succeeds.
        clientNow += 2;
        refreshDown = false;
        const later = await client.fetch(ME);
        assert.equal(later.status, 200);
        assert.equal(to(REFRESH).length, 2);
      });

      it('an AbortSignal ends the call at once while a refresh it waits for goes on; an aborted one sends nothing', async () => {
        // Every refresh takes 2 s on the way to the server.
        let refreshes = 0;
        let meSent = 0;
        const slowFetch: FetchLike = async (input, init) => {
          const request = new Request(input, init);
          const path = new URL(request.url).pathname;
          if (path === REFRESH) {
            refreshes += 1;
            await new Promise((resolve) => setTimeout(resolve, 2000));
          }
          if (path === ME) meSent += 1;
          return globalThis.fetch(request);
        };
        const client = createClient({ baseUrl: server.baseUrl, fetch: slowFetch });
        await client.login('alice', PASSWORD);
        env.advanceServer(301);
        const patient = client.fetch(ME);
        const started = Date.now();
        const impatient = client.fetch(ME, { signal: AbortSignal.timeout(100) });
        await assert.rejects(impatient, (error: Error) => error.name === 'TimeoutError');
        const abortedAfter = Date.now() - started;
        assert.equal((await patient).status, 200, 'the refresh went on for the other caller');
        const refreshedAfter = Date.now() - started;
        // Aborted at 100 ms, long before the 2 s refresh it was waiting for (which it did not wait out).
        assert.ok(refreshedAfter >= 1900 && abortedAfter < 1500, `aborted after ${abortedAfter} ms, the refresh took ${refreshedAfter} ms`);
        assert.equal(refreshes, 1);
        const aborted = new AbortController();
        aborted.abort();
        const before = meSent;
        await assert.rejects(client.fetch(ME, { signal: aborted.signal }), (error: Error) => error.name === 'AbortError');
        assert.equal(meSent, before, 'nothing was sent');
      });

      it('rotation: the new refresh token is stored and used by the next refresh', async () => {
        const storage = memoryStorage();
        const { client, tokens, to } = await loggedIn(env, { storage });
        const access = await client.refresh();
        const rotated = await storage.get('refresh');
        assert.equal(await storage.get('access'), access);
        assert.ok(rotated && rotated !== tokens.refresh);
        await client.refresh();
        assert.deepEqual(
          to(REFRESH).map((s) => JSON.parse(s.body!) as unknown),
          [{ refresh: tokens.refresh }, { refresh: rotated }],
        );
      });

      it('a failed refresh: onSessionExpired once, all 10 get their 401, the tokens are cleared', async () => {
        let expired = 0;
        const { client, tokens, to } = await loggedIn(env, { onSessionExpired: () => (expired += 1) });
        await server.service.blacklist(tokens.refresh);
        env.advanceServer(301);
        const responses = await concurrently(client, 10);
        assert.deepEqual(
          responses.map((r) => r.status),
          Array(10).fill(401),
        );
        for (const response of responses) assert.equal(((await json(response)) as { code: string }).code, 'token_not_valid');
        assert.equal(to(REFRESH).length, 1);
        assert.equal(to(ME).length, 10, 'no retry without a new token');
        assert.equal(expired, 1);
        assert.equal(await client.isAuthenticated(), false);
        assert.equal(await client.getAccessToken(), null);

        // From now on: no token, no refresh, no second notice.
        const later = await client.fetch(ME);
        assert.equal(((await json(later)) as { code: string }).code, 'not_authenticated');
        assert.equal(to(ME).at(-1)!.headers.get('authorization'), null);
        assert.equal(to(REFRESH).length, 1);
        assert.equal(expired, 1);
      });

      it('refresh() itself rejects with the refresh endpoint\'s error', async () => {
        let expired = 0;
        const { client, tokens } = await loggedIn(env, { onSessionExpired: () => (expired += 1) });
        await server.service.blacklist(tokens.refresh);
        const error: unknown = await client.refresh().catch((e: unknown) => e);
        assert.ok(error instanceof TokenpairClientError);
        assert.equal(error.status, 401);
        assert.equal(error.code, 'token_not_valid');
        assert.equal(error.detail, 'Token is blacklisted');
        assert.equal(expired, 1);
      });

      it('a route that always answers token_not_valid: one refresh, one retry each, no loop', async () => {
        const { client, to } = await loggedIn(env, {}, alwaysTokenNotValid(ME));
        const response = await client.fetch(ME);
        assert.equal(response.status, 401);
        assert.equal(to(REFRESH).length, 1);
        assert.equal(to(ME).length, 2);

        const { client: other, to: otherTo } = await loggedIn(env, {}, alwaysTokenNotValid(ME));
        const responses = await concurrently(other, 10);
        assert.ok(responses.every((r) => r.status === 401));
        assert.equal(otherTo(REFRESH).length, 1);
        assert.equal(otherTo(ME).length, 20);
      });

      it('401 not_authenticated (no token) does not refresh', async () => {
        let expired = 0;
        const { client, to } = env.client({ onSessionExpired: () => (expired += 1) });
        const response = await client.fetch(ME);
        assert.equal(response.status, 401);
        assert.deepEqual(await json(response), { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' });
        assert.equal(to(REFRESH).length, 0);
        assert.equal(expired, 0);
      });

      it('401 password_changed (logout-all elsewhere): one refresh, which fails, so the session ends once', async () => {
        let expired = 0;
        const carol = await createTestUser(server.store, 'carol-elsewhere');
        const { client, to } = env.client({ onSessionExpired: () => (expired += 1) });
        await client.login('carol-elsewhere', PASSWORD);
        await server.service.logoutAll({ id: carol.id, username: 'carol-elsewhere', claims: {}, record: null, tokenUser: null });
        const responses = await concurrently(client, 5);
        assert.ok(responses.every((r) => r.status === 401));
        assert.equal(to(REFRESH).length, 1);
        assert.equal(expired, 1);
        assert.equal(await client.isAuthenticated(), false);
      });

      it('401 user_inactive is returned as is, without a refresh', async () => {
        const bob = await createTestUser(server.store, 'bob');
        const { client, to } = env.client();
        await client.login('bob', PASSWORD);
        await server.store.setActive(bob.id, false);
        const response = await client.fetch(ME);
        assert.equal(response.status, 401);
        assert.deepEqual(await json(response), { detail: 'User is inactive', code: 'user_inactive' });
        assert.equal(to(REFRESH).length, 0);
        assert.equal(await client.isAuthenticated(), true);
      });
    });

    describe('request bodies survive the retry', () => {
      /** The first POST /echo/ is refused as if the token had expired; the retry reaches the real route. */
      function firstEchoRefused() {
        let refused = false;
        return (sent: Sent) => {
          if (sent.url.pathname !== '/echo/' || refused) return undefined;
          refused = true;
          return Response.json(TOKEN_NOT_VALID, { status: 401 });
        };
      }

      it('a ReadableStream body is buffered and sent again', async () => {
        const { client, to } = await loggedIn(env, {}, firstEchoRefused());
        const stream = new Blob([JSON.stringify({ n: 1 })]).stream();
        const response = await client.fetch('/echo/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
        assert.equal(response.status, 200);
        assert.deepEqual(await json(response), { echo: { n: 1 } });
        assert.equal(to(REFRESH).length, 1);
        assert.deepEqual(to('/echo/').map((s) => s.body), ['{"n":1}', '{"n":1}']);
      });

      it('an async-iterable body (a generator, a stream.Readable) is buffered and sent again', async () => {
        for (const [n, body] of [
          [3, (async function* () { yield '{"n":'; yield new TextEncoder().encode('3}'); })()],
          [4, Readable.from([Buffer.from('{"n":4}')])],
        ] as const) {
          const { client, to } = await loggedIn(env, {}, firstEchoRefused());
          const response = await client.fetch('/echo/', { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as unknown as RequestInit);
          assert.equal(response.status, 200);
          assert.deepEqual(await json(response), { echo: { n } });
          assert.deepEqual(to('/echo/').map((s) => s.body), [`{"n":${n}}`, `{"n":${n}}`]);
        }
      });

      it('a Request object is cloned before the first attempt', async () => {
        const { client, to } = await loggedIn(env, {}, firstEchoRefused());
        const request = new Request(`${server.baseUrl}/echo/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 2 }) });
        const response = await client.fetch(request);
        assert.deepEqual(await json(response), { echo: { n: 2 } });
        assert.equal(to('/echo/').length, 2);
        assert.ok(to('/echo/').every((s) => s.headers.get('content-type') === 'application/json' && bearer(s) !== null));
      });
    });

    describe('proactive refresh', () => {
      it('refreshes before a request when the access token expires within the window', async () => {
        let clientOffset = 0;
        const { client, tokens, sent } = await loggedIn(env, { clock: () => Date.now() + clientOffset });
        clientOffset = 280_000; // 20 s left of 300: inside the default 30 s window
        const response = await client.fetch(ME);
        assert.equal(response.status, 200);
        const paths = sent.map((s) => s.url.pathname);
        assert.deepEqual(paths, ['/api/token/', REFRESH, ME]);
        assert.notEqual(bearer(sent[2]!), tokens.access);
      });

      it('off with proactiveRefreshSeconds: false; outside the window nothing happens', async () => {
        let clientOffset = 0;
        const off = await loggedIn(env, { clock: () => Date.now() + clientOffset, proactiveRefreshSeconds: false });
        const early = await loggedIn(env, { clock: () => Date.now() + clientOffset });
        clientOffset = 280_000;
        await off.client.fetch(ME);
        assert.deepEqual(
          off.sent.map((s) => s.url.pathname),
          ['/api/token/', ME],
        );
        clientOffset = 200_000;
        await early.client.fetch(ME);
        assert.equal(early.to(REFRESH).length, 0);
      });

      it('the window is measured from arrival, so a client clock hours off does not refresh every request', async () => {
        const { client, to } = await loggedIn(env, { clock: () => Date.now() + 3 * 3600_000 });
        await client.fetch(ME);
        await client.fetch(ME);
        assert.equal(to(REFRESH).length, 0);
      });
    });

    describe('logout', () => {
      it('body transport: sends the bearer and the refresh token, clears storage; the token is dead', async () => {
        const storage = memoryStorage();
        const { client, tokens, to } = await loggedIn(env, { storage });
        await client.logout();
        const [call] = to('/api/logout/');
        assert.equal(bearer(call!), tokens.access);
        assert.deepEqual(JSON.parse(call!.body!), { refresh: tokens.refresh });
        assert.equal(await storage.get('access'), null);
        assert.equal(await storage.get('refresh'), null);
        const replay = await fetch(`${server.baseUrl}${REFRESH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh: tokens.refresh }) });
        assert.equal(replay.status, 401);
        assert.deepEqual(await replay.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' });
      });

      it('with an expired access token: refreshes, then blacklists the rotated refresh token', async () => {
        const storage = memoryStorage();
        const { client, to } = await loggedIn(env, { storage, proactiveRefreshSeconds: false });
        env.advanceServer(301);
        await client.logout();
        const calls = to('/api/logout/');
        assert.equal(calls.length, 2);
        assert.equal(to(REFRESH).length, 1);
        const rotated = (JSON.parse(calls[1]!.body!) as { refresh: string }).refresh;
        assert.notEqual(rotated, (JSON.parse(calls[0]!.body!) as { refresh: string }).refresh);
        const replay = await fetch(`${server.baseUrl}${REFRESH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh: rotated }) });
        assert.equal(replay.status, 401);
      });

      it('an already-ended session logs out quietly: no error, no onSessionExpired', async () => {
        let expired = 0;
        const { client, tokens } = await loggedIn(env, { onSessionExpired: () => (expired += 1) });
        await server.service.blacklist(tokens.refresh);
        env.advanceServer(301);
        await client.logout();
        assert.equal(expired, 0);
        assert.equal(await client.isAuthenticated(), false);
      });

      it('logoutAll revokes every session of the user', async () => {
        const first = await loggedIn(env);
        const second = await loggedIn(env);
        await first.client.logoutAll();
        assert.equal(await first.client.isAuthenticated(), false);
        const error: unknown = await second.client.refresh().catch((e: unknown) => e);
        assert.ok(error instanceof TokenpairClientError);
        assert.equal(error.status, 401);
      });
    });

    describe('sessions', () => {
      it('lists the live sessions and revokes one', async () => {
        await createTestUser(server.store, 'carol');
        const mine = env.client();
        await mine.client.login('carol', PASSWORD);
        const other = env.client();
        await other.client.login('carol', PASSWORD);
        const sessions = await mine.client.sessions();
        assert.equal(sessions.length, 2);
        assert.ok(sessions.every((s) => /^[0-9a-f]{32}$/.test(s.id) && typeof s.created === 'string'));
        let expired = 0;
        const victim = env.client({ onSessionExpired: () => (expired += 1) });
        await victim.client.login('carol', PASSWORD);
        const before = new Set(sessions.map((s) => s.id));
        const victimSession = (await mine.client.sessions()).find((s) => !before.has(s.id))!;
        await mine.client.revokeSession(victimSession.id);
        assert.equal((await mine.client.sessions()).length, 2);
        await victim.client.refresh().catch(() => undefined);
        assert.equal(expired, 1);
        const missing: unknown = await mine.client.revokeSession(victimSession.id).catch((e: unknown) => e);
        assert.ok(missing instanceof TokenpairClientError);
        assert.equal(missing.status, 404);
      });
    });
  });
}

runClientSuite('Express', startExpress);
runClientSuite('Fastify', startFastify);
runClientSuite('Fetch (node:http bridge)', startFetch);

describe('client options and helpers', () => {
  it('readTokenTimes reads exp and iat without verifying; null for anything else', () => {
    const payload = Buffer.from(JSON.stringify({ exp: 2000000000, iat: 1999999700, name: 'ü' })).toString('base64url');
    assert.deepEqual(readTokenTimes(`e30.${payload}.sig`), { exp: 2000000000, iat: 1999999700 });
    assert.equal(readTokenTimes('not a token'), null);
    assert.equal(readTokenTimes(`e30.${Buffer.from('{"exp":"soon"}').toString('base64url')}.x`), null);
    assert.equal(readTokenTimes('e30.%%%.x'), null);
  });

  it('rejects a bad transport or window at creation', () => {
    assert.throws(() => createClient({ baseUrl: 'http://x', transport: 'header' as 'body' }), /transport must be "body" or "cookie"/);
    assert.throws(() => createClient({ baseUrl: 'http://x', proactiveRefreshSeconds: -1 }), /proactiveRefreshSeconds/);
  });

  it('paths and baseUrl with a prefix: endpoints and relative requests are joined under it', async () => {
    const { fetch, sent } = recordingFetch(() => Response.json({ access: 'a.b.c', refresh: 'r' }));
    const client = createClient({ baseUrl: 'https://api.example.com/auth/', fetch, paths: { obtain: '/login/' } });
    await client.login('alice', 'pw', { otp: '123456' });
    await client.fetch('/things/');
    assert.deepEqual(
      sent.map((s) => s.url.href),
      ['https://api.example.com/auth/login/', 'https://api.example.com/auth/things/'],
    );
    assert.deepEqual(JSON.parse(sent[0]!.body!), { otp: '123456', username: 'alice', password: 'pw' });
  });
});

/** One request as the cookie jar sent it. */
interface JarSent {
  path: string;
  credentials: RequestCredentials | undefined;
  cookie: string | null;
  authorization: string | null;
  body: string | null;
}

/**
 * Node's fetch keeps no cookies: a jar that acts as a browser does for same-site requests. Cookies
 * go out only with `credentials: "include"` (what the client sets for the token endpoints), a
 * `Set-Cookie` replaces or (Max-Age=0) deletes one. `Secure` is not enforced (loopback http).
 */
function cookieJarFetch() {
  const jar = new Map<string, string>();
  const sent: JarSent[] = [];
  const fetch: FetchLike = async (input, init) => {
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    if (init?.credentials === 'include' && jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    sent.push({
      path: new URL(request.url).pathname,
      credentials: init?.credentials,
      cookie: headers.get('cookie'),
      authorization: headers.get('authorization'),
      body: request.body ? await request.clone().text() : null,
    });
    const response = await globalThis.fetch(request, { headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      if (value === '' || /;\s*max-age=0\b/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  return { fetch, jar, sent, to: (path: string) => sent.filter((entry) => entry.path === path) };
}

function runCookieSuite(name: string, start: StartServer): void {
  describe(`client, cookie transport, against ${name}`, () => {
    let server: ContractServer;
    let serverOffset = 0;
    before(async () => {
      server = await start({ clock: () => Date.now() + serverOffset, settings: { refreshTransport: 'cookie' } });
      await createTestUser(server.store, 'alice');
    });
    after(() => server.close());

    function cookieClient(overrides: Partial<ClientOptions> = {}, jarFetch = cookieJarFetch()) {
      const storage = memoryStorage();
      const client = createClient({ baseUrl: server.baseUrl, transport: 'cookie', storage, fetch: jarFetch.fetch, ...overrides });
      return { client, storage, ...jarFetch };
    }

    it('login keeps only the access token; the refresh token lives in the cookie', async () => {
      const { client, storage, jar, sent } = cookieClient();
      const tokens = await client.login('alice', PASSWORD);
      assert.deepEqual(Object.keys(tokens), ['access']);
      assert.equal(await storage.get('access'), tokens.access);
      assert.equal(await storage.get('refresh'), null);
      assert.match(jar.get('refresh_token') ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.equal(sent[0]!.credentials, 'include');
    });

    it('10 concurrent requests with an expired access token: one refresh with the cookie and no body', async () => {
      const { client, storage, jar, to } = cookieClient();
      await client.login('alice', PASSWORD);
      const cookie = jar.get('refresh_token');
      serverOffset += 301_000;
      const responses = await concurrently(client, 10);
      assert.deepEqual(
        responses.map((r) => r.status),
        Array(10).fill(200),
      );
      const [refresh, ...more] = to(REFRESH);
      assert.equal(more.length, 0);
      assert.equal(refresh!.credentials, 'include');
      assert.equal(refresh!.cookie, `refresh_token=${cookie}`);
      assert.equal(refresh!.body, null);
      assert.equal(refresh!.authorization, null);
      // Rotation: the successor is the new cookie; the client still stores no refresh token.
      assert.notEqual(jar.get('refresh_token'), cookie);
      assert.equal(await storage.get('refresh'), null);
      // Ordinary API requests keep fetch's default credentials: the cookie is for the token endpoints.
      assert.ok(to(ME).every((entry) => entry.credentials === undefined && entry.cookie === null));
    });

    it('a revoked cookie: onSessionExpired once, all 10 get their 401', async () => {
      let expired = 0;
      const { client, jar, to } = cookieClient({ onSessionExpired: () => (expired += 1) });
      await client.login('alice', PASSWORD);
      await server.service.blacklist(jar.get('refresh_token'));
      serverOffset += 301_000;
      const responses = await concurrently(client, 10);
      assert.ok(responses.every((r) => r.status === 401));
      assert.equal(expired, 1);
      // The blacklisted refusal is tried once more (another tab may have rotated the cookie), no further.
      assert.equal(to(REFRESH).length, 2);
      assert.equal(await client.isAuthenticated(), false);
    });

    it('two tabs sharing the cookie refresh at once: both keep the session', async () => {
      const shared = cookieJarFetch();
      let expired = 0;
      const onSessionExpired = () => (expired += 1);
      const tabA = cookieClient({ onSessionExpired }, shared);
      const tabB = cookieClient({ onSessionExpired }, shared);
      await tabA.client.login('alice', PASSWORD);
      // Both send the same cookie; the server rotates it for one and refuses the other as spent.
      const [accessA, accessB] = await Promise.all([tabA.client.refresh(), tabB.client.refresh()]);
      assert.notEqual(accessA, accessB);
      const refreshes = shared.to(REFRESH);
      assert.equal(refreshes.length, 3, 'the refused tab tries once more, with the successor cookie');
      assert.equal(refreshes[0]!.cookie, refreshes[1]!.cookie);
      assert.notEqual(refreshes[2]!.cookie, refreshes[0]!.cookie);
      serverOffset += 301_000;
      const responses = (await Promise.all([concurrently(tabA.client, 3), concurrently(tabB.client, 3)])).flat();
      assert.ok(responses.every((r) => r.status === 200));
      assert.equal(expired, 0);
    });

    it('logout sends the bearer and the cookie, no body; the cookie is cleared and its token dead', async () => {
      const { client, jar, to } = cookieClient();
      await client.login('alice', PASSWORD);
      const cookie = jar.get('refresh_token')!;
      await client.logout();
      const [call] = to('/api/logout/');
      assert.equal(call!.credentials, 'include');
      assert.equal(call!.cookie, `refresh_token=${cookie}`);
      assert.equal(call!.body, null);
      assert.match(call!.authorization ?? '', /^Bearer /);
      assert.equal(jar.size, 0);
      assert.equal(await client.isAuthenticated(), false);
      const replay = await fetch(`${server.baseUrl}${REFRESH}`, { method: 'POST', headers: { cookie: `refresh_token=${cookie}` } });
      assert.equal(replay.status, 401);
    });

    it('after a reload (empty memory) refresh() restores the session; logout still revokes the cookie', async () => {
      const jarFetch = cookieJarFetch();
      await cookieClient({}, jarFetch).client.login('alice', PASSWORD);
      const cookieBefore = jarFetch.jar.get('refresh_token')!;
      let expired = 0;
      const reloaded = cookieClient({ onSessionExpired: () => (expired += 1) }, jarFetch);
      assert.equal(await reloaded.client.isAuthenticated(), false);
      const access = await reloaded.client.refresh();
      assert.equal(await reloaded.client.getAccessToken(), access);
      const rotated = jarFetch.jar.get('refresh_token')!;
      assert.notEqual(rotated, cookieBefore);

      // Another reload, then logout straight away: the client refreshes first to get a bearer.
      const again = cookieClient({ onSessionExpired: () => (expired += 1) }, jarFetch);
      await again.client.logout();
      assert.equal(jarFetch.jar.size, 0);
      const [logoutCall] = again.to('/api/logout/');
      assert.match(logoutCall!.authorization ?? '', /^Bearer /);
      const replay = await fetch(`${server.baseUrl}${REFRESH}`, { method: 'POST', headers: { cookie: logoutCall!.cookie! } });
      assert.equal(replay.status, 401);

      // No cookie at all: refresh() fails with the wire error and reports the expiry once.
      const error: unknown = await reloaded.client.refresh().catch((e: unknown) => e);
      assert.ok(error instanceof TokenpairClientError);
      assert.equal(error.detail, 'Refresh token not found');
      assert.equal(expired, 1);
    });
  });
}

runCookieSuite('Express', startExpress);
runCookieSuite('Fastify', startFastify);
runCookieSuite('Fetch (node:http bridge)', startFetch);
