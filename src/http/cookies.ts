/**
 * The refresh cookie of the cookie transport (WIRE.md "Cookie transport", SECURITY.md S17):
 * serialising `Set-Cookie` exactly, and reading one cookie out of a `Cookie` request header.
 *
 * Attribute order, always (WIRE.md's): `name=value; HttpOnly; Secure; SameSite=…; Path=…; Domain=…;
 * Max-Age=…` — `Secure` only when on, `Domain` only when configured. The clearing cookie is the same
 * with an empty value and `Max-Age=0`, so that it replaces exactly the cookie that was set.
 */
import type { CookieSameSite, Settings } from '../settings/settings.js';

/** The attributes of the refresh cookie, from the settings. */
export interface RefreshCookieOptions {
  name: string;
  path: string;
  domain: string | null;
  sameSite: CookieSameSite;
  /** The `refreshCookieSecure` setting; see `secureFor` for what is sent. */
  secure: boolean;
  /** Whole seconds: the refresh token lifetime. */
  maxAge: number;
}

export function refreshCookieOptions(settings: Settings): RefreshCookieOptions {
  return {
    name: settings.refreshCookieName,
    path: settings.refreshCookiePath,
    domain: settings.refreshCookieDomain,
    sameSite: settings.refreshCookieSameSite,
    secure: settings.refreshCookieSecure,
    maxAge: Math.max(1, Math.floor(settings.refreshTokenLifetime)),
  };
}

/** What a cookie value may hold here: a compact JWS (base64url and dots). Anything else is a bug. */
const TOKEN_VALUE = /^[A-Za-z0-9._-]*$/;

/**
 * `Set-Cookie` for `value` (an empty value and `maxAge` 0 clear the cookie). `secure` is what is
 * sent, after `secureFor`.
 */
export function serializeCookie(options: RefreshCookieOptions, value: string, maxAge: number, secure: boolean): string {
  if (!TOKEN_VALUE.test(value)) throw new TypeError('tokenpair: a refresh cookie value must be a compact JWS');
  let cookie = `${options.name}=${value}; HttpOnly`;
  if (secure) cookie += '; Secure';
  cookie += `; SameSite=${options.sameSite}; Path=${options.path}`;
  if (options.domain !== null) cookie += `; Domain=${options.domain}`;
  return `${cookie}; Max-Age=${Math.max(0, Math.floor(maxAge))}`;
}

/** The cookie carrying a refresh token. */
export function setRefreshCookie(options: RefreshCookieOptions, token: string, host: string | undefined): string {
  return serializeCookie(options, token, options.maxAge, secureFor(options, host));
}

/** The cookie that deletes the refresh cookie: same name, path and domain, empty, `Max-Age=0`. */
export function clearRefreshCookie(options: RefreshCookieOptions, host: string | undefined): string {
  return serializeCookie(options, '', 0, secureFor(options, host));
}

/** The host name of a `Host` header (`[::1]:8000` → `[::1]`), lower case. */
function hostName(host: string): string {
  const value = host.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end === -1 ? value : value.slice(0, end + 1);
  }
  const colon = value.indexOf(':');
  return colon === -1 ? value : value.slice(0, colon);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** True when the `Host` header names the local machine (the only place `Secure` may be off). */
export function isLoopbackHost(host: string | undefined): boolean {
  return typeof host === 'string' && LOOPBACK.has(hostName(host));
}

/**
 * `Secure` as sent: the setting, except that with `refreshCookieSecure: false` a request whose `Host`
 * is not localhost / 127.0.0.1 / [::1] still gets `Secure` (fail safe: turning it off is for
 * http://localhost development only, and must not leak a refresh token over plain HTTP elsewhere).
 */
export function secureFor(options: RefreshCookieOptions, host: string | undefined): boolean {
  return options.secure || !isLoopbackHost(host);
}

/** A `Cookie` header longer than this is not parsed (browsers send at most a few KiB per cookie). */
export const MAX_COOKIE_HEADER_LENGTH = 64 * 1024;

/**
 * The value of the first cookie called `name` in a `Cookie` header, or `undefined`.
 *
 * Strict and allocation-light: no object is built (nothing to pollute), names compare exactly
 * (case-sensitive, as browsers do), the first occurrence wins (browsers send the cookie with the most
 * specific path first), a value wrapped in double quotes is unwrapped, and nothing is percent-decoded.
 * A header over `MAX_COOKIE_HEADER_LENGTH` is ignored as a whole.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (typeof header !== 'string' || header.length === 0 || header.length > MAX_COOKIE_HEADER_LENGTH) return undefined;
  // Only ";" separates cookies. Splitting on "," too would let a cookie whose value holds
  // ", __Host-x=…" (settable from a sibling subdomain) pose as a __Host- cookie.
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}
