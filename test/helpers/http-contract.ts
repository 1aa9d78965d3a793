/**
 * The HTTP contract (WIRE.md): one suite every way of serving tokenpair passes, over real loopback
 * HTTP with Node's fetch. Call `runHttpContract(name, start)`; `start(options)` serves a fresh
 * service (its settings = the suite's defaults + `options.settings`) with tokenpair's endpoints,
 * a protected `GET /api/me/` answering `{id, username}` and an unrelated `POST /echo/` answering
 * `{echo: <its parsed JSON body>}`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { type ContractServer, PASSWORD, type StartServer, createTestUser } from './http-servers.js';

const BEARER_CHALLENGE = 'Bearer realm="api"';

/** WIRE.md's bodies, spelled out here rather than taken from the code under test. */
const BODY = {
  noActiveAccount: { detail: 'No active account found with the given credentials', code: 'no_active_account' },
  noActiveAccountForToken: { detail: 'No active account found for the given token.', code: 'no_active_account' },
  invalid: { detail: 'Token is invalid', code: 'token_not_valid' },
  expired: { detail: 'Token is expired', code: 'token_not_valid' },
  wrongType: { detail: 'Token has wrong type', code: 'token_not_valid' },
  blacklisted: { detail: 'Token is blacklisted', code: 'token_not_valid' },
  refreshExpExpired: { detail: "Token 'refresh_exp' claim has expired", code: 'token_not_valid' },
  noUserId: { detail: 'Token contained no recognizable user identification', code: 'token_not_valid' },
  passwordChanged: { detail: "The user's password has been changed.", code: 'password_changed' },
  userNotFound: { detail: 'User not found', code: 'user_not_found' },
  userInactive: { detail: 'User is inactive', code: 'user_inactive' },
  notAuthenticated: { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' },
  badHeader: { detail: 'Authorization header must contain two space-delimited values', code: 'bad_authorization_header' },
  unsupportedTextPlain: { detail: 'Unsupported media type "text/plain" in request.', code: 'unsupported_media_type' },
  tooLarge: { detail: 'Request body too large.', code: 'payload_too_large' },
  notFound: { detail: 'Not found.', code: 'not_found' },
  unavailable: { detail: 'Service temporarily unavailable.', code: 'service_unavailable' },
  methodNotAllowed: (method: string) => ({ detail: `Method "${method}" not allowed.`, code: 'method_not_allowed' }),
  notValidForAnyType: (message: string) => ({
    detail: 'Given token not valid for any token type',
    code: 'token_not_valid',
    messages: [{ token_class: 'AccessToken', token_type: 'access', message }],
  }),
};

const REQUIRED = ['This field is required.'];
const BLANK = ['This field may not be blank.'];
const NOT_A_STRING = ['Not a valid string.'];

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or `undefined` when the body is empty. */
  body: unknown;
}

export interface CallOptions {
  /** Sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  bearer?: string;
}

/** One HTTP request with Node's fetch. */
export async function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  const response = await fetch(`${baseUrl}${path}`, init);
  const text = await response.text();
  let parsed: unknown;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/**
 * Exact status and body; `WWW-Authenticate` on every 401, `Retry-After` on every 429, and
 * `Cache-Control: no-store` on token endpoint responses.
 */
export function expectReply(reply: Reply, status: number, body: unknown, { tokenEndpoint = true } = {}): void {
  assert.equal(reply.status, status, `status ${reply.status}: ${reply.text.slice(0, 300)}`);
  assert.deepEqual(reply.body, body);
  if (status === 401) assert.equal(reply.headers.get('www-authenticate'), BEARER_CHALLENGE);
  else assert.equal(reply.headers.get('www-authenticate'), null);
  if (status === 429) assert.match(reply.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  if (tokenEndpoint) assert.equal(reply.headers.get('cache-control'), 'no-store');
  if (body !== undefined) assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
}

/**
 * One request written as is on a socket (for what fetch cannot send, e.g. an absolute-form
 * target) and the response: status, raw text, body. The request must ask for `Connection: close`.
 */
export function rawExchange(port: number, request: string): Promise<{ status: number; text: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error(`no complete response in 5 s: ${JSON.stringify(text)}`)));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
      const split = text.indexOf('\r\n\r\n');
      let body = text.slice(split + 4);
      if (/^transfer-encoding: chunked\r$/im.test(text.slice(0, split + 1))) {
        let decoded = '';
        for (let at = 0, size; (size = parseInt(body.slice(at, body.indexOf('\r\n', at)), 16)) > 0; at = body.indexOf('\r\n', at) + 2 + size + 2) {
          decoded += body.substr(body.indexOf('\r\n', at) + 2, size);
        }
        body = decoded;
      }
      resolve({ status, text, body });
    });
    socket.write(request);
  });
}

/** The claims of a compact JWS (no verification: the tests verify with the service). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

interface Pair {
  refresh: string;
  access: string;
}

/** Test-side view of one running server. */
function client(getServer: () => ContractServer) {
  let users = 0;
  const base = () => getServer().baseUrl;
  return {
    call: (method: string, path: string, options?: CallOptions) => call(base(), method, path, options),
    async user(active = true) {
      return createTestUser(getServer().store, `user${++users}`, active);
    },
    async login(username: string, userAgent?: string): Promise<Pair> {
      const reply = await call(base(), 'POST', '/api/token/', { json: { username, password: PASSWORD }, headers: userAgent ? { 'user-agent': userAgent } : {} });
      assert.equal(reply.status, 200, reply.text);
      return reply.body as Pair;
    },
  };
}

export function runHttpContract(name: string, start: StartServer): void {
  describe(`HTTP contract: ${name}`, () => {
    let server: ContractServer;
    before(async () => {
      server = await start();
    });
    after(() => server.close());
    const c = client(() => server);

    describe('POST /api/token/ (obtain)', () => {
      it('answers 200 {refresh, access} with no-store; both tokens verify and name the user', async () => {
        const user = await c.user();
        const reply = await c.call('POST', '/api/token/', { json: { username: user.username, password: PASSWORD } });
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(Object.keys(reply.body as object), ['refresh', 'access']);
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        assert.match(reply.headers.get('content-type') ?? '', /^application\/json\b/);
        const { refresh, access } = reply.body as Pair;
        assert.equal((await server.service.tokens.refresh.verify(refresh)).userId, user.id);
        assert.equal((await server.service.tokens.access.verify(access)).userId, user.id);
      });

      it('answers the same 401 for a wrong password, an unknown user and an inactive user', async () => {
        const user = await c.user();
        const inactive = await c.user(false);
        const replies = [
          await c.call('POST', '/api/token/', { json: { username: user.username, password: 'wrong password' } }),
          await c.call('POST', '/api/token/', { json: { username: 'nobody-at-all', password: PASSWORD } }),
          await c.call('POST', '/api/token/', { json: { username: inactive.username, password: PASSWORD } }),
          // Passwords are checked exactly as typed (S14): a trailing space is a wrong password.
          await c.call('POST', '/api/token/', { json: { username: user.username, password: `${PASSWORD} ` } }),
        ];
        for (const reply of replies) expectReply(reply, 401, BODY.noActiveAccount);
      });

      it('trims the username as DRF does', async () => {
        const user = await c.user();
        const reply = await c.call('POST', '/api/token/', { json: { username: `  ${user.username}\t`, password: PASSWORD } });
        assert.equal(reply.status, 200, reply.text);
      });

      it('reports field errors with DRF bodies, one key per bad field', async () => {
        const rows: Array<[unknown, unknown]> = [
          [{}, { username: REQUIRED, password: REQUIRED }],
          [{ username: 'someone' }, { password: REQUIRED }],
          [{ password: 'x' }, { username: REQUIRED }],
          [{ username: '   ', password: 'x' }, { username: BLANK }],
          [{ username: 'someone', password: '' }, { password: BLANK }],
          [{ username: '', password: '' }, { username: BLANK, password: BLANK }],
          [{ username: null, password: 'x' }, { username: ['This field may not be null.'] }],
          [{ username: { $ne: '' }, password: 'x' }, { username: NOT_A_STRING }],
          [{ username: ['admin'], password: 'x' }, { username: NOT_A_STRING }],
          [{ username: 'someone', password: true }, { password: NOT_A_STRING }],
          [{ username: {}, password: [] }, { username: NOT_A_STRING, password: NOT_A_STRING }],
        ];
        for (const [json, body] of rows) expectReply(await c.call('POST', '/api/token/', { json }), 400, body);
      });

      it('coerces numbers to strings (DRF CharField): a numeric username is looked up, not rejected', async () => {
        const reply = await c.call('POST', '/api/token/', { json: { username: 12345, password: 67890 } });
        expectReply(reply, 401, BODY.noActiveAccount);
      });

      it('answers 400 parse_error for invalid JSON', async () => {
        for (const text of ['{"username": "a", ', '{username: "a"}', 'nul', '{"a":1}}']) {
          const reply = await c.call('POST', '/api/token/', { body: text, headers: { 'content-type': 'application/json' } });
          assert.equal(reply.status, 400, reply.text);
          const body = reply.body as Record<string, unknown>;
          assert.deepEqual(Object.keys(body), ['detail', 'code']);
          assert.equal(body.code, 'parse_error');
          assert.match(String(body.detail), /^JSON parse error - ./);
          assert.equal(reply.headers.get('cache-control'), 'no-store');
        }
      });

      it('answers 400 when the JSON is not an object', async () => {
        const reply = await c.call('POST', '/api/token/', { json: ['username', 'password'] });
        expectReply(reply, 400, { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] });
      });

      it('accepts application/x-www-form-urlencoded and JSON with a charset', async () => {
        const user = await c.user();
        const form = await c.call('POST', '/api/token/', { body: new URLSearchParams({ username: user.username, password: PASSWORD }) });
        assert.equal(form.status, 200, form.text);
        assert.deepEqual(Object.keys(form.body as object), ['refresh', 'access']);
        const charset = await c.call('POST', '/api/token/', {
          json: { username: user.username, password: PASSWORD },
          headers: { 'content-type': 'application/json; charset=utf-8' },
        });
        assert.equal(charset.status, 200, charset.text);
      });

      it('answers 415 for text/plain', async () => {
        const reply = await c.call('POST', '/api/token/', { body: '{"username":"a","password":"b"}', headers: { 'content-type': 'text/plain' } });
        expectReply(reply, 415, BODY.unsupportedTextPlain);
      });

      it('answers 415 for content types a framework cannot parse, with the header quoted', async () => {
        const text = await c.call('POST', '/api/token/', { body: '{}', headers: { 'content-type': 'text' } });
        expectReply(text, 415, { detail: 'Unsupported media type "text" in request.', code: 'unsupported_media_type' });
        const empty = await c.call('POST', '/api/token/', { body: '{}', headers: { 'content-type': '' } });
        expectReply(empty, 415, { detail: 'Unsupported media type "" in request.', code: 'unsupported_media_type' });
      });

      it('answers 413 for a body over 64 KiB (declared length), and accepts one of exactly 64 KiB', async () => {
        const filler = (size: number) => {
          const head = '{"username":"nobody","password":"x","pad":"';
          return `${head}${'a'.repeat(size - head.length - 2)}"}`;
        };
        assert.equal(filler(65_537).length, 65_537);
        expectReply(await c.call('POST', '/api/token/', { body: filler(65_537), headers: { 'content-type': 'application/json' } }), 413, BODY.tooLarge);
        expectReply(await c.call('POST', '/api/token/', { body: filler(65_536), headers: { 'content-type': 'application/json' } }), 401, BODY.noActiveAccount);
      });

      it('answers 413 for a streamed body that passes 64 KiB (no Content-Length)', async () => {
        let sent = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent === 0) controller.enqueue(Buffer.from('{"username":"nobody","password":"x","pad":"'));
            if (sent >= 80 * 1024) return controller.close();
            controller.enqueue(Buffer.alloc(8 * 1024, 'a'));
            sent += 8 * 1024;
          },
        });
        const reply = await c.call('POST', '/api/token/', { body: stream, headers: { 'content-type': 'application/json' } });
        expectReply(reply, 413, BODY.tooLarge);
      });

      it('answers 405 for GET and PUT, with Allow', async () => {
        const get = await c.call('GET', '/api/token/');
        expectReply(get, 405, BODY.methodNotAllowed('GET'));
        assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
        const put = await c.call('PUT', '/api/token/', { json: { username: 'a', password: 'b' } });
        expectReply(put, 405, BODY.methodNotAllowed('PUT'));
      });

      it('answers OPTIONS with 204 and Allow', async () => {
        const reply = await c.call('OPTIONS', '/api/token/');
        assert.equal(reply.status, 204);
        assert.equal(reply.headers.get('allow'), 'POST, OPTIONS');
        assert.equal(reply.text, '');
      });
    });

    describe('POST /api/token/refresh/', () => {
      it('rotates: 200 {access, refresh}; the spent token is then blacklisted, the successor works', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        const first = await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.refresh } });
        assert.equal(first.status, 200, first.text);
        assert.equal(first.headers.get('cache-control'), 'no-store');
        assert.deepEqual(Object.keys(first.body as object).sort(), ['access', 'refresh']);
        const next = first.body as Pair;
        assert.equal((await server.service.tokens.access.verify(next.access)).userId, user.id);
        assert.notEqual(claimsOf(next.refresh).jti, claimsOf(pair.refresh).jti);
        // A replay inside the grace period is refused but revokes nothing (concurrent tabs).
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.refresh } }), 401, BODY.blacklisted);
        const second = await c.call('POST', '/api/token/refresh/', { json: { refresh: next.refresh } });
        assert.equal(second.status, 200, second.text);
      });

      it('lets exactly one of 8 concurrent refreshes with one token win, 20 rounds in a row', async () => {
        const user = await c.user();
        let token = (await c.login(user.username)).refresh;
        for (let round = 0; round < 20; round++) {
          const replies = await Promise.all(Array.from({ length: 8 }, () => c.call('POST', '/api/token/refresh/', { json: { refresh: token } })));
          const winners = replies.filter((reply) => reply.status === 200);
          assert.equal(winners.length, 1, `round ${round}: ${replies.map((r) => r.status).join(',')}`);
          for (const reply of replies) if (reply.status !== 200) expectReply(reply, 401, BODY.blacklisted);
          // The winner's successor is the next round's token: it must work.
          token = (winners[0]!.body as Pair).refresh;
        }
      });

      it('refuses an access token: Token has wrong type', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.access } }), 401, BODY.wrongType);
      });

      it('refuses garbage: Token is invalid; a missing field: 400', async () => {
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: 'not.a.token' } }), 401, BODY.invalid);
        expectReply(await c.call('POST', '/api/token/refresh/', { json: {} }), 400, { refresh: REQUIRED });
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: '' } }), 400, { refresh: BLANK });
      });

      it('refuses a deleted or inactive user: no_active_account', async () => {
        const ghost = server.service.tokens.refresh.forUser({ id: '99999', securityStamp: 'gone' }).toString();
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: ghost } }), 401, BODY.noActiveAccountForToken);
        const user = await c.user();
        const pair = await c.login(user.username);
        await server.store.setActive(user.id, false);
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.refresh } }), 401, BODY.noActiveAccountForToken);
      });
    });

    describe('POST /api/token/verify/', () => {
      it('answers 200 {} for an access and a refresh token', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        expectReply(await c.call('POST', '/api/token/verify/', { json: { token: pair.access } }), 200, {});
        expectReply(await c.call('POST', '/api/token/verify/', { json: { token: pair.refresh } }), 200, {});
      });

      it('answers 401 Token is blacklisted for a blacklisted refresh token (differs: simplejwt 400)', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        expectReply(await c.call('POST', '/api/token/blacklist/', { json: { refresh: pair.refresh } }), 200, {});
        expectReply(await c.call('POST', '/api/token/verify/', { json: { token: pair.refresh } }), 401, BODY.blacklisted);
      });

      it('answers 401 Token is invalid for a bad signature, 400 without a token', async () => {
        const user = await c.user();
        const { access } = await c.login(user.username);
        const forged = `${access.slice(0, access.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
        expectReply(await c.call('POST', '/api/token/verify/', { json: { token: forged } }), 401, BODY.invalid);
        expectReply(await c.call('POST', '/api/token/verify/', { json: {} }), 400, { token: REQUIRED });
      });
    });

    describe('POST /api/token/blacklist/', () => {
      it('answers 200 {}, then 401 Token is blacklisted; the token no longer refreshes', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        expectReply(await c.call('POST', '/api/token/blacklist/', { json: { refresh: pair.refresh } }), 200, {});
        expectReply(await c.call('POST', '/api/token/blacklist/', { json: { refresh: pair.refresh } }), 401, BODY.blacklisted);
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.refresh } }), 401, BODY.blacklisted);
      });

      it('refuses an access token: Token has wrong type', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        expectReply(await c.call('POST', '/api/token/blacklist/', { json: { refresh: pair.access } }), 401, BODY.wrongType);
      });
    });

    describe('POST /api/logout/', () => {
      it('answers 205 with an empty body and blacklists the refresh token', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        const reply = await c.call('POST', '/api/logout/', { bearer: pair.access, json: { refresh: pair.refresh } });
        assert.equal(reply.status, 205, reply.text);
        assert.equal(reply.text, '');
        assert.equal(reply.headers.get('cache-control'), 'no-store');
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.refresh } }), 401, BODY.blacklisted);
      });

      it('needs a bearer token', async () => {
        const user = await c.user();
        const pair = await c.login(user.username);
        expectReply(await c.call('POST', '/api/logout/', { json: { refresh: pair.refresh } }), 401, BODY.notAuthenticated);
      });

      it("refuses another user's refresh token", async () => {
        const alice = await c.user();
        const bob = await c.user();
        const a = await c.login(alice.username);
        const b = await c.login(bob.username);
        expectReply(await c.call('POST', '/api/logout/', { bearer: a.access, json: { refresh: b.refresh } }), 401, BODY.invalid);
        const still = await c.call('POST', '/api/token/refresh/', { json: { refresh: b.refresh } });
        assert.equal(still.status, 200, still.text);
      });
    });

    describe('POST /api/logout/all/', () => {
      it('answers 205, revokes every family, and older access tokens fail with password_changed', async () => {
        const user = await c.user();
        const phone = await c.login(user.username, 'phone');
        const laptop = await c.login(user.username, 'laptop');
        const reply = await c.call('POST', '/api/logout/all/', { bearer: laptop.access });
        assert.equal(reply.status, 205, reply.text);
        assert.equal(reply.text, '');
        for (const pair of [phone, laptop]) {
          // The family is revoked (verify checks only that) ...
          expectReply(await c.call('POST', '/api/token/verify/', { json: { token: pair.refresh } }), 401, BODY.blacklisted);
          // ... and with checkRevokeToken the stamp check names the reason first: issued before logout-all.
          expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: pair.refresh } }), 401, BODY.passwordChanged);
          expectReply(await c.call('GET', '/api/me/', { bearer: pair.access }), 401, BODY.passwordChanged, { tokenEndpoint: false });
        }
        // A new login works and is the only session.
        const fresh = await c.login(user.username, 'tablet');
        const sessions = await c.call('GET', '/api/sessions/', { bearer: fresh.access });
        assert.equal(sessions.status, 200, sessions.text);
        assert.deepEqual((sessions.body as Array<{ user_agent: string }>).map((s) => s.user_agent), ['tablet']);
      });
    });

    describe('GET /api/sessions/ and DELETE /api/sessions/{id}/', () => {
      it("lists the user's live sessions: id, created, last_used, user_agent", async () => {
        const user = await c.user();
        await c.login(user.username, 'Firefox/140');
        const chrome = await c.login(user.username, 'Chrome/139');
        const reply = await c.call('GET', '/api/sessions/', { bearer: chrome.access });
        expectReply(reply, 200, reply.body);
        const sessions = reply.body as Array<Record<string, unknown>>;
        assert.equal(sessions.length, 2);
        assert.deepEqual(sessions.map((s) => s.user_agent).sort(), ['Chrome/139', 'Firefox/140']);
        for (const session of sessions) {
          assert.match(String(session.id), /^[0-9a-f]{32}$/);
          for (const field of ['created', 'last_used']) assert.ok(!Number.isNaN(Date.parse(String(session[field]))), `${field}: ${String(session[field])}`);
        }
      });

      it('DELETE revokes that family: 204, then its refresh token is blacklisted; the other session lives', async () => {
        const user = await c.user();
        const firefox = await c.login(user.username, 'Firefox/140');
        const chrome = await c.login(user.username, 'Chrome/139');
        const list = await c.call('GET', '/api/sessions/', { bearer: chrome.access });
        const target = (list.body as Array<{ id: string; user_agent: string }>).find((s) => s.user_agent === 'Firefox/140')!;
        const reply = await c.call('DELETE', `/api/sessions/${target.id}/`, { bearer: chrome.access });
        assert.equal(reply.status, 204, reply.text);
        assert.equal(reply.text, '');
        expectReply(await c.call('POST', '/api/token/refresh/', { json: { refresh: firefox.refresh } }), 401, BODY.blacklisted);
        const after = await c.call('GET', '/api/sessions/', { bearer: chrome.access });
        assert.deepEqual((after.body as Array<{ user_agent: string }>).map((s) => s.user_agent), ['Chrome/139']);
        const live = await c.call('POST', '/api/token/refresh/', { json: { refresh: chrome.refresh } });
        assert.equal(live.status, 200, live.text);
      });

      it("answers 404 for an unknown id, a malformed id, and another user's session", async () => {
        const alice = await c.user();
        const bob = await c.user();
        const a = await c.login(alice.username);
        const b = await c.login(bob.username);
        const bobs = ((await c.call('GET', '/api/sessions/', { bearer: b.access })).body as Array<{ id: string }>)[0]!.id;
        for (const id of ['0123456789abcdef0123456789abcdef', 'not-a-session', bobs]) {
          expectReply(await c.call('DELETE', `/api/sessions/${id}/`, { bearer: a.access }), 404, BODY.notFound);
        }
        const still = await c.call('POST', '/api/token/refresh/', { json: { refresh: b.refresh } });
        assert.equal(still.status, 200, still.text);
      });

      it('needs a bearer token; POST is 405', async () => {
        expectReply(await c.call('GET', '/api/sessions/'), 401, BODY.notAuthenticated);
        const post = await c.call('POST', '/api/sessions/', { json: {} });
        expectReply(post, 405, BODY.methodNotAllowed('POST'));
        assert.equal(post.headers.get('allow'), 'GET, OPTIONS');
      });
    });

    describe('GET /.well-known/jwks.json', () => {
      it('answers {"keys":[]} for HS256; HEAD has no body; POST is 405', async () => {
        expectReply(await c.call('GET', '/.well-known/jwks.json'), 200, { keys: [] }, { tokenEndpoint: false });
        const head = await c.call('HEAD', '/.well-known/jwks.json');
        assert.equal(head.status, 200);
        assert.equal(head.text, '');
        expectReply(await c.call('POST', '/.well-known/jwks.json', { json: {} }), 405, BODY.methodNotAllowed('POST'));
      });
    });

    describe('HEAD wherever GET', () => {
      it('GET /api/sessions/ and GET /api/me/ answer HEAD with the same status and headers, no body', async () => {
        const user = await c.user();
        const { access } = await c.login(user.username);
        for (const path of ['/api/sessions/', '/api/me/']) {
          const get = await c.call('GET', path, { bearer: access });
          const head = await c.call('HEAD', path, { bearer: access });
          assert.equal(get.status, 200, `GET ${path}: ${get.text}`);
          assert.deepEqual({ status: head.status, text: head.text }, { status: 200, text: '' }, `HEAD ${path}`);
          assert.equal(head.headers.get('content-type'), get.headers.get('content-type'));
          const anonymous = await c.call('HEAD', path);
          assert.deepEqual({ status: anonymous.status, text: anonymous.text, challenge: anonymous.headers.get('www-authenticate') }, { status: 401, text: '', challenge: BEARER_CHALLENGE }, `HEAD ${path} without a token`);
        }
      });
    });

    describe('absolute-form request targets (RFC 9112 §3.2.2)', () => {
      it('are served like origin-form ones: a login, the JWKS, a 405', async () => {
        const user = await c.user();
        const { port, host } = new URL(server.baseUrl);
        const body = JSON.stringify({ username: user.username, password: PASSWORD });
        const login = await rawExchange(Number(port), `POST http://${host}/api/token/?next=1 HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        assert.equal(login.status, 200, login.text);
        assert.deepEqual(Object.keys(JSON.parse(login.body) as object), ['refresh', 'access']);
        const jwks = await rawExchange(Number(port), `GET http://${host}/.well-known/jwks.json HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.deepEqual({ status: jwks.status, body: jwks.body }, { status: 200, body: '{"keys":[]}' });
        const get = await rawExchange(Number(port), `GET http://${host}/api/token/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.deepEqual({ status: get.status, body: JSON.parse(get.body) as unknown }, { status: 405, body: BODY.methodNotAllowed('GET') });
      });
    });

    describe('protected routes (the bearer authenticator)', () => {
      const me = (authorization?: string) => c.call('GET', '/api/me/', authorization === undefined ? {} : { headers: { authorization } });
      const protectedReply = (reply: Reply, status: number, body: unknown) => expectReply(reply, status, body, { tokenEndpoint: false });

      it('answers the route with the principal for a valid token', async () => {
        const user = await c.user();
        const { access } = await c.login(user.username);
        const reply = await me(`Bearer ${access}`);
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.body, { id: user.id, username: user.username });
      });

      it('accepts the scheme in any case and any run of spaces or tabs', async () => {
        const user = await c.user();
        const { access } = await c.login(user.username);
        for (const header of [`bearer ${access}`, `BEARER ${access}`, `Bearer\t${access}`, `Bearer   ${access}`, `Bearer \t ${access}`]) {
          const reply = await me(header);
          assert.equal(reply.status, 200, `${JSON.stringify(header.slice(0, 10))}: ${reply.text}`);
        }
      });

      it('answers not_authenticated for no header, an empty one, or another scheme', async () => {
        protectedReply(await me(), 401, BODY.notAuthenticated);
        for (const header of ['', 'Token abc', 'Basic dXNlcjpwYXNz', 'Bearerabc']) protectedReply(await me(header), 401, BODY.notAuthenticated);
      });

      it('answers bad_authorization_header for "Bearer" alone or three parts', async () => {
        for (const header of ['Bearer', 'Bearer a b', 'Bearer a.b.c extra']) protectedReply(await me(header), 401, BODY.badHeader);
      });

      it('answers token_not_valid with messages for an invalid token, and names the reason', async () => {
        protectedReply(await me('Bearer not-a-token'), 401, BODY.notValidForAnyType('Token is invalid'));
        const user = await c.user();
        const { refresh } = await c.login(user.username);
        protectedReply(await me(`Bearer ${refresh}`), 401, BODY.notValidForAnyType('Token has wrong type'));
      });

      it('answers the user errors: no user id claim, user gone, user inactive', async () => {
        const anonymous = server.service.tokens.access.create().toString();
        protectedReply(await me(`Bearer ${anonymous}`), 401, BODY.noUserId);
        const ghost = server.service.tokens.access.forUser({ id: '99999', securityStamp: 'gone' }).toString();
        protectedReply(await me(`Bearer ${ghost}`), 401, BODY.userNotFound);
        const user = await c.user();
        const { access } = await c.login(user.username);
        await server.store.setActive(user.id, false);
        protectedReply(await me(`Bearer ${access}`), 401, BODY.userInactive);
      });
    });

    describe('other routes', () => {
      it('are left alone: their bodies and parsers are intact; near-miss paths are not served', async () => {
        const echo = await c.call('POST', '/echo/', { json: { hello: 'world' } });
        assert.equal(echo.status, 200, echo.text);
        assert.deepEqual(echo.body, { echo: { hello: 'world' } });
        for (const path of ['/api/token', '/api/token/x/', '/api/sessions', '/api/token/sliding/']) {
          const reply = await c.call('POST', path, { json: {} });
          assert.equal(reply.status, 404, `${path}: ${reply.text}`);
        }
      });
    });

    describe('with a moving clock, reuse grace 0, throttle 3 per username, sliding endpoints on', () => {
      let clocked: ContractServer;
      let now = Date.now();
      const t = client(() => clocked);
      before(async () => {
        clocked = await start({
          clock: () => now,
          settings: {
            accessTokenLifetime: '5m',
            refreshTokenLifetime: '1h',
            slidingTokenLifetime: '5m',
            slidingTokenRefreshLifetime: '1h',
            reuseGracePeriod: 0,
            loginThrottlePerUsername: 3,
            loginThrottleWindow: '15m',
          },
          handler: { sliding: true },
        });
      });
      after(() => clocked.close());
      const advance = (seconds: number) => {
        now += seconds * 1000;
      };

      it('expires access tokens: the authenticator and verify say Token is expired', async () => {
        const user = await t.user();
        const { access } = await t.login(user.username);
        advance(5 * 60);
        expectReply(await t.call('GET', '/api/me/', { bearer: access }), 401, BODY.notValidForAnyType('Token is expired'), { tokenEndpoint: false });
        expectReply(await t.call('POST', '/api/token/verify/', { json: { token: access } }), 401, BODY.expired);
      });

      it('expires refresh tokens: Token is expired', async () => {
        const user = await t.user();
        const { refresh } = await t.login(user.username);
        advance(60 * 60);
        expectReply(await t.call('POST', '/api/token/refresh/', { json: { refresh } }), 401, BODY.expired);
      });

      it('revokes the family when a spent token is replayed after the grace period', async () => {
        const user = await t.user();
        const first = await t.login(user.username);
        const rotated = await t.call('POST', '/api/token/refresh/', { json: { refresh: first.refresh } });
        assert.equal(rotated.status, 200, rotated.text);
        advance(1);
        expectReply(await t.call('POST', '/api/token/refresh/', { json: { refresh: first.refresh } }), 401, BODY.blacklisted);
        const successor = (rotated.body as Pair).refresh;
        expectReply(await t.call('POST', '/api/token/refresh/', { json: { refresh: successor } }), 401, BODY.blacklisted);
        expectReply(await t.call('POST', '/api/token/verify/', { json: { token: successor } }), 401, BODY.blacklisted);
      });

      it('throttles after 3 failures: 429 with Retry-After, even for the right password, until the window ends', async () => {
        const user = await t.user();
        const attempt = (password: string) => t.call('POST', '/api/token/', { json: { username: user.username, password } });
        for (let i = 0; i < 3; i++) expectReply(await attempt('wrong'), 401, BODY.noActiveAccount);
        for (const password of ['wrong', PASSWORD]) {
          const reply = await attempt(password);
          const wait = Number(reply.headers.get('retry-after'));
          expectReply(reply, 429, { detail: `Request was throttled. Expected available in ${wait} seconds.`, code: 'throttled' });
          assert.ok(wait >= 1 && wait <= 15 * 60, `Retry-After ${wait}`);
        }
        // Per username: another account is not affected.
        const other = await t.user();
        await t.login(other.username);
        // No permanent lock-out: once the window has passed the right password works.
        const wait = Number((await attempt(PASSWORD)).headers.get('retry-after'));
        advance(wait);
        const after = await attempt(PASSWORD);
        assert.equal(after.status, 200, after.text);
      });

      it('a burst of concurrent logins gets no more password checks than the limit: the rest, the right password included, 429', async () => {
        const user = await t.user();
        const passwords = [...Array.from({ length: 11 }, () => 'wrong'), PASSWORD];
        const replies = await Promise.all(passwords.map((password) => t.call('POST', '/api/token/', { json: { username: user.username, password } })));
        const statuses = replies.map((reply) => reply.status);
        assert.equal(statuses.filter((status) => status === 401 || status === 200).length, 3, JSON.stringify(statuses));
        assert.equal(statuses.filter((status) => status === 429).length, 9, JSON.stringify(statuses));
        for (const reply of replies) {
          if (reply.status === 429) expectReply(reply, 429, { detail: `Request was throttled. Expected available in ${reply.headers.get('retry-after')} seconds.`, code: 'throttled' });
        }
        advance(15 * 60);
      });

      it('successful logins do not count toward the throttle: only failures do', async () => {
        const user = await t.user();
        for (let i = 0; i < 5; i++) await t.login(user.username);
        for (let i = 0; i < 2; i++) expectReply(await t.call('POST', '/api/token/', { json: { username: user.username, password: 'wrong' } }), 401, BODY.noActiveAccount);
        await t.login(user.username);
        expectReply(await t.call('POST', '/api/token/', { json: { username: user.username, password: 'wrong' } }), 401, BODY.noActiveAccount);
        const reply = await t.call('POST', '/api/token/', { json: { username: user.username, password: PASSWORD } });
        assert.equal(reply.status, 429, reply.text);
        advance(15 * 60);
      });

      it('serves sliding tokens: obtain {token}; refresh keeps jti and refresh_exp, moves exp and iat', async () => {
        const user = await t.user();
        const obtained = await t.call('POST', '/api/token/sliding/', { json: { username: user.username, password: PASSWORD } });
        assert.equal(obtained.status, 200, obtained.text);
        assert.equal(obtained.headers.get('cache-control'), 'no-store');
        assert.deepEqual(Object.keys(obtained.body as object), ['token']);
        let token = (obtained.body as { token: string }).token;
        const original = claimsOf(token);
        assert.equal(original.token_type, 'sliding');
        advance(10);
        const refreshed = await t.call('POST', '/api/token/sliding/refresh/', { json: { token } });
        assert.equal(refreshed.status, 200, refreshed.text);
        assert.deepEqual(Object.keys(refreshed.body as object), ['token']);
        token = (refreshed.body as { token: string }).token;
        const next = claimsOf(token);
        assert.equal(next.jti, original.jti);
        assert.equal(next.refresh_exp, original.refresh_exp);
        assert.equal(next.exp, (original.exp as number) + 10);
        assert.equal(next.iat, (original.iat as number) + 10);
        await clocked.service.tokens.sliding.verify(token);
        // Keep sliding every 4 minutes: it works until refresh_exp (1 hour after login), not after.
        for (let elapsed = 4 * 60 + 10; ; elapsed += 4 * 60) {
          advance(4 * 60);
          const reply = await t.call('POST', '/api/token/sliding/refresh/', { json: { token } });
          if (elapsed < 60 * 60) {
            assert.equal(reply.status, 200, `${elapsed}s: ${reply.text}`);
            token = (reply.body as { token: string }).token;
          } else {
            expectReply(reply, 401, BODY.refreshExpExpired);
            break;
          }
        }
      });

      it('refuses other token types at the sliding refresh endpoint', async () => {
        const user = await t.user();
        const pair = await t.login(user.username);
        expectReply(await t.call('POST', '/api/token/sliding/refresh/', { json: { token: pair.refresh } }), 401, BODY.wrongType);
        expectReply(await t.call('GET', '/api/token/sliding/'), 405, BODY.methodNotAllowed('GET'));
      });
    });

    describe('store unavailable (fail closed, S12)', () => {
      let broken: ContractServer;
      let pair: Pair;
      before(async () => {
        broken = await start();
        const user = await createTestUser(broken.store, 'doomed');
        const reply = await call(broken.baseUrl, 'POST', '/api/token/', { json: { username: user.username, password: PASSWORD } });
        pair = reply.body as Pair;
        await broken.store.close();
      });
      after(() => broken.close());

      it('answers 503 on every endpoint that needs the store, and never a token', async () => {
        const requests: Array<[string, string, CallOptions]> = [
          ['POST', '/api/token/', { json: { username: 'doomed', password: PASSWORD } }],
          ['POST', '/api/token/refresh/', { json: { refresh: pair.refresh } }],
          ['POST', '/api/token/verify/', { json: { token: pair.refresh } }],
          ['POST', '/api/token/blacklist/', { json: { refresh: pair.refresh } }],
          ['POST', '/api/logout/', { bearer: pair.access, json: { refresh: pair.refresh } }],
          ['POST', '/api/logout/all/', { bearer: pair.access }],
          ['GET', '/api/sessions/', { bearer: pair.access }],
        ];
        for (const [method, path, options] of requests) {
          const reply = await call(broken.baseUrl, method, path, options);
          expectReply(reply, 503, BODY.unavailable);
        }
        expectReply(await call(broken.baseUrl, 'GET', '/api/me/', { bearer: pair.access }), 503, BODY.unavailable, { tokenEndpoint: false });
      });
    });
  });
}
