/**
 * The naive way to spend a refresh token, the baseline of the refresh benchmarks: the same
 * statements as the SqliteStore's writer thread (src/store/sqlite-worker.ts, `consume`), the same
 * durability (WAL, synchronous=FULL), but one BEGIN IMMEDIATE … COMMIT per call, run synchronously
 * on the main thread — what a straightforward better-sqlite3 store does. Every fsync blocks the
 * event loop. (bench/store.mjs measures the same idea without HTTP.)
 */
import Database from 'better-sqlite3';

export function openNaiveConsume(file) {
  const db = new Database(file, { timeout: 5000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  const select = db.prepare(`
    SELECT t.family_id, t.used_at, t.revoked_at, f.id AS family_found, f.revoked_at AS family_revoked_at, f.absolute_expires_at
    FROM issued_tokens t LEFT JOIN token_families f ON f.id = t.family_id WHERE t.jti = ?`);
  const revokeFamily = db.prepare('UPDATE token_families SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL');
  const spend = db.prepare('UPDATE issued_tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL AND revoked_at IS NULL');
  const used = db.prepare(`UPDATE token_families SET last_used_at = ?, user_agent = COALESCE(?, user_agent), address = COALESCE(?, address),
    expires_at = MAX(expires_at, ?) WHERE id = ?`);
  const insert = db.prepare('INSERT INTO issued_tokens (jti, family_id, user_id, token_type, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)');
  const consume = db.transaction(({ token, successor, client, now, reuseGraceSeconds }) => {
    const row = select.get(token.jti);
    // Tokens the benchmark presents were all recorded by a login or a previous refresh.
    if (!row || row.revoked_at !== null || row.family_found === null || row.family_revoked_at !== null) return { status: 'revoked' };
    if (row.used_at !== null) {
      if (now - row.used_at <= reuseGraceSeconds) return { status: 'reused', familyRevoked: false };
      revokeFamily.run(now, 'reuse_detected', row.family_id);
      return { status: 'reused', familyRevoked: true };
    }
    if (row.absolute_expires_at !== null && row.absolute_expires_at <= now) return { status: 'session_expired' };
    if (spend.run(now, token.jti).changes !== 1) throw new Error(`token ${token.jti} changed during its own transaction`);
    used.run(now, client.userAgent ?? null, client.address ?? null, successor ? successor.expiresAt : 0, row.family_id);
    if (successor) insert.run(successor.jti, row.family_id, successor.userId, successor.tokenType, successor.issuedAt, successor.expiresAt);
    return { status: 'consumed', familyId: row.family_id, absoluteExpiresAt: row.absolute_expires_at };
  });
  return {
    consume: async (request) => consume.immediate(request),
    close: () => db.close(),
  };
}
