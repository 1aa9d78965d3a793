/**
 * The standalone server: `tokenpair serve` as a real child process over HTTP (login with a user made
 * by the CLI, /api/me/, probes, the OpenAPI document, SIGTERM, restart on the same data directory),
 * and `buildServer` in process for what needs a look inside (log contents, draining on close).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { AuthService, createPasswordHasher, DEFAULT_PATHS, defineSettings, MemoryStore } from '../src/index.js';
import { openApiDocument } from '../src/server/openapi.js';
import { buildServer } from '../src/server/app.js';
import { runCli, startServer, stopServer, tempDir, type ServerProcess } from './helpers/cli-process.js';

const PASSWORD = 'server test password 42';
const SECRET = 'server-test-secret-0123456789abcdef0123456789abcdef';
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

async function call(url: string, path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(`${url}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const decode = (token: string, part: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[part]!, 'base64url').toString('utf8')) as Record<string, unknown>;

/**
 * One request written on a raw socket (`writes` one after another, `every` ms apart): everything the
 * server sent until it closed the connection, and after how long. Fails after `limitMs`.
 */
function rawRequest(port: number, writes: string[], { every = 0, limitMs = 10_000 } = {}): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let next = 0;
    const write = () => {
      if (next < writes.length && socket.writable) socket.write(writes[next++]!);
    };
    const ticker = every > 0 ? setInterval(write, every) : null;
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${limitMs} ms; got ${JSON.stringify(text)}`));
    }, limitMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => {}); // a reset after the answer: what was received is what counts
    socket.on('close', () => {
      if (ticker) clearInterval(ticker);
      clearTimeout(limit);
      resolve({ text, ms: Date.now() - started });
    });
    if (every > 0) write();
    else for (const chunk of writes) socket.write(chunk);
  });
}

/** The raw response tokenpair writes for a client error: complete, JSON, no-store, connection closed. */
function clientErrorText(status: string, body: object): string {
  const json = JSON.stringify(body);
  return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${json}`;
}

const TIMED_OUT = clientErrorText('408 Request Timeout', { detail: 'Request timed out.', code: 'request_timeout' });

/** Every path of WIRE.md, as the OpenAPI document must list it. */
const WIRE_PATHS = [...Object.values(DEFAULT_PATHS), `${DEFAULT_PATHS.sessions}{id}/`];

describe('tokenpair serve (a real process)', () => {
  let dir: ReturnType<typeof tempDir>;
  let server: ServerProcess;
  let dataArgs: string[];
  /** Tokens the tests hand on, and every secret that must never reach a log. */
  const seen = { access: '', refresh: '', spentRefresh: '', loggedOutRefresh: '', secrets: [] as string[] };

  before(async () => {
    dir = tempDir('tokenpair-server-');
    dataArgs = ['--data-dir', dir.path];
    const created = await runCli(['createuser', 'alice', '--password-stdin', ...dataArgs], { input: `${PASSWORD}\n` });
    assert.equal(created.code, 0, created.stderr);
    server = await startServer(dataArgs);
  });
  after(async () => {
    if (server.child.exitCode === null && server.child.signalCode === null) await stopServer(server);
    dir.cleanup();
  });

  it('prints where it listens and where its data is', () => {
    assert.match(server.output().stdout, new RegExp(`^tokenpair listening on http://127\\.0\\.0\\.1:\\d+ \\(data: ${dir.path.replaceAll('.', '\\.')}\\)$`, 'm'));
  });

  it('generated a signing key on first start into keys.json, mode 0600', () => {
    const path = join(dir.path, 'keys.json');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const keys = JSON.parse(readFileSync(path, 'utf8')) as Array<{ signingKey: string }>;
    assert.equal(keys.length, 1);
    seen.secrets.push(keys[0]!.signingKey);
    // The database holds password hashes: the owner's alone too.
    assert.equal(statSync(join(dir.path, 'tokenpair.sqlite3')).mode & 0o777, 0o600);
    assert.equal(statSync(dir.path).mode & 0o777, 0o700);
  });

  it('logs in a user created by the CLI; GET /api/me/ answers {id, username}', async () => {
    const login = await call(server.url, '/api/token/', { body: { username: 'alice', password: PASSWORD } });
    assert.equal(login.status, 200);
    assert.deepEqual(Object.keys(login.body).sort(), ['access', 'refresh']);
    assert.equal(login.headers.get('cache-control'), 'no-store');
    seen.access = login.body.access;
    seen.refresh = login.body.refresh;
    assert.equal(decode(seen.access, 0).alg, 'HS256');
    assert.match(String(decode(seen.access, 0).kid), /^\d{8}-[0-9a-f]{8}$/);

    const me = await call(server.url, '/api/me/', { token: seen.access });
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { id: '1', username: 'alice' });

    const anonymous = await call(server.url, '/api/me/');
    assert.equal(anonymous.status, 401);
    assert.deepEqual(anonymous.body, { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' });
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="api"');
  });

  it('wrong credentials: 401 no_active_account', async () => {
    const wrong = await call(server.url, '/api/token/', { body: { username: 'alice', password: 'not it' } });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.body, { detail: 'No active account found with the given credentials', code: 'no_active_account' });
  });

  it('GET /healthz and GET /readyz', async () => {
    const health = await call(server.url, '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await call(server.url, '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready' });
  });

  it('GET /openapi.json describes every WIRE.md path, /api/me/ and the error bodies', async () => {
    const doc = await call(server.url, '/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.1.0');
    for (const path of [...WIRE_PATHS, '/api/me/', '/healthz', '/readyz', '/openapi.json']) assert.ok(doc.body.paths[path], `missing ${path}`);
    assert.deepEqual(doc.body.paths['/api/token/'].post.requestBody.content['application/json'].schema.required, ['username', 'password']);
    assert.ok(doc.body.paths['/api/token/refresh/'].post.responses['200'].content['application/json'].schema.required.includes('refresh'), 'rotation is on');
    for (const status of ['400', '401', '405', '413', '415', '429', '503']) assert.ok(doc.body.paths['/api/token/'].post.responses[status], `obtain ${status}`);
    assert.deepEqual(doc.body.components.schemas.Error.required, ['detail', 'code']);
  });

  it('refresh rotates: a new pair; the spent refresh token is refused', async () => {
    const refreshed = await call(server.url, '/api/token/refresh/', { body: { refresh: seen.refresh } });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(Object.keys(refreshed.body).sort(), ['access', 'refresh']);
    seen.spentRefresh = seen.refresh;
    seen.refresh = refreshed.body.refresh;
    seen.access = refreshed.body.access;
    const replay = await call(server.url, '/api/token/refresh/', { body: { refresh: seen.spentRefresh } });
    assert.equal(replay.status, 401);
    assert.deepEqual(replay.body, { detail: 'Token is blacklisted', code: 'token_not_valid' });
  });

  it('logout blacklists a refresh token (205); sessions lists the live ones', async () => {
    const second = await call(server.url, '/api/token/', { body: { username: 'alice', password: PASSWORD } });
    assert.equal(second.status, 200);
    const sessions = await call(server.url, '/api/sessions/', { token: seen.access });
    assert.equal(sessions.status, 200);
    // The replay above came within the reuse grace period (concurrent tabs): the first session lives on.
    assert.equal(sessions.body.length, 2);
    const logout = await call(server.url, '/api/logout/', { token: second.body.access, body: { refresh: second.body.refresh } });
    assert.equal(logout.status, 205);
    seen.loggedOutRefresh = second.body.refresh;
    const again = await call(server.url, '/api/token/refresh/', { body: { refresh: seen.loggedOutRefresh } });
    assert.deepEqual(again.body, { detail: 'Token is blacklisted', code: 'token_not_valid' });
  });

  it('a fresh login after the reuse works, and its tokens are used across the restart below', async () => {
    const login = await call(server.url, '/api/token/', { body: { username: 'alice', password: PASSWORD } });
    assert.equal(login.status, 200);
    seen.access = login.body.access;
    seen.refresh = login.body.refresh;
  });

  it('its logs hold no token, no password and no key', () => {
    const { stdout, stderr } = server.output();
    assert.match(stdout, /"msg":"request completed"/); // it does log requests
    const logs = stdout + stderr;
    for (const secret of [PASSWORD, seen.access, seen.refresh, seen.spentRefresh, seen.loggedOutRefresh, ...seen.secrets]) {
      assert.ok(secret && !logs.includes(secret), 'a secret reached the log');
    }
    assert.doesNotMatch(logs, JWT);
  });

  it('SIGTERM: exits 0 promptly', async () => {
    const { code, signal, ms } = await stopServer(server);
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(ms < 5000, `took ${ms} ms`);
    assert.match(server.output().stdout, /"signal":"SIGTERM","msg":"shutting down/);
  });

  it('restarted on the same data directory: earlier tokens verify, revoked ones stay revoked', async () => {
    const kid = decode(seen.access, 0).kid;
    server = await startServer(dataArgs);
    assert.doesNotMatch(server.output().stdout, /generated a new signing key/);

    const me = await call(server.url, '/api/me/', { token: seen.access });
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { id: '1', username: 'alice' });
    for (const revoked of [seen.spentRefresh, seen.loggedOutRefresh]) {
      const refused = await call(server.url, '/api/token/refresh/', { body: { refresh: revoked } });
      assert.equal(refused.status, 401);
      assert.deepEqual(refused.body, { detail: 'Token is blacklisted', code: 'token_not_valid' });
    }
    const refreshed = await call(server.url, '/api/token/refresh/', { body: { refresh: seen.refresh } });
    assert.equal(refreshed.status, 200);
    assert.equal(decode(refreshed.body.access, 0).kid, kid, 'the same key signs after the restart');
    const stopped = await stopServer(server);
    assert.equal(stopped.code, 0);
  });
});

describe('tokenpair serve with settings from the environment', () => {
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    dir = tempDir('tokenpair-server-env-');
    const created = await runCli(['createuser', 'bob', '--password-stdin', '--data-dir', dir.path], { input: PASSWORD });
    assert.equal(created.code, 0, created.stderr);
  });
  after(() => dir.cleanup());

  it('TOKENPAIR_ACCESS_TOKEN_LIFETIME=2s: access tokens live two seconds; TOKENPAIR_SIGNING_KEY: no key file', async () => {
    const server = await startServer(['--data-dir', dir.path], { env: { TOKENPAIR_ACCESS_TOKEN_LIFETIME: '2s', TOKENPAIR_SIGNING_KEY: SECRET, TOKENPAIR_ROTATE_REFRESH_TOKENS: 'false' } });
    try {
      const login = await call(server.url, '/api/token/', { body: { username: 'bob', password: PASSWORD } });
      assert.equal(login.status, 200);
      const claims = decode(login.body.access, 1);
      assert.equal(Number(claims.exp) - Number(claims.iat), 2);
      assert.equal(decode(login.body.access, 0).kid, undefined, 'a single configured key sends no kid');
      assert.throws(() => statSync(join(dir.path, 'keys.json')), /ENOENT/);
      const refreshed = await call(server.url, '/api/token/refresh/', { body: { refresh: login.body.refresh } });
      assert.deepEqual(Object.keys(refreshed.body), ['access'], 'rotation turned off');

      await new Promise((resolve) => setTimeout(resolve, 3100));
      const expired = await call(server.url, '/api/me/', { token: login.body.access });
      assert.equal(expired.status, 401);
      assert.equal(expired.body.messages[0].message, 'Token is expired');
      assert.ok(!server.output().stdout.includes(SECRET));
    } finally {
      assert.equal((await stopServer(server)).code, 0);
    }
  });

  it('TOKENPAIR_REQUEST_TIMEOUT=1s: a stalled body gets 408; SIGTERM with one still arriving exits 0 once it has its 408', async () => {
    const server = await startServer(['--data-dir', dir.path], { env: { TOKENPAIR_REQUEST_TIMEOUT: '1s', TOKENPAIR_SIGNING_KEY: SECRET } });
    const port = Number(new URL(server.url).port);
    const stalled = ['POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"user'];
    try {
      const alone = await rawRequest(port, stalled);
      assert.equal(alone.text, TIMED_OUT);
      // At the timeout, not before; well before Node's default 30 s check interval (room for a loaded CI machine).
      assert.ok(alone.ms >= 900 && alone.ms < 6000, `answered after ${alone.ms} ms`);

      const pending = rawRequest(port, stalled);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const stopped = await stopServer(server);
      const during = await pending;
      assert.equal(during.text, TIMED_OUT);
      assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null });
      assert.ok(stopped.ms < 8000, `shutdown took ${stopped.ms} ms`);
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) await stopServer(server);
    }
  });

  it('--request-timeout: not a duration from 100ms to 10m is bad usage (2)', async () => {
    const cases = [
      [['--request-timeout', '0'], {}, '--request-timeout', '"0"'],
      [['--request-timeout', 'soon'], {}, '--request-timeout', '"soon"'],
      [[], { TOKENPAIR_REQUEST_TIMEOUT: '11m' }, '--request-timeout (from TOKENPAIR_REQUEST_TIMEOUT)', '"11m"'],
    ] as const;
    for (const [args, env, label, got] of cases) {
      const result = await runCli(['serve', '--port', '0', '--data-dir', dir.path, ...args], { env });
      assert.deepEqual({ code: result.code, stderr: result.stderr, stdout: result.stdout }, { code: 2, stderr: `tokenpair: ${label} must be a duration from 100ms to 10m, e.g. 30 or 30s (got ${got})\n`, stdout: '' });
    }
  });

  it('invalid settings: refuses to start, exit 2, naming the setting and its source', async () => {
    const result = await runCli(['serve', '--port', '0', '--data-dir', dir.path], { env: { TOKENPAIR_REFRESH_TOKEN_LIFETIME: 'forever' } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^tokenpair: invalid configuration: refreshTokenLifetime must be .*\(got "forever"\) \(from environment variable TOKENPAIR_REFRESH_TOKEN_LIFETIME\)\n$/);
    assert.doesNotMatch(result.stdout, /listening/);
    assert.throws(() => statSync(join(dir.path, 'keys.json')), /ENOENT/, 'no key file is left behind');
  });

  it('--trust-proxy: X-Forwarded-For from a trusted proxy is the client address; otherwise the TCP peer is', async () => {
    const own = tempDir('tokenpair-server-proxy-');
    try {
      const created = await runCli(['createuser', 'dana', '--password-stdin', '--data-dir', own.path], { input: PASSWORD });
      assert.equal(created.code, 0, created.stderr);
      const sessionAddresses = async (url: string): Promise<string[]> => {
        const login = await fetch(`${url}/api/token/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' },
          body: JSON.stringify({ username: 'dana', password: PASSWORD }),
        });
        assert.equal(login.status, 200);
        const { access } = (await login.json()) as { access: string };
        const sessions = await call(url, '/api/sessions/', { token: access });
        return (sessions.body as Array<{ address: string }>).map((session) => session.address).sort();
      };
      const trusting = await startServer(['--data-dir', own.path, '--trust-proxy', '127.0.0.1']);
      try {
        assert.deepEqual(await sessionAddresses(trusting.url), ['203.0.113.7']);
      } finally {
        await stopServer(trusting);
      }
      const plain = await startServer(['--data-dir', own.path]);
      try {
        assert.deepEqual(await sessionAddresses(plain.url), ['127.0.0.1', '203.0.113.7']);
      } finally {
        await stopServer(plain);
      }
      const bad = await runCli(['serve', '--port', '0', '--data-dir', own.path, '--trust-proxy', 'true']);
      assert.equal(bad.code, 2);
      assert.equal(bad.stderr, 'tokenpair: --trust-proxy must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "true")\n');
    } finally {
      own.cleanup();
    }
  });

  it('--database-pool-size: a bad number or one without --database-url is bad usage (2), before any key file is made', async () => {
    const own = tempDir('tokenpair-server-pool-');
    try {
      const cases: Array<{ args: string[]; env?: Record<string, string>; stderr: string }> = [
        { args: ['--database-pool-size', '0'], stderr: 'tokenpair: --database-pool-size must be a whole number from 1 to 1000 (got "0")\n' },
        { args: ['--database-pool-size', '2.5'], stderr: 'tokenpair: --database-pool-size must be a whole number from 1 to 1000 (got "2.5")\n' },
        { args: [], env: { TOKENPAIR_DATABASE_POOL_SIZE: '1001' }, stderr: 'tokenpair: --database-pool-size (from TOKENPAIR_DATABASE_POOL_SIZE) must be a whole number from 1 to 1000 (got "1001")\n' },
        {
          args: ['--database-pool-size', '4'],
          stderr: 'tokenpair: --database-pool-size applies to PostgreSQL only: give --database-url (or TOKENPAIR_DATABASE_URL) too, or leave it out for SQLite\n',
        },
      ];
      for (const { args, env, stderr } of cases) {
        const result = await runCli(['serve', '--port', '0', '--data-dir', own.path, ...args], env ? { env } : {});
        assert.deepEqual({ code: result.code, stderr: result.stderr, stdout: result.stdout }, { code: 2, stderr, stdout: '' }, JSON.stringify(args));
      }
      assert.throws(() => statSync(join(own.path, 'keys.json')), /ENOENT/, 'no key file is left behind');
    } finally {
      own.cleanup();
    }
  });

  it('a refused option leaves nothing behind; --trust-proxy checks octets and prefix lengths (2)', async () => {
    const own = tempDir('tokenpair-server-refused-');
    try {
      const fresh = join(own.path, 'fresh');
      const cases: Array<{ args: string[]; env?: Record<string, string>; stderr: string }> = [
        { args: ['--trust-proxy', 'true'], stderr: 'tokenpair: --trust-proxy must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "true")\n' },
        { args: ['--trust-proxy', '300.1.1.1'], stderr: 'tokenpair: --trust-proxy must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "300.1.1.1")\n' },
        { args: ['--trust-proxy', '127.0.0.1,10.0.0.0/99'], stderr: 'tokenpair: --trust-proxy must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "10.0.0.0/99")\n' },
        { args: ['--trust-proxy', '::1/129'], stderr: 'tokenpair: --trust-proxy must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "::1/129")\n' },
        { args: ['--trust-proxy', 'fe80::1:::2'], stderr: 'tokenpair: --trust-proxy must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "fe80::1:::2")\n' },
        { args: [], env: { TOKENPAIR_TRUST_PROXY: '1.2.3.4/33' }, stderr: 'tokenpair: --trust-proxy (from TOKENPAIR_TRUST_PROXY) must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "1.2.3.4/33")\n' },
        { args: [], env: { TOKENPAIR_DEMO: '0' }, stderr: 'tokenpair: TOKENPAIR_DEMO must be true or false (got "0")\n' },
      ];
      for (const { args, env, stderr } of cases) {
        const result = await runCli(['serve', '--port', '0', '--data-dir', fresh, ...args], env ? { env } : {});
        assert.deepEqual({ code: result.code, stderr: result.stderr, stdout: result.stdout }, { code: 2, stderr, stdout: '' }, JSON.stringify(args));
        assert.throws(() => statSync(fresh), /ENOENT/, `${JSON.stringify(args)}: no data directory, key file or database is left behind`);
      }
      // A host that does not resolve: the resolver's code (ENOTFOUND, or EAI_AGAIN without DNS) is named.
      for (const [args, env, label, host] of [
        [['--host', '256.0.0.1'], {}, '--host', '256.0.0.1'],
        [[], { TOKENPAIR_HOST: 'no host.invalid' }, '--host \\(from TOKENPAIR_HOST\\)', 'no host.invalid'],
      ] as const) {
        const result = await runCli(['serve', '--port', '0', '--data-dir', fresh, ...args], { env });
        assert.equal(result.code, 2, result.stderr);
        assert.equal(result.stdout, '');
        assert.match(result.stderr, new RegExp(`^tokenpair: ${label} must be an address or a host name that resolves \\(got "${host.replace(/\./g, '\\.')}": [A-Z_]+\\)\n$`));
        assert.throws(() => statSync(fresh), /ENOENT/, `${JSON.stringify(args)}: nothing is left behind`);
      }
      const good = await startServer(['--data-dir', fresh, '--trust-proxy', '10.0.0.0/8, ::1/128,fd00::/8,192.0.2.1']);
      assert.equal((await stopServer(good)).code, 0);
    } finally {
      own.cleanup();
    }
  });

  it('warns when other users can access the data directory or the database (password hashes)', async () => {
    const own = tempDir('tokenpair-server-perms-');
    try {
      const created = await runCli(['createuser', 'dana', '--password-stdin', '--data-dir', own.path], { input: PASSWORD });
      assert.equal(created.code, 0, created.stderr);
      chmodSync(own.path, 0o755);
      chmodSync(join(own.path, 'tokenpair.sqlite3'), 0o644);
      const server = await startServer(['--data-dir', own.path]);
      assert.equal((await stopServer(server)).code, 0);
      const warnings = server.output().stdout.split('\n').filter((line) => line.includes('other users can access this'));
      assert.deepEqual(warnings.map((line) => (JSON.parse(line) as { path: string; mode: string }).mode), ['755', '644']);
      chmodSync(own.path, 0o700);
      chmodSync(join(own.path, 'tokenpair.sqlite3'), 0o600);
      const quiet = await startServer(['--data-dir', own.path]);
      assert.equal((await stopServer(quiet)).code, 0);
      assert.match(quiet.output().stdout, /tokenpair listening/);
      assert.equal(quiet.output().stdout.includes('other users can access this'), false);
    } finally {
      own.cleanup();
    }
  });

  it('a bad --port is bad usage (2); a port in use fails (1)', async () => {
    const bad = await runCli(['serve', '--port', 'http', '--data-dir', dir.path]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'tokenpair: --port must be a port number from 0 to 65535 (got "http")\n');
    const fromEnv = await runCli(['serve', '--data-dir', dir.path], { env: { TOKENPAIR_PORT: 'abc' } });
    assert.deepEqual({ code: fromEnv.code, stderr: fromEnv.stderr }, { code: 2, stderr: 'tokenpair: --port (from TOKENPAIR_PORT) must be a port number from 0 to 65535 (got "abc")\n' });

    const first = await startServer(['--data-dir', dir.path]);
    try {
      const port = new URL(first.url).port;
      const second = await runCli(['serve', '--port', port, '--data-dir', dir.path]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /^tokenpair: cannot listen: .*EADDRINUSE/);
    } finally {
      await stopServer(first);
    }
  });
});

describe('buildServer (in process)', () => {
  async function setup(options: { ping?: () => Promise<void>; requestTimeout?: number; allowedOrigins?: string[] } = {}) {
    const store = new MemoryStore();
    const hasher = createPasswordHasher();
    await store.createUser({ username: 'carol', passwordHash: await hasher.hash(PASSWORD), isActive: true });
    if (options.ping) store.ping = options.ping;
    const events: string[] = [];
    const close = store.close.bind(store);
    store.close = async () => {
      events.push('store closed');
      await close();
    };
    const settings = { signingKey: SECRET, rotateRefreshTokens: true, checkRevokeToken: true, ...(options.allowedOrigins ? { allowedOrigins: options.allowedOrigins } : {}) };
    const service = new AuthService({ settings, userStore: store, tokenStore: store, throttleStore: store, hasher });
    const lines: string[] = [];
    const app = buildServer({ service, store, logger: { level: 'trace', destination: { write: (line: string) => lines.push(line) } }, ...(options.requestTimeout ? { requestTimeout: options.requestTimeout } : {}) });
    return { app, store, events, lines };
  }

  it('a body sent to the server\'s own routes gets WIRE.md\'s parse, media type and size errors, with the token endpoints\' size limit', async () => {
    const { app } = await setup();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const send = (method: string, path: string, contentType: string, body: string | Buffer) =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const request = httpRequest({ host: '127.0.0.1', port, method, path, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode!, body: text === '' ? undefined : JSON.parse(text) }));
        });
        request.on('error', reject);
        request.end(body);
      });
    try {
      // (Fastify reads no body for GET or HEAD; OPTIONS and unknown routes it parses.)
      assert.deepEqual(await send('OPTIONS', '/api/me/', 'application/json', '{bad'), { status: 400, body: { detail: 'JSON parse error', code: 'parse_error' } });
      assert.deepEqual(await send('OPTIONS', '/api/me/', 'application/xml', '<a/>'), { status: 415, body: { detail: 'Unsupported media type in request.', code: 'unsupported_media_type' } });
      assert.deepEqual(await send('OPTIONS', '/api/me/', 'application/json', Buffer.alloc(70_000, 0x20)), { status: 413, body: { detail: 'Request body too large.', code: 'payload_too_large' } });
      assert.deepEqual(await send('DELETE', '/healthz', 'application/json', '{bad'), { status: 400, body: { detail: 'JSON parse error', code: 'parse_error' } });
    } finally {
      await app.close();
    }
  });

  it('GET /api/me/ gives a listed origin the CORS headers of the token endpoints (its 401 too), and answers its preflight', async () => {
    const listed = 'https://app.example.test';
    const { app } = await setup({ allowedOrigins: [listed] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const login = await fetch(`${base}/api/token/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: PASSWORD }) });
      const { access } = (await login.json()) as { access: string };
      const cors = (response: Response) =>
        Object.fromEntries(['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age', 'vary', 'allow'].map((name) => [name, response.headers.get(name)]));
      const ok = await fetch(`${base}/api/me/`, { headers: { origin: listed, authorization: `Bearer ${access}` } });
      assert.equal(ok.status, 200);
      assert.deepEqual(cors(ok), { 'access-control-allow-origin': listed, 'access-control-allow-credentials': 'true', 'access-control-allow-methods': null, 'access-control-allow-headers': null, 'access-control-max-age': null, vary: 'Origin', allow: null });
      const refused = await fetch(`${base}/api/me/`, { headers: { origin: listed, authorization: 'Bearer x.y.z' } });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('access-control-allow-origin'), listed);
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="api"');
      const preflight = await fetch(`${base}/api/me/`, { method: 'OPTIONS', headers: { origin: listed, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
      assert.equal(preflight.status, 204);
      assert.deepEqual(cors(preflight), { 'access-control-allow-origin': listed, 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-headers': 'authorization, content-type', 'access-control-max-age': '600', vary: 'Origin', allow: 'GET, HEAD, OPTIONS' });
      const foreign = await fetch(`${base}/api/me/`, { headers: { origin: 'https://evil.example.test', authorization: `Bearer ${access}` } });
      assert.equal(foreign.status, 200);
      assert.deepEqual(cors(foreign), { 'access-control-allow-origin': null, 'access-control-allow-credentials': null, 'access-control-allow-methods': null, 'access-control-allow-headers': null, 'access-control-max-age': null, vary: 'Origin', allow: null });
    } finally {
      await app.close();
    }
  });

  it('logs every request but never a token, a password or an Authorization header', async () => {
    const { app, lines } = await setup();
    const login = await app.inject({ method: 'POST', url: '/api/token/', payload: { username: 'carol', password: PASSWORD } });
    assert.equal(login.statusCode, 200);
    const { access, refresh } = login.json() as { access: string; refresh: string };
    const refreshed = await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } });
    assert.equal(refreshed.statusCode, 200);
    const next = refreshed.json() as { access: string; refresh: string };
    await app.inject({ method: 'GET', url: `/api/me/?token=${access}`, headers: { authorization: `Bearer ${access}`, cookie: `refresh_token=${refresh}` } });
    await app.inject({ method: 'POST', url: '/api/token/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `username=carol&password=${encodeURIComponent('wrong ' + PASSWORD)}` });
    await app.close();
    const logs = lines.join('');
    assert.ok(lines.length >= 8, 'requests are logged');
    assert.match(logs, /"path":"\/api\/me\/"/);
    for (const secret of [PASSWORD, access, refresh, next.access, next.refresh, SECRET]) assert.ok(!logs.includes(secret), 'a secret reached the log');
    assert.doesNotMatch(logs, JWT);
    assert.doesNotMatch(logs, /authorization|Bearer/i);
  });

  it('/readyz answers 503 with the wire body when the store does not answer', async () => {
    const { app } = await setup({ ping: async () => { throw new Error('disk gone'); } });
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), { detail: 'Service temporarily unavailable.', code: 'service_unavailable' });
    await app.close();
  });

  it('close() lets an in-flight request finish, then closes the store', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const { app, events } = await setup({
      ping: async () => {
        entered();
        await gate;
        events.push('request answered');
      },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    const pending = fetch(`http://127.0.0.1:${address.port}/readyz`).then(async (r) => ({ status: r.status, connection: r.headers.get('connection'), body: await r.json() }));
    await inside;
    const closeStarted = Date.now();
    const closing = app.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(events, [], 'the store stays open while a request is in flight');
    release();
    // The response in flight when close() began tells the client that its connection ends.
    assert.deepEqual(await pending, { status: 200, connection: 'close', body: { status: 'ready' } });
    await closing;
    assert.deepEqual(events, ['request answered', 'store closed']);
    // The client's keep-alive connection does not hold the shutdown.
    assert.ok(Date.now() - closeStarted < 2000, `close took ${Date.now() - closeStarted} ms`);
  });

  it('/api/me/ takes the awaited bearer check when sliding tokens are accepted too, with the same answers', async () => {
    const store = new MemoryStore({ warn: false });
    const carol = await store.createUser({ username: 'carol', passwordHash: 'x', isActive: true });
    const service = new AuthService({
      settings: { signingKey: SECRET, rotateRefreshTokens: true, checkRevokeToken: true, authTokenClasses: ['access', 'sliding'] },
      userStore: store,
      tokenStore: store,
    });
    assert.equal(service.authenticatesSync, false, 'a sliding token needs the store\'s revocation check');
    const app = buildServer({ service, store, logger: false });
    const me = (token: string) => app.inject({ method: 'GET', url: '/api/me/', headers: { authorization: `Bearer ${token}` } });
    const sliding = await service.tokens.issueSliding(carol as never);
    await store.startFamily({ jti: sliding.jti, userId: carol.id, familyId: 'f'.repeat(32), tokenType: 'sliding', issuedAt: 0, expiresAt: sliding.exp }, { userAgent: null, address: null }, null);
    const access = (await service.tokens.issuePair(carol as never)).access.toString();
    for (const token of [access, sliding.toString()]) {
      const response = await me(token);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(response.json(), { id: carol.id, username: 'carol' });
    }
    await store.revokeFamilyOf(sliding.jti, 'logout', Math.floor(Date.now() / 1000));
    const revoked = await me(sliding.toString());
    assert.equal(revoked.statusCode, 401);
    assert.deepEqual(revoked.json(), {
      detail: 'Given token not valid for any token type',
      code: 'token_not_valid',
      messages: [
        { token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' },
        { token_class: 'SlidingToken', token_type: 'sliding', message: 'Token is blacklisted' },
      ],
    });
    assert.equal(revoked.headers['www-authenticate'], 'Bearer realm="api"');
    await app.close();
  });

  it('a request not received within requestTimeout (headers or body) gets 408 with the wire body, and its connection closes', async () => {
    const { app, lines } = await setup({ requestTimeout: 500 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const head = 'POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const cases = {
      'a body that never comes': rawRequest(port, [head]),
      'a body that stops halfway': rawRequest(port, [`${head}{"username":"carol"`]),
      'a body trickling a byte every 100 ms': rawRequest(port, [`${head}{`, ...Array<string>(40).fill(' ')], { every: 100 }),
      'headers trickling a line every 100 ms': rawRequest(port, ['GET /api/me/ HTTP/1.1\r\n', ...Array.from({ length: 40 }, (_, i) => `X-${i}: a\r\n`)], { every: 100 }),
      'nothing at all': rawRequest(port, []),
    };
    for (const [name, pending] of Object.entries(cases)) {
      const { text, ms } = await pending;
      assert.equal(text, TIMED_OUT, name);
      // The timeout plus Node's check interval (125 ms for a 500 ms timeout), with room for a loaded
      // CI machine; without the interval Node would look only every 30 s.
      assert.ok(ms >= 450 && ms < 5000, `${name}: answered after ${ms} ms`);
    }
    await app.close();
    const logs = lines.join('');
    assert.match(logs, /"code":"ERR_HTTP_REQUEST_TIMEOUT","msg":"client error"/);
    assert.doesNotMatch(logs, /"level":50/, 'a client timing out is not a server error');
  });

  it('close() ends a request whose body has stalled with its 408 within requestTimeout, then closes the store', async () => {
    const { app, events } = await setup({ requestTimeout: 500 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const pending = rawRequest(port, ['POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    // Node stops its own timeout checks once close() begins: the server must still end this request.
    await app.close();
    const closedAfter = Date.now() - started;
    assert.equal((await pending).text, TIMED_OUT);
    assert.deepEqual(events, ['store closed']);
    assert.ok(closedAfter < 5000, `close took ${closedAfter} ms`);
  });

  it('HTTP that does not parse, oversized headers and undecodable paths get WIRE.md bodies, not Fastify\'s', async () => {
    const { app } = await setup();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const malformed = await rawRequest(port, ['GET /api/me/ HTTP/1.1\r\nHost x\r\n\r\n']);
    assert.equal(malformed.text, clientErrorText('400 Bad Request', { detail: 'Malformed request.', code: 'parse_error' }));
    const garbage = await rawRequest(port, ['\u0000\u0001 not http\r\n\r\n']);
    assert.equal(garbage.text, clientErrorText('400 Bad Request', { detail: 'Malformed request.', code: 'parse_error' }));
    const huge = await rawRequest(port, [`GET /api/me/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
    assert.equal(huge.text, clientErrorText('431 Request Header Fields Too Large', { detail: 'Request header fields too large.', code: 'request_header_fields_too_large' }));
    // A path whose percent-encoding does not decode names nothing: the wire 404, as for any unknown path.
    for (const [method, path] of [['POST', '/api/token/%zz'], ['DELETE', '/api/sessions/%/'], ['GET', '/api/me/%E0%A4%A']]) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(await response.json(), { detail: 'Not found.', code: 'not_found' });
    }
    await app.close();
  });

  it('absolute-form request targets reach the endpoints; HEAD is answered wherever GET is', async () => {
    const { app } = await setup();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const origin = `http://127.0.0.1:${port}`;
    const body = JSON.stringify({ username: 'carol', password: PASSWORD });
    const login = await rawRequest(port, [`POST ${origin}/api/token/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`]);
    assert.match(login.text, /^HTTP\/1\.1 200 OK\r\n/);
    const { access } = JSON.parse(login.text.slice(login.text.indexOf('\r\n\r\n') + 4)) as { access: string };
    const jwks = await rawRequest(port, [`GET ${origin}/.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
    assert.match(jwks.text, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n\{"keys":\[\]\}$/);

    for (const path of ['/api/me/', '/api/sessions/', '/.well-known/jwks.json', '/healthz', '/readyz', '/openapi.json']) {
      const get = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${access}` } });
      const head = await fetch(`${origin}${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${access}` } });
      assert.equal(get.status, 200, path);
      assert.deepEqual({ status: head.status, body: await head.text(), type: head.headers.get('content-type') }, { status: 200, body: '', type: get.headers.get('content-type') }, `HEAD ${path}`);
    }
    await app.close();
  });

  it('unknown paths get the wire 404 body', async () => {
    const { app } = await setup();
    const response = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(response.json(), { detail: 'Not found.', code: 'not_found' });
    await app.close();
  });
});

describe('the OpenAPI document follows the settings', () => {
  const SECRET_KEY = 'x'.repeat(8) + 'openapi-test-secret-0123456789abcdef';
  const documentFor = (settings: Record<string, unknown>) =>
    openApiDocument({ paths: { ...DEFAULT_PATHS }, settings: defineSettings({ signingKey: SECRET_KEY, rotateRefreshTokens: true, ...settings }), mePath: '/api/me/', version: '0.0.0' }) as any;

  it('cookie transport: no refresh token in any body, the cookie as a security scheme and a Set-Cookie header, 403 on the cookie endpoints', () => {
    const doc = documentFor({ refreshTransport: 'cookie', refreshCookieName: '__Host-refresh' });
    const obtain = doc.paths['/api/token/'].post;
    assert.deepEqual(obtain.responses['200'].content['application/json'].schema, { type: 'object', required: ['access'], properties: { access: { type: 'string' } } });
    assert.deepEqual(obtain.responses['200'].headers['Set-Cookie'], { $ref: '#/components/headers/RefreshCookie' });
    const refresh = doc.paths['/api/token/refresh/'].post;
    assert.equal(refresh.requestBody, undefined);
    assert.deepEqual(refresh.security, [{ refreshCookie: [] }]);
    assert.deepEqual(refresh.responses['200'].content['application/json'].schema.required, ['access']);
    assert.ok(Object.keys(refresh.responses['401'].content['application/json'].examples).includes('refresh_cookie_missing'));
    const logout = doc.paths['/api/logout/'].post;
    assert.equal(logout.requestBody, undefined);
    assert.deepEqual(logout.security, [{ bearer: [], refreshCookie: [] }]);
    for (const path of ['/api/token/', '/api/token/refresh/', '/api/logout/', '/api/logout/all/']) {
      assert.deepEqual(doc.paths[path].post.responses['403'].content['application/json'].examples, { csrf_failed: { value: { detail: 'CSRF Failed: Origin not allowed.', code: 'csrf_failed' } } }, path);
    }
    assert.equal(doc.paths['/api/token/verify/'].post.responses['403'], undefined);
    assert.deepEqual(doc.components.securitySchemes.refreshCookie, { type: 'apiKey', in: 'cookie', name: '__Host-refresh', description: 'The HttpOnly refresh cookie (cookie transport).' });

    const body = documentFor({});
    assert.deepEqual(body.paths['/api/token/'].post.responses['200'].content['application/json'].schema.required, ['refresh', 'access']);
    assert.deepEqual(body.paths['/api/token/refresh/'].post.requestBody.content['application/json'].schema.required, ['refresh']);
    assert.equal(body.paths['/api/token/'].post.responses['403'], undefined);
    assert.equal(body.components.securitySchemes.refreshCookie, undefined);
  });

  it('the bearer 401 is anyOf (a token_not_valid body with messages is an Error too); the scheme names the configured header and types', () => {
    const doc = documentFor({});
    assert.deepEqual(doc.paths['/api/me/'].get.responses['401'].content['application/json'].schema, {
      anyOf: [{ $ref: '#/components/schemas/TokenNotValidForAnyType' }, { $ref: '#/components/schemas/Error' }],
    });
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    assert.deepEqual(documentFor({ authHeaderTypes: ['Bearer', 'JWT'] }).components.securitySchemes.bearer, {
      type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Also accepted: `Authorization: JWT <access token>`.',
    });
    assert.deepEqual(documentFor({ authHeaderName: 'X-Api-Token', authHeaderTypes: ['JWT'] }).components.securitySchemes.bearer, {
      type: 'apiKey', in: 'header', name: 'X-Api-Token', description: '`X-Api-Token: <type> <access token>`, <type> one of JWT (any case).',
    });
  });
});
