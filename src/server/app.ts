/**
 * The standalone server as a Fastify instance: every WIRE.md endpoint (through the Fastify adapter),
 * `GET /api/me/`, health and readiness probes, the OpenAPI document and the demo page at `/`.
 * Building it does not listen, so tests can `listen({ port: 0 })`; `close()` drains in-flight
 * requests, then closes the store.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { fastifyAuthenticator, fastifyAuthenticatorSync, tokenpairFastify } from '../adapters/fastify.js';
import { WIRE_ERRORS, type WireError } from '../errors.js';
import { DEFAULT_PATHS, type HandlerOptions } from '../http/handler.js';
import { OriginPolicy } from '../http/origin.js';
import type { AuthService } from '../service/auth-service.js';
import { registerDemo } from './demo/routes.js';
import { openApiDocument } from './openapi.js';
import { packageVersion } from './version.js';

/** Where log lines go: anything with `write(line)`, e.g. `process.stdout` or a test's collector. */
export interface LogDestination {
  write(line: string): unknown;
}

export interface ServerOptions {
  service: AuthService;
  /** Closed once the server has stopped and drained (the service's stores, typically). */
  store?: { close(): Promise<void> } | null;
  /** Endpoint paths and the sliding endpoints (on by default in the server). */
  handler?: Omit<HandlerOptions, 'onError'>;
  /** `false` for no logs; by default JSON lines at `info` on stdout. */
  logger?: false | { level?: string; destination?: LogDestination };
  /** Serve the demo page at `/` (on by default; `tokenpair serve --no-demo` or `TOKENPAIR_DEMO=false`). */
  demo?: boolean;
  /**
   * The proxies whose `X-Forwarded-For` is believed: comma-separated addresses or CIDR ranges
   * (Fastify's `trustProxy`). Unset: the client address is the TCP peer's. The address feeds the
   * per-address login throttle and the sessions list, so never trust a proxy you do not run.
   */
  trustProxy?: string;
  /**
   * Milliseconds a client has to send a whole request, headers and body (default
   * `DEFAULT_REQUEST_TIMEOUT_MS`): past it the server answers 408 and closes the connection. Time
   * spent answering is not counted. `tokenpair serve --request-timeout` / `TOKENPAIR_REQUEST_TIMEOUT`.
   */
  requestTimeout?: number;
}

/** How long a client may take to send one request (headers and body): 10 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * How often Node looks for requests past the timeout. Node checks every
 * `connectionsCheckingInterval` (30 s by default), so a request can outlive its timeout by that
 * much: checking every second (less for very short timeouts) keeps the bound close. One timer per
 * server, never per request.
 */
export function timeoutCheckInterval(requestTimeout: number): number {
  return Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4)));
}

export const ME_PATH = '/api/me/';

/**
 * Headers that carry credentials and body fields that hold secrets: censored if a log line ever
 * includes them. The request serializer below already leaves headers and bodies out.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.refresh',
  '*.access',
  '*.token',
];

/** Only method, path (never the query string: a token there must not reach a log) and peer. */
function serializeRequest(request: { method: string; url: string; ip?: string; id?: unknown }): Record<string, unknown> {
  const query = request.url.indexOf('?');
  return { id: request.id, method: request.method, path: query === -1 ? request.url : request.url.slice(0, query), remoteAddress: request.ip };
}

function loggerOptions(logger: ServerOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === false) return false;
  return {
    level: logger?.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { req: serializeRequest as never },
    ...(logger?.destination ? { stream: logger.destination as never } : {}),
  };
}

const NO_STORE = 'no-store';

/**
 * Node's response on a connection, if one is being served (`_httpMessage`: not public, but set by
 * node:http since its first versions, and what http-terminator relies on too; the tests of close()
 * and of the request timeout catch a Node that drops it).
 */
function httpMessage(socket: Socket): ServerResponse | null | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
}

/** Fastify's body errors on the server's own routes, as WIRE.md's. */
const FASTIFY_BODY_ERRORS: Record<string, WireError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: WIRE_ERRORS.parse_error,
  FST_ERR_CTP_EMPTY_JSON_BODY: WIRE_ERRORS.parse_error,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: WIRE_ERRORS.unsupported_media_type,
  FST_ERR_CTP_BODY_TOO_LARGE: WIRE_ERRORS.payload_too_large,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: WIRE_ERRORS.malformed_request,
};

/** Node's client errors (https://nodejs.org/api/http.html#event-clienterror) as WIRE.md responses. */
const CLIENT_ERRORS: Record<string, WireError> = {
  ERR_HTTP_REQUEST_TIMEOUT: WIRE_ERRORS.request_timeout,
  HPE_HEADER_OVERFLOW: WIRE_ERRORS.request_headers_too_large,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: WIRE_ERRORS.payload_too_large,
};

/** The complete raw response for a client error: no route ever saw the request. */
function clientErrorResponse({ status, code, detail }: WireError): string {
  const body = JSON.stringify({ detail, code });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Fastify's `clientErrorHandler`: HTTP that does not parse (400), headers over Node's limit (431), a
 * request not received within the request timeout (408). Written on the socket, then the connection
 * is closed — only if nothing of a response went out on it yet (as node:http does).
 */
function answerClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // Only the code: the error's rawPacket holds the request's bytes (an Authorization header, say).
  this.log.debug({ code: error.code }, 'client error');
  const response = httpMessage(socket);
  if (socket.writable && !response?.headersSent) socket.write(clientErrorResponse(CLIENT_ERRORS[error.code ?? ''] ?? WIRE_ERRORS.malformed_request));
  socket.destroy();
}

export function buildServer(options: ServerOptions): FastifyInstance {
  const { service } = options;
  const handler: HandlerOptions = { sliding: true, ...options.handler };
  const paths = { ...DEFAULT_PATHS, ...handler.paths };
  if (!handler.sliding) {
    paths.slidingObtain = null;
    paths.slidingRefresh = null;
  }
  const requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!(Number.isInteger(requestTimeout) && requestTimeout > 0)) throw new RangeError(`requestTimeout must be a positive whole number of milliseconds (got ${requestTimeout})`);
  const app = Fastify({
    logger: loggerOptions(options.logger),
    // The server's own routes take the token endpoints' body limit (Fastify's default is 1 MiB).
    bodyLimit: service.settings.maxBodySize,
    // A request (headers and body) must arrive within requestTimeout; Fastify's default is none at
    // all (0), so a client that announces a body and never sends it would hold its connection, and
    // a shutdown, forever. Node requires headersTimeout <= requestTimeout.
    requestTimeout,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: timeoutCheckInterval(requestTimeout) },
    // WIRE.md bodies for what fails before routing: a path that does not decode, and (below) HTTP
    // that does not parse, oversized headers and the request timeout.
    frameworkErrors: (error, _request, reply) => {
      const { detail, code, status } = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? WIRE_ERRORS.not_found : WIRE_ERRORS.malformed_request;
      (reply as FastifyReply).code(status).send({ detail, code });
    },
    clientErrorHandler: answerClientError,
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    // Requests that arrive while closing get 503; idle keep-alive connections are closed at once.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  // While closing, every response in flight ends its connection: a keep-alive connection that
  // served one would otherwise hold close() until the client's keep-alive timeout. Requests that
  // arrive later get Fastify's 503 with `connection: close`; idle connections are closed at once.
  // Done per connection, not per response: an onSend hook would cost every request, for shutdown.
  const connections = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  app.addHook('preClose', (done) => {
    for (const socket of connections) {
      // The response being served on this connection, if any. Headers not written yet: say
      // "close", and node:http ends the connection after this response.
      const response = httpMessage(socket);
      if (response && !response.headersSent) response.setHeader('connection', 'close');
    }
    // Node stops enforcing the request timeout once close() begins (it clears its check interval),
    // so a request still arriving then would hold the shutdown forever. One timer does it instead:
    // whatever has not fully arrived within requestTimeout of now gets the 408 and is closed.
    // Requests already received are left to finish.
    setTimeout(() => {
      for (const socket of connections) {
        const response = httpMessage(socket);
        if (response?.req.complete) continue;
        answerClientError.call(app, Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
      }
    }, requestTimeout).unref();
    done();
  });

  app.register(tokenpairFastify, {
    service,
    ...handler,
    onError: (error: unknown) => app.log.error({ err: error }, 'tokenpair endpoint failed'),
  });

  // The bearer check inside the handler rather than as a preHandler: one hook stage less on the
  // route every client calls most; and without a promise when the service can check synchronously
  // (local keys, stateless or the SQLite/memory lookup): bench/README.md, http-me.
  // With an allow-list, a listed front end (another origin) may call /api/me/ too, and read its
  // 401 to know it must refresh: the same CORS headers as the token endpoints. Without one the
  // route is left as it is (no per-request work).
  const origins = new OriginPolicy(service.settings.allowedOrigins);
  const meCors = { methods: 'GET, HEAD', headers: `${service.settings.authHeaderName.toLowerCase()}, content-type` };
  const addCors = origins.hasAllowList
    ? (request: FastifyRequest, reply: FastifyReply) => {
        reply.header('vary', 'Origin').headers(origins.corsHeaders(request.headers as Record<string, string | undefined>, request.method, meCors));
      }
    : null;
  app.options(ME_PATH, (request, reply) => {
    addCors?.(request, reply);
    reply.code(204).header('allow', 'GET, HEAD, OPTIONS').send();
  });
  if (service.authenticatesSync) {
    const authenticate = fastifyAuthenticatorSync(service);
    app.get(ME_PATH, (request, reply) => {
      addCors?.(request, reply);
      const user = authenticate(request, reply);
      // undefined: the 401 is sent already. Fastify sends what a synchronous handler returns.
      return user === undefined ? undefined : { id: user.id, username: user.username };
    });
  } else {
    const authenticate = fastifyAuthenticator(service);
    app.get(ME_PATH, async (request, reply) => {
      addCors?.(request, reply);
      const user = await authenticate(request, reply);
      return user === undefined ? reply : { id: user.id, username: user.username };
    });
  }

  app.get('/healthz', async (_request, reply) => {
    reply.header('cache-control', NO_STORE);
    return { status: 'ok' };
  });

  app.get('/readyz', async (_request, reply) => {
    reply.header('cache-control', NO_STORE);
    if (await service.ready()) return { status: 'ready' };
    const { detail, code } = WIRE_ERRORS.service_unavailable;
    return reply.code(503).send({ detail, code });
  });

  const document = openApiDocument({ paths, settings: service.settings, mePath: ME_PATH, version: packageVersion() });
  app.get('/openapi.json', async () => document);

  if (options.demo !== false) {
    const { obtain, refresh, logout, logoutAll, sessions } = paths;
    if (obtain === null || refresh === null || logout === null) {
      app.log.warn('demo page off: it needs the obtain, refresh and logout endpoints');
    } else {
      registerDemo(app, {
        transport: service.settings.refreshTransport,
        paths: { obtain, refresh, logout, logoutAll, sessions },
        mePath: ME_PATH,
        usernameField: service.settings.usernameField,
        authHeaderName: service.settings.authHeaderName,
        authHeaderType: service.settings.authHeaderTypes[0] ?? 'Bearer',
      });
    }
  }

  app.setNotFoundHandler((_request, reply) => {
    const { detail, code, status } = WIRE_ERRORS.not_found;
    reply.code(status).send({ detail, code });
  });

  app.setErrorHandler((error: { statusCode?: number; message?: string; code?: string }, request, reply) => {
    // A body sent to the server's own routes (/api/me/, /healthz, …), which read none: Fastify's
    // parser errors in WIRE.md's words, as the token endpoints give them.
    const wire = FASTIFY_BODY_ERRORS[error.code ?? ''];
    if (wire) return reply.code(wire.status).send({ detail: wire.detail, code: wire.code });
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({ detail: 'A server error occurred.', code: 'server_error' });
    }
    return reply.code(status).send({ detail: error.message ?? 'Bad request.', code: 'bad_request' });
  });

  // Fastify closes the HTTP server (draining in-flight requests) before the onClose hooks run.
  if (options.store) {
    const store = options.store;
    app.addHook('onClose', async () => {
      await store.close();
    });
  }
  return app;
}
