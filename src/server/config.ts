/**
 * The standalone server's configuration: server defaults ← a JSON config file ← `TOKENPAIR_*`
 * environment variables (WIRE.md "Settings"). Every value remembers where it came from, so that a
 * refusal names both the setting and its source.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { KeyRingEntry } from '../jws/keyring.js';
import { jsonErrorPosition } from './json-position.js';
import { redactUrl } from '../settings/redact-url.js';
import { SETTING_NAMES, defineSettings, type Settings, type SettingsInput } from '../settings/settings.js';

/** Where a setting's value came from. */
export type SettingSource =
  | { kind: 'default' }
  | { kind: 'server-default' }
  | { kind: 'file'; path: string; key: string }
  | { kind: 'env'; variable: string }
  | { kind: 'key-file'; path: string };

/**
 * The server's own defaults, safer than the library's (WIRE.md "Differences in defaults"): rotation
 * on (which turns blacklisting after rotation and reuse detection on), and the security stamp in
 * every token so that logout-all and a password change invalidate access tokens under user lookup.
 */
export const SERVER_DEFAULTS: Readonly<SettingsInput> = Object.freeze({
  rotateRefreshTokens: true,
  checkRevokeToken: true,
  userLookup: true,
});

/** `TOKENPAIR_` variables that configure the server itself rather than a setting. */
export const SERVER_VARIABLES = ['TOKENPAIR_HOST', 'TOKENPAIR_PORT', 'TOKENPAIR_DATA_DIR', 'TOKENPAIR_CONFIG', 'TOKENPAIR_DATABASE_URL', 'TOKENPAIR_DATABASE_POOL_SIZE', 'TOKENPAIR_LOG_LEVEL', 'TOKENPAIR_DEMO', 'TOKENPAIR_TRUST_PROXY', 'TOKENPAIR_REQUEST_TIMEOUT'] as const;

/** `TOKENPAIR_` variables that belong to something else and are ignored: the test suite's PostgreSQL. */
export const OTHER_VARIABLES = ['TOKENPAIR_TEST_DATABASE_URL'] as const;

/** How an environment variable's text becomes a setting's value. */
type EnvKind =
  /** `true` / `false` (any case); anything else is passed on for the setting to refuse. */
  | 'boolean'
  /** Whole numbers become numbers; other text (`"5m"`) is passed on as a string. */
  | 'number'
  /** Comma-separated, each item trimmed: `AUTH_HEADER_TYPES=Bearer,JWT`. */
  | 'list'
  | 'string'
  /** An empty value means `null` (turns the setting off). */
  | 'nullable'
  /** JSON (the key ring). */
  | 'json'
  /** Functions cannot come from the environment or a JSON file. */
  | 'function';

/** One row per setting. `settingEnvKinds covers SETTING_NAMES` is tested, so a new setting must be added here. */
export const ENV_KINDS: Readonly<Record<string, EnvKind>> = Object.freeze({
  accessTokenLifetime: 'number',
  refreshTokenLifetime: 'number',
  rotateRefreshTokens: 'boolean',
  blacklistAfterRotation: 'boolean',
  updateLastLogin: 'boolean',
  algorithm: 'string',
  signingKey: 'string',
  verifyingKey: 'string',
  keyRing: 'json',
  audience: 'nullable',
  issuer: 'nullable',
  jwkUrl: 'nullable',
  jwkCacheMaxAge: 'number',
  jwkFetchTimeout: 'number',
  leeway: 'number',
  authHeaderTypes: 'list',
  authHeaderName: 'string',
  userIdField: 'string',
  userIdClaim: 'string',
  userAuthenticationRule: 'function',
  authTokenClasses: 'list',
  tokenTypeClaim: 'string',
  jtiClaim: 'string',
  tokenUserClass: 'function',
  slidingTokenRefreshExpClaim: 'string',
  slidingTokenLifetime: 'number',
  slidingTokenRefreshLifetime: 'number',
  checkRevokeToken: 'boolean',
  revokeTokenClaim: 'string',
  checkUserIsActive: 'boolean',
  onLoginSuccess: 'function',
  onLoginFailed: 'function',
  customizeClaims: 'function',
  customizeTokenResponse: 'function',
  maxTokenLength: 'number',
  usernameField: 'string',
  userLookup: 'boolean',
  reuseDetection: 'boolean',
  reuseGracePeriod: 'number',
  sessionAbsoluteLifetime: 'nullable',
  loginThrottlePerUsername: 'number',
  loginThrottlePerAddress: 'number',
  loginThrottleWindow: 'number',
  maxBodySize: 'number',
  refreshTransport: 'string',
  refreshCookieName: 'string',
  refreshCookiePath: 'string',
  refreshCookieDomain: 'nullable',
  refreshCookieSameSite: 'string',
  refreshCookieSecure: 'boolean',
  allowedOrigins: 'list',
});

/** Settings whose values are secrets: never printed, never logged. */
export const SECRET_SETTINGS: readonly string[] = ['signingKey', 'verifyingKey', 'keyRing'];

/** `accessTokenLifetime` → `ACCESS_TOKEN_LIFETIME` (simplejwt's name). */
export function simplejwtName(setting: string): string {
  return setting.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** `accessTokenLifetime` → `TOKENPAIR_ACCESS_TOKEN_LIFETIME`. */
export function envVariable(setting: string): string {
  return `TOKENPAIR_${simplejwtName(setting)}`;
}

const BY_SIMPLEJWT_NAME = new Map(SETTING_NAMES.map((name) => [simplejwtName(name), name]));

/** The configuration before validation: the merged input and where each value came from. */
export interface LoadedConfig {
  /** Server defaults, then the file, then the environment. Keys from `keys.json` are not in here. */
  readonly input: Readonly<Record<string, unknown>>;
  readonly sources: ReadonlyMap<string, SettingSource>;
  /** The config file that was read, if any. */
  readonly configPath: string | null;
}

export interface LoadConfigOptions {
  /** `--config`: a JSON object of settings (camelCase, or simplejwt's SCREAMING_SNAKE names). */
  configPath?: string | null;
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Says where a value came from, for messages: `environment variable TOKENPAIR_LEEWAY`. */
export function describeSource(source: SettingSource | undefined): string {
  switch (source?.kind) {
    case 'file':
      return `config file ${source.path} (key "${source.key}")`;
    case 'env':
      return `environment variable ${source.variable}`;
    case 'key-file':
      return `key file ${source.path}`;
    case 'server-default':
      return 'the server defaults';
    default:
      return 'the defaults';
  }
}

/**
 * Reads the config file and the environment. Throws `ConfigurationError` for an unreadable file,
 * an unknown setting or variable, or a value that cannot be read; values are validated later by
 * `resolveSettings`.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const input: Record<string, unknown> = { ...SERVER_DEFAULTS };
  const sources = new Map<string, SettingSource>(Object.keys(SERVER_DEFAULTS).map((name) => [name, { kind: 'server-default' }]));
  const configPath = options.configPath || null;
  if (configPath) {
    for (const [key, value] of Object.entries(readConfigFile(configPath))) {
      if (key === 'JSON_ENCODER' && value === null) continue; // simplejwt's default: no custom encoder, as in tokenpair
      const name = settingForFileKey(key, configPath);
      const source: SettingSource = { kind: 'file', path: configPath, key };
      if (sources.get(name)?.kind === 'file') throw new ConfigurationError(name, `is set twice in ${describeSource(source)}`);
      if (ENV_KINDS[name] === 'function') {
        const why = typeof value === 'string' && value.includes('.') ? 'is a Python class path in simplejwt; in tokenpair it is a function given in code' : 'is a function';
        throw new ConfigurationError(name, `${why} and cannot be set in ${describeSource(source)}: remove it from the file, and use tokenpair as a library for hooks`);
      }
      // simplejwt's "no key" is "" (VERIFYING_KEY's default) or None; an empty optional setting is null.
      if (UNSET_WHEN_EMPTY.includes(name) && (value === '' || value === null)) continue;
      input[name] = ENV_KINDS[name] === 'nullable' && value === '' ? null : value;
      sources.set(name, source);
    }
  }
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('TOKENPAIR_') || (SERVER_VARIABLES as readonly string[]).includes(variable) || (OTHER_VARIABLES as readonly string[]).includes(variable)) continue;
    const name = BY_SIMPLEJWT_NAME.get(variable.slice('TOKENPAIR_'.length));
    if (!name) {
      const hint = closestSetting(variable.slice('TOKENPAIR_'.length));
      if (hint) throw new ConfigurationError(variable, `is not a tokenpair setting (did you mean ${envVariable(hint)}?)`);
      throw new ConfigurationError(variable, `is not a tokenpair setting (settings are TOKENPAIR_ + a simplejwt name, e.g. TOKENPAIR_ACCESS_TOKEN_LIFETIME; server variables: ${SERVER_VARIABLES.join(', ')})`);
    }
    const text = env[variable] ?? '';
    if (UNSET_WHEN_EMPTY.includes(name) && text.trim() === '') {
      // An empty key variable unsets the key (keys.json is then used), as an empty value makes an optional setting null.
      delete input[name];
      sources.delete(name);
      continue;
    }
    input[name] = fromEnv(name, variable, text);
    sources.set(name, { kind: 'env', variable });
  }
  return { input: Object.freeze(input), sources, configPath };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError('--config', `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Never JSON.parse's message: it quotes the text around the error, which may be a secret.
    const position = jsonErrorPosition(text);
    throw new ConfigurationError('--config', `${path} is not valid JSON${position ? ` (at ${position})` : ''}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError('--config', `${path} must hold a JSON object of settings, e.g. {"accessTokenLifetime": "10m"}`);
  }
  return parsed as Record<string, unknown>;
}

/** The key settings: an empty value (or null) leaves them unset, so that keys.json is used. */
const UNSET_WHEN_EMPTY: readonly string[] = ['signingKey', 'verifyingKey', 'keyRing'];

/** simplejwt settings that name Python classes and have no tokenpair twin: why each is refused. */
const PYTHON_ONLY_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  TOKEN_OBTAIN_SERIALIZER: 'a serializer',
  TOKEN_REFRESH_SERIALIZER: 'a serializer',
  TOKEN_VERIFY_SERIALIZER: 'a serializer',
  TOKEN_BLACKLIST_SERIALIZER: 'a serializer',
  SLIDING_TOKEN_OBTAIN_SERIALIZER: 'a serializer',
  SLIDING_TOKEN_REFRESH_SERIALIZER: 'a serializer',
  JSON_ENCODER: 'a JSON encoder',
});

/** A file key is a camelCase setting or its simplejwt name (a Django `SIMPLE_JWT` dict copied as JSON). */
function settingForFileKey(key: string, path: string): string {
  if (Object.hasOwn(ENV_KINDS, key)) return key;
  const name = BY_SIMPLEJWT_NAME.get(key);
  if (name) return name;
  const python = PYTHON_ONLY_SETTINGS[key];
  if (python) {
    const instead = python === 'a serializer'
      ? 'in tokenpair this is a function given in code (customizeClaims, customizeTokenResponse: use tokenpair as a library)'
      : 'tokenpair writes claims as plain JSON and has no such setting';
    throw new ConfigurationError(key, `in config file ${path} is a Python class path (${python}) in simplejwt; ${instead}: remove it from the file`);
  }
  const hint = closestSetting(key);
  throw new ConfigurationError(key, `in config file ${path} is not a tokenpair setting${hint ? ` (did you mean ${hint}?)` : ''}`);
}

/** The setting a misspelt name most likely meant (camelCase or simplejwt spelling), if any is close. */
function closestSetting(name: string): string | undefined {
  const normal = (text: string) => text.toLowerCase().replaceAll('_', '');
  const wanted = normal(name);
  let best: { name: string; distance: number } | undefined;
  for (const known of SETTING_NAMES) {
    const distance = editDistance(wanted, normal(known));
    if (distance <= 2 && (!best || distance < best.distance)) best = { name: known, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function fromEnv(name: string, variable: string, text: string): unknown {
  switch (ENV_KINDS[name]) {
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      return lower === 'true' ? true : lower === 'false' ? false : text;
    }
    case 'number':
      return /^\s*\d+\s*$/.test(text) ? Number(text) : text.trim();
    case 'list':
      return text.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
    case 'nullable':
      return text.trim() === '' ? null : text.trim();
    case 'json':
      try {
        return JSON.parse(text);
      } catch {
        // Never JSON.parse's message: it quotes the value, i.e. the keys.
        const position = jsonErrorPosition(text);
        throw new ConfigurationError(name, `must be JSON in environment variable ${variable}, which is not valid JSON${position ? ` (at ${position})` : ''}; the value is not shown: it holds keys`);
      }
    case 'function':
      throw new ConfigurationError(name, `is a function and cannot be set by environment variable ${variable}: use tokenpair as a library for hooks`);
    default:
      return text;
  }
}

/** True when the configuration brings its own keys (then no key file is generated or used). */
export function hasConfiguredKey(config: LoadedConfig): boolean {
  return SECRET_SETTINGS.some((name) => config.input[name] !== undefined);
}

/**
 * Validates the configuration, with `keyRing` (from the key file) unless the configuration brings
 * its own key. A refusal names the setting and where its value came from, e.g.
 * `accessTokenLifetime must be … (got "soon") — from environment variable TOKENPAIR_ACCESS_TOKEN_LIFETIME`.
 */
export function resolveSettings(config: LoadedConfig, keyFile?: { path: string; keyRing: KeyRingEntry[] }): Settings {
  const input: Record<string, unknown> = { ...config.input };
  const sources = new Map(config.sources);
  if (!hasConfiguredKey(config) && keyFile) {
    input.keyRing = keyFile.keyRing;
    sources.set('keyRing', { kind: 'key-file', path: keyFile.path });
  }
  try {
    return defineSettings(input as SettingsInput);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    throw withSource(error, sources);
  }
}

/** Appends where the offending value came from to a `ConfigurationError`. */
function withSource(error: ConfigurationError, sources: ReadonlyMap<string, SettingSource>): ConfigurationError {
  const base = /^[A-Za-z]+/.exec(error.setting)?.[0] ?? error.setting;
  const source = sources.get(base);
  const rest = error.message.startsWith(`${error.setting} `) ? error.message.slice(error.setting.length + 1) : error.message;
  // A missing value has no source; a default value that fails only because of another setting names nothing either.
  const suffix = source && source.kind !== 'default' ? ` (from ${describeSource(source)})` : '';
  return new ConfigurationError(error.setting, `${rest}${suffix}`);
}

/** The effective settings for `tokenpair check`: every value but the secrets, with its source. */
export function describeSettings(settings: Settings, config: LoadedConfig, keySource: SettingSource | undefined): Array<{ name: string; value: string; source: string }> {
  const rows: Array<{ name: string; value: string; source: string }> = [];
  for (const name of SETTING_NAMES) {
    if (SECRET_SETTINGS.includes(name)) continue;
    const value = (settings as unknown as Record<string, unknown>)[name];
    let source = describeSource(config.sources.get(name));
    // defineSettings turns it on with rotation unless it is set.
    if (name === 'blacklistAfterRotation' && !config.sources.has(name)) source = 'follows rotateRefreshTokens';
    // A JWKS URL may carry credentials (https://user:password@…, ?token=…): shown without them.
    let shown = name === 'jwkUrl' && typeof value === 'string' ? redactUrl(value) : value;
    // Unset, the algorithm is the signing key's (a key file's keys carry theirs), not the default's.
    const signing = settings.keyRing?.current;
    if (name === 'algorithm' && !config.sources.has(name) && keySource && signing) {
      shown = signing.algorithm;
      source = `the signing key (${describeSource(keySource)})`;
    }
    rows.push({ name, value: typeof value === 'function' ? '(function)' : JSON.stringify(shown) ?? 'null', source });
  }
  const ring = settings.keyRing;
  const keys = !keySource
    ? 'none yet'
    : ring
      ? ring.keys.map((key) => `${key.algorithm}${key.kid !== undefined ? ` kid=${key.kid}` : ''}${key === ring.current ? ' (signs)' : ''}`).join(', ')
      : 'none (verify-only via jwkUrl)';
  rows.push({ name: 'keys', value: keys, source: keySource ? describeSource(keySource) : '-' });
  return rows;
}
