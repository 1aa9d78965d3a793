/**
 * CSRF and CORS for the token endpoints (WIRE.md "Cookie transport", SECURITY.md S17).
 *
 * - Allowed origin: the request's own origin (the `Origin`'s `host[:port]` equals the `Host` header;
 *   the scheme is the Origin's) or one of `allowedOrigins`, compared exactly as browsers serialise
 *   origins (lower case, default port omitted).
 * - CSRF (cookie endpoints in cookie mode): an `Origin` listed in `allowedOrigins` passes (the
 *   operator's explicit consent, also cross-site: a front end on another site needs SameSite=None).
 *   Otherwise refused when `Sec-Fetch-Site` is `cross-site` or `same-site` (a sibling subdomain is not
 *   the same origin), or when an `Origin` is present and not the request's own (`Origin: null`
 *   included). A request with neither header (curl, a server-side client) is not a browser's
 *   cross-site request and passes.
 * - CORS: only an `Origin` listed in `allowedOrigins` gets `Access-Control-Allow-Origin` (itself,
 *   never `*`) and `Access-Control-Allow-Credentials: true`; any other origin gets no CORS header.
 */

/** How long a browser may cache a preflight answer, in seconds. */
export const PREFLIGHT_MAX_AGE = 600;

/** A `Host` header: a host name, IPv4 or [IPv6] literal, optional port. Anything else never matches. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(allowedOrigins: readonly string[]) {
    this.#allowed = new Set(allowedOrigins);
  }

  /** True when there is an allow-list: responses then vary by `Origin`. */
  get hasAllowList(): boolean {
    return this.#allowed.size > 0;
  }

  /** True when `origin` is in `allowedOrigins` (exact match). */
  isListed(origin: string | undefined): origin is string {
    return typeof origin === 'string' && this.#allowed.has(origin);
  }

  /** True when `origin` is the origin the request was sent to, judged by its `Host` header. */
  static isSameOrigin(origin: string, host: string | undefined): boolean {
    if (typeof host !== 'string' || !HOST.test(host)) return false;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) return false;
    let requested: URL;
    try {
      requested = new URL(`${url.protocol}//${host}`);
    } catch {
      return false;
    }
    // URL normalises both sides alike: lower case, the scheme's default port omitted.
    return requested.host === url.host;
  }

  /** True when `origin` is the same origin or listed. */
  isAllowed(origin: string, host: string | undefined): boolean {
    return this.isListed(origin) || OriginPolicy.isSameOrigin(origin, host);
  }

  /** The CSRF check of the cookie endpoints: `true` when the request may proceed. */
  passesCsrf(headers: Record<string, string | undefined>): boolean {
    const site = headers['sec-fetch-site']?.trim().toLowerCase();
    const origin = headers.origin;
    // A front end on another site that the operator listed is the one cross-site caller allowed:
    // the listing is explicit consent, and its Origin header cannot be forged by a browser.
    if (this.isListed(origin)) return true;
    if (site === 'cross-site' || site === 'same-site') return false;
    if (origin !== undefined && !OriginPolicy.isSameOrigin(origin, headers.host)) return false;
    return true;
  }

  /**
   * The CORS headers for a response to this request: none unless the `Origin` is listed; for a
   * preflight (`OPTIONS` with `Access-Control-Request-Method`) also the methods, headers and max age.
   */
  corsHeaders(headers: Record<string, string | undefined>, method: string, allow: { methods: string; headers: string }): Record<string, string> {
    const origin = headers.origin;
    if (!this.isListed(origin)) return {};
    const cors: Record<string, string> = {
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
    };
    if (method === 'OPTIONS' && headers['access-control-request-method'] !== undefined) {
      cors['access-control-allow-methods'] = allow.methods;
      cors['access-control-allow-headers'] = allow.headers;
      cors['access-control-max-age'] = String(PREFLIGHT_MAX_AGE);
    }
    return cors;
  }
}
