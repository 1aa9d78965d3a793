/**
 * Reads `exp` and `iat` from a JWT's payload WITHOUT verifying the signature. The client only uses
 * them to time a proactive refresh; the server decides whether a token is valid.
 */

export interface TokenTimes {
  /** Seconds since the epoch. */
  exp: number;
  /** Seconds since the epoch, or `null` when the token has no numeric `iat`. */
  iat: number | null;
}

function decodeBase64Url(text: string): Uint8Array {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/**
 * `{exp, iat}` of a compact JWS, or `null` when it is not one or has no numeric `exp`.
 *
 * @example
 * const times = readTokenTimes((await client.getAccessToken()) ?? '');
 * if (times) console.log('access token expires at', new Date(times.exp * 1000));
 */
export function readTokenTimes(token: string): TokenTimes | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const payload: unknown = JSON.parse(new TextDecoder().decode(decodeBase64Url(parts[1])));
    if (typeof payload !== 'object' || payload === null) return null;
    const { exp, iat } = payload as { exp?: unknown; iat?: unknown };
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return null;
    return { exp, iat: typeof iat === 'number' && Number.isFinite(iat) ? iat : null };
  } catch {
    return null;
  }
}
