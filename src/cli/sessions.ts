/** `sessions`, `revoke`, `flushexpiredtokens`: a user's token families and the clean-up of expired records. */
import { Option, type Command } from 'commander';
import { CliError, EXIT, findUser, nowSeconds, resolveServerSettings, say, table, withStoreOptions, withStore, type CommonOptions } from './context.js';

const FLUSH_BATCH = 1000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

export function registerSessionCommands(program: Command): void {
  withStoreOptions(
    program
      .command('sessions')
      .description("list a user's live sessions (one per login; rotation keeps the session)")
      .argument('<username>', 'the login name')
      .option('--json', 'print JSON instead of a table'),
  ).action(async (username: string, options: CommonOptions & { json?: boolean }) => {
    resolveServerSettings(options, false);
    await withStore(options, async (store) => {
      const user = await findUser(store, username);
      const sessions = await store.listSessions(user.id, nowSeconds());
      if (options.json) {
        say(JSON.stringify(sessions.map((s) => ({ id: s.id, created: iso(s.createdAt), last_used: iso(s.lastUsedAt), expires: iso(s.absoluteExpiresAt === null ? s.expiresAt : Math.min(s.expiresAt, s.absoluteExpiresAt)), user_agent: s.userAgent, address: s.address }))));
        return;
      }
      if (sessions.length === 0) {
        say(`no live sessions for ${JSON.stringify(username)}`);
        return;
      }
      say(table(
        ['ID', 'CREATED', 'LAST USED', 'EXPIRES', 'ADDRESS', 'USER AGENT'],
        sessions.map((s) => [s.id, iso(s.createdAt), iso(s.lastUsedAt), iso(s.absoluteExpiresAt === null ? s.expiresAt : Math.min(s.expiresAt, s.absoluteExpiresAt)), s.address ?? '-', s.userAgent ?? '-']),
      ));
    });
  });

  withStoreOptions(
    program
      .command('revoke')
      .description("revoke one session of a user (--session ID) or all of them (--all, which also invalidates the user's access tokens)")
      .argument('<username>', 'the login name')
      .addOption(new Option('--session <id>', 'the session id shown by `tokenpair sessions`').conflicts('all'))
      .addOption(new Option('--all', 'every session of the user').conflicts('session')),
  ).action(async (username: string, options: CommonOptions & { session?: string; all?: boolean }) => {
    if (!options.session && !options.all) throw new CliError('say which sessions to revoke: --session ID or --all', EXIT.usage);
    resolveServerSettings(options, false);
    await withStore(options, async (store) => {
      const user = await findUser(store, username);
      const now = nowSeconds();
      if (options.all) {
        // As logout-all: the families, and the security stamp so that access tokens stop working too.
        const count = await store.revokeUserFamilies(user.id, 'admin', now);
        await store.rotateSecurityStamp(user.id);
        say(`revoked ${plural(count, 'session')} of ${JSON.stringify(username)}`);
        return;
      }
      if (!(await store.revokeSession(user.id, options.session!, 'admin', now))) {
        throw new CliError(`${JSON.stringify(username)} has no live session ${JSON.stringify(options.session)}`, EXIT.failed);
      }
      say(`revoked session ${options.session} of ${JSON.stringify(username)}`);
    });
  });

  withStoreOptions(
    program
      .command('flushexpiredtokens')
      .description('delete the records of expired tokens and sessions, in batches (safe while servers run)'),
  ).action(async (options: CommonOptions) => {
    const { settings } = resolveServerSettings(options, false);
    await withStore(options, async (store) => {
      // A token stays acceptable for `leeway` seconds past its exp: its revocation must outlive that (R4).
      const before = nowSeconds() - Math.ceil(settings.leeway);
      let total = 0;
      for (;;) {
        const deleted = await store.flushExpired(before, FLUSH_BATCH);
        total += deleted;
        if (deleted === 0) break;
      }
      say(`flushed ${plural(total, 'expired record')}`);
    });
  });
}
