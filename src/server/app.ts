/**
 * The standalone server as a Fastify instance: every WIRE.md endpoint (through the Fastify adapter),
 * `GET /api/me/`, health and readiness probes, the OpenAPI document and the demo page at `/`.
 * Building it does not listen, so tests can `listen({ port: 0 })`; `close()` drains in-flight
 * requests, then closes the store.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { fastifyAuthenticator, fastifyAuthenticatorSync, tokenpairFastify } from '../adapters/fastify.js';
import { WIRE_ERRORS } from '../errors.js';
import { DEFAULT_PATHS, type HandlerOptions } from '../http/handler.js';
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

export function buildServer(options: ServerOptions): FastifyInstance {
  const { service } = options;
  const handler: HandlerOptions = { sliding: true, ...options.handler };
  const paths = { ...DEFAULT_PATHS, ...handler.paths };
  if (!handler.sliding) {
    paths.slidingObtain = null;
    paths.slidingRefresh = null;
  }
  const app = Fastify({
    logger: loggerOptions(options.logger),
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
      // Node's response on this connection, if one is being served (`_httpMessage`: not public,
      // but set by node:http since its first versions, and what http-terminator relies on too; the
      // test of close() catches a Node that drops it). Headers not written yet: say "close", and
      // node:http ends the connection after this response.
      const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (response && !response.headersSent) response.setHeader('connection', 'close');
    }
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
  if (service.authenticatesSync) {
    const authenticate = fastifyAuthenticatorSync(service);
    app.get(ME_PATH, (request, reply) => {
      const user = authenticate(request, reply);
      // undefined: the 401 is sent already. Fastify sends what a synchronous handler returns.
      return user === undefined ? undefined : { id: user.id, username: user.username };
    });
  } else {
    const authenticate = fastifyAuthenticator(service);
    app.get(ME_PATH, async (request, reply) => {
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

  app.setErrorHandler((error: { statusCode?: number; message?: string }, request, reply) => {
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
