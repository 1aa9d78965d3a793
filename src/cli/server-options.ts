/**
 * The options of `tokenpair serve` that are not settings (`--port`, `--log-level`, `--trust-proxy`,
 * `--database-pool-size`, the demo switch): parsed by `serve` before it creates anything, and by
 * `check` from their `TOKENPAIR_*` variables, with the same functions and the same messages.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../server/app.js';
import { parseDuration } from '../settings/duration.js';
import { CliError, EXIT } from './context.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** `--port`, or `--port (from TOKENPAIR_PORT)` when the value came from the environment. */
export function optionLabel(flag: string, variable: string, fromEnv: boolean): string {
  return fromEnv ? `${flag} (from ${variable})` : flag;
}

export function parsePort(text: string, label = '--port'): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new CliError(`${label} must be a port number from 0 to 65535 (got ${JSON.stringify(text)})`, EXIT.usage);
  return port;
}

/** `--host` must name an address this machine can resolve: checked before anything is created. */
export async function checkHost(host: string, label = '--host'): Promise<void> {
  try {
    await lookup(host);
  } catch (error) {
    throw new CliError(`${label} must be an address or a host name that resolves (got ${JSON.stringify(host)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, EXIT.usage);
  }
}

export function parseLogLevel(text: string, label = '--log-level'): string {
  if (!LOG_LEVELS.includes(text)) throw new CliError(`${label} must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(text)})`, EXIT.usage);
  return text;
}

/** The demo page is on unless `--no-demo` is given or `TOKENPAIR_DEMO` is `false`. */
export function demoEnabled(flag: boolean, env: string | undefined): boolean {
  if (!flag) return false;
  const value = env?.trim().toLowerCase();
  if (value === undefined || value === '' || value === 'true') return true;
  if (value === 'false') return false;
  throw new CliError(`TOKENPAIR_DEMO must be true or false (got ${JSON.stringify(env)})`, EXIT.usage);
}

/** An IPv4 or IPv6 address, optionally with a prefix length that fits it (`/0`-`/32`, `/0`-`/128`). */
function isAddressOrRange(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  const version = isIP(address ?? '');
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

/** Addresses or CIDR ranges only: `true` (trust anyone) would let any client choose its own address. */
export function parseTrustProxy(text: string | undefined, label = '--trust-proxy'): string | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const entries = text.split(',').map((entry) => entry.trim());
  const bad = entries.find((entry) => !isAddressOrRange(entry));
  if (bad !== undefined) {
    throw new CliError(`${label} must list proxy addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8 (got ${JSON.stringify(bad)})`, EXIT.usage);
  }
  return entries.join(',');
}

/** The most connections to PostgreSQL: a whole number from 1 to 1000, and only with a database URL. */
export function parsePoolSize(text: string | undefined, databaseUrl: string | null, label = '--database-pool-size'): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const size = /^\d{1,4}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!(size >= 1 && size <= 1000)) {
    throw new CliError(`${label} must be a whole number from 1 to 1000 (got ${JSON.stringify(text)})`, EXIT.usage);
  }
  if (!databaseUrl) throw new CliError(`${label} applies to PostgreSQL only: give --database-url (or TOKENPAIR_DATABASE_URL) too, or leave it out for SQLite`, EXIT.usage);
  return size;
}

/** `--request-timeout`: seconds or a duration ("500ms", "15s", "1m"), from 100 ms to 10 minutes; milliseconds. */
export function parseRequestTimeout(text: string | undefined, label = '--request-timeout'): number {
  if (text === undefined || text.trim() === '') return DEFAULT_REQUEST_TIMEOUT_MS;
  const seconds = parseDuration(text);
  if (seconds === undefined || !(seconds >= 0.1 && seconds <= 600)) {
    throw new CliError(`${label} must be a duration from 100ms to 10m, e.g. 30 or 30s (got ${JSON.stringify(text)})`, EXIT.usage);
  }
  return Math.round(seconds * 1000);
}

/** `check`: the serve variables of the environment, refused as `serve` would refuse them. */
export function checkServeEnvironment(env: NodeJS.ProcessEnv, databaseUrl: string | null): void {
  if (env.TOKENPAIR_PORT !== undefined) parsePort(env.TOKENPAIR_PORT, optionLabel('--port', 'TOKENPAIR_PORT', true));
  if (env.TOKENPAIR_LOG_LEVEL !== undefined) parseLogLevel(env.TOKENPAIR_LOG_LEVEL, optionLabel('--log-level', 'TOKENPAIR_LOG_LEVEL', true));
  demoEnabled(true, env.TOKENPAIR_DEMO);
  parseTrustProxy(env.TOKENPAIR_TRUST_PROXY, optionLabel('--trust-proxy', 'TOKENPAIR_TRUST_PROXY', true));
  parsePoolSize(env.TOKENPAIR_DATABASE_POOL_SIZE, databaseUrl, optionLabel('--database-pool-size', 'TOKENPAIR_DATABASE_POOL_SIZE', true));
  parseRequestTimeout(env.TOKENPAIR_REQUEST_TIMEOUT, optionLabel('--request-timeout', 'TOKENPAIR_REQUEST_TIMEOUT', true));
}
