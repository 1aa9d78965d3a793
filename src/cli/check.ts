/** `check` (validate the configuration and show the effective settings) and `migrate` (the database schema). */
import type { Command } from 'commander';
import { describeSettings, describeSource } from '../server/config.js';
import { databasePath, ensureDataDir, keyFilePath } from '../server/keys.js';
import { migrateSqlite } from '../store/sqlite.js';
import { resolveServerSettings, say, table, withCommonOptions, type CommonOptions } from './context.js';

export function registerCheckCommands(program: Command): void {
  withCommonOptions(
    program.command('check').description('validate the configuration (config file + TOKENPAIR_* variables) and print the effective settings, secrets left out'),
  ).action((options: CommonOptions) => {
    const { settings, config, keySource } = resolveServerSettings(options, false);
    const rows = describeSettings(settings, config, keySource);
    say(table(['SETTING', 'VALUE', 'FROM'], rows.map((r) => [r.name, r.value, r.source])));
    say('');
    say(`config file: ${config.configPath ?? '(none)'}`);
    say(`data directory: ${options.dataDir}`);
    say(`database: ${databasePath(options.dataDir)}`);
    say(`keys: ${keySource ? describeSource(keySource) : `none yet (${keyFilePath(options.dataDir)} is created on the first \`tokenpair serve\`)`}`);
    say('configuration OK');
  });

  withCommonOptions(program.command('migrate').description('create the database or bring its schema up to date (safe while servers run)')).action(async (options: CommonOptions) => {
    resolveServerSettings(options, false);
    ensureDataDir(options.dataDir);
    const path = databasePath(options.dataDir);
    const { from, to } = await migrateSqlite(path);
    say(from === to ? `${path} is up to date (schema version ${to})` : `migrated ${path} from schema version ${from} to ${to}`);
  });
}
