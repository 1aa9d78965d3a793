/**
 * Fetch API adapter (`Request` → `Response`): Hono, Bun, Deno, Next.js route handlers, Cloudflare
 * Workers. Translation only: the wire format lives in `createAuthHandler`.
 */
import { type AuthResponse, type HandlerOptions, authenticateHeaderSync, authenticateRequest, createAuthHandler } from '../http/handler.js';
import type { AuthService, Principal } from '../service/auth-service.js';
import { bodyTooLarge, readWebBody, responseHeaders, responseText, webHeaders } from './io.js';

export interface FetchHandlerOptions extends HandlerOptions {
  /** Where the endpoints are mounted, e.g. `"/auth"`: stripped from the URL's path before routing. */
  basePath?: string;
  /**
   * The client's address, for login throttling and sessions. The Fetch API has none; pass your
   * platform's (`(request) => request.headers.get('cf-connecting-ip')` behind Cloudflare, Bun's
   * `server.requestIP(request)?.address`, …). Only trust a header your proxy sets.
   */
  address?: (request: Request) => string | null;
}

function toResponse(response: AuthResponse): Response {
  return new Response(responseText(response) ?? null, { status: response.status, headers: responseHeaders(response) });
}

/**
 * The tokenpair endpoints as a Fetch handler: a `Response`, or `null` when the path is not
 * tokenpair's (the request body is then left unread).
 *
 * @example
 * const auth = createFetchHandler(service, { basePath: '/auth' });
 * export default { fetch: async (request: Request) => (await auth(request)) ?? app.fetch(request) };
 */
export function createFetchHandler(service: AuthService, options: FetchHandlerOptions = {}): (request: Request) => Promise<Response | null> {
  const { basePath = '', address, ...handlerOptions } = options;
  const base = basePath.replace(/\/+$/, '');
  const handle = createAuthHandler(service, handlerOptions);
  const maxBytes = service.settings.maxBodySize;

  return async (request) => {
    const pathname = new URL(request.url).pathname;
    if (!pathname.startsWith(base)) return null;
    const path = pathname.slice(base.length);
    if (!handle.owns(path)) return null;
    const body = await readWebBody(request, maxBytes);
    if (body === null) return toResponse(bodyTooLarge(service));
    const headers = webHeaders(request.headers);
    // Some runtimes keep Host out of `Request.headers`; the URL carries it (the CSRF same-origin check).
    headers.host ??= new URL(request.url).host;
    const response = await handle({
      method: request.method,
      path,
      headers,
      body,
      address: address ? address(request) : null,
      raw: request,
    });
    return response && toResponse(response);
  };
}

/**
 * The bearer check for protected routes: the `Principal`, or the 401 `Response` to return.
 *
 * @example
 * const authenticate = fetchAuthenticator(service);
 * const user = await authenticate(request);
 * if (user instanceof Response) return user;
 */
export function fetchAuthenticator(service: AuthService): (request: Request) => Promise<Principal | Response> {
  const name = service.settings.authHeaderName.toLowerCase();
  return async (request) => {
    // Only the one header is read; Headers.get joins repeated ones as webHeaders does.
    const header = request.headers.get(name) ?? undefined;
    const result = service.authenticatesSync ? authenticateHeaderSync(service, header) : await authenticateRequest(service, { [name]: header });
    return 'status' in result ? toResponse(result) : result;
  };
}
