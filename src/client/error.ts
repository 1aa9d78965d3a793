/** The browser client's one error type: what the server answered, or why no answer was usable. */

/**
 * A failed tokenpair call. `status` is the HTTP status (0 when no request was made, e.g. no refresh
 * token is stored); `code` and `detail` are the server's (WIRE.md "Errors"), or the client's own
 * for the cases it detects itself (`no_refresh_token`, `session_changed`, `invalid_response`).
 *
 * @example
 * try {
 *   await client.login('alice', 'wrong');
 * } catch (error) {
 *   if (error instanceof TokenpairClientError && error.code === 'no_active_account') showBadLogin();
 * }
 */
export class TokenpairClientError extends Error {
  override readonly name = 'TokenpairClientError';
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  /** The parsed JSON body, the text when it is not JSON, or `null`. */
  readonly body: unknown;

  constructor(status: number, code: string, detail: string, body: unknown = null) {
    super(`${detail} (${status === 0 ? 'no response' : `HTTP ${status}`}, ${code})`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }

  /** The error for a non-2xx response: `code`/`detail` from the body; field errors (400) as `invalid`. */
  static async fromResponse(response: Response): Promise<TokenpairClientError> {
    const text = await response.text().catch(() => '');
    let body: unknown = text || null;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): keep the text.
    }
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const code = typeof fields.code === 'string' ? fields.code : response.status === 400 ? 'invalid' : `http_${response.status}`;
    let detail = typeof fields.detail === 'string' ? fields.detail : '';
    if (!detail) {
      // `{"username": ["This field is required."]}`: name the first field.
      const first = Object.entries(fields).find(([, value]) => Array.isArray(value) && typeof value[0] === 'string');
      detail = first ? `${first[0]}: ${(first[1] as string[])[0]}` : response.statusText || `HTTP ${response.status}`;
    }
    return new TokenpairClientError(response.status, code, detail, body);
  }
}
