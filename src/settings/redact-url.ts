/** URLs in messages and in `tokenpair check`: credentials (userinfo, secret-looking query parameters) left out. */

/** Query parameter names that may carry a secret. */
const SECRET_PARAMETERS = /pass|secret|token|key|sig|auth|cred/i;

/** True when the URL carries userinfo or a query parameter that may be a secret. */
export function hasCredentials(url: URL): boolean {
  return url.username !== '' || url.password !== '' || [...url.searchParams.keys()].some((name) => SECRET_PARAMETERS.test(name));
}

export interface RedactOptions {
  /** Keep the user name (a database role is not a secret); the password always goes. Default: replaced by `redacted`. */
  keepUsername?: boolean;
  /** Query parameter names whose values are replaced by `redacted` (default: names that look like secrets). */
  secretParameters?: RegExp;
  /** What to show for a text that is not a URL (it may be a secret). */
  unparsable?: string;
}

/** The URL with its userinfo replaced by `redacted` (or only its password left out) and secret-looking query values by `redacted`. */
export function redactUrl(text: string, options: RedactOptions = {}): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return options.unparsable ?? '(a URL, not shown)';
  }
  if (options.keepUsername) {
    url.password = '';
  } else if (url.username !== '' || url.password !== '') {
    url.username = 'redacted';
    url.password = '';
  }
  const secret = options.secretParameters ?? SECRET_PARAMETERS;
  for (const name of [...url.searchParams.keys()]) if (secret.test(name)) url.searchParams.set(name, 'redacted');
  return url.href;
}
