/**
 * Where the browser client keeps its tokens. The access token always; the refresh token only with
 * the body transport (with the cookie transport the server keeps it in an HttpOnly cookie that no
 * script can read).
 */

/** A storage slot. `refresh` is used by the body transport only. */
export type TokenKind = 'access' | 'refresh';

/** Token storage: synchronous or asynchronous (e.g. React Native's AsyncStorage). */
export interface TokenStorage {
  get(kind: TokenKind): string | null | Promise<string | null>;
  set(kind: TokenKind, token: string): void | Promise<void>;
  /** Forgets both tokens (logout, failed refresh). */
  clear(): void | Promise<void>;
}

/**
 * Tokens held in this page's memory only (the default): gone on reload. With the cookie transport
 * a reload costs one `client.refresh()`; nothing a script injected later can read from storage.
 *
 * @example
 * const client = createClient({ baseUrl: 'https://api.example.com', storage: memoryStorage() });
 */
export function memoryStorage(): TokenStorage {
  const tokens = new Map<TokenKind, string>();
  return {
    get: (kind) => tokens.get(kind) ?? null,
    set: (kind, token) => {
      tokens.set(kind, token);
    },
    clear: () => {
      tokens.clear();
    },
  };
}

/**
 * Tokens in Web Storage (`sessionStorage` or `localStorage`), under `<prefix>access` and
 * `<prefix>refresh`. Any script running on the page can read them: prefer the default memory
 * storage with the cookie transport.
 *
 * @example
 * const client = createClient({ baseUrl: 'https://api.example.com', storage: webStorage(sessionStorage) });
 */
export function webStorage(store: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>, prefix = 'tokenpair.'): TokenStorage {
  return {
    get: (kind) => store.getItem(prefix + kind),
    set: (kind, token) => store.setItem(prefix + kind, token),
    clear: () => {
      store.removeItem(`${prefix}access`);
      store.removeItem(`${prefix}refresh`);
    },
  };
}
