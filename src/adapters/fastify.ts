/**
 * Fastify (5) adapter: an encapsulated plugin serving tokenpair's paths, and a preHandler for
 * protected routes. Translation only: the wire format lives in `createAuthHandler`.
 *
 * Inside the plugin every content-type parser is replaced by one that hands the raw bytes (under
 * `maxBodySize`) to the handler, so that JSON/form parsing and the 400/413/415 bodies are
 * tokenpair's own. The plugin is deliberately not wrapped in fastify-plugin: none of this leaks
 * into the application's other routes.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { type AuthHandler, type AuthResponse, type HandlerOptions, authenticateHeaderSync, authenticateRequest, createAuthHandler } from '../http/handler.js';
import type { AuthService, Principal } from '../service/auth-service.js';
import { bodyTooLarge, nodeHeader, nodeHeaders, pathOf, readNodeBody, responseHeaders, responseText } from './io.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The principal `fastifyRequireAuth` sets; `null` on routes it does not protect (the
     * `tokenpairFastify` plugin decorates requests with `user: null`, as Fastify 5 expects).
     */
    user?: Principal | null;
  }
}

export interface TokenpairFastifyOptions extends HandlerOptions {
  service: AuthService;
}

/** A request that passed `fastifyRequireAuth`. */
export type AuthenticatedFastifyRequest = FastifyRequest & { user: Principal };

function send(reply: FastifyReply, response: AuthResponse): FastifyReply {
  return reply.code(response.status).headers(responseHeaders(response)).send(responseText(response));
}

/** The path below the plugin's prefix, or `null` when the URL is not under it. */
function pathBelow(prefix: string, url: string): string | null {
  const path = pathOf(url);
  return path.startsWith(prefix) ? path.slice(prefix.length) : null;
}

async function answer(handle: AuthHandler, prefix: string, request: FastifyRequest, reply: FastifyReply, body: Uint8Array | undefined): Promise<FastifyReply> {
  const path = pathBelow(prefix, request.url);
  const response = path === null ? null : await handle({
    method: request.method,
    path,
    headers: nodeHeaders(request.headers),
    body,
    address: request.ip ?? null,
    raw: request,
  });
  if (!response) {
    reply.callNotFound();
    return reply;
  }
  return send(reply, response);
}

/**
 * The tokenpair endpoints as a Fastify plugin. `prefix` works as for any plugin.
 *
 * Two layers: this one is not encapsulated (as fastify-plugin would make it), so that the `user`
 * request decorator it adds reaches the application's routes (`fastifyRequireAuth` sets it);
 * the endpoints and their body parsers live in an encapsulated child, and leak nowhere.
 *
 * @example
 * await app.register(tokenpairFastify, { service, sliding: true });
 * app.get('/api/me/', { preHandler: fastifyRequireAuth(service) }, async (request) => ({
 *   id: request.user!.id, // set by fastifyRequireAuth
 * }));
 */
export async function tokenpairFastify(app: FastifyInstance, options: TokenpairFastifyOptions): Promise<void> {
  // Declared once, before any request, so every request object has the same shape (Fastify 5).
  if (!app.hasRequestDecorator('user')) app.decorateRequest('user', null);
  // `prefix` is in options: Fastify ignores it for this unencapsulated layer, and applies it here.
  await app.register(tokenpairEndpoints, options);
}
Object.assign(tokenpairFastify, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'tokenpair' });

async function tokenpairEndpoints(app: FastifyInstance, options: TokenpairFastifyOptions): Promise<void> {
  const { service, paths, sliding, onError, onWarning } = options;
  const handle = createAuthHandler(service, {
    paths,
    sliding,
    // Fastify's logger is off unless the app turns it on (its log then has no level): then the
    // handler's own defaults, as with the other adapters (warnings to console.warn).
    ...(app.log.level === undefined ? {} : {
      onError: (error: unknown) => app.log.error({ err: error }, 'tokenpair'),
      onWarning: (message: string) => app.log.warn(message),
    }),
    ...(onError ? { onError } : {}),
    ...(onWarning ? { onWarning } : {}),
  });
  const bodyLimit = service.settings.maxBodySize;
  // Fastify accepts a prefix with a trailing slash ("/auth/") and joins it to "/api/…" as "/auth/api/…".
  const prefix = app.prefix.replace(/\/+$/, '');

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(reply.header('connection', 'close'), bodyTooLarge(service));
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      // A Content-Type Fastify cannot parse (e.g. "text" or ""): the body is still unread, so the
      // handler decides, as for every other request (405 first, then 415 or the field errors).
      const body = await readNodeBody(request.raw, bodyLimit);
      if (body === null) return send(reply.header('connection', 'close'), bodyTooLarge(service));
      return answer(handle, prefix, request, reply, body);
    }
    throw error;
  });

  const route = {
    method: app.supportedMethods,
    bodyLimit,
    exposeHeadRoute: false,
    handler: (request: FastifyRequest, reply: FastifyReply) => answer(handle, prefix, request, reply, request.body as Uint8Array | undefined),
  };
  for (const [name, path] of Object.entries(handle.paths)) {
    if (path === null) continue;
    app.route({ ...route, url: path });
    // DELETE /api/sessions/{id}/
    if (name === 'sessions') app.route({ ...route, url: `${path}*` });
  }
}

/**
 * A preHandler for protected routes: sets `request.user` to the `Principal`, or answers WIRE.md's 401.
 * A callback-style hook: when the service authenticates without a promise (`authenticatesSync`:
 * local keys, and no user lookup or a store with `findByIdSync`, as SQLite and memory have), the
 * request goes on without one.
 *
 * @example
 * app.get('/api/me/', { preHandler: fastifyRequireAuth(service) }, handler);
 */
export function fastifyRequireAuth(service: AuthService): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const name = service.settings.authHeaderName.toLowerCase();
  if (service.authenticatesSync) {
    return function tokenpairRequireAuth(request, reply, done) {
      const result = authenticateHeaderSync(service, nodeHeader(request.headers, name));
      if ('status' in result) {
        send(reply, result); // answered: the route handler does not run
        return;
      }
      request.user = result;
      done();
    };
  }
  // An async hook (two parameters: Fastify waits for its promise) when the check needs one.
  return async function tokenpairRequireAuth(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const result = await authenticateRequest(service, { [name]: nodeHeader(request.headers, name) });
    if ('status' in result) return send(reply, result);
    request.user = result;
    return undefined;
  };
}

/**
 * The bearer check for use inside a route handler (one hook stage less than `fastifyRequireAuth`):
 * the `Principal`, or `undefined` after WIRE.md's 401 has been sent on `reply`.
 *
 * @example
 * const authenticate = fastifyAuthenticator(service);
 * app.get('/api/me/', async (request, reply) => {
 *   const user = await authenticate(request, reply);
 *   return user && { id: user.id };
 * });
 */
export function fastifyAuthenticator(service: AuthService): (request: FastifyRequest, reply: FastifyReply) => Promise<Principal | undefined> {
  const name = service.settings.authHeaderName.toLowerCase();
  return async function tokenpairAuthenticate(request, reply) {
    // Only the one header is read: no copy of every header per request.
    const header = nodeHeader(request.headers, name);
    const result = service.authenticatesSync ? authenticateHeaderSync(service, header) : await authenticateRequest(service, { [name]: header });
    if ('status' in result) {
      send(reply, result);
      return undefined;
    }
    return result;
  };
}

/**
 * `fastifyAuthenticator` without a promise, for a service whose `authenticatesSync` is true (it
 * throws a `TypeError` otherwise): for a synchronous route handler, which Fastify answers with
 * the value it returns.
 *
 * @example
 * const authenticate = fastifyAuthenticatorSync(service);
 * app.get('/api/me/', (request, reply) => {
 *   const user = authenticate(request, reply);
 *   return user === undefined ? undefined : { id: user.id }; // undefined: the 401 is already sent
 * });
 */
export function fastifyAuthenticatorSync(service: AuthService): (request: FastifyRequest, reply: FastifyReply) => Principal | undefined {
  if (!service.authenticatesSync) {
    throw new TypeError('fastifyAuthenticatorSync needs a service whose authenticatesSync is true; use fastifyAuthenticator');
  }
  const name = service.settings.authHeaderName.toLowerCase();
  return function tokenpairAuthenticateSync(request, reply) {
    const result = authenticateHeaderSync(service, nodeHeader(request.headers, name));
    if ('status' in result) {
      send(reply, result);
      return undefined;
    }
    return result;
  };
}
