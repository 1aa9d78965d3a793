/**
 * Framework-neutral HTTP handlers for every endpoint of WIRE.md: `(AuthRequest) → AuthResponse`.
 * Adapters (Express, Fastify, Fetch) only translate requests and responses; the wire format lives here
 * and in the error table.
 */
import { InvalidTokenForAnyType, ThrottledError, TokenPairError } from '../errors.js';
import type { AuthService, ClientContext, Principal } from '../service/auth-service.js';
import { FieldErrors, parseBody, requireStrings } from './body.js';
import { type RefreshCookieOptions, clearRefreshCookie, readCookie, refreshCookieOptions, setRefreshCookie } from './cookies.js';
import { OriginPolicy } from './origin.js';

/** A request as every adapter hands it over. Header names are lower case. */
export interface AuthRequest {
  method: string;
  /** The path below the mount point, with its leading slash, without the query string. */
  path: string;
  headers: Record<string, string | undefined>;
  /** The raw body bytes; adapters read them with the size cap applied. */
  body: Uint8Array | undefined;
  /** The client's address as the framework sees it (after its own proxy trust rules). */
  address: string | null;
  /** The framework's own request, passed to login hooks. */
  raw?: unknown;
}

export interface AuthResponse {
  status: number;
  headers: Record<string, string>;
  /** A JSON value, or `undefined` for an empty body (205, 204). */
  body: unknown;
}

/** Endpoint paths (WIRE.md defaults). Each can be changed; `null` turns an endpoint off. */
export interface EndpointPaths {
  obtain: string | null;
  refresh: string | null;
  verify: string | null;
  blacklist: string | null;
  slidingObtain: string | null;
  slidingRefresh: string | null;
  logout: string | null;
  logoutAll: string | null;
  sessions: string | null;
  jwks: string | null;
}

export const DEFAULT_PATHS: EndpointPaths = {
  obtain: '/api/token/',
  refresh: '/api/token/refresh/',
  verify: '/api/token/verify/',
  blacklist: '/api/token/blacklist/',
  slidingObtain: '/api/token/sliding/',
  slidingRefresh: '/api/token/sliding/refresh/',
  logout: '/api/logout/',
  logoutAll: '/api/logout/all/',
  sessions: '/api/sessions/',
  jwks: '/.well-known/jwks.json',
};

export interface HandlerOptions {
  paths?: Partial<EndpointPaths>;
  /** Serve the sliding token endpoints (off by default, as in simplejwt's URL examples). */
  sliding?: boolean;
  /** A logger for unexpected errors (never given tokens or passwords). */
  onError?: (error: unknown) => void;
  /** A logger for start-up warnings (e.g. a refresh cookie without `Secure`); default `console.warn`. */
  onWarning?: (message: string) => void;
}

type Route = (request: AuthRequest, service: AuthService) => Promise<AuthResponse>;

const NO_STORE = { 'cache-control': 'no-store' };

export function json(status: number, body: unknown, headers: Record<string, string> = {}): AuthResponse {
  return { status, headers: { ...NO_STORE, ...headers }, body };
}

/** The response for an error: the table's status and body, `WWW-Authenticate` on 401, `Retry-After` on 429. */
export function errorResponse(error: TokenPairError, settings: AuthService['settings']): AuthResponse {
  const headers: Record<string, string> = {};
  if (error.status === 401) headers['www-authenticate'] = `${settings.authHeaderTypes[0]} realm="api"`;
  if (error instanceof ThrottledError) headers['retry-after'] = String(error.retryAfter);
  return json(error.status, error.toJSON(), headers);
}

function client(request: AuthRequest): ClientContext {
  const agent = request.headers['user-agent'];
  return { address: request.address, userAgent: agent ? agent.slice(0, 512) : null, request: request.raw };
}

function fields(request: AuthRequest, service: AuthService): Record<string, unknown> {
  return parseBody(request.headers['content-type'], request.body, service.settings.maxBodySize);
}

function credentials(request: AuthRequest, service: AuthService) {
  const usernameField = service.settings.usernameField;
  const values = requireStrings(fields(request, service), [
    { name: usernameField, trim: true },
    { name: 'password', trim: false },
  ]);
  return { username: values[usernameField]!, password: values.password! };
}

function stringField(request: AuthRequest, service: AuthService, name: string): string {
  return requireStrings(fields(request, service), [{ name, trim: true }])[name]!;
}

async function principal(request: AuthRequest, service: AuthService): Promise<Principal> {
  return service.authenticate(request.headers[service.settings.authHeaderName.toLowerCase()]);
}

const ROUTES: Record<Exclude<keyof EndpointPaths, 'sessions'>, Route> = {
  obtain: async (request, service) => {
    const body = await service.obtainPair(credentials(request, service), client(request));
    return json(200, await customize(service, body, 'obtain'));
  },
  refresh: async (request, service) => {
    const body = await service.refresh(stringField(request, service, 'refresh'), client(request));
    return json(200, await customize(service, body, 'refresh'));
  },
  verify: async (request, service) => {
    await service.verify(stringField(request, service, 'token'));
    return json(200, {});
  },
  blacklist: async (request, service) => {
    await service.blacklist(stringField(request, service, 'refresh'));
    return json(200, {});
  },
  slidingObtain: async (request, service) => json(200, await customize(service, await service.obtainSliding(credentials(request, service), client(request)), 'sliding')),
  slidingRefresh: async (request, service) => json(200, await service.refreshSliding(stringField(request, service, 'token'), client(request))),
  logout: async (request, service) => {
    const who = await principal(request, service);
    await service.logout(who, stringField(request, service, 'refresh'));
    return { status: 205, headers: { ...NO_STORE }, body: undefined };
  },
  logoutAll: async (request, service) => {
    await service.logoutAll(await principal(request, service));
    return { status: 205, headers: { ...NO_STORE }, body: undefined };
  },
  jwks: async (_request, service) => ({ status: 200, headers: { 'cache-control': 'public, max-age=300' }, body: service.tokens.jwks() }),
};

async function customize(service: AuthService, body: Record<string, unknown>, endpoint: string): Promise<Record<string, unknown>> {
  const hook = service.settings.customizeTokenResponse;
  return hook ? hook({ ...body }, { endpoint }) : body;
}

// ---- the cookie transport (WIRE.md "Cookie transport") ----------------------------------------

/** The cookie endpoints: the CSRF check applies to them in cookie mode. */
const COOKIE_ENDPOINTS: ReadonlySet<keyof EndpointPaths> = new Set(['obtain', 'refresh', 'logout', 'logoutAll'] as const);

/**
 * Refresh failures that also clear the cookie: the token can never succeed again. Not
 * `token_blacklisted`: two tabs refreshing at once with the same cookie is normal, and the loser's
 * clearing cookie would delete the successor the winner just set. Not 503: the token may be fine.
 */
const CLEARING_REFRESH_FAILURES: ReadonlySet<string> = new Set([
  'token_invalid', 'token_expired', 'token_wrong_type', 'token_no_id', 'token_no_type', 'token_no_exp', 'token_no_user_id',
  'no_active_account_for_token', 'password_changed',
]);

function withHeaders(response: AuthResponse, headers: Record<string, string>): AuthResponse {
  return { ...response, headers: { ...response.headers, ...headers } };
}

/**
 * `{access}` through `customizeTokenResponse` (which never sees the refresh token). A body that
 * holds the refresh token anyway is a server error, never sent.
 */
async function cookieBody(service: AuthService, access: string, refresh: string, endpoint: string): Promise<Record<string, unknown>> {
  const body = await customize(service, { access }, endpoint);
  if (JSON.stringify(body).includes(refresh)) throw new Error('tokenpair: a cookie-transport response body must not contain the refresh token');
  return body;
}

function cookieRoutes(cookie: RefreshCookieOptions): Pick<typeof ROUTES, 'obtain' | 'refresh' | 'logout' | 'logoutAll'> {
  const set = (request: AuthRequest, token: string) => ({ 'set-cookie': setRefreshCookie(cookie, token, request.headers.host) });
  const clear = (request: AuthRequest) => ({ 'set-cookie': clearRefreshCookie(cookie, request.headers.host) });
  const fromCookie = (request: AuthRequest): string => {
    const token = readCookie(request.headers.cookie, cookie.name);
    if (!token) throw new TokenPairError('refresh_cookie_missing');
    return token;
  };
  const loggedOut = (request: AuthRequest): AuthResponse => ({ status: 205, headers: { ...NO_STORE, ...clear(request) }, body: undefined });
  return {
    obtain: async (request, service) => {
      const { refresh, access } = await service.obtainPair(credentials(request, service), client(request));
      return json(200, await cookieBody(service, access, refresh, 'obtain'), set(request, refresh));
    },
    // No body is read: the refresh token comes only from the cookie.
    refresh: async (request, service) => {
      const token = fromCookie(request);
      let result: { access: string; refresh?: string };
      try {
        result = await service.refresh(token, client(request));
      } catch (error) {
        if (error instanceof TokenPairError && CLEARING_REFRESH_FAILURES.has(error.kind)) return withHeaders(errorResponse(error, service.settings), clear(request));
        throw error;
      }
      const body = await cookieBody(service, result.access, result.refresh ?? token, 'refresh');
      return json(200, body, result.refresh === undefined ? {} : set(request, result.refresh));
    },
    logout: async (request, service) => {
      const who = await principal(request, service);
      const token = fromCookie(request);
      try {
        await service.logout(who, token);
      } catch (error) {
        // The caller is authenticated and wants out: a cookie that cannot be revoked (already
        // blacklisted, another user's, invalid) is cleared too. A 503 keeps it, so that a retry can revoke it.
        if (error instanceof TokenPairError && error.status === 401) return withHeaders(errorResponse(error, service.settings), clear(request));
        throw error;
      }
      return loggedOut(request);
    },
    logoutAll: async (request, service) => {
      await service.logoutAll(await principal(request, service));
      return loggedOut(request);
    },
  };
}

async function sessionsRoute(request: AuthRequest, service: AuthService, sessionId: string | null): Promise<AuthResponse> {
  const who = await principal(request, service);
  if (sessionId === null) return json(200, await service.listSessions(who));
  if (!(await service.revokeSession(who, sessionId))) throw new TokenPairError('not_found');
  return { status: 204, headers: { ...NO_STORE }, body: undefined };
}

const SESSION_ID = /^[0-9a-f]{32}$/;

/** The request handler, plus what an adapter needs to route before it reads a body. */
export interface AuthHandler {
  (request: AuthRequest): Promise<AuthResponse | null>;
  /** The endpoint paths served; `null` for an endpoint that is off. */
  readonly paths: Readonly<EndpointPaths>;
  /** True when the handler answers `path` (it never returns `null` for it), so the body is its to read. */
  owns(path: string): boolean;
}

/**
 * Builds the request handler. It answers every WIRE.md path and returns `null` for any other path,
 * so that adapters can pass the request on.
 *
 * @example
 * const handle = createAuthHandler(service);
 * const response = await handle({ method: 'POST', path: '/api/token/', headers, body, address });
 */
export function createAuthHandler(service: AuthService, options: HandlerOptions = {}): AuthHandler {
  const paths = { ...DEFAULT_PATHS, ...options.paths };
  if (!options.sliding) {
    paths.slidingObtain = null;
    paths.slidingRefresh = null;
  }
  const settings = service.settings;
  const cookie = settings.refreshTransport === 'cookie' ? refreshCookieOptions(settings) : null;
  if (cookie && !cookie.secure) {
    (options.onWarning ?? console.warn)('tokenpair: refresh cookie without Secure: only for http://localhost development (requests to any other host still get Secure)');
  }
  const routes: typeof ROUTES = cookie ? { ...ROUTES, ...cookieRoutes(cookie) } : ROUTES;
  const origins = new OriginPolicy(settings.allowedOrigins);
  const corsAllowHeaders = `${settings.authHeaderName.toLowerCase()}, content-type`;

  const byPath = new Map<string, { route: Route; method: 'POST' | 'GET'; csrf: boolean }>();
  for (const [name, route] of Object.entries(routes) as [keyof typeof ROUTES, Route][]) {
    const path = paths[name];
    if (path) byPath.set(path, { route, method: name === 'jwks' ? 'GET' : 'POST', csrf: cookie !== null && COOKIE_ENDPOINTS.has(name) });
  }
  const sessionsPath = paths.sessions;
  const onError = options.onError ?? (() => {});
  const owns = (path: string): boolean =>
    byPath.has(path) || (!!sessionsPath && (path === sessionsPath || (path.startsWith(sessionsPath) && path.endsWith('/'))));

  const answer = async (request: AuthRequest): Promise<{ response: AuthResponse; allowed: string } | null> => {
    let route: Route | undefined;
    let allowed: string;
    let csrf = false;
    const entry = byPath.get(request.path);
    if (entry) {
      allowed = entry.method;
      csrf = entry.csrf;
      // HEAD wherever GET (RFC 9110 §9.3.2); adapters and Node drop the body.
      route = request.method === entry.method || (entry.method === 'GET' && request.method === 'HEAD') ? entry.route : undefined;
    } else if (sessionsPath && request.path === sessionsPath) {
      allowed = 'GET';
      route = request.method === 'GET' || request.method === 'HEAD' ? (req, svc) => sessionsRoute(req, svc, null) : undefined;
    } else if (sessionsPath && request.path.startsWith(sessionsPath) && request.path.endsWith('/')) {
      const id = request.path.slice(sessionsPath.length, -1);
      allowed = 'DELETE';
      if (!SESSION_ID.test(id)) return { response: errorResponse(new TokenPairError('not_found'), settings), allowed };
      route = request.method === 'DELETE' ? (req, svc) => sessionsRoute(req, svc, id) : undefined;
    } else {
      return null;
    }
    if (!route) {
      if (request.method === 'OPTIONS') return { response: { status: 204, headers: { allow: `${allowed}, OPTIONS` }, body: undefined }, allowed };
      const method = request.method.replace(/[^A-Z]/gi, '').slice(0, 16);
      return { response: json(405, { detail: `Method "${method}" not allowed.`, code: 'method_not_allowed' }, { allow: `${allowed}, OPTIONS` }), allowed };
    }
    // Login CSRF included: a refused request gets no cookie and reaches no credential check.
    if (csrf && !origins.passesCsrf(request.headers)) return { response: errorResponse(new TokenPairError('csrf_failed'), settings), allowed };
    try {
      return { response: await route(request, service), allowed };
    } catch (error) {
      if (error instanceof TokenPairError) {
        if (error.kind === 'service_unavailable') onError(error);
        return { response: errorResponse(error, settings), allowed };
      }
      onError(error);
      return { response: json(500, { detail: 'A server error occurred.', code: 'server_error' }), allowed };
    }
  };

  const handle = async (request: AuthRequest): Promise<AuthResponse | null> => {
    const answered = await answer(request);
    if (!answered || !origins.hasAllowList) return answered?.response ?? null;
    // With an allow-list, responses differ by Origin (caches must know); only listed origins get CORS headers.
    const { response, allowed } = answered;
    const cors = origins.corsHeaders(request.headers, request.method, { methods: allowed, headers: corsAllowHeaders });
    return withHeaders(response, { ...cors, vary: 'Origin' });
  };
  return Object.assign(handle, { paths: Object.freeze({ ...paths }), owns });
}

/** The 401 of a failed bearer check: WIRE.md's body and `WWW-Authenticate`. */
function bearerFailure(error: TokenPairError, service: AuthService): AuthResponse {
  const response = errorResponse(error, service.settings);
  // Protected routes are ordinary API routes: no no-store unless the app adds it.
  delete response.headers['cache-control'];
  return response;
}

/**
 * The bearer check for protected routes: the principal, or the error response to send.
 *
 * @example
 * const result = await authenticateRequest(service, headers);
 * if ('status' in result) return send(result); // 401 with WIRE.md's body
 */
export async function authenticateRequest(service: AuthService, headers: Record<string, string | undefined>): Promise<Principal | AuthResponse> {
  const header = headers[service.settings.authHeaderName.toLowerCase()];
  if (service.authenticatesSync) return authenticateHeaderSync(service, header);
  try {
    return await service.authenticate(header);
  } catch (error) {
    if (error instanceof TokenPairError) return bearerFailure(error, service);
    throw error;
  }
}

/**
 * `authenticateRequest` without a promise, for a service whose `authenticatesSync` is true (it
 * throws a `TypeError` otherwise). Takes the value of the auth header (`authHeaderName`) itself.
 *
 * @example
 * if (service.authenticatesSync) {
 *   const result = authenticateHeaderSync(service, request.headers.authorization);
 *   if ('status' in result) return send(result);
 * }
 */
export function authenticateHeaderSync(service: AuthService, header: string | undefined): Principal | AuthResponse {
  try {
    return service.authenticateSync(header);
  } catch (error) {
    if (error instanceof TokenPairError) return bearerFailure(error, service);
    throw error;
  }
}

export { FieldErrors, InvalidTokenForAnyType };
