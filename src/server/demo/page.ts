/**
 * The demo page's HTML and CSS, as strings: tsc compiles them into `dist/` (and into a test run's
 * `build-<pid>/`) with the rest of the server, so no copy step can forget them. The script is
 * `demo.ts` beside this file, compiled like any other module. No inline script or style: the page
 * runs under `script-src 'self'; style-src 'self'`.
 */

/** What the page needs to know about the server; rendered into a `<meta>` as JSON. */
export interface DemoConfig {
  transport: 'body' | 'cookie';
  paths: { obtain: string; refresh: string; logout: string; logoutAll: string | null; sessions: string | null };
  mePath: string;
  usernameField: string;
  authHeaderName: string;
  authHeaderType: string;
}

/** The `<meta name>` the page reads its configuration from. */
export const DEMO_CONFIG_META = 'tokenpair-demo-config';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ENTITIES[char]!);
}

function labelFor(field: string): string {
  const words = field.replace(/[_-]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').trim();
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

export function demoHtml(config: DemoConfig): string {
  const usernameType = config.usernameField.toLowerCase() === 'email' ? 'email' : 'text';
  const cookieNote =
    config.transport === 'cookie'
      ? 'The refresh token travels in an <code>HttpOnly</code> cookie that this page cannot read; the access token stays in the page\'s memory. Reload the page: the session comes back through the cookie.'
      : 'The server uses the body transport: both tokens stay in this page\'s memory, so a reload signs you out. Start the server with <code>TOKENPAIR_REFRESH_TRANSPORT=cookie</code> to keep the refresh token in an <code>HttpOnly</code> cookie.';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="${DEMO_CONFIG_META}" content="${escapeHtml(JSON.stringify(config))}">
<title>tokenpair demo</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/demo.css">
<script type="module" src="/demo.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<h1>tokenpair demo</h1>
<p>Sign in, call a protected API and watch the access token expire and refresh. Transport: <strong>${config.transport}</strong>.</p>
</header>
<main id="main">
<p id="status" role="status" aria-live="polite"></p>
<noscript><p>The demo needs JavaScript.</p></noscript>

<section id="signin" aria-labelledby="signin-title" hidden>
<h2 id="signin-title" tabindex="-1">Sign in</h2>
<form id="signin-form" method="post" novalidate>
<p><label for="username">${escapeHtml(labelFor(config.usernameField))}</label>
<input id="username" name="username" type="${usernameType}" autocomplete="username" required></p>
<p><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
<p id="signin-error" class="error" role="alert"></p>
</form>
</section>

<section id="account" aria-labelledby="account-title" hidden>
<h2 id="account-title" tabindex="-1">Signed in as <span id="who">…</span></h2>

<h3>Access token</h3>
<dl class="facts">
<dt>Remaining lifetime</dt>
<dd><span id="countdown" role="timer" aria-atomic="true">–</span></dd>
<dt>Expires at</dt>
<dd id="expires-at">–</dd>
<dt>Refreshes</dt>
<dd id="refresh-count">0</dd>
<dt>Last refresh</dt>
<dd id="last-refresh">never</dd>
</dl>

<h3>Protected API</h3>
<p><button id="call-api" type="button">Call API</button> <span class="hint">GET <code>${escapeHtml(config.mePath)}</code> with the access token; an expired token is refreshed first.</span></p>
<pre id="api-result" aria-live="polite" aria-label="API response"></pre>

<div id="sessions-block"${config.paths.sessions === null ? ' hidden' : ''}>
<h3 id="sessions-title">Sessions</h3>
<p><button id="reload-sessions" type="button">Reload sessions</button></p>
<table aria-labelledby="sessions-title">
<thead><tr><th scope="col">Signed in</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">Browser</th><th scope="col">Address</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody id="sessions"></tbody>
</table>
</div>

<h3>Sign out</h3>
<p class="actions"><button id="sign-out" type="button">Sign out</button>${config.paths.logoutAll === null ? '' : ' <button id="sign-out-all" class="secondary" type="button">Sign out everywhere</button>'}</p>
</section>

<p class="note">${cookieNote}</p>
</main>
<footer><p>Every endpoint: <a href="/openapi.json">/openapi.json</a>. Start the server with <code>--no-demo</code> (or <code>TOKENPAIR_DEMO=false</code>) to turn this page off.</p></footer>
</body>
</html>
`;
}

/** A key-ish mark; without an icon the browser asks for /favicon.ico and logs a 404. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="11" cy="16" r="7" fill="none" stroke="#0b57d0" stroke-width="4"/><path d="M18 16h12M25 16v6M29 16v4" stroke="#0b57d0" stroke-width="4" fill="none"/></svg>
`;

export const DEMO_CSS = `:root {
  color-scheme: light dark;
  --fg: #1b1b1f;
  --bg: #fdfdfd;
  --muted: #5a5a66;
  --accent: #0b57d0;
  --error: #b3261e;
  --line: #d0d0d8;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ee; --bg: #16161a; --muted: #a8a8b8; --accent: #8ab4f8; --error: #f2b8b5; --line: #3a3a44; }
}
body { margin: 0 auto; max-width: 52rem; padding: 1rem 1.25rem 3rem; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.6rem; margin-bottom: 0.25rem; }
h2 { font-size: 1.3rem; margin-top: 1.5rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9rem; }
label { display: block; font-weight: 600; }
input { font: inherit; padding: 0.4rem 0.5rem; width: min(22rem, 100%); border: 1px solid var(--muted); border-radius: 4px; background: var(--bg); color: var(--fg); }
button { font: inherit; padding: 0.4rem 0.9rem; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: var(--bg); cursor: pointer; }
button.secondary, td button { background: transparent; color: var(--accent); }
button:disabled { opacity: 0.6; cursor: progress; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
[tabindex="-1"]:focus { outline: none; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
#countdown.expired { color: var(--error); font-weight: 600; }
pre { background: color-mix(in srgb, var(--fg) 6%, transparent); padding: 0.75rem; border-radius: 4px; overflow-x: auto; min-height: 1.5em; }
pre:empty { display: none; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.ua { max-width: 14rem; overflow-wrap: anywhere; }
.actions button + button { margin-left: 0.5rem; }
.hint, .note, footer { color: var(--muted); font-size: 0.9rem; }
.error { color: var(--error); }
.error:empty, #status:empty { display: none; }
#status { padding: 0.5rem 0.75rem; border-left: 4px solid var(--accent); background: color-mix(in srgb, var(--accent) 10%, transparent); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -100vw; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: 0.25rem 0.5rem; }
`;
