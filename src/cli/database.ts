/**
 * `--database-url` / `TOKENPAIR_DATABASE_URL`: PostgreSQL instead of the data directory's SQLite
 * file. The URL is checked before anything connects, and shown (messages, logs, `check`) only
 * without its password.
 */
import { ConfigurationError } from '../errors.js';
import { redactUrl } from '../settings/redact-url.js';

const SCHEMES = ['postgres:', 'postgresql:'];
/** Query parameters that may carry a secret (libpq's and node-postgres's names). */
const SECRET_PARAMETERS = /pass/i;

/**
 * The URL to connect to, or `null` for SQLite (unset or empty). A URL that is not a
 * `postgres://` / `postgresql://` URL is refused (exit 2) without echoing it: it may hold a password.
 */
export function checkDatabaseUrl(value: string | undefined): string | null {
  const text = value?.trim() ?? '';
  if (text === '') return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigurationError('--database-url', 'is not a URL: expected postgres://user@host:5432/database (from --database-url or TOKENPAIR_DATABASE_URL; not shown, it may hold a password)');
  }
  if (!SCHEMES.includes(url.protocol)) {
    throw new ConfigurationError('--database-url', `must be a postgres:// or postgresql:// URL (got a ${url.protocol}// URL)`);
  }
  return text;
}

/** The URL for messages and logs: the password (in the authority or the query) left out. */
export function displayDatabaseUrl(text: string): string {
  return redactUrl(text, { keepUsername: true, secretParameters: SECRET_PARAMETERS, unparsable: '(the database URL, not shown)' });
}
