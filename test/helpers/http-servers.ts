/**
 * The three adapters served over real loopback HTTP for the contract suite: Express, Fastify and
 * the Fetch handler behind a tiny node:http bridge. Each start builds a fresh `MemoryStore` and
 * `AuthService`, mounts tokenpair, a protected `GET /api/me/` and an unrelated `POST /echo/` that
 * parses its own JSON (tokenpair must leave other routes' bodies and parsers alone).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import express from 'express';
import Fastify from 'fastify';
import { AuthService, MemoryStore, createPasswordHasher, type Clock, type HandlerOptions, type SettingsInput, type UserStore } from '../../src/index.js';
import { requireAuth, tokenpairRouter } from '../../src/adapters/express.js';
import { fastifyRequireAuth, tokenpairFastify, type AuthenticatedFastifyRequest } from '../../src/adapters/fastify.js';
import { createFetchHandler, fetchAuthenticator } from '../../src/adapters/fetch.js';

/** What a contract test may ask of the server: settings beyond the suite's defaults, a clock, handler options. */
export interface StartOptions {
  settings?: SettingsInput;
  clock?: Clock;
  handler?: HandlerOptions;
  /** The user store the service reads (default: the server's `MemoryStore` itself). */
  userStore?: (store: MemoryStore) => UserStore;
}

export interface ContractServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  baseUrl: string;
  close(): Promise<void>;
  service: AuthService;
  store: MemoryStore;
}

export type StartServer = (options?: StartOptions) => Promise<ContractServer>;

/** One signing secret (32 random bytes), one hasher and one test password per test process. */
export const SIGNING_KEY = randomBytes(32).toString('base64url');
export const hasher = createPasswordHasher();
export const PASSWORD = 'correct horse battery staple';
let passwordHash: Promise<string> | undefined;

/** Creates a user whose password is `PASSWORD` (hashed once per process with `hasher.hash`). */
export async function createTestUser(store: MemoryStore, username: string, isActive = true) {
  passwordHash ??= hasher.hash(PASSWORD);
  return store.createUser({ username, passwordHash: await passwordHash, isActive });
}

/**
 * The suite's settings: rotation on (so blacklisting and reuse detection are on), the security
 * stamp checked, throttling off unless a test turns it on.
 */
export function contractSettings(overrides: SettingsInput = {}): SettingsInput {
  return {
    signingKey: SIGNING_KEY,
    rotateRefreshTokens: true,
    checkRevokeToken: true,
    loginThrottlePerUsername: 0,
    loginThrottlePerAddress: 0,
    ...overrides,
  };
}

export function buildService(options: StartOptions = {}): { service: AuthService; store: MemoryStore } {
  const store = new MemoryStore();
  const service = new AuthService({
    settings: contractSettings(options.settings),
    clock: options.clock,
    userStore: options.userStore ? options.userStore(store) : store,
    tokenStore: store,
    throttleStore: store,
    hasher,
  });
  return { service, store };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export const startExpress: StartServer = async (options = {}) => {
  const { service, store } = buildService(options);
  const app = express();
  app.use(tokenpairRouter(service, options.handler));
  app.use(express.json());
  app.get('/api/me/', requireAuth(service), (req, res) => {
    const user = (req as typeof req & { user: { id: string; username: string } }).user;
    res.json({ id: user.id, username: user.username });
  });
  app.post('/echo/', (req, res) => res.json({ echo: req.body as unknown }));
  const server = createServer(app);
  const baseUrl = await listen(server);
  return { baseUrl, service, store, close: () => closeServer(server) };
};

export const startFastify: StartServer = async (options = {}) => {
  const { service, store } = buildService(options);
  const app = Fastify();
  await app.register(tokenpairFastify, { service, ...options.handler });
  app.get('/api/me/', { preHandler: fastifyRequireAuth(service) }, async (request) => {
    const { user } = request as AuthenticatedFastifyRequest;
    return { id: user.id, username: user.username };
  });
  app.post('/echo/', async (request) => ({ echo: request.body }));
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    baseUrl,
    service,
    store,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
};

/**
 * node:http → `Request`, then `Response` → node:http: the smallest host for a Fetch handler, as
 * Bun/Deno/Hono would provide. The client address is carried beside the `Request`.
 */
export function serveFetch(fetchHandler: (request: Request) => Promise<Response>, addresses: WeakMap<Request, string>): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    // As a real host does: an absolute-form target (RFC 9112 §3.2.2) is the URL itself.
    const target = req.url ?? '/';
    const request = new Request(target.startsWith('/') ? `http://${req.headers.host ?? '127.0.0.1'}${target}` : target, {
      method: req.method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      duplex: 'half',
    } as RequestInit);
    addresses.set(request, req.socket.remoteAddress ?? '');
    fetchHandler(request)
      .then(async (response) => {
        const body = Buffer.from(await response.arrayBuffer());
        const out: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          out[name] = value;
        });
        // The rest of an oversized body is never read: close rather than drain it.
        if (response.status === 413) out.connection = 'close';
        res.writeHead(response.status, out);
        res.end(body.length > 0 ? body : undefined);
      })
      .catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
  });
}

export const startFetch: StartServer = async (options = {}) => {
  const { service, store } = buildService(options);
  const addresses = new WeakMap<Request, string>();
  const auth = createFetchHandler(service, { ...options.handler, address: (request) => addresses.get(request) ?? null });
  const authenticate = fetchAuthenticator(service);
  const app = async (request: Request): Promise<Response> => {
    const own = await auth(request);
    if (own) return own;
    const path = new URL(request.url).pathname;
    if (path === '/api/me/' && (request.method === 'GET' || request.method === 'HEAD')) {
      const user = await authenticate(request);
      if (user instanceof Response) return user;
      return Response.json({ id: user.id, username: user.username });
    }
    if (path === '/echo/' && request.method === 'POST') return Response.json({ echo: await request.json() });
    return Response.json({ detail: 'Not found.' }, { status: 404 });
  };
  const server = serveFetch(app, addresses);
  const baseUrl = await listen(server);
  return { baseUrl, service, store, close: () => closeServer(server) };
};

/**
 * The store's users as a user store that can only be awaited (no `findByIdSync`), as an
 * application's own users table over the network would be: the authenticator then takes its
 * awaited path.
 */
export function awaitedUserStore(store: MemoryStore): UserStore {
  return {
    findById: (id) => store.findById(id),
    findByUsername: (username) => store.findByUsername(username),
    updateLastLogin: (id, at) => store.updateLastLogin(id, at),
    setPasswordHash: (id, hash, rotate) => store.setPasswordHash(id, hash, rotate),
    rotateSecurityStamp: (id) => store.rotateSecurityStamp(id),
  };
}
