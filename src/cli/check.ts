/** `check` (validate the configuration and show the effective settings) and `migrate` (the database schema). */
import type { Command } from 'commander';
import { describeSettings, describeSource } from '../server/config.js';
import { databasePath, ensureDataDir, keyFilePath } from '../server/keys.js';
import { migrateSqlite } from '../store/sqlite.js';
import { checkServeEnvironment } from './server-options.js';
import { databaseUrlOf, describeStore, resolveServerSettings, say, table, withStoreOptions, type CommonOptions } from './context.js';

export function registerCheckCommands(program: Command): void {
  withStoreOptions(
    program.command('check').description('validate the configuration (config file + TOKENPAIR_* variables) and print the effective settings, secrets left out'),
  ).action((options: CommonOptions) => {
    const { settings, config, keySource } = resolveServerSettings(options, false);
    checkServeEnvironment(process.env, databaseUrlOf(options));
    const rows = describeSettings(settings, config, keySource);
    say(table(['SETTING', 'VALUE', 'FROM'], rows.map((r) => [r.name, r.value, r.source])));
    say('');
    say(`config file: ${config.configPath ?? '(none)'}`);
    say(`data directory: ${options.dataDir}`);
    say(`database: ${describeStore(options)}`);
    say(`keys: ${keySource ? describeSource(keySource) : `none yet (${keyFilePath(options.dataDir)} is created on the first \`tokenpair serve\`)`}`);
    say('configuration OK');
  });

  withStoreOptions(program.command('migrate').description('create the database or bring its schema up to date (safe while servers run)')).action(async (options: CommonOptions) => {
    resolveServerSettings(options, false);
    const url = databaseUrlOf(options);
    if (url) {
      const { migratePostgres } = await import('../store/postgres.js');
      const { from, to } = await migratePostgres(url);
      const shown = describeStore(options);
      say(from === to ? `${shown} is up to date (schema version ${to})` : `migrated ${shown} from schema version ${from} to ${to}`);
      return;
    }
    ensureDataDir(options.dataDir);
    const path = databasePath(options.dataDir);
    const { from, to } = await migrateSqlite(path);
    say(from === to ? `${path} is up to date (schema version ${to})` : `migrated ${path} from schema version ${from} to ${to}`);
  });
}
