/**
 * The stateless user of a verified token (simplejwt's `TokenUser`): no database lookup, everything
 * comes from the claims.
 */
import type { Claims } from '../settings/settings.js';

export class TokenUser {
  /** The user id claim, as a string. */
  readonly id: string;
  /** The `username` claim when the token has one, else `""`. */
  readonly username: string;
  readonly isAuthenticated = true as const;
  readonly isActive = true as const;
  /** Every claim of the token, read-only. */
  readonly claims: Readonly<Claims>;

  constructor(claims: Claims, userIdClaim: string) {
    this.claims = Object.freeze({ ...claims });
    const id = claims[userIdClaim];
    this.id = id === undefined || id === null ? '' : String(id);
    this.username = typeof claims.username === 'string' ? claims.username : '';
  }

  get(name: string): unknown {
    return Object.hasOwn(this.claims, name) ? this.claims[name] : undefined;
  }

  toJSON(): { id: string; username: string } {
    return { id: this.id, username: this.username };
  }
}
