/**
 * What every command shares: exit codes, the `--data-dir` / `--config` / `--database-url` options,
 * loading and validating the configuration, and opening the store: PostgreSQL with
 * `--database-url`, else the data directory's SQLite file.
 */
import { Option, type Command } from 'commander';
import { ConfigurationError } from '../errors.js';
import { ALGORITHM_NAMES, algorithmSpec, type Algorithm } from '../jws/algorithms.js';
import type { Settings } from '../settings/settings.js';
import type { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';
import type { UserRecord } from '../store/types.js';
import { describeSource, hasConfiguredKey, loadConfig, resolveSettings, type LoadedConfig, type SettingSource } from '../server/config.js';
import { databasePath, ensureDataDir, ensureKeys, keyFilePath, newKey, readKeys, toKeyRing } from '../server/keys.js';
import { checkDatabaseUrl, displayDatabaseUrl } from './database.js';

/** 0: done. 1: the operation failed (unknown user, store unavailable). 2: bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A failure with a message for stderr and an exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export const DEFAULT_DATA_DIR = './tokenpair-data';

export interface CommonOptions {
  dataDir: string;
  config?: string;
  /** `--database-url` / `TOKENPAIR_DATABASE_URL` (commands that open the store). */
  databaseUrl?: string;
}

/** Adds `--data-dir` and `--config` (both also from the environment) to a command. */
export function withCommonOptions(command: Command): Command {
  return command
    .addOption(new Option('--data-dir <dir>', 'directory of the SQLite database and keys.json').env('TOKENPAIR_DATA_DIR').default(DEFAULT_DATA_DIR))
    .addOption(new Option('--config <file>', 'JSON file of settings (camelCase or simplejwt names)').env('TOKENPAIR_CONFIG'));
}

/** `withCommonOptions` plus `--database-url`, for the commands that open the store. */
export function withStoreOptions(command: Command): Command {
  return withCommonOptions(command).addOption(
    new Option('--database-url <url>', 'PostgreSQL (postgres://user@host:5432/db) instead of the SQLite file in --data-dir; keep the password out of argv: PGPASSWORD, ~/.pgpass or the variable')
      .env('TOKENPAIR_DATABASE_URL'),
  );
}

/** The PostgreSQL URL to use, or `null` for the data directory's SQLite file. */
export function databaseUrlOf(options: CommonOptions): string | null {
  return checkDatabaseUrl(options.databaseUrl);
}

/** Where the data is, for messages: the SQLite file, or the PostgreSQL URL without its password. */
export function describeStore(options: CommonOptions): string {
  const url = databaseUrlOf(options);
  return url ? `PostgreSQL ${displayDatabaseUrl(url)}` : databasePath(options.dataDir);
}

export function loadCliConfig(options: CommonOptions): LoadedConfig {
  return loadConfig({ configPath: options.config ?? null });
}

/** The configured `algorithm`, refused (naming its source) when unknown. */
export function configuredAlgorithm(config: LoadedConfig): Algorithm {
  const value = config.input.algorithm ?? 'HS256';
  if (!algorithmSpec(value)) {
    throw new ConfigurationError('algorithm', `must be one of ${ALGORITHM_NAMES.join(', ')} (got ${JSON.stringify(value)}) (from ${describeSource(config.sources.get('algorithm'))})`);
  }
  return value as Algorithm;
}

export interface ResolvedSettings {
  settings: Settings;
  config: LoadedConfig;
  /** Where the keys come from; `undefined` when there are none yet (validated with a throw-away key). */
  keySource: SettingSource | undefined;
  /** True when this call created keys.json. */
  keysCreated: boolean;
}

/**
 * Loads and validates the configuration. Keys come from the configuration when it has any, else
 * from `<data-dir>/keys.json`; with `generate` that file is created when missing (first start),
 * without it a missing file is replaced by a throw-away key so the rest can still be validated.
 */
export function resolveServerSettings(options: CommonOptions, generate: boolean): ResolvedSettings {
  const config = loadCliConfig(options);
  databaseUrlOf(options); // a bad --database-url is refused before anything else happens
  checkBuiltInUserStore(config);
  if (hasConfiguredKey(config)) {
    const name = ['keyRing', 'signingKey', 'verifyingKey'].find((key) => config.input[key] !== undefined)!;
    return { settings: resolveSettings(config), config, keySource: config.sources.get(name), keysCreated: false };
  }
  const algorithm = configuredAlgorithm(config);
  const path = keyFilePath(options.dataDir);
  let keys = readKeys(options.dataDir);
  let keysCreated = false;
  if (!keys) {
    // Validate everything else first: an invalid configuration must not leave a key file behind.
    const settings = resolveSettings(config, { path, keyRing: toKeyRing([newKey(algorithm)]) });
    if (!generate) return { settings, config, keySource: undefined, keysCreated: false };
    ensureDataDir(options.dataDir);
    ({ keys, created: keysCreated } = ensureKeys(options.dataDir, algorithm));
  }
  checkSigningKeyAlgorithm(config, algorithm, keys[0]!.algorithm, path);
  return { settings: resolveSettings(config, { path, keyRing: toKeyRing(keys) }), config, keySource: { kind: 'key-file', path }, keysCreated };
}

/**
 * The built-in user stores (SQLite, PostgreSQL) identify users by `id` only: another `userIdField`
 * would fail every login (no such field) or every lookup. The library keeps the setting for custom
 * user stores.
 */
function checkBuiltInUserStore(config: LoadedConfig): void {
  const value = config.input.userIdField;
  if (value === undefined || value === 'id') return;
  throw new ConfigurationError(
    'userIdField',
    `must be "id" for tokenpair serve and the CLI, whose user stores have no other user id field (got ${JSON.stringify(value)}) (from ${describeSource(config.sources.get('userIdField'))}); another field needs tokenpair as a library with your own user store`,
  );
}

/**
 * An explicitly configured `algorithm` must be the one the key file signs with: otherwise the
 * setting would be silently ignored. The way to change algorithm is `keys rotate`, which adds a key
 * of the configured algorithm first (older keys keep verifying).
 */
function checkSigningKeyAlgorithm(config: LoadedConfig, algorithm: Algorithm, signing: string, path: string): void {
  const source = config.sources.get('algorithm');
  if (!source || source.kind === 'default' || algorithm === signing) return;
  throw new ConfigurationError(
    'algorithm',
    `is ${algorithm} (from ${describeSource(source)}) but the signing key of ${path} is ${signing}: run \`tokenpair keys rotate\` with algorithm ${algorithm} to add a key of that algorithm first (older keys keep verifying their tokens), or unset algorithm`,
  );
}

/** The built-in stores: their methods are the same. */
export type CliStore = SqliteStore | PostgresStore;

/**
 * Opens (and migrates) the store: PostgreSQL with `--database-url`, else the data directory's
 * SQLite file (the directory is created when missing). `poolSize`: PostgreSQL's most connections.
 */
export async function openStore(options: CommonOptions, { poolSize }: { poolSize?: number } = {}): Promise<CliStore> {
  const url = databaseUrlOf(options);
  if (url) {
    // Loaded only when asked for: `pg` costs every SQLite-only command ~35 ms of start-up.
    const { PostgresStore } = await import('../store/postgres.js');
    return PostgresStore.open(url, poolSize === undefined ? {} : { max: poolSize });
  }
  ensureDataDir(options.dataDir);
  return SqliteStore.open(databasePath(options.dataDir));
}

/** Opens the store (`openStore`), runs `work`, and closes it. */
export async function withStore<T>(options: CommonOptions, work: (store: CliStore) => Promise<T>): Promise<T> {
  const store = await openStore(options);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export async function findUser(store: CliStore, username: string): Promise<UserRecord> {
  const user = await store.findByUsername(username);
  if (!user) throw new CliError(`no user named ${JSON.stringify(username)}`, EXIT.failed);
  return user;
}

/** Seconds since the epoch. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Writes a line to stdout. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Plain columns, header first; cells are sanitised so that a stored user agent cannot inject terminal escapes. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const clean = (cell: string) => cell.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
  const all = [header, ...rows].map((row) => row.map(clean));
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}
