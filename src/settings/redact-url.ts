/** URLs in messages and in `tokenpair check`: credentials (userinfo, secret-looking query parameters) left out. */

/** Query parameter names that may carry a secret. */
const SECRET_PARAMETERS = /pass|secret|token|key|sig|auth|cred/i;

/** True when the URL carries userinfo or a query parameter that may be a secret. */
export function hasCredentials(url: URL): boolean {
  return url.username !== '' || url.password !== '' || [...url.searchParams.keys()].some((name) => SECRET_PARAMETERS.test(name));
}

/** The URL with its userinfo replaced by `redacted` and secret-looking query values by `redacted`. */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '(a URL, not shown)';
  }
  if (url.username !== '' || url.password !== '') {
    url.username = 'redacted';
    url.password = '';
  }
  for (const name of [...url.searchParams.keys()]) if (SECRET_PARAMETERS.test(name)) url.searchParams.set(name, 'redacted');
  return url.href;
}
