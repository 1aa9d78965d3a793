/**
 * Hostile bodies, headers and tokens (SECURITY.md S4, S14, S18): each row's exact status and body,
 * never a 500, never a crash, no prototype pollution. Every row runs against the Fastify adapter
 * over real HTTP and against the framework-neutral handler directly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { AuthService, MemoryStore, createAuthHandler, type AuthHandler, type PasswordHasher } from '../src/index.js';
import { tokenpairFastify } from '../src/adapters/fastify.js';
import { PASSWORD, contractSettings, createTestUser, hasher } from './helpers/http-servers.js';

const NO_ACTIVE_ACCOUNT = { detail: 'No active account found with the given credentials', code: 'no_active_account' };
const TOKEN_INVALID = { detail: 'Token is invalid', code: 'token_not_valid' };
const NOT_VALID_FOR_ANY = {
  detail: 'Given token not valid for any token type',
  code: 'token_not_valid',
  messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token is invalid' }],
};
const NOT_A_STRING = ['Not a valid string.'];
const REQUIRED = ['This field is required.'];
const JSON_TYPE = { 'content-type': 'application/json' };

/** Anything goes for the body (a framework's own 404 or 431). */
const ANY = Symbol('any body');

interface Row {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  status: number;
  /** The exact JSON body; a function for bodies that depend on the input; `ANY` to skip. */
  expect: unknown;
  /** Rows a real HTTP client cannot send, or whose answer comes from Node's HTTP parser. */
  only?: 'http' | 'handler';
}

interface Answer {
  status: number;
  body: unknown;
}

const nested = (depth: number, open: string, close: string, inner = '1') => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
const login = (fields: string) => `{${fields}}`;

function rows(username: string): Row[] {
  const hugeType = `application/${'x'.repeat(10_000)}`;
  return [
    // Deep nesting within the size cap: a quick 400, no stack overflow.
    { name: '10,000 nested arrays', body: nested(10_000, '[', ']'), headers: JSON_TYPE, status: 400, expect: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] } },
    { name: '30,000 nested arrays (60 KB)', body: nested(30_000, '[', ']'), headers: JSON_TYPE, status: 400, expect: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] } },
    {
      name: '10,000 nested objects as the username',
      body: login(`"username":${nested(10_000, '{"a":', '}')},"password":"x"`),
      headers: JSON_TYPE,
      status: 400,
      expect: { username: NOT_A_STRING },
    },
    // Prototype pollution attempts: nothing inherited, nothing polluted.
    { name: '__proto__ key with a payload', body: login(`"__proto__":{"polluted":true},"username":"nobody","password":"x"`), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: '__proto__ supplying the fields', body: login(`"__proto__":{"username":"${username}","password":"${PASSWORD}"}`), headers: JSON_TYPE, status: 400, expect: { username: REQUIRED, password: REQUIRED } },
    { name: 'constructor.prototype payload', body: login(`"constructor":{"prototype":{"polluted":true}},"username":"nobody","password":"x"`), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'username "__proto__"', body: login(`"username":"__proto__","password":"x"`), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'form __proto__[polluted]', body: `__proto__[polluted]=1&constructor[prototype][polluted]=1&username=nobody&password=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'refresh field "toString"', path: '/api/token/refresh/', body: '{"toString":"x"}', headers: JSON_TYPE, status: 400, expect: { refresh: REQUIRED } },
    // Encoding.
    {
      name: 'invalid UTF-8 in a JSON body',
      body: Buffer.concat([Buffer.from('{"username":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","password":"x"}')]),
      headers: JSON_TYPE,
      status: 400,
      expect: { detail: 'JSON parse error - Invalid UTF-8 in request body', code: 'parse_error' },
    },
    { name: 'UTF-8 BOM before JSON', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"username":"a","password":"b"}')]), headers: JSON_TYPE, status: 400, expect: (body: Record<string, unknown>) => body.code === 'parse_error' },
    { name: 'duplicate keys: the last one wins (real user last)', body: login(`"username":"nobody","username":"${username}","password":"${PASSWORD}"`), headers: JSON_TYPE, status: 200, expect: (body: Record<string, unknown>) => Object.keys(body).join() === 'refresh,access' },
    { name: 'duplicate keys: the last one wins (real user first)', body: login(`"username":"${username}","username":"nobody","password":"${PASSWORD}"`), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'empty body with a JSON content type', body: '', headers: JSON_TYPE, status: 400, expect: { username: REQUIRED, password: REQUIRED } },
    { name: 'whitespace-only JSON body', body: ' \n\t ', headers: JSON_TYPE, status: 400, expect: { username: REQUIRED, password: REQUIRED } },
    { name: 'escaped NUL bytes in the fields', body: login(`"username":"${username}\\u0000","password":"${PASSWORD}\\u0000"`), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'a raw NUL byte inside a JSON string', body: login(`"username":"a\u0000b","password":"x"`), headers: JSON_TYPE, status: 400, expect: (body: Record<string, unknown>) => body.code === 'parse_error' },
    { name: 'a number too large for a double', body: login(`"username":1e400,"password":"x"`), headers: JSON_TYPE, status: 400, expect: { username: NOT_A_STRING } },
    { name: '5,000 keys', body: login(Array.from({ length: 5_000 }, (_, i) => `"k${i}":${i}`).join(',')), headers: JSON_TYPE, status: 400, expect: { username: REQUIRED, password: REQUIRED } },
    { name: 'a 60 KB username', body: login(`"username":"${'u'.repeat(60_000)}","password":"x"`), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    // Content types a framework might trip on: the handler decides (405 first, then 415 or the fields).
    { name: 'content type without a subtype', body: '{}', headers: { 'content-type': 'text' }, status: 415, expect: { detail: 'Unsupported media type "text" in request.', code: 'unsupported_media_type' } },
    { name: 'empty content type with a body', body: '{"username":"a","password":"b"}', headers: { 'content-type': '' }, status: 415, expect: { detail: 'Unsupported media type "" in request.', code: 'unsupported_media_type' } },
    { name: 'empty content type, empty body', body: '', headers: { 'content-type': '' }, status: 400, expect: { username: REQUIRED, password: REQUIRED } },
    { name: 'no content type, a body', body: new Uint8Array(Buffer.from('{"username":"a","password":"b"}')), status: 415, expect: { detail: 'Unsupported media type "" in request.', code: 'unsupported_media_type' } },
    { name: 'a 10 KB content type', body: '{}', headers: { 'content-type': hugeType }, status: 415, expect: { detail: `Unsupported media type "${hugeType.slice(0, 100)}" in request.`, code: 'unsupported_media_type' } },
    { name: 'PUT with an unparseable content type is still 405', method: 'PUT', body: '{}', headers: { 'content-type': 'garbage' }, status: 405, expect: { detail: 'Method "PUT" not allowed.', code: 'method_not_allowed' } },
    // Passwords: capped before hashing (S14).
    { name: 'a 5,000-byte password for a real user', body: JSON.stringify({ username, password: 'p'.repeat(5_000) }), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'a 5,000-byte password for an unknown user', body: JSON.stringify({ username: 'nobody', password: 'p'.repeat(5_000) }), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'a 2,000-character multi-byte password (6,000 bytes)', body: JSON.stringify({ username, password: '€'.repeat(2_000) }), headers: JSON_TYPE, status: 401, expect: NO_ACTIVE_ACCOUNT },
    // Tokens.
    { name: 'a token with 5,000 dots (verify)', path: '/api/token/verify/', body: JSON.stringify({ token: 'a.'.repeat(5_000) }), headers: JSON_TYPE, status: 401, expect: TOKEN_INVALID },
    { name: 'a token with 5,000 dots (bearer)', method: 'GET', path: '/api/sessions/', headers: { authorization: `Bearer ${'a.'.repeat(5_000)}` }, status: 401, expect: NOT_VALID_FOR_ANY },
    { name: 'a 60 KB three-segment token (verify)', path: '/api/token/verify/', body: JSON.stringify({ token: `${'e'.repeat(20_000)}.${'e'.repeat(20_000)}.${'e'.repeat(20_000)}` }), headers: JSON_TYPE, status: 401, expect: TOKEN_INVALID },
    { name: 'a token that is a JSON object', path: '/api/token/verify/', body: '{"token":{"alg":"none"}}', headers: JSON_TYPE, status: 400, expect: { token: NOT_A_STRING } },
    { name: 'alg "none"', path: '/api/token/verify/', body: JSON.stringify({ token: `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"token_type":"access","exp":9999999999,"jti":"x","user_id":"1"}').toString('base64url')}.` }), headers: JSON_TYPE, status: 401, expect: TOKEN_INVALID },
    // Headers.
    { name: 'a 15 KB junk header', headers: { ...JSON_TYPE, 'x-junk': 'j'.repeat(15_000) }, body: '{"username":"nobody","password":"x"}', status: 401, expect: NO_ACTIVE_ACCOUNT },
    { name: 'Bearer and 2,000 spaces then junk', method: 'GET', path: '/api/sessions/', headers: { authorization: `Bearer${' '.repeat(2_000)}junk` }, status: 401, expect: NOT_VALID_FOR_ANY },
    { name: 'Bearer and 5,000 parts', method: 'GET', path: '/api/sessions/', headers: { authorization: `Bearer ${'a '.repeat(5_000)}` }, status: 401, expect: { detail: 'Authorization header must contain two space-delimited values', code: 'bad_authorization_header' } },
    { name: 'a 1 MB token in Authorization (Node refuses the header)', method: 'GET', path: '/api/sessions/', headers: { authorization: `Bearer ${'a'.repeat(1 << 20)}` }, status: 431, expect: ANY, only: 'http' },
    { name: 'a 1 MB token in Authorization', method: 'GET', path: '/api/sessions/', headers: { authorization: `Bearer ${'a'.repeat(1 << 20)}` }, status: 401, expect: NOT_VALID_FOR_ANY, only: 'handler' },
    { name: 'a NUL byte in Authorization', method: 'GET', path: '/api/sessions/', headers: { authorization: 'Bearer a\u0000b' }, status: 401, expect: NOT_VALID_FOR_ANY, only: 'handler' },
    { name: 'a method with odd characters', method: 'G\u0000ET<script>', path: '/api/token/', status: 405, expect: { detail: 'Method "GETscript" not allowed.', code: 'method_not_allowed' }, only: 'handler' },
    // Paths.
    { name: 'a 5,000-character session id', method: 'DELETE', path: `/api/sessions/${'a'.repeat(5_000)}/`, status: 404, expect: { detail: 'Not found.', code: 'not_found' } },
    { name: 'a session id with a slash', method: 'DELETE', path: '/api/sessions/0123456789abcdef0123456789abcdef/x/', status: 404, expect: { detail: 'Not found.', code: 'not_found' } },
    { name: 'dot segments are not ours', method: 'POST', path: '/api/token/%2e%2e/', body: '{}', headers: JSON_TYPE, status: 404, expect: ANY },
  ];
}

/** Lengths of every password handed to the hasher. */
function spyHasher(real: PasswordHasher, seen: number[]): PasswordHasher {
  return {
    hash: (password) => (seen.push(password.length), real.hash(password)),
    verify: (encoded, password) => (seen.push(password.length), real.verify(encoded, password)),
    verifyDummy: (password) => (seen.push(password.length), real.verifyDummy(password)),
    stats: () => real.stats(),
  };
}

describe('hostile input', () => {
  const store = new MemoryStore();
  const seen: number[] = [];
  const service = new AuthService({ settings: contractSettings(), userStore: store, tokenStore: store, throttleStore: store, hasher: spyHasher(hasher, seen) });
  const handle: AuthHandler = createAuthHandler(service);
  let app: FastifyInstance;
  let baseUrl: string;

  before(async () => {
    await createTestUser(store, 'alice');
    app = Fastify();
    await app.register(tokenpairFastify, { service });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    app.server.closeAllConnections();
    await app.close();
  });

  const targets: Record<'http' | 'handler', (row: Row) => Promise<Answer>> = {
    http: async (row) => {
      const response = await fetch(`${baseUrl}${row.path ?? '/api/token/'}`, { method: row.method ?? 'POST', headers: row.headers, body: row.body });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // Not JSON: a framework's own page.
      }
      return { status: response.status, body };
    },
    handler: async (row) => {
      const headers = Object.fromEntries(Object.entries(row.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
      const body = row.body === undefined ? undefined : typeof row.body === 'string' ? Buffer.from(row.body) : row.body;
      const response = await handle({ method: row.method ?? 'POST', path: row.path ?? '/api/token/', headers, body, address: '127.0.0.1' });
      return response ? { status: response.status, body: response.body } : { status: 404, body: undefined };
    },
  };

  for (const target of ['http', 'handler'] as const) {
    describe(target === 'http' ? 'Fastify adapter over HTTP' : 'createAuthHandler', () => {
      for (const row of rows('alice')) {
        if (row.only && row.only !== target) continue;
        it(`${row.name} → ${row.status}`, async () => {
          const answer = await targets[target](row);
          assert.equal(answer.status, row.status, JSON.stringify(answer.body)?.slice(0, 300));
          if (typeof row.expect === 'function') assert.ok((row.expect as (body: unknown) => boolean)(answer.body), JSON.stringify(answer.body)?.slice(0, 300));
          else if (row.expect !== ANY) assert.deepEqual(answer.body, row.expect);
        });
      }
    });
  }

  it('hands no over-long password to the hasher', () => {
    // Over-long passwords cost one dummy verification of their first 64 characters (S13, S14).
    assert.ok(seen.length > 0);
    assert.deepEqual(seen.filter((length) => length > 64), []);
  });

  it('leaves Object.prototype untouched', () => {
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
    assert.equal(({} as Record<string, unknown>).username, undefined);
  });

  it('is still healthy: the real user logs in', async () => {
    const response = await fetch(`${baseUrl}/api/token/`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ username: 'alice', password: PASSWORD }) });
    assert.equal(response.status, 200);
  });
});
