/** `createuser`, `changepassword`, `activate`, `deactivate`: the built-in users table. */
import type { Command } from 'commander';
import { createPasswordHasher } from '../passwords/hasher.js';
import { CliError, EXIT, findUser, nowSeconds, resolveServerSettings, say, withStoreOptions, withStore, type CommonOptions } from './context.js';
import { obtainNewPassword } from './password.js';

/** Django's limit; no surrounding whitespace (logins trim the username) and no control characters. */
export function checkUsername(username: string): string {
  if (username.length === 0) throw new CliError('the username is empty', EXIT.usage);
  if (username.trim() !== username) throw new CliError('the username must not start or end with whitespace', EXIT.usage);
  if (/[\x00-\x1f\x7f]/.test(username)) throw new CliError('the username must not contain control characters', EXIT.usage);
  if (username.length > 150) throw new CliError('the username is longer than 150 characters', EXIT.usage);
  return username;
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

export function registerUserCommands(program: Command): void {
  withStoreOptions(
    program
      .command('createuser')
      .description('create a user (the password is read from stdin or prompted for, never from an argument)')
      .argument('<username>', 'the login name')
      .option('--password-stdin', 'read the password from stdin (one trailing newline is removed)')
      .option('--inactive', 'create the user inactive (cannot log in until activated)'),
  ).action(async (username: string, options: CommonOptions & { passwordStdin?: boolean; inactive?: boolean }) => {
    checkUsername(username);
    resolveServerSettings(options, false);
    const password = await obtainNewPassword(options.passwordStdin === true);
    const passwordHash = await createPasswordHasher().hash(password);
    await withStore(options, async (store) => {
      if (await store.findByUsername(username)) throw new CliError(`a user named ${JSON.stringify(username)} already exists`, EXIT.failed);
      const user = await store.createUser({ username, passwordHash, isActive: options.inactive !== true });
      say(`created user ${JSON.stringify(user.username)} (id ${user.id}${user.isActive ? '' : ', inactive'})`);
    });
  });

  withStoreOptions(
    program
      .command('changepassword')
      .description("set a user's password; every session of the user is revoked and older access tokens stop working")
      .argument('<username>', 'the login name')
      .option('--password-stdin', 'read the password from stdin (one trailing newline is removed)'),
  ).action(async (username: string, options: CommonOptions & { passwordStdin?: boolean }) => {
    resolveServerSettings(options, false);
    await withStore(options, async (store) => {
      const user = await findUser(store, username);
      const password = await obtainNewPassword(options.passwordStdin === true);
      const passwordHash = await createPasswordHasher().hash(password);
      // The new security stamp invalidates access tokens (checkRevokeToken); the families, refresh tokens.
      await store.setPasswordHash(user.id, passwordHash, true);
      const revoked = await store.revokeUserFamilies(user.id, 'password_changed', nowSeconds());
      say(`changed the password of ${JSON.stringify(username)}; revoked ${plural(revoked, 'session')}`);
    });
  });

  for (const [name, active] of [['activate', true], ['deactivate', false]] as const) {
    withStoreOptions(
      program
        .command(name)
        .description(active ? 'allow a user to log in again' : 'stop a user from logging in and refreshing (use `revoke --all` to end sessions for good)')
        .argument('<username>', 'the login name'),
    ).action(async (username: string, options: CommonOptions) => {
      resolveServerSettings(options, false);
      await withStore(options, async (store) => {
        const user = await findUser(store, username);
        const already = user.isActive === active;
        if (!already) await store.setActive(user.id, active);
        say(`${JSON.stringify(username)} is ${already ? 'already' : 'now'} ${active ? 'active' : 'inactive'}`);
      });
    });
  }
}
