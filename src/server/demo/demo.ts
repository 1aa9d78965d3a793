/**
 * The demo page's script (a browser ES module, served as `/demo.js`). It is built on
 * `tokenpair/client` only: the server serves the compiled client under `/client/` and rewrites the
 * import below to `/client/index.js`.
 */
import { createClient, readTokenTimes, TokenpairClientError, type FetchLike, type Session } from '../../client/index.js';
// Types only: page.ts is server code, and the browser never loads it.
import type { DemoConfig } from './page.js';

/** The server renders its settings into this `<meta>` (page.ts's DEMO_CONFIG_META). */
const config = JSON.parse(document.querySelector<HTMLMetaElement>('meta[name="tokenpair-demo-config"]')?.content ?? '{}') as DemoConfig;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`demo page: #${id} is missing`);
  return found as T;
}

const ui = {
  status: element<HTMLParagraphElement>('status'),
  signin: element<HTMLElement>('signin'),
  signinTitle: element<HTMLHeadingElement>('signin-title'),
  form: element<HTMLFormElement>('signin-form'),
  username: element<HTMLInputElement>('username'),
  password: element<HTMLInputElement>('password'),
  signinError: element<HTMLParagraphElement>('signin-error'),
  account: element<HTMLElement>('account'),
  accountTitle: element<HTMLHeadingElement>('account-title'),
  who: element<HTMLSpanElement>('who'),
  countdown: element<HTMLSpanElement>('countdown'),
  expiresAt: element<HTMLElement>('expires-at'),
  refreshCount: element<HTMLElement>('refresh-count'),
  lastRefresh: element<HTMLElement>('last-refresh'),
  callApi: element<HTMLButtonElement>('call-api'),
  apiResult: element<HTMLPreElement>('api-result'),
  sessions: element<HTMLTableSectionElement>('sessions'),
  reloadSessions: element<HTMLButtonElement>('reload-sessions'),
  signOut: element<HTMLButtonElement>('sign-out'),
  signOutAll: document.getElementById('sign-out-all') as HTMLButtonElement | null,
};

let refreshes = 0;
/** While the page restores a session on load, a failed refresh is "not signed in", not "expired". */
let restoring = false;
let signedIn = false;

/** `fetch` that counts the successful refreshes (the client's own calls to the refresh endpoint). */
const countingFetch: FetchLike = async (input, init) => {
  const response = await fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input), location.href);
  if (url.pathname === config.paths.refresh && response.ok) {
    refreshes += 1;
    ui.refreshCount.textContent = String(refreshes);
    ui.lastRefresh.textContent = new Date().toLocaleTimeString();
    if (!restoring) announce('The access token was refreshed.');
  }
  return response;
};

const client = createClient({
  baseUrl: location.origin,
  transport: config.transport,
  paths: {
    obtain: config.paths.obtain,
    refresh: config.paths.refresh,
    logout: config.paths.logout,
    ...(config.paths.logoutAll === null ? {} : { logoutAll: config.paths.logoutAll }),
    ...(config.paths.sessions === null ? {} : { sessions: config.paths.sessions }),
  },
  usernameField: config.usernameField,
  authHeaderName: config.authHeaderName,
  authHeaderType: config.authHeaderType,
  fetch: countingFetch,
  onSessionExpired: () => {
    if (restoring) return;
    showSignedOut('Your session has ended (it was signed out or revoked, or it expired). Sign in again.');
  },
});

function announce(message: string): void {
  ui.status.textContent = message;
}

function describeError(error: unknown): string {
  if (error instanceof TokenpairClientError) return error.status === 0 ? error.detail : `${error.detail} (HTTP ${error.status}, ${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

/** Runs `action` with `button` disabled; reports a failure in the status line. */
async function busy(button: HTMLButtonElement, action: () => Promise<void>): Promise<void> {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await action();
  } catch (error) {
    announce(describeError(error));
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// --- The access token's remaining lifetime --------------------------------------------------

/** The token on display, and when (page clock) it arrived: the countdown does not trust clock skew. */
let shown: { token: string; arrived: number; lifetime: number; exp: number } | null = null;

async function tick(): Promise<void> {
  const token = signedIn ? await client.getAccessToken() : null;
  const times = token ? readTokenTimes(token) : null;
  if (!token || !times) {
    shown = null;
    ui.countdown.textContent = '–';
    ui.countdown.classList.remove('expired');
    ui.expiresAt.textContent = '–';
    return;
  }
  if (shown?.token !== token) {
    const lifetime = times.iat === null ? times.exp - Date.now() / 1000 : times.exp - times.iat;
    shown = { token, arrived: Date.now(), lifetime, exp: times.exp };
    ui.expiresAt.textContent = new Date(times.exp * 1000).toLocaleTimeString();
  }
  const remaining = shown.lifetime - (Date.now() - shown.arrived) / 1000;
  if (remaining > 0) {
    ui.countdown.textContent = `${remaining.toFixed(1)} s`;
    ui.countdown.classList.remove('expired');
  } else {
    ui.countdown.textContent = 'expired: the next API call refreshes it';
    ui.countdown.classList.add('expired');
  }
}

setInterval(() => void tick(), 200);

// --- Signed in / signed out ------------------------------------------------------------------

function showSignedOut(message: string): void {
  signedIn = false;
  ui.account.hidden = true;
  ui.signin.hidden = false;
  ui.apiResult.textContent = '';
  delete ui.apiResult.dataset.status;
  ui.sessions.replaceChildren();
  ui.who.textContent = '…';
  void tick();
  announce(message);
  ui.username.focus();
}

async function showSignedIn(username: string | null, message: string): Promise<void> {
  signedIn = true;
  ui.signin.hidden = true;
  ui.account.hidden = false;
  ui.signinError.textContent = '';
  ui.who.textContent = username ?? '…';
  void tick();
  announce(message);
  ui.accountTitle.focus();
  if (username === null) {
    const response = await client.fetch(config.mePath);
    if (response.ok) ui.who.textContent = String(((await response.json()) as { username?: unknown }).username ?? '?');
  }
  await loadSessions();
}

// --- Sessions ----------------------------------------------------------------------------------

function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function loadSessions(): Promise<void> {
  if (config.paths.sessions === null || !signedIn) return;
  const list: Session[] = await client.sessions();
  const rows = list.map((session) => {
    const row = document.createElement('tr');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Revoke';
    // The button's accessible name says which session it ends.
    button.setAttribute('aria-label', `Revoke the session signed in at ${formatTime(session.created)}`);
    button.addEventListener('click', () =>
      void busy(button, async () => {
        await client.revokeSession(session.id);
        announce('Session revoked. If it was this one, the next refresh fails and you are signed out.');
        await loadSessions();
        ui.reloadSessions.focus();
      }),
    );
    const action = document.createElement('td');
    action.append(button);
    row.append(cell(formatTime(session.created)), cell(formatTime(session.last_used)), cell(formatTime(session.expires)), cell(session.user_agent ?? '–', 'ua'), cell(session.address ?? '–'), action);
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const empty = cell('No live sessions.');
    empty.colSpan = 6;
    row.append(empty);
    rows.push(row);
  }
  ui.sessions.replaceChildren(...rows);
}

// --- Actions -------------------------------------------------------------------------------------

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const username = ui.username.value.trim();
  const password = ui.password.value;
  if (!username || !password) {
    ui.signinError.textContent = `Enter your ${ui.username.labels?.[0]?.textContent?.toLowerCase() ?? 'username'} and password.`;
    (username ? ui.password : ui.username).focus();
    return;
  }
  const submit = ui.form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
  ui.signinError.textContent = '';
  void busy(submit, async () => {
    try {
      await client.login(username, password);
    } catch (error) {
      ui.signinError.textContent = describeError(error);
      ui.password.select();
      ui.password.focus();
      return;
    }
    ui.password.value = '';
    await showSignedIn(username, 'Signed in.');
  });
});

ui.callApi.addEventListener('click', () =>
  void busy(ui.callApi, async () => {
    const response = await client.fetch(config.mePath);
    const text = await response.text();
    let shownText = text;
    try {
      shownText = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not JSON: show it as it came.
    }
    ui.apiResult.textContent = `HTTP ${response.status}\n${shownText}`;
    ui.apiResult.dataset.status = String(response.status);
    // The client refreshes by itself on 401 token_not_valid. Another 401 (password_changed after "Sign
    // out everywhere" or a password change) leaves the session's fate open: one refresh settles it, and
    // a refused one ends the session (onSessionExpired).
    if (response.status === 401 && signedIn) await client.refresh().catch(() => undefined);
  }),
);

ui.reloadSessions.addEventListener('click', () => void busy(ui.reloadSessions, loadSessions));

ui.signOut.addEventListener('click', () =>
  void busy(ui.signOut, async () => {
    await client.logout();
    showSignedOut('Signed out. The refresh token is revoked and its cookie cleared.');
  }),
);

ui.signOutAll?.addEventListener('click', () =>
  void busy(ui.signOutAll!, async () => {
    await client.logoutAll();
    showSignedOut('Signed out everywhere: every session of this user is revoked.');
  }),
);

// --- Start -----------------------------------------------------------------------------------------

async function start(): Promise<void> {
  if (config.transport !== 'cookie') {
    showSignedOut('');
    return;
  }
  // After a reload the access token is gone, but the HttpOnly refresh cookie may still be there.
  announce('Looking for a session…');
  restoring = true;
  try {
    await client.refresh();
  } catch {
    restoring = false;
    showSignedOut('');
    return;
  }
  restoring = false;
  await showSignedIn(null, 'Welcome back: the session was restored through the refresh cookie.');
}

document.documentElement.dataset.ready = 'false';
void start()
  .catch((error: unknown) => announce(describeError(error)))
  .finally(() => {
    document.documentElement.dataset.ready = 'true';
  });
