/**
 * The `tokenpair` command line, run as real processes against a temporary --data-dir: every
 * command's output and exit code (0 done, 1 failed, 2 bad usage or configuration), the
 * configuration sources (file, TOKENPAIR_* variables) and the key file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AuthService, ConfigurationError, newFamilyId, SETTING_NAMES, TokenPairError } from '../src/index.js';
import { ENV_KINDS, envVariable, hasConfiguredKey, loadConfig, resolveSettings } from '../src/server/config.js';
import { withKeyFileLock } from '../src/server/keys.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { CLI, cleanEnv, runCli, tempDir } from './helpers/cli-process.js';

const PASSWORD = 'correct horse battery staple';
const SECRET = 'cli-test-secret-0123456789abcdef0123456789abcdef';
const client = { address: '10.1.2.3', userAgent: 'cli-test-agent/1.0' };

/** A data directory for one describe block, removed afterwards. */
function dataDir(): { args: () => string[]; path: () => string } {
  let dir: ReturnType<typeof tempDir>;
  before(() => {
    dir = tempDir('tokenpair-cli-');
  });
  after(() => dir.cleanup());
  return { args: () => ['--data-dir', dir.path], path: () => dir.path };
}

async function createUser(args: string[], username: string, password = PASSWORD, extra: string[] = []) {
  const result = await runCli(['createuser', username, '--password-stdin', ...extra, ...args], { input: `${password}\n` });
  assert.equal(result.code, 0, result.stderr);
  return result;
}

/** The service over the same SQLite file the CLI uses, to log in and make sessions. */
async function openService(dir: string): Promise<{ service: AuthService; store: SqliteStore }> {
  const store = await SqliteStore.open(join(dir, 'tokenpair.sqlite3'));
  const service = new AuthService({ settings: { signingKey: SECRET, rotateRefreshTokens: true, checkRevokeToken: true }, userStore: store, tokenStore: store, throttleStore: store });
  return { service, store };
}

describe('tokenpair --help', () => {
  const commands = ['serve', 'migrate', 'check', 'createuser', 'changepassword', 'activate', 'deactivate', 'sessions', 'revoke', 'flushexpiredtokens', 'keys', 'keys generate', 'keys rotate', 'keys list'];

  it('lists every command and the exit codes', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const command of commands.filter((c) => !c.includes(' '))) assert.match(result.stdout, new RegExp(`^  ${command}\\b`, 'm'));
    assert.match(result.stdout, /Exit codes: 0 done, 1 the operation failed, 2 bad usage or configuration/);
  });

  for (const command of commands) {
    it(`${command} --help exits 0 with its usage`, async () => {
      const result = await runCli([...command.split(' '), '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Usage: tokenpair ${command}`));
      if (command !== 'keys') assert.match(result.stdout, /--data-dir <dir>[\s\S]*--config <file>/);
      // Every command that opens the store can use PostgreSQL; the key commands only touch keys.json.
      if (!command.startsWith('keys')) assert.match(result.stdout, /--database-url <url>/);
    });
  }

  it('an unknown command or a missing argument is bad usage (2)', async () => {
    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const missing = await runCli(['createuser']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'username'/);
  });
});

describe('createuser', () => {
  const dir = dataDir();

  it('creates a user from --password-stdin', async () => {
    const result = await createUser(dir.args(), 'alice');
    assert.equal(result.stdout, 'created user "alice" (id 1)\n');
    assert.equal(result.stderr, '');
  });

  it('creates an inactive user with --inactive', async () => {
    const result = await createUser(dir.args(), 'ivan', PASSWORD, ['--inactive']);
    assert.equal(result.stdout, 'created user "ivan" (id 2, inactive)\n');
  });

  it('refuses a username that exists (1)', async () => {
    const result = await runCli(['createuser', 'alice', '--password-stdin', ...dir.args()], { input: 'x\n' });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'tokenpair: a user named "alice" already exists\n');
  });

  it('refuses to prompt without a terminal and without --password-stdin (2)', async () => {
    const result = await runCli(['createuser', 'bob', ...dir.args()], { input: 'secret\n' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^tokenpair: no terminal to prompt for the password: pipe it in with --password-stdin/);
  });

  it('refuses an empty password and a username with surrounding spaces (2)', async () => {
    const empty = await runCli(['createuser', 'bob', '--password-stdin', ...dir.args()], { input: '\n' });
    assert.equal(empty.code, 2);
    assert.equal(empty.stderr, 'tokenpair: the password is empty\n');
    const spaced = await runCli(['createuser', ' bob', '--password-stdin', ...dir.args()], { input: 'secret\n' });
    assert.equal(spaced.code, 2);
    assert.equal(spaced.stderr, 'tokenpair: the username must not start or end with whitespace\n');
  });

  it('keeps the password exactly as given apart from one trailing newline', async () => {
    await createUser(dir.args(), 'carol', '  spaced password  ');
    const { service, store } = await openService(dir.path());
    try {
      await service.obtainPair({ username: 'carol', password: '  spaced password  ' }, client);
      await assert.rejects(service.obtainPair({ username: 'carol', password: 'spaced password' }, client), (e: unknown) => e instanceof TokenPairError && e.kind === 'no_active_account');
    } finally {
      await store.close();
    }
  });
});

describe('changepassword, activate, deactivate', () => {
  const dir = dataDir();
  let service: AuthService;
  let store: SqliteStore;
  before(async () => {
    await createUser(dir.args(), 'alice');
    ({ service, store } = await openService(dir.path()));
  });
  after(() => store.close());

  it('changepassword sets the password, revokes every session and invalidates access tokens', async () => {
    const first = await service.obtainPair({ username: 'alice', password: PASSWORD }, client);
    await service.obtainPair({ username: 'alice', password: PASSWORD }, client);
    const principal = await service.authenticate(`Bearer ${first.access}`);
    assert.equal(principal.username, 'alice');

    const result = await runCli(['changepassword', 'alice', '--password-stdin', ...dir.args()], { input: 'a brand new password\n' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'changed the password of "alice"; revoked 2 sessions\n');

    await assert.rejects(service.obtainPair({ username: 'alice', password: PASSWORD }, client), (e: unknown) => e instanceof TokenPairError && e.kind === 'no_active_account');
    await service.obtainPair({ username: 'alice', password: 'a brand new password' }, client);
    await assert.rejects(service.authenticate(`Bearer ${first.access}`), (e: unknown) => e instanceof TokenPairError && e.kind === 'password_changed');
    await assert.rejects(service.refresh(first.refresh, client), (e: unknown) => e instanceof TokenPairError && e.kind === 'password_changed');
  });

  it('changepassword of an unknown user fails (1)', async () => {
    const result = await runCli(['changepassword', 'nobody', '--password-stdin', ...dir.args()], { input: 'whatever\n' });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'tokenpair: no user named "nobody"\n');
  });

  it('deactivate stops logins; activate allows them again', async () => {
    const off = await runCli(['deactivate', 'alice', ...dir.args()]);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, '"alice" is now inactive\n');
    await assert.rejects(service.obtainPair({ username: 'alice', password: 'a brand new password' }, client), (e: unknown) => e instanceof TokenPairError && e.kind === 'no_active_account');
    const again = await runCli(['deactivate', 'alice', ...dir.args()]);
    assert.equal(again.stdout, '"alice" is already inactive\n');

    const on = await runCli(['activate', 'alice', ...dir.args()]);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, '"alice" is now active\n');
    await service.obtainPair({ username: 'alice', password: 'a brand new password' }, client);
  });

  it('activate of an unknown user fails (1)', async () => {
    const result = await runCli(['activate', 'nobody', ...dir.args()]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'tokenpair: no user named "nobody"\n');
  });
});

describe('sessions and revoke', () => {
  const dir = dataDir();
  let service: AuthService;
  let store: SqliteStore;
  before(async () => {
    await createUser(dir.args(), 'alice');
    await createUser(dir.args(), 'bob');
    ({ service, store } = await openService(dir.path()));
  });
  after(() => store.close());

  it('sessions prints "no live sessions" for a user without any', async () => {
    const result = await runCli(['sessions', 'bob', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'no live sessions for "bob"\n');
  });

  it('sessions prints a table of the live sessions, and --json the same as JSON', async () => {
    await service.obtainPair({ username: 'alice', password: PASSWORD }, client);
    await service.obtainPair({ username: 'alice', password: PASSWORD }, { address: '10.9.9.9', userAgent: 'other-agent' });
    const result = await runCli(['sessions', 'alice', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^ID\s+CREATED\s+LAST USED\s+EXPIRES\s+ADDRESS\s+USER AGENT$/);
    assert.match(result.stdout, /10\.1\.2\.3\s+cli-test-agent\/1\.0/);
    assert.match(result.stdout, /10\.9\.9\.9\s+other-agent/);

    const json = await runCli(['sessions', 'alice', '--json', ...dir.args()]);
    const sessions = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.equal(sessions.length, 2);
    assert.deepEqual(Object.keys(sessions[0]!).sort(), ['address', 'created', 'expires', 'id', 'last_used', 'user_agent']);
    assert.match(String(sessions[0]!.id), /^[0-9a-f]{32}$/);
  });

  it('revoke --session ID revokes that session only', async () => {
    const before = JSON.parse((await runCli(['sessions', 'alice', '--json', ...dir.args()])).stdout) as Array<{ id: string }>;
    const target = before[0]!.id;
    const result = await runCli(['revoke', 'alice', '--session', target, ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `revoked session ${target} of "alice"\n`);
    const after = JSON.parse((await runCli(['sessions', 'alice', '--json', ...dir.args()])).stdout) as Array<{ id: string }>;
    assert.deepEqual(after.map((s) => s.id), [before[1]!.id]);
  });

  it('revoke --session of an unknown session fails (1)', async () => {
    const result = await runCli(['revoke', 'alice', '--session', '0'.repeat(32), ...dir.args()]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `tokenpair: "alice" has no live session "${'0'.repeat(32)}"\n`);
  });

  it('revoke --all revokes every session and invalidates access tokens', async () => {
    const pair = await service.obtainPair({ username: 'alice', password: PASSWORD }, client);
    const result = await runCli(['revoke', 'alice', '--all', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'revoked 2 sessions of "alice"\n');
    assert.equal((await runCli(['sessions', 'alice', ...dir.args()])).stdout, 'no live sessions for "alice"\n');
    await assert.rejects(service.authenticate(`Bearer ${pair.access}`), (e: unknown) => e instanceof TokenPairError && e.kind === 'password_changed');
    await assert.rejects(service.refresh(pair.refresh, client), TokenPairError);
  });

  it('revoke needs exactly one of --session and --all (2)', async () => {
    const neither = await runCli(['revoke', 'alice', ...dir.args()]);
    assert.equal(neither.code, 2);
    assert.equal(neither.stderr, 'tokenpair: say which sessions to revoke: --session ID or --all\n');
    const both = await runCli(['revoke', 'alice', '--all', '--session', 'x', ...dir.args()]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /cannot be used with/);
  });

  it('sessions and revoke of an unknown user fail (1)', async () => {
    for (const args of [['sessions', 'nobody'], ['revoke', 'nobody', '--all']]) {
      const result = await runCli([...args, ...dir.args()]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, 'tokenpair: no user named "nobody"\n');
    }
  });
});

describe('flushexpiredtokens', () => {
  const dir = dataDir();

  it('deletes expired records in batches and prints how many', async () => {
    await createUser(dir.args(), 'alice');
    const store = await SqliteStore.open(join(dir.path(), 'tokenpair.sqlite3'));
    const now = Math.floor(Date.now() / 1000);
    try {
      // 1200 expired tokens (more than one batch of 1000) and one live one.
      for (let i = 0; i < 1200; i++) {
        await store.startFamily({ jti: newFamilyId(), userId: '1', familyId: newFamilyId(), tokenType: 'refresh', issuedAt: now - 7200, expiresAt: now - 3600 }, { address: null, userAgent: null }, null);
      }
      await store.startFamily({ jti: newFamilyId(), userId: '1', familyId: newFamilyId(), tokenType: 'refresh', issuedAt: now, expiresAt: now + 3600 }, { address: null, userAgent: null }, null);
    } finally {
      await store.close();
    }
    const result = await runCli(['flushexpiredtokens', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    const count = Number(/^flushed (\d+) expired records?\n$/.exec(result.stdout)?.[1]);
    assert.ok(count >= 1200, result.stdout); // the tokens, and their families
    const again = await runCli(['flushexpiredtokens', ...dir.args()]);
    assert.equal(again.stdout, 'flushed 0 expired records\n');
    const sessions = await runCli(['sessions', 'alice', '--json', ...dir.args()]);
    assert.equal((JSON.parse(sessions.stdout) as unknown[]).length, 1);
  });
});

describe('keys', () => {
  const dir = dataDir();

  it('list before any key exists fails (1)', async () => {
    const result = await runCli(['keys', 'list', ...dir.args()]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^tokenpair: no keys yet: .*keys\.json does not exist/);
  });

  it('generate creates keys.json with mode 0600 in a 0700 data directory', async () => {
    const result = await runCli(['keys', 'generate', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^generated key \d{8}-[0-9a-f]{8} \(HS256\) in .*keys\.json\n$/);
    assert.equal(statSync(join(dir.path(), 'keys.json')).mode & 0o777, 0o600);
    assert.equal(statSync(dir.path()).mode & 0o777, 0o700);
    const keys = JSON.parse(readFileSync(join(dir.path(), 'keys.json'), 'utf8')) as Array<{ kid: string; algorithm: string; signingKey: string }>;
    assert.equal(keys.length, 1);
    assert.equal(keys[0]!.algorithm, 'HS256');
    assert.equal(Buffer.from(keys[0]!.signingKey, 'base64url').length, 64);
    // The secret never reaches the output.
    assert.ok(!result.stdout.includes(keys[0]!.signingKey));
  });

  it('generate again changes nothing', async () => {
    const before = readFileSync(join(dir.path(), 'keys.json'), 'utf8');
    const result = await runCli(['keys', 'generate', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /already exists \(1 key; current \d{8}-[0-9a-f]{8}\); nothing changed\n$/);
    assert.equal(readFileSync(join(dir.path(), 'keys.json'), 'utf8'), before);
  });

  it('rotate puts a new key first and keeps the old one; list shows kids, never secrets', async () => {
    const old = (JSON.parse(readFileSync(join(dir.path(), 'keys.json'), 'utf8')) as Array<{ kid: string; signingKey: string }>)[0]!;
    const result = await runCli(['keys', 'rotate', ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^added key \d{8}-[0-9a-f]{8} \(HS256\); it signs new tokens once the server restarts; 1 older key kept for verification\n$/);
    assert.equal(statSync(join(dir.path(), 'keys.json')).mode & 0o777, 0o600);

    const list = await runCli(['keys', 'list', '--json', ...dir.args()]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 2);
    assert.deepEqual(Object.keys(rows[0]!).sort(), ['algorithm', 'created', 'current', 'kid']);
    assert.equal(rows[0]!.current, true);
    assert.equal(rows[1]!.kid, old.kid);
    assert.equal(rows[1]!.current, false);

    const text = await runCli(['keys', 'list', ...dir.args()]);
    assert.match(text.stdout, /^KID\s+ALGORITHM\s+CREATED\s+CURRENT\n/);
    const stored = JSON.parse(readFileSync(join(dir.path(), 'keys.json'), 'utf8')) as Array<{ signingKey: string }>;
    for (const key of stored) assert.ok(!text.stdout.includes(key.signingKey) && !list.stdout.includes(key.signingKey));
  });

  it('refuses a key file that others can read (2)', async () => {
    const path = join(dir.path(), 'keys.json');
    chmodSync(path, 0o644);
    try {
      const result = await runCli(['check', ...dir.args()]);
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `tokenpair: invalid configuration: keys.json ${path} is accessible by other users (mode 0644): run chmod 600 ${path}\n`);
    } finally {
      chmodSync(path, 0o600);
    }
  });

  it('with TOKENPAIR_SIGNING_KEY the key file is not used: generate/rotate refuse (2), list names the variable', async () => {
    const env = { TOKENPAIR_SIGNING_KEY: SECRET };
    const generate = await runCli(['keys', 'rotate', ...dir.args()], { env });
    assert.equal(generate.code, 2);
    assert.match(generate.stderr, /^tokenpair: the keys come from environment variable TOKENPAIR_SIGNING_KEY, so .*keys\.json is not used; unset TOKENPAIR_SIGNING_KEY to use the key file\n$/);
    const list = await runCli(['keys', 'list', ...dir.args()], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^keys configured by environment variable TOKENPAIR_SIGNING_KEY \(keys\.json is not used\)/);
    assert.ok(!list.stdout.includes(SECRET));
  });
});

describe('keys.json under concurrent changes', () => {
  const dir = dataDir();

  it('six concurrent keys rotate processes add six keys: none is lost', async () => {
    assert.equal((await runCli(['keys', 'generate', ...dir.args()])).code, 0);
    const results = await Promise.all(Array.from({ length: 6 }, () => runCli(['keys', 'rotate', ...dir.args()])));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const added = results.map((result) => /^added key (\S+) /.exec(result.stdout)![1]!);
    const stored = (JSON.parse(readFileSync(join(dir.path(), 'keys.json'), 'utf8')) as Array<{ kid: string }>).map((key) => key.kid);
    assert.equal(stored.length, 7);
    assert.deepEqual(new Set(stored).size, 7);
    for (const kid of added) assert.ok(stored.includes(kid), `key ${kid} was said to be added but is missing`);
    assert.throws(() => statSync(join(dir.path(), 'keys.json.lock')), /ENOENT/, 'the lock is removed');
  });

  it('a lock left by a process that is gone: a clear error after the wait, and nothing is changed', () => {
    const lock = join(dir.path(), 'keys.json.lock');
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(lock, JSON.stringify({ pid: gone, host: hostname(), created: new Date().toISOString() }));
    try {
      const before = readFileSync(join(dir.path(), 'keys.json'), 'utf8');
      assert.throws(() => withKeyFileLock(dir.path(), () => assert.fail('ran without the lock'), 50), {
        message: `keys.json is locked by process ${gone} on ${hostname()} (${lock} held for more than 0.05 s); process ${gone} on ${hostname()} is no longer running: delete ${lock} and retry`,
      });
      assert.equal(readFileSync(join(dir.path(), 'keys.json'), 'utf8'), before);
    } finally {
      rmSync(lock);
    }
  });
});

describe('a --data-dir that is a file', () => {
  const dir = dataDir();

  it('every command says "--data-dir <path> is not a directory" (2)', async () => {
    const file = join(dir.path(), 'afile');
    writeFileSync(file, 'not a directory');
    for (const command of [['check'], ['migrate'], ['serve', '--port', '0'], ['keys', 'generate'], ['keys', 'rotate'], ['createuser', 'x', '--password-stdin']]) {
      for (const path of [file, join(file, 'sub')]) {
        const result = await runCli([...command, '--data-dir', path], { input: 'a password\n' });
        assert.deepEqual(
          { code: result.code, stdout: result.stdout, stderr: result.stderr },
          { code: 2, stdout: '', stderr: `tokenpair: invalid configuration: --data-dir ${path} is not a directory\n` },
          `${command.join(' ')} ${path}`,
        );
      }
    }
  });

  it('keys commands name the variable or the file key that configures the keys', async () => {
    const ring = JSON.stringify([{ kid: 'k1', signingKey: SECRET }]);
    const fromEnv = await runCli(['keys', 'generate', ...dir.args()], { env: { TOKENPAIR_KEY_RING: ring } });
    assert.equal(fromEnv.code, 2);
    assert.equal(fromEnv.stderr, `tokenpair: the keys come from environment variable TOKENPAIR_KEY_RING, so ${join(dir.path(), 'keys.json')} is not used; unset TOKENPAIR_KEY_RING to use the key file\n`);
    const file = join(dir.path(), 'keys-config.json');
    writeFileSync(file, JSON.stringify({ SIGNING_KEY: SECRET }));
    const fromFile = await runCli(['keys', 'rotate', '--config', file, ...dir.args()]);
    assert.equal(fromFile.code, 2);
    assert.equal(fromFile.stderr, `tokenpair: the keys come from config file ${file} (key "SIGNING_KEY"), so ${join(dir.path(), 'keys.json')} is not used; remove "SIGNING_KEY" from ${file} to use the key file\n`);
  });
});

describe('an explicit algorithm and the key file', () => {
  const dir = dataDir();

  it('check and serve refuse (2) an algorithm that differs from the signing key; keys rotate with it is the way to migrate', async () => {
    assert.equal((await runCli(['keys', 'generate', ...dir.args()])).code, 0);
    const path = join(dir.path(), 'keys.json');
    const env = { TOKENPAIR_ALGORITHM: 'ES256' };
    const expected = `tokenpair: invalid configuration: algorithm is ES256 (from environment variable TOKENPAIR_ALGORITHM) but the signing key of ${path} is HS256: run \`tokenpair keys rotate\` with algorithm ES256 to add a key of that algorithm first (older keys keep verifying their tokens), or unset algorithm\n`;
    for (const command of [['check'], ['serve', '--port', '0']]) {
      const result = await runCli([...command, ...dir.args()], { env });
      assert.deepEqual({ code: result.code, stdout: result.stdout, stderr: result.stderr }, { code: 2, stdout: '', stderr: expected }, command[0]);
    }
    const rotate = await runCli(['keys', 'rotate', ...dir.args()], { env });
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.match(rotate.stdout, /^added key \S+ \(ES256\); .*1 older key kept for verification\n$/);
    const check = await runCli(['check', ...dir.args()], { env });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^keys\s+ES256 kid=\S+ \(signs\), HS256 kid=\S+\s/m);
  });
});

describe('check', () => {
  const dir = dataDir();

  it('validates and prints the effective settings with their sources, secrets left out', async () => {
    const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_SIGNING_KEY: SECRET } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^SETTING\s+VALUE\s+FROM\n/);
    assert.match(result.stdout, /^rotateRefreshTokens\s+true\s+the server defaults$/m);
    assert.match(result.stdout, /^blacklistAfterRotation\s+true\s+follows rotateRefreshTokens$/m);
    assert.match(result.stdout, /^checkRevokeToken\s+true\s+the server defaults$/m);
    assert.match(result.stdout, /^accessTokenLifetime\s+300\s+the defaults$/m);
    assert.match(result.stdout, /^keys\s+HS256 \(signs\)\s+environment variable TOKENPAIR_SIGNING_KEY$/m);
    assert.match(result.stdout, /configuration OK\n$/);
    assert.ok(!result.stdout.includes(SECRET));
  });

  it('TOKENPAIR_ACCESS_TOKEN_LIFETIME=2s takes effect', async () => {
    const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_ACCESS_TOKEN_LIFETIME: '2s' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^accessTokenLifetime\s+2\s+environment variable TOKENPAIR_ACCESS_TOKEN_LIFETIME$/m);
  });

  it('reads a config file in camelCase or simplejwt names; the environment wins over it', async () => {
    const file = join(dir.path(), 'config.json');
    writeFileSync(file, JSON.stringify({ ACCESS_TOKEN_LIFETIME: '10m', issuer: 'https://auth.example', ROTATE_REFRESH_TOKENS: false }));
    const result = await runCli(['check', '--config', file, ...dir.args()], { env: { TOKENPAIR_ISSUER: 'https://env.example' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^accessTokenLifetime\\s+600\\s+config file ${file} \\(key "ACCESS_TOKEN_LIFETIME"\\)$`, 'm'));
    assert.match(result.stdout, /^issuer\s+"https:\/\/env\.example"\s+environment variable TOKENPAIR_ISSUER$/m);
    assert.match(result.stdout, /^rotateRefreshTokens\s+false\s/m);
    assert.match(result.stdout, /^blacklistAfterRotation\s+false\s/m);
  });

  it('a copied SIMPLE_JWT dict (as JSON): HTTP_AUTHORIZATION is the Authorization header, VERIFYING_KEY "" is no key', async () => {
    const file = join(dir.path(), 'simple-jwt.json');
    writeFileSync(file, JSON.stringify({
      ACCESS_TOKEN_LIFETIME: 300, REFRESH_TOKEN_LIFETIME: 86400, ROTATE_REFRESH_TOKENS: false, BLACKLIST_AFTER_ROTATION: false, UPDATE_LAST_LOGIN: false,
      ALGORITHM: 'HS256', VERIFYING_KEY: '', AUDIENCE: null, ISSUER: null, JSON_ENCODER: null, JWK_URL: null, LEEWAY: 0,
      AUTH_HEADER_TYPES: ['Bearer'], AUTH_HEADER_NAME: 'HTTP_AUTHORIZATION', USER_ID_FIELD: 'id', USER_ID_CLAIM: 'user_id',
      TOKEN_TYPE_CLAIM: 'token_type', JTI_CLAIM: 'jti', SLIDING_TOKEN_REFRESH_EXP_CLAIM: 'refresh_exp', SLIDING_TOKEN_LIFETIME: 300,
      SLIDING_TOKEN_REFRESH_LIFETIME: 86400, CHECK_REVOKE_TOKEN: false, REVOKE_TOKEN_CLAIM: 'hash_password', CHECK_USER_IS_ACTIVE: true,
    }));
    const result = await runCli(['check', '--config', file, ...dir.args()]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^authHeaderName\\s+"Authorization"\\s+config file ${file} \\(key "AUTH_HEADER_NAME"\\)$`, 'm'));
    assert.match(result.stdout, /^keys: none yet \(.*keys\.json is created on the first `tokenpair serve`\)$/m);
  });

  it('simplejwt settings that are Python class paths: exit 2 saying why', async () => {
    const cases: Array<[Record<string, unknown>, (file: string) => string]> = [
      [{ TOKEN_OBTAIN_SERIALIZER: 'rest_framework_simplejwt.serializers.TokenObtainPairSerializer' }, (file) => `TOKEN_OBTAIN_SERIALIZER in config file ${file} is a Python class path (a serializer) in simplejwt; in tokenpair this is a function given in code (customizeClaims, customizeTokenResponse: use tokenpair as a library): remove it from the file`],
      [{ JSON_ENCODER: 'app.encoders.Encoder' }, (file) => `JSON_ENCODER in config file ${file} is a Python class path (a JSON encoder) in simplejwt; tokenpair writes claims as plain JSON and has no such setting: remove it from the file`],
      [{ USER_AUTHENTICATION_RULE: 'rest_framework_simplejwt.authentication.default_user_authentication_rule' }, (file) => `userAuthenticationRule is a Python class path in simplejwt; in tokenpair it is a function given in code and cannot be set in config file ${file} (key "USER_AUTHENTICATION_RULE"): remove it from the file, and use tokenpair as a library for hooks`],
      [{ AUTH_TOKEN_CLASSES: ['rest_framework_simplejwt.tokens.AccessToken'] }, (file) => `authTokenClasses lists token types, not Python class paths (got "rest_framework_simplejwt.tokens.AccessToken"): e.g. ["access"] for simplejwt's AccessToken, ["access", "sliding"] (from config file ${file} (key "AUTH_TOKEN_CLASSES"))`],
    ];
    for (const [content, message] of cases) {
      const file = join(dir.path(), 'python.json');
      writeFileSync(file, JSON.stringify(content));
      const result = await runCli(['check', '--config', file, ...dir.args()]);
      assert.deepEqual({ code: result.code, stdout: result.stdout, stderr: result.stderr }, { code: 2, stdout: '', stderr: `tokenpair: invalid configuration: ${message(file)}\n` });
    }
  });

  it('a bad value in the environment: exit 2 naming the setting and the variable', async () => {
    const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_ACCESS_TOKEN_LIFETIME: 'soon' } });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^tokenpair: invalid configuration: accessTokenLifetime must be .* \(got "soon"\) \(from environment variable TOKENPAIR_ACCESS_TOKEN_LIFETIME\)\n$/);
    const bool = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_ROTATE_REFRESH_TOKENS: 'yes' } });
    assert.equal(bool.code, 2);
    assert.equal(bool.stderr, 'tokenpair: invalid configuration: rotateRefreshTokens must be true or false (got "yes") (from environment variable TOKENPAIR_ROTATE_REFRESH_TOKENS)\n');
  });

  it('a token lifetime under one second: exit 2 naming the setting and the variable', async () => {
    for (const value of ['500ms', '0.5']) {
      const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_ACCESS_TOKEN_LIFETIME: value } });
      assert.deepEqual(
        { code: result.code, stdout: result.stdout, stderr: result.stderr },
        { code: 2, stdout: '', stderr: `tokenpair: invalid configuration: accessTokenLifetime must be at least 1 second: exp is counted in whole seconds, so a shorter token is expired when issued (got "${value}") (from environment variable TOKENPAIR_ACCESS_TOKEN_LIFETIME)\n` },
      );
    }
  });

  it('userIdField other than "id": exit 2, the built-in user stores have no other field', async () => {
    for (const value of ['uid', 'username']) {
      for (const command of [['check'], ['serve', '--port', '0']]) {
        const result = await runCli([...command, ...dir.args()], { env: { TOKENPAIR_USER_ID_FIELD: value } });
        assert.deepEqual(
          { code: result.code, stdout: result.stdout, stderr: result.stderr },
          {
            code: 2,
            stdout: '',
            stderr: `tokenpair: invalid configuration: userIdField must be "id" for tokenpair serve and the CLI, whose user stores have no other user id field (got "${value}") (from environment variable TOKENPAIR_USER_ID_FIELD); another field needs tokenpair as a library with your own user store\n`,
          },
          `${command[0]} ${value}`,
        );
      }
    }
    const same = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_USER_ID_FIELD: 'id' } });
    assert.equal(same.code, 0, same.stderr);
  });

  it('a weak signing key: exit 2 without echoing it', async () => {
    const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_SIGNING_KEY: 'short-secret' } });
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'tokenpair: invalid configuration: signingKey must be at least 32 bytes for HS256 (got 12) (from environment variable TOKENPAIR_SIGNING_KEY)\n');
  });

  it('a bad value in the config file: exit 2 naming the setting and the file', async () => {
    const file = join(dir.path(), 'bad.json');
    writeFileSync(file, JSON.stringify({ leeway: 'lots' }));
    const result = await runCli(['check', '--config', file, ...dir.args()]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, `tokenpair: invalid configuration: leeway must be a finite number of seconds from 0 to 300 (got "lots") (from config file ${file} (key "leeway"))\n`);
  });

  it('an unknown key in the config file or an unknown TOKENPAIR_ variable: exit 2 naming it', async () => {
    const file = join(dir.path(), 'typo.json');
    writeFileSync(file, JSON.stringify({ acessTokenLifetime: '1m' }));
    const typo = await runCli(['check', '--config', file, ...dir.args()]);
    assert.equal(typo.code, 2);
    assert.equal(typo.stderr, `tokenpair: invalid configuration: acessTokenLifetime in config file ${file} is not a tokenpair setting (did you mean accessTokenLifetime?)\n`);
    const env = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_ACESS_TOKEN_LIFETIME: '1m' } });
    assert.equal(env.code, 2);
    assert.equal(env.stderr, 'tokenpair: invalid configuration: TOKENPAIR_ACESS_TOKEN_LIFETIME is not a tokenpair setting (did you mean TOKENPAIR_ACCESS_TOKEN_LIFETIME?)\n');
  });

  it('an unreadable or invalid config file: exit 2', async () => {
    const missing = await runCli(['check', '--config', join(dir.path(), 'missing.json'), ...dir.args()]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^tokenpair: invalid configuration: --config cannot read .*missing\.json: ENOENT\n$/);
    const file = join(dir.path(), 'broken.json');
    writeFileSync(file, '{"leeway": ');
    const broken = await runCli(['check', '--config', file, ...dir.args()]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /is not valid JSON/);
  });

  it('invalid JSON holding a secret: exit 2 with the position only, never a piece of the text', async () => {
    const secret = 'SuperSecretValue-0123456789abcdef0123456789';
    const ring = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_KEY_RING: secret } });
    assert.deepEqual(
      { code: ring.code, stdout: ring.stdout, stderr: ring.stderr },
      { code: 2, stdout: '', stderr: 'tokenpair: invalid configuration: keyRing must be JSON in environment variable TOKENPAIR_KEY_RING, which is not valid JSON (at line 1, column 1); the value is not shown: it holds keys\n' },
    );
    const file = join(dir.path(), 'unquoted.json');
    writeFileSync(file, `{\n  "accessTokenLifetime": "5m",\n  "signingKey": ${secret}\n}\n`);
    const config = await runCli(['check', '--config', file, ...dir.args()]);
    assert.deepEqual(
      { code: config.code, stdout: config.stdout, stderr: config.stderr },
      { code: 2, stdout: '', stderr: `tokenpair: invalid configuration: --config ${file} is not valid JSON (at line 3, column 17)\n` },
    );
  });

  it('the serve variables are checked as serve checks them: exit 2 naming the variable', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ TOKENPAIR_PORT: 'abc' }, '--port (from TOKENPAIR_PORT) must be a port number from 0 to 65535 (got "abc")'],
      [{ TOKENPAIR_DEMO: '0' }, 'TOKENPAIR_DEMO must be true or false (got "0")'],
      [{ TOKENPAIR_LOG_LEVEL: 'verbose' }, '--log-level (from TOKENPAIR_LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
      [{ TOKENPAIR_TRUST_PROXY: 'true' }, '--trust-proxy (from TOKENPAIR_TRUST_PROXY) must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got "true")'],
      [{ TOKENPAIR_DATABASE_POOL_SIZE: '5' }, '--database-pool-size (from TOKENPAIR_DATABASE_POOL_SIZE) applies to PostgreSQL only: give --database-url (or TOKENPAIR_DATABASE_URL) too, or leave it out for SQLite'],
      [{ TOKENPAIR_REQUEST_TIMEOUT: 'never' }, '--request-timeout (from TOKENPAIR_REQUEST_TIMEOUT) must be a duration from 100ms to 10m, e.g. 30 or 30s (got "never")'],
    ];
    for (const [env, message] of cases) {
      const result = await runCli(['check', ...dir.args()], { env });
      assert.deepEqual({ code: result.code, stdout: result.stdout, stderr: result.stderr }, { code: 2, stdout: '', stderr: `tokenpair: ${message}\n` }, JSON.stringify(env));
    }
    const good = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_PORT: '9000', TOKENPAIR_DEMO: 'false', TOKENPAIR_LOG_LEVEL: 'warn', TOKENPAIR_TRUST_PROXY: '10.0.0.0/8,::1', TOKENPAIR_REQUEST_TIMEOUT: '30s' } });
    assert.equal(good.code, 0, good.stderr);
  });

  it('empty TOKENPAIR_SIGNING_KEY and TOKENPAIR_KEY_RING are unset: the key file is used; TOKENPAIR_TEST_DATABASE_URL is ignored', async () => {
    const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_SIGNING_KEY: '', TOKENPAIR_KEY_RING: '', TOKENPAIR_TEST_DATABASE_URL: 'postgres://localhost/test' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^keys: (none yet|key file) /m);
  });

  it('check shows the algorithm of the signing key when the algorithm is not set, and where it comes from', async () => {
    const own = tempDir('tokenpair-cli-alg-');
    try {
      assert.equal((await runCli(['keys', 'generate', '--data-dir', own.path], { env: { TOKENPAIR_ALGORITHM: 'ES256' } })).code, 0);
      const result = await runCli(['check', '--data-dir', own.path]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^algorithm\\s+"ES256"\\s+the signing key \\(key file ${join(own.path, 'keys.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm'));
    } finally {
      own.cleanup();
    }
  });

  it('a reader that goes away (check | head) ends the command quietly, not with an EPIPE stack trace', async () => {
    const child = spawn(process.execPath, [CLI, 'check', ...dir.args()], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the first line
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.deepEqual({ code, stderr }, { code: 0, stderr: '' });
  });

  it('jwkUrl is shown without its credentials', async () => {
    const result = await runCli(['check', ...dir.args()], {
      env: { TOKENPAIR_ALGORITHM: 'RS256', TOKENPAIR_JWK_URL: 'https://user:hunter2@auth.example/jwks.json?access_token=s3cr3t&v=2', TOKENPAIR_SIGNING_KEY: '', TOKENPAIR_VERIFYING_KEY: '' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^jwkUrl\s+"https:\/\/redacted@auth\.example\/jwks\.json\?access_token=redacted&v=2"\s+environment variable TOKENPAIR_JWK_URL$/m);
    assert.ok(!result.stdout.includes('hunter2') && !result.stdout.includes('s3cr3t'));
    const refused = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_ALGORITHM: 'RS256', TOKENPAIR_JWK_URL: 'http://user:hunter2@auth.example/jwks.json' } });
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr, 'tokenpair: invalid configuration: jwkUrl must be an https: URL (http: only on localhost) (got "http://redacted@auth.example/jwks.json") (from environment variable TOKENPAIR_JWK_URL)\n');
  });

  it('TOKENPAIR_DATABASE_URL selects PostgreSQL: check shows the URL without its password (no connection made)', async () => {
    const result = await runCli(['check', ...dir.args()], { env: { TOKENPAIR_DATABASE_URL: 'postgres://tokenpair:hunter2@db.internal:5432/tokenpair' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^database: PostgreSQL postgres:\/\/tokenpair@db\.internal:5432\/tokenpair$/m);
    assert.ok(!result.stdout.includes('hunter2'));
  });

  it('a --database-url that is not a postgres:// URL is refused (2) without echoing it', async () => {
    const result = await runCli(['check', ...dir.args(), '--database-url', 'mysql://root:hunter2@db/x']);
    assert.equal(result.code, 2);
    assert.equal(result.stderr, 'tokenpair: invalid configuration: --database-url must be a postgres:// or postgresql:// URL (got a mysql:// URL)\n');
  });

  it('every command validates the configuration first', async () => {
    const result = await runCli(['createuser', 'zed', '--password-stdin', ...dir.args()], { env: { TOKENPAIR_LEEWAY: '-1' }, input: 'pw\n' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /leeway .*TOKENPAIR_LEEWAY/);
  });
});

describe('migrate', () => {
  const dir = dataDir();

  it('creates the database, then reports it up to date', async () => {
    const first = await runCli(['migrate', ...dir.args()]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^migrated .*tokenpair\.sqlite3 from schema version 0 to \d+\n$/);
    const second = await runCli(['migrate', ...dir.args()]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^.*tokenpair\.sqlite3 is up to date \(schema version \d+\)\n$/);
  });
});

describe('configuration loading (in process)', () => {
  it('knows how to read every setting from the environment', () => {
    assert.deepEqual([...SETTING_NAMES].sort(), Object.keys(ENV_KINDS).sort());
  });

  it('maps TOKENPAIR_<SIMPLEJWT_NAME> to the camelCase setting and parses each kind', () => {
    const config = loadConfig({
      env: {
        TOKENPAIR_ACCESS_TOKEN_LIFETIME: '2s',
        TOKENPAIR_REFRESH_TOKEN_LIFETIME: '3600',
        TOKENPAIR_ROTATE_REFRESH_TOKENS: 'FALSE',
        TOKENPAIR_AUTH_HEADER_TYPES: 'Bearer, JWT',
        TOKENPAIR_AUDIENCE: '',
        TOKENPAIR_SIGNING_KEY: SECRET,
        TOKENPAIR_MAX_BODY_SIZE: '2048',
        TOKENPAIR_HOST: '0.0.0.0',
        TOKENPAIR_PORT: '9000',
        TOKENPAIR_LOG_LEVEL: 'warn',
        OTHER: 'ignored',
      },
    });
    assert.equal(envVariable('jwkUrl'), 'TOKENPAIR_JWK_URL');
    assert.equal(config.input.accessTokenLifetime, '2s');
    assert.equal(config.input.refreshTokenLifetime, 3600);
    assert.equal(config.input.rotateRefreshTokens, false);
    assert.deepEqual(config.input.authHeaderTypes, ['Bearer', 'JWT']);
    assert.equal(config.input.audience, null);
    assert.equal(config.input.maxBodySize, 2048);
    const settings = resolveSettings(config);
    assert.equal(settings.accessTokenLifetime, 2);
    assert.equal(settings.rotateRefreshTokens, false);
    assert.equal(settings.blacklistAfterRotation, false);
    assert.equal(settings.checkRevokeToken, true);
  });

  it('README.md has a configuration row for every setting, with its variable', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of SETTING_NAMES) {
      const variable = ENV_KINDS[name] === 'function' ? '*library only*' : `\`${envVariable(name)}\``;
      assert.ok(readme.includes(`| \`${name}\` | ${variable}`), `README.md: no row for ${name}`);
    }
  });

  it('an empty key variable unsets the key, even one set in the config file', () => {
    for (const variable of ['TOKENPAIR_SIGNING_KEY', 'TOKENPAIR_VERIFYING_KEY', 'TOKENPAIR_KEY_RING']) {
      const config = loadConfig({ env: { [variable]: '' } });
      assert.equal(hasConfiguredKey(config), false, variable);
    }
    const dir = tempDir('tokenpair-cli-empty-');
    try {
      const file = join(dir.path, 'config.json');
      writeFileSync(file, JSON.stringify({ SIGNING_KEY: SECRET }));
      const config = loadConfig({ configPath: file, env: { TOKENPAIR_SIGNING_KEY: ' ' } });
      assert.equal(config.input.signingKey, undefined);
      assert.equal(config.sources.get('signingKey'), undefined);
    } finally {
      dir.cleanup();
    }
    assert.equal(loadConfig({ env: { TOKENPAIR_JWK_URL: '' } }).input.jwkUrl, null);
  });

  it('ignores TOKENPAIR_TEST_DATABASE_URL, the test suite\'s own variable', () => {
    const config = loadConfig({ env: { TOKENPAIR_TEST_DATABASE_URL: 'postgres://localhost/test' } });
    assert.equal(config.sources.size, Object.keys(config.input).length);
    assert.deepEqual([...config.sources.values()].map((source) => source.kind), ['server-default', 'server-default', 'server-default']);
  });

  it('refuses function settings from the environment', () => {
    assert.throws(() => loadConfig({ env: { TOKENPAIR_ON_LOGIN_SUCCESS: 'x' } }), (e: unknown) => e instanceof ConfigurationError && e.setting === 'onLoginSuccess' && /cannot be set by environment variable TOKENPAIR_ON_LOGIN_SUCCESS/.test(e.message));
  });
});
