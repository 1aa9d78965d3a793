/**
 * The demo page end to end in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed by
 * `.ci/run`; a browser download is impossible here) driven by playwright-core against
 * `tokenpair serve` (a real child process, cookie transport, 3-second access tokens) on loopback.
 *
 * Also, without a browser: how the demo's files are served (types, caching, CSP) and how it is
 * turned off (`--no-demo`, `TOKENPAIR_DEMO=false`).
 *
 * Without `/usr/bin/chromium` the browser tests fail under CI (`CI` set) and are skipped elsewhere.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Request } from 'playwright-core';
import { AuthService, createPasswordHasher, MemoryStore } from '../src/index.js';
import { buildServer } from '../src/server/app.js';
import { DEMO_CSP } from '../src/server/demo/routes.js';
import { runCli, startServer, stopServer, tempDir, type ServerProcess } from './helpers/cli-process.js';

const CHROMIUM = '/usr/bin/chromium';
/** Without the background-networking flags Chromium keeps calling Google services over the closed network. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PASSWORD = 'demo page password 7';
const REFRESH_PATH = '/api/token/refresh/';
const COOKIE = 'refresh_token';
/** Short enough to wait past; long enough that a sign-in's follow-up calls do not refresh proactively (half of it: 1.5 s). */
const ACCESS_LIFETIME_S = 3;
const SCREENSHOT = fileURLToPath(new URL('../../test-artifacts/demo-signed-in.png', import.meta.url));

// ------------------------------------------------------------------------------------------------
// The demo's files over HTTP (no browser needed)
// ------------------------------------------------------------------------------------------------

describe('demo page: serving', () => {
  async function setup(options: { demo?: boolean; transport?: 'body' | 'cookie' } = {}) {
    const store = new MemoryStore();
    const hasher = createPasswordHasher();
    const service = new AuthService({
      settings: { signingKey: 'demo-serving-secret-0123456789abcdef0123456789', refreshTransport: options.transport ?? 'cookie' },
      userStore: store,
      tokenStore: store,
      throttleStore: store,
      hasher,
    });
    return buildServer({ service, store, logger: false, ...(options.demo === undefined ? {} : { demo: options.demo }) });
  }

  it('GET / is the page: HTML, a strict CSP, revalidated caching, no inline script or style', async () => {
    const app = await setup();
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['content-security-policy'], DEMO_CSP);
    assert.match(DEMO_CSP, /(^|; )script-src 'self'(;|$)/);
    assert.match(DEMO_CSP, /(^|; )default-src 'none'(;|$)/);
    assert.doesNotMatch(DEMO_CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.match(String(page.headers.etag), /^"[\w-]{27}"$/);
    const html = page.body;
    // Every script is an external module from this origin; no inline handlers or styles.
    const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
    assert.deepEqual(scripts.map((match) => [match[0].replace(/>[\s\S]*$/, '>'), match[1]]), [['<script type="module" src="/demo.js">', '']]);
    assert.doesNotMatch(html, /\son[a-z]+=|<style|\sstyle=/i);
    // The server's settings for the page, in a <meta>.
    const meta = /<meta name="tokenpair-demo-config" content="([^"]*)">/.exec(html);
    assert.ok(meta, 'the config <meta> is there');
    const config = JSON.parse(meta[1]!.replaceAll('&quot;', '"').replaceAll('&amp;', '&')) as Record<string, unknown>;
    assert.equal(config.transport, 'cookie');
    assert.deepEqual(config.paths, { obtain: '/api/token/', refresh: REFRESH_PATH, logout: '/api/logout/', logoutAll: '/api/logout/all/', sessions: '/api/sessions/' });
    // Labelled inputs.
    assert.match(html, /<label for="username">Username<\/label>\s*<input id="username"/);
    assert.match(html, /<label for="password">Password<\/label>\s*<input id="password" name="password" type="password"/);

    const again = await app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(page.headers.etag) } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    await app.close();
  });

  it('serves demo.js (importing /client/index.js), demo.css, the icon and the compiled client modules', async () => {
    const app = await setup();
    const script = await app.inject({ method: 'GET', url: '/demo.js' });
    assert.equal(script.statusCode, 200);
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(script.body, /^import \{[^}]*createClient[^}]*\} from '\/client\/index\.js';$/m);
    assert.doesNotMatch(script.body, /\.\.\/client|sourceMappingURL/);
    const style = await app.inject({ method: 'GET', url: '/demo.css' });
    assert.equal(style.headers['content-type'], 'text/css; charset=utf-8');
    const icon = await app.inject({ method: 'GET', url: '/favicon.svg' });
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    for (const name of ['index.js', 'error.js', 'jwt-times.js', 'storage.js']) {
      const module = await app.inject({ method: 'GET', url: `/client/${name}` });
      assert.equal(module.statusCode, 200, name);
      assert.equal(module.headers['content-type'], 'text/javascript; charset=utf-8', name);
      assert.equal(module.headers['cache-control'], 'no-cache', name);
    }
    // Only the client's own JS modules: no declarations, maps, other folders or traversal.
    for (const url of ['/client/index.d.ts', '/client/index.js.map', '/client/../server/app.js', '/client/%2e%2e%2fserver%2fapp.js', '/client/', '/client/constructor', '/demo.ts', '/page.js']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.deepEqual(response.json(), { detail: 'Not found.', code: 'not_found' }, url);
    }
    await app.close();
  });

  it('tells the page about the body transport', async () => {
    const app = await setup({ transport: 'body' });
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.match(page.body, /&quot;transport&quot;:&quot;body&quot;/);
    assert.match(page.body, /TOKENPAIR_REFRESH_TRANSPORT=cookie/);
    await app.close();
  });

  it('buildServer({ demo: false }) serves none of it', async () => {
    const app = await setup({ demo: false });
    for (const url of ['/', '/demo.js', '/demo.css', '/client/index.js']) {
      const response = await app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.deepEqual(response.json(), { detail: 'Not found.', code: 'not_found' });
    }
    await app.close();
  });

  describe('tokenpair serve switches', () => {
    let dir: ReturnType<typeof tempDir>;
    before(() => {
      dir = tempDir('tokenpair-demo-switch-');
    });
    after(() => dir.cleanup());

    const cases: Array<{ name: string; args: string[]; env: Record<string, string>; status: number }> = [
      { name: 'on by default', args: [], env: {}, status: 200 },
      { name: '--no-demo turns it off', args: ['--no-demo'], env: {}, status: 404 },
      { name: 'TOKENPAIR_DEMO=false turns it off', args: [], env: { TOKENPAIR_DEMO: 'false' }, status: 404 },
      { name: 'TOKENPAIR_DEMO=true keeps it on', args: [], env: { TOKENPAIR_DEMO: 'TRUE' }, status: 200 },
      { name: '--no-demo wins over TOKENPAIR_DEMO=true', args: ['--no-demo'], env: { TOKENPAIR_DEMO: 'true' }, status: 404 },
    ];
    for (const { name, args, env, status } of cases) {
      it(name, async () => {
        const server = await startServer(['--data-dir', dir.path, '--log-level', 'warn', ...args], { env });
        try {
          const response = await fetch(`${server.url}/`);
          assert.equal(response.status, status);
          if (status === 200) assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
          else assert.deepEqual(await response.json(), { detail: 'Not found.', code: 'not_found' });
          // The API itself is served either way.
          assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
        } finally {
          const stopped = await stopServer(server);
          assert.equal(stopped.code, 0);
        }
      });
    }

    it('TOKENPAIR_DEMO=maybe is a usage error (exit 2) naming the variable', async () => {
      const result = await runCli(['serve', '--port', '0', '--data-dir', dir.path], { env: { TOKENPAIR_DEMO: 'maybe' } });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /TOKENPAIR_DEMO must be true or false \(got "maybe"\)/);
    });
  });
});

// ------------------------------------------------------------------------------------------------
// In Chromium
// ------------------------------------------------------------------------------------------------

const hasChromium = existsSync(CHROMIUM);
const missing = `${CHROMIUM} is not installed (Debian: apt-get install chromium; .ci/run installs it)`;

if (!hasChromium && process.env.CI) {
  describe('demo page in Chromium', () => {
    it('needs Chromium', () => {
      assert.fail(`${missing}: the browser tests cannot run in CI without it`);
    });
  });
} else {
  describe('demo page in Chromium', { skip: hasChromium ? false : `skipped: ${missing}` }, () => {
    let dir: ReturnType<typeof tempDir>;
    let server: ServerProcess;
    let other: Server;
    let otherUrl: string;
    /** The Cookie header of every request the other origin's server got. */
    const otherCookies: Array<string | undefined> = [];
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    /** Every request the demo page made, in order (the network log). */
    const network: Request[] = [];
    const problems: string[] = [];

    /** The refresh calls in the network log from `from` on. */
    const refreshes = (from = 0) => network.slice(from).filter((request) => request.method() === 'POST' && new URL(request.url()).pathname === REFRESH_PATH);
    const calls = (path: string, from = 0) => network.slice(from).filter((request) => new URL(request.url()).pathname === path);
    const status = async (request: Request) => (await request.response())?.status();

    /** The refresh cookie in the browser's jar (Playwright sees HttpOnly cookies; scripts do not). */
    async function refreshCookie(): Promise<{ value: string; httpOnly: boolean; secure: boolean; sameSite: string } | undefined> {
      return (await context.cookies(server.url)).find((cookie) => cookie.name === COOKIE);
    }

    /** The server's own request log (JSON lines): method, path and status of each request. */
    function serverLog(): Array<{ method: string; path: string; status: number | undefined }> {
      const requests = new Map<string, { method: string; path: string; status: number | undefined }>();
      for (const line of server.output().stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { reqId?: string; req?: { method: string; path: string }; res?: { statusCode: number } };
        if (!entry.reqId) continue;
        if (entry.req) requests.set(entry.reqId, { method: entry.req.method, path: entry.req.path, status: undefined });
        const known = requests.get(entry.reqId);
        if (entry.res && known) known.status = entry.res.statusCode;
      }
      return [...requests.values()];
    }

    async function waitReady(target: Page): Promise<void> {
      await target.waitForSelector('html[data-ready="true"]');
    }

    /** Signs in with the keyboard only: the page focuses the username field, Tab to the password, Enter submits. */
    async function signInWithKeyboard(target: Page): Promise<void> {
      await target.waitForSelector('#signin:not([hidden])');
      assert.equal(await target.evaluate(() => document.activeElement?.id), 'username', 'the page puts the focus on the username field');
      // The field keeps the last username: replace it.
      await target.keyboard.press('Control+A');
      await target.keyboard.type('alice');
      await target.keyboard.press('Tab');
      assert.equal(await target.evaluate(() => document.activeElement?.id), 'password');
      await target.keyboard.type(PASSWORD);
      await target.keyboard.press('Enter');
      await target.waitForSelector('#account:not([hidden])');
      await target.waitForFunction(() => document.querySelector('#sessions tr') !== null);
    }

    /** Clicks "Call API" and waits for the answer on the page. */
    async function callApi(target: Page): Promise<{ status: string | undefined; text: string }> {
      await target.evaluate(() => {
        delete document.getElementById('api-result')!.dataset.status;
      });
      await target.getByRole('button', { name: 'Call API' }).click();
      await target.waitForSelector('#api-result[data-status]');
      return target.$eval('#api-result', (element) => ({ status: (element as HTMLElement).dataset.status, text: element.textContent ?? '' }));
    }

    /** A refresh as a script on the page could send it: the cookie rides along, nothing else. */
    function refreshFromPage(target: Page): Promise<{ status: number; body: unknown }> {
      return target.evaluate(async (path) => {
        const response = await fetch(path, { method: 'POST', credentials: 'include' });
        return { status: response.status, body: await response.json() };
      }, REFRESH_PATH);
    }

    before(async () => {
      dir = tempDir('tokenpair-e2e-');
      const created = await runCli(['createuser', 'alice', '--password-stdin', '--data-dir', dir.path], { input: `${PASSWORD}\n` });
      assert.equal(created.code, 0, created.stderr);
      // Secure stays on: Chromium treats http://127.0.0.1 as potentially trustworthy and keeps Secure cookies there.
      server = await startServer(['--data-dir', dir.path], { env: { TOKENPAIR_REFRESH_TRANSPORT: 'cookie', TOKENPAIR_ACCESS_TOKEN_LIFETIME: String(ACCESS_LIFETIME_S) } });

      // Another origin: the same loopback address on another port.
      other = createServer((request, response) => {
        otherCookies.push(request.headers.cookie);
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>another origin</title><p>another origin</p>');
      });
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;

      // launch() gives the browser a fresh temporary profile (user-data dir), removed on close.
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
      context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
      context.setDefaultTimeout(15_000);
      page = await context.newPage();
      page.on('request', (request) => network.push(request));
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        // A refused refresh is logged by the browser as a failed resource load (expected: 401s below).
        if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of 40[13]/.test(message.text())) problems.push(`console: ${message.text()}`);
      });
    });

    after(async () => {
      await browser?.close();
      await new Promise<void>((resolve) => (other ? other.close(() => resolve()) : resolve()));
      if (server && server.child.exitCode === null && server.child.signalCode === null) await stopServer(server);
      dir?.cleanup();
    });

    it('signs in with the keyboard; the page restores nothing without a cookie', async () => {
      await page.goto(`${server.url}/`);
      await waitReady(page);
      // On load the page tries the cookie once: none yet, so 401 and the sign-in form.
      const restore = refreshes();
      assert.equal(restore.length, 1);
      assert.equal(await status(restore[0]!), 401);
      assert.equal(await page.locator('#status').textContent(), '');

      const mark = network.length;
      await signInWithKeyboard(page);
      assert.equal(await page.locator('#who').textContent(), 'alice');
      assert.equal(await page.locator('#status').textContent(), 'Signed in.');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'account-title', 'the focus moves to the signed-in section');
      assert.match((await page.locator('#countdown').textContent()) ?? '', /^\d\.\d s$/);
      assert.deepEqual(await Promise.all(calls('/api/token/', mark).map(status)), [200]);
      assert.equal(refreshes(mark).length, 0);
      assert.equal(await page.locator('#sessions tr').count(), 1);
    });

    it('document.cookie does not hold the refresh token; nothing is in Web Storage', async () => {
      const cookie = await refreshCookie();
      assert.ok(cookie, 'the browser holds the refresh cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, true, 'Secure stays on for http://127.0.0.1');
      assert.equal(cookie.sameSite, 'Strict');
      assert.match(cookie.value, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      const visible = await page.evaluate(() => ({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length }));
      assert.ok(!visible.cookie.includes(COOKIE), `document.cookie names the refresh cookie: ${visible.cookie}`);
      assert.ok(!visible.cookie.includes(cookie.value), 'document.cookie holds the refresh token');
      assert.equal(visible.cookie, '');
      assert.deepEqual([visible.local, visible.session], [0, 0]);
    });

    it('past the access lifetime, "Call API" refreshes exactly once and succeeds', async () => {
      const previous = await refreshCookie();
      await page.waitForSelector('#countdown.expired', { timeout: (ACCESS_LIFETIME_S + 5) * 1000 });
      // Past the token's exp second on the server's clock too.
      await page.waitForTimeout(1_100);
      const mark = network.length;
      const result = await callApi(page);
      assert.equal(result.status, '200', result.text);
      assert.match(result.text, /"username": "alice"/);
      const refreshed = refreshes(mark);
      assert.equal(refreshed.length, 1, 'exactly one refresh');
      assert.equal(await status(refreshed[0]!), 200);
      // The refresh came first: /api/me/ went out once, with the new token.
      assert.deepEqual(await Promise.all(calls('/api/me/', mark).map(status)), [200]);
      assert.ok(network.indexOf(refreshed[0]!) < network.indexOf(calls('/api/me/', mark)[0]!));
      assert.equal(await page.locator('#refresh-count').textContent(), '1');
      assert.notEqual(await page.locator('#last-refresh').textContent(), 'never');
      // The countdown (updated five times a second) starts over.
      await page.waitForFunction(() => /^\d\.\d s$/.test(document.getElementById('countdown')?.textContent ?? ''), undefined, { timeout: 1_000 });
      // Rotation: the cookie now holds the successor.
      const next = await refreshCookie();
      assert.ok(previous && next && next.value !== previous.value, 'the refresh cookie was rotated');

      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.ok(statSync(SCREENSHOT).size > 10_000, 'the screenshot was written');
    });

    it('a reload keeps the session through the cookie: "Call API" works without signing in again', async () => {
      const mark = network.length;
      await page.reload();
      await waitReady(page);
      assert.equal(await page.locator('#account').isVisible(), true);
      assert.equal(await page.locator('#signin').isVisible(), false);
      assert.equal(await page.locator('#who').textContent(), 'alice');
      assert.match((await page.locator('#status').textContent()) ?? '', /restored through the refresh cookie/);
      const restore = refreshes(mark);
      assert.equal(restore.length, 1);
      assert.equal(await status(restore[0]!), 200);
      assert.equal(calls('/api/token/', mark).length, 0, 'no new sign-in');
      const result = await callApi(page);
      assert.equal(result.status, '200', result.text);
      assert.match(result.text, /"username": "alice"/);
    });

    it('a page on another origin (another loopback port) cannot get an access token through the cookie', async (t: TestContext) => {
      const unchanged = await refreshCookie();
      const logMark = serverLog().length;
      const evil = await context.newPage();
      try {
        await evil.goto(`${otherUrl}/`);
        const attempts = await evil.evaluate(async (target) => {
          const outcome = async (mode: RequestMode) => {
            try {
              const response = await fetch(`${target}/api/token/refresh/`, { method: 'POST', credentials: 'include', mode });
              return { type: response.type, status: response.status, body: await response.text() };
            } catch (error) {
              return { error: String(error) };
            }
          };
          return { cors: await outcome('cors'), noCors: await outcome('no-cors') };
        }, server.url);
        // A credentialed CORS request: the server sends no Access-Control-Allow-Origin, so the page gets nothing at all.
        assert.deepEqual(attempts.cors, { error: 'TypeError: Failed to fetch' });
        // no-cors: an opaque response, unreadable by design.
        assert.deepEqual(attempts.noCors, { type: 'opaque', status: 0, body: '' });
      } finally {
        await evil.close();
      }
      // And the server refused both outright (CSRF check: Sec-Fetch-Site same-site, a foreign Origin)
      // — even though SameSite=Strict let the cookie ride along: ports do not make another site.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const refused = serverLog().slice(logMark).filter((entry) => entry.path === REFRESH_PATH);
      assert.deepEqual(refused, [
        { method: 'POST', path: REFRESH_PATH, status: 403 },
        { method: 'POST', path: REFRESH_PATH, status: 403 },
      ]);
      assert.deepEqual(await refreshCookie(), unchanged, 'the refresh cookie is untouched');
      // Cookies are scoped by host, not port (RFC 6265 §8.5): the other port's server itself was sent the cookie.
      if (otherCookies.some((cookie) => cookie?.includes(`${COOKIE}=`))) {
        t.diagnostic('note: the server on the other loopback port received the refresh cookie with its own page request (cookies ignore ports); a page cannot read it, but a server on the same host can');
      }
      // The demo page's session still works.
      assert.equal((await callApi(page)).status, '200');
    });

    it('sign out: the cookie is cleared, and a further refresh fails', async () => {
      const spent = await refreshCookie();
      assert.ok(spent);
      const mark = network.length;
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForSelector('#signin:not([hidden])');
      assert.match((await page.locator('#status').textContent()) ?? '', /^Signed out\./);
      assert.deepEqual(await Promise.all(calls('/api/logout/', mark).map(status)), [205]);
      assert.equal(await refreshCookie(), undefined, 'the cookie is gone');
      assert.deepEqual(await refreshFromPage(page), { status: 401, body: { detail: 'Refresh token not found', code: 'token_not_valid' } });
      // The signed-out token itself is dead on the server, not just forgotten by the browser.
      await context.addCookies([{ name: COOKIE, value: spent.value, url: server.url, httpOnly: true, secure: true, sameSite: 'Strict' }]);
      assert.deepEqual(await refreshFromPage(page), { status: 401, body: { detail: 'Token is blacklisted', code: 'token_not_valid' } });
      await context.clearCookies();
      // A reload finds no session.
      await page.reload();
      await waitReady(page);
      assert.equal(await page.locator('#signin').isVisible(), true);
    });

    it('sessions: listed, revoked with the keyboard (visible focus); "Sign out everywhere" ends another tab\'s session', async () => {
      await signInWithKeyboard(page);
      // A second browser (its own cookie jar): a second session of the same user.
      const second = await browser.newContext();
      try {
        const other = await second.newPage();
        await other.goto(`${server.url}/`);
        await waitReady(other);
        await signInWithKeyboard(other);
        await page.getByRole('button', { name: 'Reload sessions' }).click();
        await page.waitForFunction(() => document.querySelectorAll('#sessions tr').length === 2);

        // "Sign out everywhere" in the second browser ends the first one's session too.
        await other.getByRole('button', { name: 'Sign out everywhere' }).click();
        await other.waitForSelector('#signin:not([hidden])');
        assert.match((await other.locator('#status').textContent()) ?? '', /^Signed out everywhere/);
        // Its access token now answers 401 password_changed (the user's sessions were revoked); the
        // page then tries one refresh, which is refused: the session has ended.
        const mark = network.length;
        await page.getByRole('button', { name: 'Call API' }).click();
        await page.waitForSelector('#signin:not([hidden])');
        assert.deepEqual(await Promise.all(calls('/api/me/', mark).map(status)), [401]);
        const refused = await Promise.all(refreshes(mark).map(status));
        assert.ok(refused.length >= 1 && refused.every((code) => code === 401), `refreshes: ${refused.join(', ')}`);
        assert.match((await page.locator('#status').textContent()) ?? '', /^Your session has ended/);
      } finally {
        await second.close();
      }

      // Sign in again, and revoke this very session from the list with the keyboard.
      await signInWithKeyboard(page);
      assert.equal(await page.locator('#sessions tr').count(), 1);
      let focused = '';
      for (let presses = 0; presses < 20 && !focused.startsWith('Revoke'); presses++) {
        await page.keyboard.press('Tab');
        focused = await page.evaluate(() => document.activeElement?.textContent ?? '');
      }
      assert.equal(focused, 'Revoke', 'Tab reaches the Revoke button');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      assert.notEqual(outline, 'none', 'the focused button shows its focus');
      assert.match((await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))) ?? '', /^Revoke the session signed in at /);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#sessions td')?.textContent === 'No live sessions.');
      assert.match((await page.locator('#status').textContent()) ?? '', /^Session revoked/);
      assert.equal((await refreshFromPage(page)).status, 401);
    });

    it('no page errors, no CSP violations, no unexpected console errors', () => {
      assert.deepEqual(problems, []);
    });
  });
}
