/**
 * Express (4 and 5) adapter: a middleware that answers tokenpair's paths and passes every other
 * request on, and `requireAuth` for protected routes. Translation only: the wire format lives in
 * `createAuthHandler`. Express is not imported; the types below are the parts of it that are used.
 *
 * Mount `tokenpairRouter` before `express.json()`/`express.urlencoded()`, so that it reads the raw
 * body itself under `maxBodySize`. If a body parser ran first, its result is used instead (objects
 * are sent on as JSON) and that parser's own limits and error bodies apply.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AuthResponse, type HandlerOptions, authenticateHeaderSync, authenticateRequest, createAuthHandler } from '../http/handler.js';
import type { AuthService, Principal } from '../service/auth-service.js';
import { bodyTooLarge, nodeHeader, nodeHeaders, pathOf, readNodeBody, writeNodeResponse } from './io.js';

declare global {
  // Express's own request type extends `Express.Request` (as passport's types use it): after an
  // import of tokenpair/express, `req.user` is typed in every handler. `Express.User` is the
  // principal; with @types/passport too, both declare the same `user?: User`, and `User` merges.
  namespace Express {
    /** The user a bearer token stands for (tokenpair's `Principal`). */
    interface User extends Principal {}
    interface Request {
      /** Set by `requireAuth`; `undefined` on routes it does not protect. */
      user?: User;
    }
  }
}

/** The parts of an Express request the adapter reads (and `user`, which `requireAuth` sets). */
export interface ExpressLikeRequest extends IncomingMessage {
  /** The client address after Express's `trust proxy` rules. */
  ip?: string | undefined;
  /** The path below the mount point. */
  path?: string;
  /** Set by a body parser that ran before tokenpair. */
  body?: unknown;
  user?: Principal;
}

export type ExpressLikeNext = (error?: unknown) => void;

export type ExpressLikeMiddleware = (req: ExpressLikeRequest, res: ServerResponse, next: ExpressLikeNext) => void;

/**
 * What the handler needs of a body another parser made: the top-level fields, each nested object or
 * array replaced by an empty one (a field is a string or it is refused, whatever is inside). Never
 * the whole value: a deeply nested body would overflow JSON.stringify's stack (a 500).
 */
function shallow(parsed: object): unknown {
  if (Array.isArray(parsed)) return [];
  const fields = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(parsed)) {
    const value = (parsed as Record<string, unknown>)[key];
    fields[key] = typeof value === 'object' && value !== null ? (Array.isArray(value) ? [] : {}) : value;
  }
  return fields;
}

/** The body as the handler takes it, and the content type that describes it. */
async function requestBody(req: ExpressLikeRequest, headers: Record<string, string | undefined>, maxBytes: number): Promise<Uint8Array | null | undefined> {
  if (!req.readableEnded) return readNodeBody(req, maxBytes);
  // A body parser consumed the stream: use what it produced.
  const parsed = req.body;
  if (parsed instanceof Uint8Array) return parsed;
  if (typeof parsed === 'string') return Buffer.from(parsed);
  if (typeof parsed === 'object' && parsed !== null) {
    headers['content-type'] = 'application/json';
    return Buffer.from(JSON.stringify(shallow(parsed)));
  }
  return undefined;
}

/**
 * The tokenpair endpoints as Express middleware.
 *
 * @example
 * const app = express();
 * app.use(tokenpairRouter(service));          // before express.json()
 * app.get('/api/me/', requireAuth(service), (req, res) => res.json({ id: req.user!.id }));
 */
export function tokenpairRouter(service: AuthService, options: HandlerOptions = {}): ExpressLikeMiddleware {
  const handle = createAuthHandler(service, options);
  const maxBytes = service.settings.maxBodySize;

  async function serve(req: ExpressLikeRequest, res: ServerResponse, next: ExpressLikeNext, path: string): Promise<void> {
    const headers = nodeHeaders(req.headers);
    const body = await requestBody(req, headers, maxBytes);
    if (body === null) return writeNodeResponse(res, bodyTooLarge(service), true);
    const address = req.ip ?? req.socket?.remoteAddress ?? null;
    const response = await handle({ method: req.method ?? 'GET', path, headers, body, address, raw: req });
    if (response) writeNodeResponse(res, response);
    else next();
  }

  return function tokenpair(req, res, next) {
    const path = req.path ?? pathOf(req.url);
    if (!handle.owns(path)) return next();
    serve(req, res, next, path).catch(next);
  };
}

/**
 * Protects a route: sets `req.user` to the `Principal`, or answers WIRE.md's 401.
 *
 * @example
 * app.get('/api/me/', requireAuth(service), (req, res) => res.json({ id: req.user!.id })); // set by requireAuth
 */
export function requireAuth(service: AuthService): ExpressLikeMiddleware {
  const name = service.settings.authHeaderName.toLowerCase();
  /** The 401 answered, or the principal set and the route called. */
  const settle = (req: ExpressLikeRequest, res: ServerResponse, next: ExpressLikeNext, result: Principal | AuthResponse): void => {
    if ('status' in result) {
      // Something else answered while the check ran (a timeout middleware): nothing more to send.
      if (!res.headersSent) writeNodeResponse(res, result);
      return;
    }
    req.user = result;
    next();
  };
  if (service.authenticatesSync) {
    // Local keys, and no user lookup or a store that reads without waiting: no promise at all.
    return function tokenpairRequireAuth(req, res, next) {
      let result: Principal | AuthResponse;
      try {
        result = authenticateHeaderSync(service, nodeHeader(req.headers, name));
      } catch (error) {
        next(error);
        return;
      }
      settle(req, res, next, result);
    };
  }
  return function tokenpairRequireAuth(req, res, next) {
    // .catch after .then: a throw while settling (headers already sent by a timeout middleware,
    // say) goes to Express's error handling instead of crashing the process (unhandled rejection).
    authenticateRequest(service, { [name]: nodeHeader(req.headers, name) })
      .then((result) => settle(req, res, next, result))
      .catch(next);
  };
}
