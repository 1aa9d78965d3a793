/**
 * `tokenpair/client`: the browser (and Node ≥ 20) client. It logs in, attaches the access token,
 * refreshes it once for all concurrent requests when it expires (single-flight), and signs out.
 * It uses only `fetch`, `Headers`, `URL`, `atob` and `TextDecoder`, and imports nothing from the
 * server side: it ships to browsers.
 */
import { TokenpairClientError } from './error.js';
import { readTokenTimes } from './jwt-times.js';
import { type TokenStorage, memoryStorage } from './storage.js';

export { TokenpairClientError } from './error.js';
export { memoryStorage, webStorage, type TokenKind, type TokenStorage } from './storage.js';
export { readTokenTimes, type TokenTimes } from './jwt-times.js';

/** The endpoints the client calls (WIRE.md defaults), relative to `baseUrl`. */
export interface ClientPaths {
  obtain: string;
  refresh: string;
  logout: string;
  logoutAll: string;
  /** The sessions list; one session is `<sessions><id>/`. */
  sessions: string;
}

/**
 * @example
 * createClient({ baseUrl, paths: { ...DEFAULT_CLIENT_PATHS, obtain: '/auth/login/' } });
 */
export const DEFAULT_CLIENT_PATHS: Readonly<ClientPaths> = Object.freeze({
  obtain: '/api/token/',
  refresh: '/api/token/refresh/',
  logout: '/api/logout/',
  logoutAll: '/api/logout/all/',
  sessions: '/api/sessions/',
});

export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** The API's root, e.g. `"https://api.example.com"` (or a path such as `"/"` in a browser). */
  baseUrl: string;
  /**
   * Where the refresh token travels (the server's `refreshTransport`). `"body"` (default): in JSON
   * bodies, kept in `storage`. `"cookie"`: in the server's HttpOnly cookie; the client never sees it.
   */
  transport?: 'body' | 'cookie';
  paths?: Partial<ClientPaths>;
  /** Token storage; default: in memory. */
  storage?: TokenStorage;
  /** The `fetch` to use; default: the global one, looked up at each call. */
  fetch?: FetchLike;
  /** Called once when a refresh fails for good (the refresh endpoint answered 400 or 401). */
  onSessionExpired?: () => void;
  /**
   * Refresh before a request when the access token expires within this many seconds (capped at half
   * the token's lifetime); `false`: only refresh on a 401. Default 30.
   */
  proactiveRefreshSeconds?: number | false;
  /** `credentials` of the calls to the token endpoints. Default: `"include"` with the cookie transport. */
  credentials?: RequestCredentials;
  /** The login field name (the server's `usernameField`). Default `"username"`. */
  usernameField?: string;
  /** The header carrying the access token (the server's `authHeaderName`). Default `"Authorization"`. */
  authHeaderName?: string;
  /** The scheme (the first of the server's `authHeaderTypes`). Default `"Bearer"`. */
  authHeaderType?: string;
  /** Milliseconds since the epoch; for tests. Default `Date.now`. */
  clock?: () => number;
}

/** The body of a successful login or refresh, plus any fields a `customizeTokenResponse` hook adds. */
export interface TokenResponse {
  access: string;
  /** Body transport only. */
  refresh?: string;
  [field: string]: unknown;
}

/** One live session (GET /api/sessions/). Times are ISO 8601. */
export interface Session {
  id: string;
  created: string;
  last_used: string;
  expires: string;
  user_agent: string | null;
  address: string | null;
}

export interface TokenpairClient {
  /** Logs in and stores the tokens. Rejects with a `TokenpairClientError` (e.g. 401 `no_active_account`, 429 `throttled`). */
  login(username: string, password: string, extra?: Record<string, unknown>): Promise<TokenResponse>;
  /** Blacklists this session's refresh token on the server and forgets the tokens. Never calls `onSessionExpired`. */
  logout(): Promise<void>;
  /** Revokes every session of the user (all devices), then forgets the tokens. */
  logoutAll(): Promise<void>;
  /** A new access token now (single-flight: concurrent callers share one request). */
  refresh(): Promise<string>;
  /** `fetch` with the access token attached, refreshed and retried once on a 401 `token_not_valid`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  sessions(): Promise<Session[]>;
  revokeSession(id: string): Promise<void>;
  /** The stored access token (possibly expired: `refresh()` gets a new one). */
  getAccessToken(): Promise<string | null>;
  /** True while an access token is stored: from login (or a successful refresh) until logout or a failed refresh. */
  isAuthenticated(): Promise<boolean>;
}

/** `baseUrl` as an absolute URL without a trailing slash; relative ones resolve against the page. */
function apiRoot(baseUrl: string): URL {
  const page = typeof location === 'undefined' ? undefined : location.href;
  const url = new URL(baseUrl, page);
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

const ABSOLUTE_URL = /^[a-z][a-z\d+.-]*:/i;

/** A response's JSON error body (read from a clone, so the response stays unread), or `null`. */
async function wireBody(response: Response): Promise<{ code?: unknown; detail?: unknown } | null> {
  try {
    const body: unknown = await response.clone().json();
    return typeof body === 'object' && body !== null ? body : null;
  } catch {
    return null;
  }
}

/**
 * 401 codes worth one refresh: an expired or invalid access token, and `password_changed` (after a
 * logout-all or password change elsewhere the refresh fails too, which ends the session cleanly).
 */
const REFRESH_CODES: ReadonlySet<string> = new Set(['token_not_valid', 'password_changed']);

/**
 * After a refresh that failed without ending the session (503, network error), no other refresh
 * starts for this long: the requests of the same burst get their 401s instead of a refresh each.
 */
export const REFRESH_RETRY_MS = 1000;

/** The reason of an aborted signal, thrown as fetch would throw it. */
function throwIfAborted(signal: AbortSignal | null | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** `promise`, or a rejection as soon as `signal` aborts (the work behind `promise` goes on for others). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new DOMException('This operation was aborted', 'AbortError'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function isAsyncIterable(body: unknown): body is AsyncIterable<unknown> {
  return typeof body === 'object' && body !== null && typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/** An async-iterable body (chunks of bytes or text) in one buffer, so that it can be sent twice. */
async function bufferIterable(body: AsyncIterable<unknown>): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const encoder = new TextEncoder();
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk instanceof Uint8Array ? chunk : ArrayBuffer.isView(chunk) ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) : chunk instanceof ArrayBuffer ? new Uint8Array(chunk) : null;
    if (!bytes) throw new TypeError('tokenpair client: an async-iterable body must yield bytes or strings');
    chunks.push(bytes);
    size += bytes.byteLength;
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

/**
 * Creates a client for one tokenpair API.
 *
 * Single-flight: every request that gets 401 `token_not_valid` (or `password_changed`) waits for one
 * shared refresh, then is retried once with the new token; a retry's 401 is returned as is. A 401
 * with any other code (`not_authenticated`, `user_inactive` …) is returned without a refresh. When the refresh endpoint
 * answers 400 or 401 the tokens are cleared, `onSessionExpired` is called once, and the waiting
 * requests get their original 401 responses. Other refresh failures (network, 5xx, 429) keep the
 * session and also hand back the original responses. With the cookie transport a refresh refused as
 * `Token is blacklisted` is tried once more first: another tab may just have rotated the shared cookie.
 *
 * The token is attached only to requests for `baseUrl`'s origin, and not to a request that already
 * has the auth header.
 *
 * @example
 * const api = createClient({ baseUrl: 'https://api.example.com', transport: 'cookie', onSessionExpired: () => router.push('/login') });
 * await api.login('alice', password);
 * const me = await (await api.fetch('/api/me/')).json();
 * await api.logout();
 */
export function createClient(options: ClientOptions): TokenpairClient {
  const transport = options.transport ?? 'body';
  if (transport !== 'body' && transport !== 'cookie') throw new TypeError(`transport must be "body" or "cookie" (got ${String(transport)})`);
  const proactive = options.proactiveRefreshSeconds ?? 30;
  if (proactive !== false && !(typeof proactive === 'number' && Number.isFinite(proactive) && proactive >= 0)) {
    throw new TypeError(`proactiveRefreshSeconds must be a number of seconds ≥ 0 or false (got ${String(proactive)})`);
  }
  const root = apiRoot(options.baseUrl);
  const rootHref = root.href.replace(/\/+$/, '');
  const paths: ClientPaths = { ...DEFAULT_CLIENT_PATHS, ...options.paths };
  const storage = options.storage ?? memoryStorage();
  const send: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const now = options.clock ?? Date.now;
  const credentials = options.credentials ?? (transport === 'cookie' ? 'include' : undefined);
  const usernameField = options.usernameField ?? 'username';
  const authHeaderName = options.authHeaderName ?? 'Authorization';
  const authHeaderType = options.authHeaderType ?? 'Bearer';

  /** The single in-flight refresh, shared by every caller. */
  let inflight: Promise<string> | null = null;
  /** How many authenticated requests were sent; the last refresh that failed (not a 401: 503, network) and when. */
  let sent = 0;
  let failed: { seq: number; at: number } | null = null;
  /** Bumped by login, logout and expiry: a refresh that started in another session must not store its result. */
  let generation = 0;
  /** While a logout runs, a failed refresh does not count as an expired session. */
  let loggingOut = 0;
  /** The current access token and when (client clock, ms) it arrived: times a refresh despite clock skew. */
  let received: { token: string; at: number } | null = null;

  const endpoint = (path: string): string => rootHref + (path.startsWith('/') ? path : `/${path}`);
  const resolve = (input: string | URL): string => {
    const text = String(input);
    return ABSOLUTE_URL.test(text) ? text : endpoint(text);
  };
  const withToken = (headers: Headers, token: string | null): Headers => {
    if (token !== null) headers.set(authHeaderName, `${authHeaderType} ${token}`);
    return headers;
  };

  /** A call to one of tokenpair's own endpoints. */
  function call(path: string, method: string, body: Record<string, unknown> | undefined, token: string | null): Promise<Response> {
    const headers = withToken(new Headers({ accept: 'application/json' }), token);
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers.set('content-type', 'application/json');
      init.body = JSON.stringify(body);
    }
    if (credentials !== undefined) init.credentials = credentials;
    return send(endpoint(path), init);
  }

  async function readTokens(response: Response): Promise<TokenResponse> {
    const body: unknown = await response.json().catch(() => null);
    if (typeof body !== 'object' || body === null || typeof (body as { access?: unknown }).access !== 'string') {
      throw new TokenpairClientError(response.status, 'invalid_response', 'The response carries no access token.', body);
    }
    return body as TokenResponse;
  }

  async function keep(tokens: TokenResponse): Promise<void> {
    await storage.set('access', tokens.access);
    if (transport === 'body' && typeof tokens.refresh === 'string') await storage.set('refresh', tokens.refresh);
    received = { token: tokens.access, at: now() };
    failed = null;
  }

  async function forget(): Promise<void> {
    generation += 1;
    received = null;
    await storage.clear();
  }

  async function expire(): Promise<void> {
    await forget();
    if (loggingOut > 0 || !options.onSessionExpired) return;
    try {
      options.onSessionExpired();
    } catch (error) {
      // The app's callback failed: report it like an event listener's error, without breaking the client.
      setTimeout(() => {
        throw error;
      });
    }
  }

  async function runRefresh(): Promise<string> {
    const started = generation;
    let body: Record<string, unknown> | undefined;
    if (transport === 'body') {
      const refreshToken = await storage.get('refresh');
      if (!refreshToken) {
        await expire();
        throw new TokenpairClientError(0, 'no_refresh_token', 'No refresh token is stored (log in first; a server with the cookie transport needs transport: "cookie").');
      }
      body = { refresh: refreshToken };
    }
    let response = await call(paths.refresh, 'POST', body, null);
    if (transport === 'cookie' && response.status === 401 && (await wireBody(response))?.detail === 'Token is blacklisted') {
      // Tabs share the cookie: another tab may have rotated it a moment ago, and the browser now
      // holds the successor. One more try tells that apart from a revoked session.
      await response.body?.cancel();
      response = await call(paths.refresh, 'POST', body, null);
    }
    if (!response.ok) {
      const error = await TokenpairClientError.fromResponse(response);
      if ((response.status === 400 || response.status === 401) && generation === started) await expire();
      throw error;
    }
    const tokens = await readTokens(response);
    if (generation !== started) throw new TokenpairClientError(response.status, 'session_changed', 'A login or logout happened during the refresh.');
    await keep(tokens);
    return tokens.access;
  }

  /** A refresh failed (503, network) less than REFRESH_RETRY_MS ago. */
  function refreshFailedLately(): boolean {
    return failed !== null && now() - failed.at < REFRESH_RETRY_MS;
  }

  function refresh(): Promise<string> {
    if (!inflight) {
      const seq = sent;
      // A success clears `failed` (keep()).
      inflight = runRefresh().catch((error: unknown) => {
        // The server could not refresh (503, network): requests that left before now got their
        // 401s for the same reason, and asking again at once would not help (no refresh storm).
        failed = { seq: Math.max(seq, sent), at: now() };
        throw error;
      }).finally(() => {
        inflight = null;
      });
    }
    return inflight;
  }

  /**
   * After a 401 `token_not_valid` for `used`, on a request that was the `seq`-th sent: the token to
   * retry with, or `null` to give up (the caller gets its 401).
   */
  async function renewAfter(used: string, seq: number): Promise<string | null> {
    if (inflight) return inflight.catch(() => null);
    const current = await storage.get('access');
    // Someone else refreshed after this request left (or the session ended): no second refresh.
    if (current !== used) return current;
    // A refresh failed after this request left, or less than REFRESH_RETRY_MS ago: not again.
    if (failed && (seq <= failed.seq || refreshFailedLately())) return null;
    return refresh().catch(() => null);
  }

  /** True when `token` expires within the proactive window (at most half its lifetime). */
  function dueForRefresh(token: string): boolean {
    if (proactive === false) return false;
    const times = readTokenTimes(token);
    if (!times) return false;
    const nowSeconds = now() / 1000;
    let remaining = times.exp - nowSeconds;
    let threshold = proactive;
    if (times.iat !== null) {
      const lifetime = times.exp - times.iat;
      threshold = Math.min(proactive, lifetime / 2);
      // Measured on the client's own clock since arrival, so a skewed clock does not matter.
      if (received?.token === token) remaining = lifetime - (nowSeconds - received.at / 1000);
    }
    return remaining <= threshold;
  }

  /**
   * The core of every authenticated call: `attempt(token)` sends the request (at most twice).
   * `restore`: with the cookie transport and no stored access token, refresh first (after a reload).
   */
  async function authorized(attempt: (token: string | null) => Promise<Response>, restore: boolean, signal?: AbortSignal | null): Promise<Response> {
    throwIfAborted(signal);
    let token = await storage.get('access');
    let refreshedFirst = false;
    if (!refreshFailedLately() && ((token === null && restore && transport === 'cookie') || (token !== null && dueForRefresh(token)))) {
      refreshedFirst = true;
      token = await untilAborted(refresh().catch(() => storage.get('access')), signal);
    }
    const seq = ++sent;
    const response = await attempt(token);
    if (token === null || refreshedFirst || response.status !== 401 || !REFRESH_CODES.has(String((await wireBody(response))?.code))) return response;
    const next = await untilAborted(renewAfter(token, seq), signal);
    if (next === null) return response;
    await response.body?.cancel();
    return attempt(next);
  }

  async function authorizedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const isRequest = typeof Request !== 'undefined' && input instanceof Request;
    const url = isRequest ? input.url : resolve(input as string | URL);
    const headers = new Headers(init?.headers ?? (isRequest ? input.headers : undefined));
    if (headers.has(authHeaderName) || new URL(url).origin !== root.origin) return send(isRequest ? input : url, init);
    const base: RequestInit = { ...init };
    // A stream can be read once: buffer it so that the retry can send it again. So can Node's
    // async-iterable bodies (a stream.Readable, a generator), which Node's fetch accepts.
    if (typeof ReadableStream !== 'undefined' && base.body instanceof ReadableStream) {
      base.body = await new Response(base.body).arrayBuffer();
    } else if (isAsyncIterable(base.body)) {
      base.body = await bufferIterable(base.body);
    }
    // The first attempt consumes the Request's body; the clone is the retry's.
    const requests: Request[] = isRequest ? [input, input.clone()] : [];
    const signal = init?.signal ?? (isRequest ? input.signal : null);
    return authorized((token) => send(requests.shift() ?? url, { ...base, headers: withToken(new Headers(headers), token) }), false, signal);
  }

  async function expectStatus(response: Response, ...ok: number[]): Promise<void> {
    if (!ok.includes(response.status)) throw await TokenpairClientError.fromResponse(response);
    await response.body?.cancel();
  }

  return {
    async login(username, password, extra = {}) {
      const response = await call(paths.obtain, 'POST', { ...extra, [usernameField]: username, password }, null);
      if (!response.ok) throw await TokenpairClientError.fromResponse(response);
      const tokens = await readTokens(response);
      await forget();
      await keep(tokens);
      return tokens;
    },

    async logout() {
      loggingOut += 1;
      try {
        const hasSession = transport === 'cookie' || ((await storage.get('refresh')) !== null && (await storage.get('access')) !== null);
        if (!hasSession) return;
        const response = await authorized(async (token) => {
          const body = transport === 'body' ? { refresh: await storage.get('refresh') } : undefined;
          return call(paths.logout, 'POST', body, token);
        }, true);
        // 401: the session had already ended, which is what logging out wants.
        await expectStatus(response, 200, 204, 205, 401);
      } finally {
        loggingOut -= 1;
        await forget();
      }
    },

    async logoutAll() {
      const response = await authorized((token) => call(paths.logoutAll, 'POST', undefined, token), true);
      if (response.ok || response.status === 401) await forget();
      await expectStatus(response, 200, 204, 205);
    },

    refresh,

    fetch: authorizedFetch,

    async sessions() {
      const response = await authorized((token) => call(paths.sessions, 'GET', undefined, token), true);
      if (!response.ok) throw await TokenpairClientError.fromResponse(response);
      return (await response.json()) as Session[];
    },

    async revokeSession(id) {
      const path = `${paths.sessions.replace(/\/?$/, '/')}${encodeURIComponent(id)}/`;
      const response = await authorized((token) => call(path, 'DELETE', undefined, token), true);
      await expectStatus(response, 200, 204);
    },

    async getAccessToken() {
      return storage.get('access');
    },

    async isAuthenticated() {
      return (await storage.get('access')) !== null;
    },
  };
}
