/**
 * Serves the demo page: `GET /` (the HTML), `/demo.js`, `/demo.css`, `/favicon.svg` and the
 * compiled browser client under `/client/*.js`. Every file is read once, when the server is built,
 * from beside this module (`import.meta.url`): `dist/server/demo/` and `dist/client/` in the
 * package, `build-<pid>/src/…` in a test run.
 *
 * Headers: an exact `Content-Type`, `Cache-Control: no-cache` with an `ETag` (revalidated, so a new
 * server version is picked up at once), `X-Content-Type-Options: nosniff`, and a strict
 * `Content-Security-Policy`: scripts, styles and requests from this origin only, no inline script,
 * no framing, forms submit nowhere (the sign-in form is handled by the script).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEMO_CSS, type DemoConfig, demoHtml, FAVICON_SVG } from './page.js';

export const DEMO_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: string;
  type: string;
  etag: string;
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

const JS = 'text/javascript; charset=utf-8';

/** Compiled JS without its `//# sourceMappingURL` line (the maps point at sources that are not served). */
function readScript(url: URL): string {
  return readFileSync(url, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}

/** The client module as the browser imports it: the relative import of the sources becomes `/client/index.js`. */
function demoScript(): string {
  const source = readScript(new URL('./demo.js', import.meta.url));
  const client = /(from\s*)(['"])\.\.\/\.\.\/client\/index\.js\2/;
  if (!client.test(source)) throw new Error('demo.js does not import ../../client/index.js');
  return source.replace(client, '$1$2/client/index.js$2');
}

/** Every `*.js` module of the compiled client, by file name. */
function clientModules(): Map<string, Asset> {
  const directory = new URL('../../client/', import.meta.url);
  const modules = new Map<string, Asset>();
  for (const name of readdirSync(directory)) {
    if (/^[a-z0-9-]+\.js$/.test(name)) modules.set(name, asset(readScript(new URL(name, directory)), JS));
  }
  if (!modules.has('index.js')) throw new Error(`no compiled client in ${directory.pathname}`);
  return modules;
}

function send(request: FastifyRequest, reply: FastifyReply, file: Asset): FastifyReply {
  reply.headers({
    'content-type': file.type,
    'cache-control': 'no-cache',
    etag: file.etag,
    'content-security-policy': DEMO_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  });
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.send(file.body);
}

/** Registers the demo's routes. Throws when the compiled files are missing (a broken build). */
export function registerDemo(app: FastifyInstance, config: DemoConfig): void {
  const page = asset(demoHtml(config), 'text/html; charset=utf-8');
  const script = asset(demoScript(), JS);
  const style = asset(DEMO_CSS, 'text/css; charset=utf-8');
  const icon = asset(FAVICON_SVG, 'image/svg+xml');
  const client = clientModules();

  app.get('/', async (request, reply) => send(request, reply, page));
  app.get('/demo.js', async (request, reply) => send(request, reply, script));
  app.get('/demo.css', async (request, reply) => send(request, reply, style));
  app.get('/favicon.svg', async (request, reply) => send(request, reply, icon));
  app.get<{ Params: { file: string } }>('/client/:file', async (request, reply) => {
    const file = client.get(request.params.file);
    if (!file) return reply.callNotFound();
    return send(request, reply, file);
  });
}
