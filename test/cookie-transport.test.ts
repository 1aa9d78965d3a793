/**
 * The cookie transport (WIRE.md "Cookie transport", SECURITY.md S17) over real loopback HTTP on all
 * three adapters: the exact Set-Cookie strings, rotation through the cookie, logout revoking
 * server-side and clearing, CSRF refusals (login included) and the CORS allow-list. Then the
 * start-up refusals and the cookie/origin parsers on their own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { AuthService, ConfigurationError, MemoryStore, defineSettings, type SettingsInput } from '../src/index.js';
import { tokenpairRouter } from '../src/adapters/express.js';
import { MAX_COOKIE_HEADER_LENGTH, readCookie } from '../src/http/cookies.js';
import { OriginPolicy } from '../src/http/origin.js';
import { type CallOptions, type Reply, call, expectReply } from './helpers/http-contract.js';
import { type ContractServer, PASSWORD, SIGNING_KEY, type StartOptions, type StartServer, buildService, createTestUser, hasher, startExpress, startFastify, startFetch } from './helpers/http-servers.js';

/** WIRE.md's bodies, spelled out. */
const BODY = {
  notFound: { detail: 'Refresh token not found', code: 'token_not_valid' },
  csrf: { detail: 'CSRF Failed: Origin not allowed.', code: 'csrf_failed' },
  blacklisted: { detail: 'Token is blacklisted', code: 'token_not_valid' },
  invalid: { detail: 'Token is invalid', code: 'token_not_valid' },
  passwordChanged: { detail: "The user's password has been changed.", code: 'password_changed' },
  notAuthenticated: { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' },
};

const JWS = '[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+';
const DEFAULT_COOKIE = new RegExp(`^refresh_token=(${JWS}); HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=86400$`);
const DEFAULT_CLEARING = 'refresh_token=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0';
const ALLOWED = 'https://app.example.test';
const FOREIGN = 'https://evil.example';

/** Cookie mode with rotation left to its default (on in cookie mode). */
const COOKIE_MODE: SettingsInput = { refreshTransport: 'cookie', rotateRefreshTokens: undefined };

/** The Set-Cookie values of a reply (each one separately). */
function setCookies(reply: Reply): string[] {
  return reply.headers.getSetCookie();
}

/** The one Set-Cookie of a reply, checked against `pattern`; returns the token. */
function cookieToken(reply: Reply, pattern: RegExp): string {
  const cookies = setCookies(reply);
  assert.equal(cookies.length, 1, `Set-Cookie: ${JSON.stringify(cookies)}`);
  const match = pattern.exec(cookies[0]!);
  assert.ok(match, `Set-Cookie: ${cookies[0]}`);
  return match[1]!;
}

function accessHeaders(reply: Reply): string[] {
  const names: string[] = [];
  reply.headers.forEach((_value, name) => {
    if (name.startsWith('access-control-')) names.push(name);
  });
  return names;
}

/** A request through node:http, so that the Host header is exactly `host`. */
function rawPost(baseUrl: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', setHost: false, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ADAPTERS: Array<[string, StartServer]> = [
  ['Express', startExpress],
  ['Fastify', startFastify],
  ['Fetch', startFetch],
];

for (const [adapter, start] of ADAPTERS) {
  describe(`cookie transport: ${adapter} adapter`, () => {
    const servers: ContractServer[] = [];
    const warnings: string[] = [];
    let users = 0;
    const serve = async (options: StartOptions): Promise<ContractServer> => {
      const server = await start({ ...options, handler: { onWarning: (message) => warnings.push(message), ...options.handler } });
      servers.push(server);
      return server;
    };
    after(async () => {
      for (const server of servers) await server.close();
    });

    /** Logs a fresh user in on `server`; returns the user, the access token and the cookie token. */
    async function login(server: ContractServer, options: CallOptions = {}, pattern = DEFAULT_COOKIE) {
      const user = await createTestUser(server.store, `${adapter.toLowerCase()}-user${++users}`);
      const reply = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD }, ...options });
      assert.equal(reply.status, 200, reply.text);
      return { user, reply, access: (reply.body as { access: string }).access, cookie: cookieToken(reply, pattern) };
    }
    const withCookie = (token: string, name = 'refresh_token') => ({ cookie: `${name}=${token}` });

    describe('default attributes', () => {
      let server: ContractServer;
      before(async () => {
        server = await serve({ settings: COOKIE_MODE });
      });

      it('rotates by default in cookie mode, with blacklisting after rotation', () => {
        assert.equal(server.service.settings.rotateRefreshTokens, true);
        assert.equal(server.service.settings.blacklistAfterRotation, true);
      });

      it('obtain: 200 {"access"} only, no-store, and the refresh token in exactly the WIRE.md cookie', async () => {
        const { user, reply, access, cookie } = await login(server);
        assert.deepEqual(Object.keys(reply.body as object), ['access']);
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        assert.ok(!reply.text.includes(cookie), 'the refresh token must never be in the body');
        assert.equal((await server.service.tokens.refresh.verify(cookie)).userId, user.id);
        assert.equal((await server.service.tokens.access.verify(access)).userId, user.id);
      });

      it('obtain: wrong credentials → 401 and no cookie', async () => {
        const reply = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: 'nobody', password: 'x' } });
        assert.equal(reply.status, 401);
        assert.deepEqual(setCookies(reply), []);
      });

      it('refresh: no body, token from the cookie; 200 {"access"} and the rotated successor as the new cookie', async () => {
        const { user, cookie } = await login(server);
        const reply = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(Object.keys(reply.body as object), ['access']);
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        const successor = cookieToken(reply, DEFAULT_COOKIE);
        assert.notEqual(successor, cookie);
        assert.ok(!reply.text.includes(successor));
        assert.equal((await server.service.tokens.access.verify((reply.body as { access: string }).access)).userId, user.id);
        // The old cookie is spent: blacklisted, and (a possible concurrent-tab race) not cleared.
        const replay = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) });
        expectReply(replay, 401, BODY.blacklisted);
        assert.deepEqual(setCookies(replay), []);
        // The successor works (within the reuse grace period, the replay revoked nothing).
        const next = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(successor) });
        assert.equal(next.status, 200, next.text);
        assert.notEqual(cookieToken(next, DEFAULT_COOKIE), successor);
      });

      it('refresh: no cookie → 401 "Refresh token not found" with WWW-Authenticate; a body token is not read', async () => {
        const reply = await call(server.baseUrl, 'POST', '/api/token/refresh/');
        expectReply(reply, 401, BODY.notFound);
        assert.deepEqual(setCookies(reply), []);
        const { cookie } = await login(server);
        expectReply(await call(server.baseUrl, 'POST', '/api/token/refresh/', { json: { refresh: cookie } }), 401, BODY.notFound);
        expectReply(await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: { cookie: 'other=1; refresh_token=' } }), 401, BODY.notFound);
      });

      it('refresh: an invalid cookie token → 401 Token is invalid and the cookie is cleared', async () => {
        const reply = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie('not.a.token') });
        expectReply(reply, 401, BODY.invalid);
        assert.deepEqual(setCookies(reply), [DEFAULT_CLEARING]);
      });

      it('refresh: the first refresh_token cookie wins; others are ignored', async () => {
        const { cookie } = await login(server);
        const reply = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: { cookie: `theme=dark; refresh_token=${cookie}; refresh_token=junk` } });
        assert.equal(reply.status, 200, reply.text);
      });

      it('logout: bearer + cookie → 205, the exact clearing cookie, and the token revoked server-side', async () => {
        const { access, cookie } = await login(server);
        const reply = await call(server.baseUrl, 'POST', '/api/logout/', { bearer: access, headers: withCookie(cookie) });
        assert.equal(reply.status, 205, reply.text);
        assert.equal(reply.text, '');
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        assert.deepEqual(setCookies(reply), [DEFAULT_CLEARING]);
        // Revoked, not merely forgotten by the browser (differs from the seed's recipe).
        expectReply(await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) }), 401, BODY.blacklisted);
        expectReply(await call(server.baseUrl, 'POST', '/api/token/verify/', { json: { token: cookie } }), 401, BODY.blacklisted);
        // Logging out again with the dead cookie: 401, and it is cleared.
        const again = await call(server.baseUrl, 'POST', '/api/logout/', { bearer: access, headers: withCookie(cookie) });
        expectReply(again, 401, BODY.blacklisted);
        assert.deepEqual(setCookies(again), [DEFAULT_CLEARING]);
      });

      it('logout: needs the bearer token (no cookie change) and the cookie', async () => {
        const { access, cookie } = await login(server);
        const unauthenticated = await call(server.baseUrl, 'POST', '/api/logout/', { headers: withCookie(cookie) });
        expectReply(unauthenticated, 401, BODY.notAuthenticated);
        assert.deepEqual(setCookies(unauthenticated), []);
        const noCookie = await call(server.baseUrl, 'POST', '/api/logout/', { bearer: access });
        expectReply(noCookie, 401, BODY.notFound);
        assert.deepEqual(setCookies(noCookie), []);
        const still = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) });
        assert.equal(still.status, 200, still.text);
      });

      it('logout-all: 205, the clearing cookie, and every session revoked', async () => {
        const phone = await login(server);
        const laptopReply = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: phone.user.username, password: PASSWORD } });
        const laptop = cookieToken(laptopReply, DEFAULT_COOKIE);
        const reply = await call(server.baseUrl, 'POST', '/api/logout/all/', { bearer: phone.access, headers: withCookie(phone.cookie) });
        assert.equal(reply.status, 205, reply.text);
        assert.equal(reply.text, '');
        assert.deepEqual(setCookies(reply), [DEFAULT_CLEARING]);
        for (const token of [phone.cookie, laptop]) {
          expectReply(await call(server.baseUrl, 'POST', '/api/token/verify/', { json: { token } }), 401, BODY.blacklisted);
          expectReply(await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(token) }), 401, BODY.passwordChanged);
        }
      });

      describe('CSRF', () => {
        it('Sec-Fetch-Site: cross-site → 403 csrf_failed and no cookie on obtain (login CSRF), refresh, logout, logout-all', async () => {
          const { user, access, cookie } = await login(server);
          const crossSite = { 'sec-fetch-site': 'cross-site' };
          const requests: Array<[string, CallOptions]> = [
            ['/api/token/', { json: { username: user.username, password: PASSWORD }, headers: crossSite }],
            ['/api/token/refresh/', { headers: { ...crossSite, ...withCookie(cookie) } }],
            ['/api/logout/', { bearer: access, headers: { ...crossSite, ...withCookie(cookie) } }],
            ['/api/logout/all/', { bearer: access, headers: { ...crossSite, ...withCookie(cookie) } }],
          ];
          for (const [path, options] of requests) {
            const reply = await call(server.baseUrl, 'POST', path, options);
            expectReply(reply, 403, BODY.csrf);
            assert.deepEqual(setCookies(reply), [], path);
            assert.deepEqual(accessHeaders(reply), [], path);
          }
          // Nothing happened: the cookie still refreshes, and only the first login made a session.
          const sessions = await call(server.baseUrl, 'GET', '/api/sessions/', { bearer: access });
          assert.equal((sessions.body as unknown[]).length, 1);
          const still = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) });
          assert.equal(still.status, 200, still.text);
        });

        it('a foreign Origin, Origin: null, and same-site without an allow-listed Origin → 403', async () => {
          const user = await createTestUser(server.store, `${adapter}-csrf-${++users}`);
          const credentials = { username: user.username, password: PASSWORD };
          for (const headers of <Array<Record<string, string>>>[
            { origin: FOREIGN },
            { origin: 'null' },
            { origin: `${server.baseUrl}/` },
            { origin: server.baseUrl.replace('127.0.0.1', 'localhost') },
            { origin: server.baseUrl.replace('http:', 'https:').replace(/:\d+$/, '') },
            { origin: FOREIGN, 'sec-fetch-site': 'same-origin' },
            { 'sec-fetch-site': 'same-site' },
            { origin: server.baseUrl, 'sec-fetch-site': 'cross-site' },
          ]) {
            const reply = await call(server.baseUrl, 'POST', '/api/token/', { json: credentials, headers });
            expectReply(reply, 403, BODY.csrf);
            assert.deepEqual(setCookies(reply), [], JSON.stringify(headers));
          }
        });

        it('the same origin (matching Host), Sec-Fetch-Site same-origin or none, and no browser headers pass', async () => {
          const user = await createTestUser(server.store, `${adapter}-same-${++users}`);
          const credentials = { username: user.username, password: PASSWORD };
          for (const headers of <Array<Record<string, string>>>[
            { origin: server.baseUrl, 'sec-fetch-site': 'same-origin' },
            { origin: server.baseUrl },
            { 'sec-fetch-site': 'none' },
            {},
          ]) {
            const reply = await call(server.baseUrl, 'POST', '/api/token/', { json: credentials, headers });
            assert.equal(reply.status, 200, `${JSON.stringify(headers)}: ${reply.text}`);
            cookieToken(reply, DEFAULT_COOKIE);
            assert.deepEqual(accessHeaders(reply), []);
            assert.equal(reply.headers.get('vary'), null);
          }
        });

        it('the Host header decides the same origin (a proxy that keeps Host)', async () => {
          const user = await createTestUser(server.store, `${adapter}-host-${++users}`);
          const body = JSON.stringify({ username: user.username, password: PASSWORD });
          const ok = await rawPost(server.baseUrl, '/api/token/', { host: 'api.example.test', origin: 'https://api.example.test', 'content-type': 'application/json' }, body);
          assert.equal(ok.status, 200, ok.text);
          const refused = await rawPost(server.baseUrl, '/api/token/', { host: 'api.example.test', origin: 'https://other.example.test', 'content-type': 'application/json' }, body);
          assert.equal(refused.status, 403);
          assert.deepEqual(JSON.parse(refused.text), BODY.csrf);
          assert.equal(refused.headers['set-cookie'], undefined);
        });

        it('does not apply to the body endpoints (verify, blacklist)', async () => {
          const { cookie } = await login(server);
          const reply = await call(server.baseUrl, 'POST', '/api/token/verify/', { json: { token: cookie }, headers: { 'sec-fetch-site': 'cross-site' } });
          expectReply(reply, 200, {});
        });
      });
    });

    describe('custom attributes: name, path, domain, SameSite=Lax, Secure off, 2h lifetime', () => {
      let server: ContractServer;
      const pattern = new RegExp(`^sid=(${JWS}); HttpOnly; SameSite=Lax; Path=/api/; Domain=example.test; Max-Age=7200$`);
      before(async () => {
        warnings.length = 0;
        server = await serve({
          settings: {
            ...COOKIE_MODE,
            refreshCookieName: 'sid',
            refreshCookiePath: '/api/',
            refreshCookieDomain: 'Example.TEST',
            refreshCookieSameSite: 'lax' as 'Lax',
            refreshCookieSecure: false,
            refreshTokenLifetime: '2h',
          },
        });
      });

      it('warns once at start-up that Secure is off', () => {
        assert.deepEqual(warnings, ['tokenpair: refresh cookie without Secure: only for http://localhost development (requests to any other host still get Secure)']);
      });

      it('sets exactly those attributes on 127.0.0.1, reads the cookie by its name, clears with the same attributes', async () => {
        const { access, cookie } = await login(server, {}, pattern);
        const ignored = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) });
        expectReply(ignored, 401, BODY.notFound);
        const refreshed = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie, 'sid') });
        assert.equal(refreshed.status, 200, refreshed.text);
        const successor = cookieToken(refreshed, pattern);
        const logout = await call(server.baseUrl, 'POST', '/api/logout/', { bearer: access, headers: withCookie(successor, 'sid') });
        assert.equal(logout.status, 205, logout.text);
        assert.deepEqual(setCookies(logout), ['sid=; HttpOnly; SameSite=Lax; Path=/api/; Domain=example.test; Max-Age=0']);
      });

      it('adds Secure anyway when the Host is not localhost/127.0.0.1/[::1] (fail safe)', async () => {
        const user = await createTestUser(server.store, `${adapter}-secure-${++users}`);
        const body = JSON.stringify({ username: user.username, password: PASSWORD });
        for (const [host, secure] of [['api.example.test', true], ['localhost:3000', false], ['[::1]:3000', false], ['127.0.0.1', false], ['localhost.evil.test', true]] as const) {
          const reply = await rawPost(server.baseUrl, '/api/token/', { host, 'content-type': 'application/json' }, body);
          assert.equal(reply.status, 200, `${host}: ${reply.text}`);
          const cookies = reply.headers['set-cookie'] as string[];
          assert.equal(cookies.length, 1);
          const expected = new RegExp(`^sid=${JWS}; HttpOnly;${secure ? ' Secure;' : ''} SameSite=Lax; Path=/api/; Domain=example.test; Max-Age=7200$`);
          assert.match(cookies[0]!, expected, host);
        }
      });
    });

    describe('the __Host- prefix', () => {
      let server: ContractServer;
      const pattern = new RegExp(`^__Host-refresh=(${JWS}); HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=86400$`);
      before(async () => {
        server = await serve({ settings: { ...COOKIE_MODE, refreshCookieName: '__Host-refresh' } });
      });

      it('is accepted with Secure, Path=/ and no Domain; the cookie round-trips', async () => {
        const { cookie } = await login(server, {}, pattern);
        const reply = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie, '__Host-refresh') });
        assert.equal(reply.status, 200, reply.text);
        cookieToken(reply, pattern);
      });

      it('refuses invalid combinations at start-up, naming the setting', async () => {
        for (const [settings, setting] of [
          [{ refreshCookiePath: '/api/' }, 'refreshCookiePath'],
          [{ refreshCookieDomain: 'example.test' }, 'refreshCookieDomain'],
          [{ refreshCookieSecure: false }, 'refreshCookieSecure'],
        ] as const) {
          await assert.rejects(start({ settings: { ...COOKIE_MODE, refreshCookieName: '__Host-refresh', ...settings } }), (error: unknown) => error instanceof ConfigurationError && error.setting === setting && /__Host-/.test(error.message));
        }
      });
    });

    describe('allowedOrigins: credentialed CORS for an allow-listed front end', () => {
      let server: ContractServer;
      before(async () => {
        server = await serve({ settings: { ...COOKIE_MODE, allowedOrigins: [ALLOWED] } });
      });
      const cors = { 'access-control-allow-origin': ALLOWED, 'access-control-allow-credentials': 'true' };
      const corsOf = (reply: Reply) => Object.fromEntries(accessHeaders(reply).map((name) => [name, reply.headers.get(name)]));

      it('the allowed origin (same-site) logs in, refreshes and logs out, with exactly the CORS headers and Vary: Origin', async () => {
        const browser = { origin: ALLOWED, 'sec-fetch-site': 'same-site' };
        const { reply, access, cookie } = await login(server, { headers: browser });
        assert.deepEqual(corsOf(reply), cors);
        assert.equal(reply.headers.get('vary'), 'Origin');
        const refreshed = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: { ...browser, ...withCookie(cookie) } });
        assert.equal(refreshed.status, 200, refreshed.text);
        assert.deepEqual(corsOf(refreshed), cors);
        const successor = cookieToken(refreshed, DEFAULT_COOKIE);
        const logout = await call(server.baseUrl, 'POST', '/api/logout/', { bearer: access, headers: { ...browser, ...withCookie(successor) } });
        assert.equal(logout.status, 205, logout.text);
        assert.deepEqual(corsOf(logout), cors);
        assert.deepEqual(setCookies(logout), [DEFAULT_CLEARING]);
        // Error answers to the allowed origin are readable too.
        const missing = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: browser });
        expectReply(missing, 401, BODY.notFound);
        assert.deepEqual(corsOf(missing), cors);
      });

      it('preflight from the allowed origin: 204 with exactly the CORS headers', async () => {
        const reply = await call(server.baseUrl, 'OPTIONS', '/api/token/refresh/', {
          headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        });
        assert.equal(reply.status, 204);
        assert.equal(reply.text, '');
        assert.deepEqual(corsOf(reply), {
          ...cors,
          'access-control-allow-methods': 'POST',
          'access-control-allow-headers': 'authorization, content-type',
          'access-control-max-age': '600',
        });
        assert.equal(reply.headers.get('vary'), 'Origin');
        assert.equal(reply.headers.get('allow'), 'POST, OPTIONS');
        const sessions = await call(server.baseUrl, 'OPTIONS', '/api/sessions/', { headers: { origin: ALLOWED, 'access-control-request-method': 'GET' } });
        assert.equal(sessions.headers.get('access-control-allow-methods'), 'GET');
      });

      it('any other origin gets no Access-Control-* header: preflight, refusal, or a request without Origin', async () => {
        const preflight = await call(server.baseUrl, 'OPTIONS', '/api/token/', { headers: { origin: FOREIGN, 'access-control-request-method': 'POST' } });
        assert.equal(preflight.status, 204);
        assert.deepEqual(accessHeaders(preflight), []);
        assert.equal(preflight.headers.get('vary'), 'Origin');
        const user = await createTestUser(server.store, `${adapter}-cors-${++users}`);
        const refused = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD }, headers: { origin: FOREIGN } });
        expectReply(refused, 403, BODY.csrf);
        assert.deepEqual(accessHeaders(refused), []);
        assert.deepEqual(setCookies(refused), []);
        const plain = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD } });
        assert.equal(plain.status, 200);
        assert.deepEqual(accessHeaders(plain), []);
        const listedPrefix = await call(server.baseUrl, 'OPTIONS', '/api/token/', { headers: { origin: `${ALLOWED}.evil.example`, 'access-control-request-method': 'POST' } });
        assert.deepEqual(accessHeaders(listedPrefix), []);
      });

      it('an allow-listed origin on another site may log in cross-site (explicit consent), with CORS headers', async () => {
        const user = await createTestUser(server.store, `${adapter}-xs-${++users}`);
        const reply = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD }, headers: { origin: ALLOWED, 'sec-fetch-site': 'cross-site' } });
        assert.equal(reply.status, 200);
        assert.equal(setCookies(reply).length, 1);
        assert.equal(reply.headers.get('access-control-allow-origin'), ALLOWED);
        assert.equal(reply.headers.get('access-control-allow-credentials'), 'true');
        const foreign = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD }, headers: { origin: FOREIGN, 'sec-fetch-site': 'cross-site' } });
        expectReply(foreign, 403, BODY.csrf);
        assert.deepEqual(setCookies(foreign), []);
      });
    });

    describe('customizeTokenResponse in cookie mode', () => {
      let seen: Array<Record<string, unknown>> = [];
      let server: ContractServer;
      before(async () => {
        server = await serve({
          settings: {
            ...COOKIE_MODE,
            customizeTokenResponse: (body, context) => {
              seen.push({ ...body, endpoint: context.endpoint });
              return { ...body, extra: 1 };
            },
          },
        });
      });

      it('sees only {access}; its additions are sent; the refresh token never reaches it', async () => {
        seen = [];
        const { reply, cookie } = await login(server);
        assert.deepEqual(Object.keys(reply.body as object), ['access', 'extra']);
        const refreshed = await call(server.baseUrl, 'POST', '/api/token/refresh/', { headers: withCookie(cookie) });
        assert.deepEqual(Object.keys(refreshed.body as object), ['access', 'extra']);
        assert.deepEqual(seen.map((body) => Object.keys(body)), [['access', 'endpoint'], ['access', 'endpoint']]);
        assert.deepEqual(seen.map((body) => body.endpoint), ['obtain', 'refresh']);
      });
    });

    describe('body transport with allowedOrigins', () => {
      let server: ContractServer;
      before(async () => {
        server = await serve({ settings: { allowedOrigins: [ALLOWED] } });
      });

      it('keeps the body contract and sets no cookie; CORS for the allowed origin; no CSRF check', async () => {
        const user = await createTestUser(server.store, `${adapter}-body-${++users}`);
        const reply = await call(server.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD }, headers: { origin: ALLOWED } });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(Object.keys(reply.body as object), ['refresh', 'access']);
        assert.deepEqual(setCookies(reply), []);
        assert.equal(reply.headers.get('access-control-allow-origin'), ALLOWED);
        const foreign = await call(server.baseUrl, 'POST', '/api/token/refresh/', { json: { refresh: (reply.body as { refresh: string }).refresh }, headers: { origin: FOREIGN, 'sec-fetch-site': 'cross-site' } });
        assert.equal(foreign.status, 200, foreign.text);
        assert.deepEqual(accessHeaders(foreign), []);
      });
    });
  });
}

describe('cookie transport: Express keeps a cookie set by an earlier middleware', () => {
  let server: Server;
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends both Set-Cookie headers', async () => {
    const { service, store } = buildService({ settings: COOKIE_MODE });
    await createTestUser(store, 'alice');
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('set-cookie', 'theme=dark; Path=/');
      next();
    });
    app.use(tokenpairRouter(service));
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const reply = await call(baseUrl, 'POST', '/api/token/', { json: { username: 'alice', password: PASSWORD } });
    assert.equal(reply.status, 200, reply.text);
    const cookies = setCookies(reply);
    assert.equal(cookies.length, 2);
    assert.equal(cookies[0], 'theme=dark; Path=/');
    assert.match(cookies[1]!, DEFAULT_COOKIE);
  });
});

describe('cookie transport: settings', () => {
  const base = { signingKey: SIGNING_KEY };

  it('defaults: body transport, refresh_token, Path=/, no Domain, Strict, Secure, no allowed origins', () => {
    const s = defineSettings(base);
    assert.deepEqual(
      [s.refreshTransport, s.refreshCookieName, s.refreshCookiePath, s.refreshCookieDomain, s.refreshCookieSameSite, s.refreshCookieSecure, s.allowedOrigins],
      ['body', 'refresh_token', '/', null, 'Strict', true, []],
    );
    assert.equal(s.rotateRefreshTokens, false);
  });

  it('cookie transport turns rotation (and so blacklisting after rotation) on, unless turned off explicitly', () => {
    const on = defineSettings({ ...base, refreshTransport: 'cookie' });
    assert.equal(on.rotateRefreshTokens, true);
    assert.equal(on.blacklistAfterRotation, true);
    const off = defineSettings({ ...base, refreshTransport: 'cookie', rotateRefreshTokens: false });
    assert.equal(off.rotateRefreshTokens, false);
    assert.equal(off.blacklistAfterRotation, false);
    const noBlacklist = defineSettings({ ...base, refreshTransport: 'cookie', blacklistAfterRotation: false });
    assert.equal(noBlacklist.rotateRefreshTokens, true);
    assert.equal(noBlacklist.blacklistAfterRotation, false);
  });

  it('cookie transport needs a token store (rotated-out and logged-out tokens are recorded)', () => {
    const store = new MemoryStore();
    assert.throws(() => new AuthService({ settings: { ...base, refreshTransport: 'cookie' }, userStore: store, hasher }), (error: unknown) => error instanceof ConfigurationError && error.setting === 'tokenStore');
  });

  it('normalises SameSite case, domains to lower case, and origins as browsers send them', () => {
    const s = defineSettings({ ...base, refreshCookieSameSite: 'none' as 'None', refreshCookieDomain: 'API.Example.com', allowedOrigins: ['https://App.Example.com:443', 'http://localhost:5173', 'https://app.example.com'] });
    assert.equal(s.refreshCookieSameSite, 'None');
    assert.equal(s.refreshCookieDomain, 'api.example.com');
    assert.deepEqual(s.allowedOrigins, ['https://app.example.com', 'http://localhost:5173']);
    assert.ok(Object.isFrozen(s.allowedOrigins));
  });

  it('refuses bad values and browser-refused combinations, naming the setting', () => {
    const rows: Array<[Record<string, unknown>, string]> = [
      [{ refreshTransport: 'header' }, 'refreshTransport'],
      [{ refreshTransport: 'Cookie' }, 'refreshTransport'],
      [{ refreshCookieName: '' }, 'refreshCookieName'],
      [{ refreshCookieName: 'a b' }, 'refreshCookieName'],
      [{ refreshCookieName: 'a;b' }, 'refreshCookieName'],
      [{ refreshCookieName: 'a=b' }, 'refreshCookieName'],
      [{ refreshCookieName: 42 }, 'refreshCookieName'],
      [{ refreshCookiePath: 'api' }, 'refreshCookiePath'],
      [{ refreshCookiePath: '/a;b' }, 'refreshCookiePath'],
      [{ refreshCookiePath: '/a b' }, 'refreshCookiePath'],
      [{ refreshCookieDomain: '.example.com' }, 'refreshCookieDomain'],
      [{ refreshCookieDomain: 'example.com:443' }, 'refreshCookieDomain'],
      [{ refreshCookieDomain: 'exa mple.com' }, 'refreshCookieDomain'],
      [{ refreshCookieDomain: '' }, 'refreshCookieDomain'],
      [{ refreshCookieSameSite: 'strictest' }, 'refreshCookieSameSite'],
      [{ refreshCookieSecure: 'false' }, 'refreshCookieSecure'],
      [{ refreshCookieSameSite: 'None', refreshCookieSecure: false }, 'refreshCookieSecure'],
      [{ refreshCookieName: '__Secure-refresh', refreshCookieSecure: false }, 'refreshCookieSecure'],
      [{ refreshCookieName: '__host-refresh', refreshCookiePath: '/api/' }, 'refreshCookiePath'],
      [{ refreshCookieName: '__Host-refresh', refreshCookieDomain: 'example.com' }, 'refreshCookieDomain'],
      [{ refreshCookieName: '__Host-refresh', refreshCookieSecure: false }, 'refreshCookieSecure'],
      [{ allowedOrigins: 'https://app.example.com' }, 'allowedOrigins'],
      [{ allowedOrigins: ['*'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['https://*.example.com'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['https://app.example.com/'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['https://app.example.com/path'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['https://app.example.com?x'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['https://user@app.example.com'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['ftp://app.example.com'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['app.example.com'] }, 'allowedOrigins'],
      [{ allowedOrigins: ['null'] }, 'allowedOrigins'],
      [{ allowedOrigins: [null] }, 'allowedOrigins'],
    ];
    for (const [input, setting] of rows) {
      assert.throws(() => defineSettings({ ...base, ...input } as SettingsInput), (error: unknown) => error instanceof ConfigurationError && error.setting === setting, JSON.stringify(input));
    }
  });

  it('accepts the prefixes when their rules hold', () => {
    assert.equal(defineSettings({ ...base, refreshCookieName: '__Host-refresh' }).refreshCookieName, '__Host-refresh');
    assert.equal(defineSettings({ ...base, refreshCookieName: '__Secure-refresh', refreshCookiePath: '/api/', refreshCookieDomain: 'example.com' }).refreshCookieDomain, 'example.com');
    assert.equal(defineSettings({ ...base, refreshCookieSecure: false, refreshCookieSameSite: 'Lax' }).refreshCookieSecure, false);
  });
});

describe('cookie transport: parsing the Cookie header', () => {
  it('finds the first cookie of that exact name', () => {
    assert.equal(readCookie('a=1; refresh_token=abc.def.ghi; refresh_token=second', 'refresh_token'), 'abc.def.ghi');
    assert.equal(readCookie('refresh_token=x', 'refresh_token'), 'x');
    assert.equal(readCookie('  refresh_token = x  ;b=2', 'refresh_token'), 'x');
    assert.equal(readCookie('refresh_token="x.y.z"', 'refresh_token'), 'x.y.z');
    assert.equal(readCookie('refresh_token=a=b', 'refresh_token'), 'a=b');
    assert.equal(readCookie('Refresh_Token=x; xrefresh_token=y; refresh_tokenx=z', 'refresh_token'), undefined);
    assert.equal(readCookie('flag; refresh_token', 'refresh_token'), undefined);
    assert.equal(readCookie('', 'refresh_token'), undefined);
    assert.equal(readCookie(undefined, 'refresh_token'), undefined);
  });

  it('never splits on commas (a cookie value cannot pose as a __Host- cookie)', () => {
    assert.equal(readCookie('x=a, __Host-refresh=evil; __Host-refresh=real', '__Host-refresh'), 'real');
    assert.equal(readCookie('x=a, __Host-refresh=evil', '__Host-refresh'), undefined);
  });

  it('is safe with prototype names and bounded in size', () => {
    assert.equal(readCookie('__proto__=x; constructor=y', '__proto__'), 'x');
    assert.equal(readCookie('a=1', 'constructor'), undefined);
    assert.equal(readCookie('a=1', 'toString'), undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined);
    const huge = `${'a=1; '.repeat(MAX_COOKIE_HEADER_LENGTH / 5)}refresh_token=x`;
    assert.equal(readCookie(huge, 'refresh_token'), undefined);
    assert.equal(readCookie(`pad=${'p'.repeat(1000)}; refresh_token=x`, 'refresh_token'), 'x');
  });
});

describe('cookie transport: same origin judged by Host', () => {
  it('compares host and port, with default ports omitted, and refuses odd values', () => {
    const same = OriginPolicy.isSameOrigin;
    assert.equal(same('https://api.example.com', 'api.example.com'), true);
    assert.equal(same('https://api.example.com', 'api.example.com:443'), true);
    assert.equal(same('http://127.0.0.1:8000', '127.0.0.1:8000'), true);
    assert.equal(same('http://[::1]:8000', '[::1]:8000'), true);
    assert.equal(same('https://API.example.com', 'api.example.com'), false);
    assert.equal(same('https://api.example.com', 'API.Example.com'), true);
    assert.equal(same('https://api.example.com:8443', 'api.example.com'), false);
    assert.equal(same('https://api.example.com', 'api.example.com.evil.test'), false);
    assert.equal(same('https://api.example.com', 'user@api.example.com'), false);
    assert.equal(same('https://api.example.com', 'api.example.com/x'), false);
    assert.equal(same('https://api.example.com', undefined), false);
    assert.equal(same('null', 'api.example.com'), false);
    assert.equal(same('https://api.example.com/', 'api.example.com'), false);
    assert.equal(same('file://api.example.com', 'api.example.com'), false);
  });
});
