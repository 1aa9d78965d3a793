/**
 * What every adapter does the same way: read a request body under the size cap (SECURITY.md S18),
 * flatten request headers, and serialise an `AuthResponse`. Internal: not a package export.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { TokenPairError } from '../errors.js';
import { type AuthResponse, errorResponse } from '../http/handler.js';
import type { AuthService } from '../service/auth-service.js';

/** A Content-Length over the cap is refused before a byte is read. */
function declaredTooLarge(contentLength: string | null | undefined, maxBytes: number): boolean {
  if (contentLength === null || contentLength === undefined) return false;
  const declared = Number(contentLength.trim());
  return Number.isFinite(declared) && declared > maxBytes;
}

/**
 * The body of a Node request, or `null` as soon as it is known to be over `maxBytes`: from the
 * Content-Length when there is one, else when the bytes received pass the cap (the rest is not read).
 */
export function readNodeBody(stream: IncomingMessage, maxBytes: number): Promise<Uint8Array | null> {
  if (declaredTooLarge(stream.headers['content-length'], maxBytes)) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (finish: () => void) => {
      stream.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      finish();
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.byteLength;
      if (size > maxBytes) settle(() => { stream.pause(); resolve(null); });
      else chunks.push(bytes);
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks, size)));
    const onError = (error: Error) => settle(() => reject(error));
    const onClose = () => settle(() => reject(new Error('the request was closed before its body ended')));
    stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** The body of a Fetch API request, or `null` as soon as it is known to be over `maxBytes`. */
export async function readWebBody(request: Request, maxBytes: number): Promise<Uint8Array | null> {
  if (declaredTooLarge(request.headers.get('content-length'), maxBytes)) return null;
  if (request.bodyUsed) throw new TypeError('tokenpair: the request body was already read; route tokenpair paths before any body parsing');
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** Node's headers as the handler takes them: one string per name (repeated ones joined). */
export function nodeHeaders(headers: IncomingHttpHeaders): Record<string, string | undefined> {
  const record = Object.create(null) as Record<string, string | undefined>;
  for (const name of Object.keys(headers)) record[name] = nodeHeader(headers, name);
  return record;
}

/** One Node request header as `nodeHeaders` gives it, without copying the others. */
export function nodeHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Fetch API headers as the handler takes them. */
export function webHeaders(headers: Headers): Record<string, string | undefined> {
  const record = Object.create(null) as Record<string, string | undefined>;
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return record;
}

/** `scheme://authority` at the start of an absolute-form request target. */
const ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The path of a request target, without its query string. An absolute-form target
 * (`http://host/path`, which a server must accept: RFC 9112 §3.2.2) gives its path; only a target
 * that does not start with `/` is looked at twice.
 */
export function pathOf(url: string | undefined): string {
  let target = url ?? '/';
  if (target.charCodeAt(0) !== 47 /* / */) {
    target = target.replace(ORIGIN, '');
    if (target.charCodeAt(0) !== 47) target = `/${target}`;
  }
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** WIRE.md's 413. Node adapters close the connection: the rest of the body is never read. */
export function bodyTooLarge(service: AuthService): AuthResponse {
  return errorResponse(new TokenPairError('payload_too_large'), service.settings);
}

/** The response's headers, with the JSON content type when it has a body. */
export function responseHeaders(response: AuthResponse): Record<string, string> {
  return response.body === undefined ? { ...response.headers } : { 'content-type': 'application/json', ...response.headers };
}

/** The response body as text, or `undefined` for an empty one (204, 205). */
export function responseText(response: AuthResponse): string | undefined {
  return response.body === undefined ? undefined : JSON.stringify(response.body);
}

/** Writes a response on a Node `ServerResponse` (Express, the Node bridge of the tests). */
export function writeNodeResponse(res: ServerResponse, response: AuthResponse, closeConnection = false): void {
  const headers: Record<string, string | string[]> = responseHeaders(response);
  if (closeConnection) headers.connection = 'close';
  // A cookie set earlier on this response (by another middleware) is kept beside tokenpair's.
  const earlier = res.getHeader('set-cookie');
  if (headers['set-cookie'] !== undefined && earlier !== undefined) {
    headers['set-cookie'] = [...(Array.isArray(earlier) ? earlier : [String(earlier)]), headers['set-cookie'] as string];
  }
  res.writeHead(response.status, headers);
  res.end(responseText(response));
}
