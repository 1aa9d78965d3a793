/**
 * The user a bearer token stands for, as the authenticator answers it to protected routes.
 */
import type { Claims } from '../settings/settings.js';
import type { UserRecord } from '../store/types.js';
import type { Token } from '../tokens/token.js';
import type { Tokens } from '../tokens/tokens.js';

/** The user a bearer token stands for. */
export interface Principal {
  id: string;
  username: string;
  /** The verified token's claims. */
  claims: Readonly<Claims>;
  /** The stored user when `userLookup` is on; `null` when stateless. */
  record: UserRecord | null;
  /**
   * `tokenUserClass`'s (or `TokenUser`'s) view when stateless, `null` with the user lookup. Built
   * on first read and then kept: most routes never read it, and building it copies every claim.
   */
  readonly tokenUser: unknown;
}

/**
 * A stateless principal (`userLookup: false`). A class rather than an object literal: its
 * `tokenUser` getter lives on the prototype, so making one per request costs no more than a plain
 * object, and the token user is only built for the routes that read it.
 */
export class StatelessPrincipal implements Principal {
  readonly id: string;
  readonly username: string;
  readonly claims: Readonly<Claims>;
  readonly record = null;
  #tokens: Tokens;
  #token: Token;
  #tokenUser: unknown = undefined;
  #built = false;

  constructor(tokens: Tokens, token: Token, id: string, username: string) {
    this.id = id;
    this.username = username;
    this.claims = token.payload;
    this.#tokens = tokens;
    this.#token = token;
  }

  get tokenUser(): unknown {
    if (!this.#built) {
      this.#tokenUser = this.#tokens.tokenUser(this.#token);
      this.#built = true;
    }
    return this.#tokenUser;
  }

  /** What an own-property `tokenUser` would have given `JSON.stringify`. */
  toJSON(): { id: string; username: string; claims: Readonly<Claims>; record: null; tokenUser: unknown } {
    return { id: this.id, username: this.username, claims: this.claims, record: null, tokenUser: this.tokenUser };
  }
}
