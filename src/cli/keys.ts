/** `keys generate | rotate | list`: the signing keys in `<data-dir>/keys.json`. Never prints key material. */
import type { Command } from 'commander';
import { describeSource, hasConfiguredKey } from '../server/config.js';
import { describeKeys, ensureDataDir, ensureKeys, keyFilePath, readKeys, rotateKeys } from '../server/keys.js';
import { CliError, EXIT, configuredAlgorithm, loadCliConfig, resolveServerSettings, say, table, withCommonOptions, type CommonOptions } from './context.js';

/** With a key in the configuration the key file is not used: managing it would mislead. */
function refuseWhenConfigured(options: CommonOptions): ReturnType<typeof loadCliConfig> {
  const config = loadCliConfig(options);
  if (hasConfiguredKey(config)) {
    const name = ['keyRing', 'signingKey', 'verifyingKey'].find((key) => config.input[key] !== undefined)!;
    const source = config.sources.get(name);
    const way = source?.kind === 'env' ? `unset ${source.variable}` : source?.kind === 'file' ? `remove "${source.key}" from ${source.path}` : `unset ${name}`;
    throw new CliError(`the keys come from ${describeSource(source)}, so ${keyFilePath(options.dataDir)} is not used; ${way} to use the key file`, EXIT.usage);
  }
  return config;
}

export function registerKeyCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description('manage the signing keys in <data-dir>/keys.json (generated on the first `serve`)');

  withCommonOptions(keys.command('generate').description('create keys.json with a new key of the configured algorithm, unless it exists')).action((options: CommonOptions) => {
    const config = refuseWhenConfigured(options);
    ensureDataDir(options.dataDir);
    const { keys: ring, created } = ensureKeys(options.dataDir, configuredAlgorithm(config));
    const path = keyFilePath(options.dataDir);
    if (created) say(`generated key ${ring[0]!.kid} (${ring[0]!.algorithm}) in ${path}`);
    else say(`${path} already exists (${ring.length} key${ring.length === 1 ? '' : 's'}; current ${ring[0]!.kid}); nothing changed`);
    resolveServerSettings(options, false);
  });

  withCommonOptions(
    keys.command('rotate').description('add a new current key; older keys keep verifying the tokens they signed. Restart servers to sign with it'),
  ).action((options: CommonOptions) => {
    const config = refuseWhenConfigured(options);
    ensureDataDir(options.dataDir);
    const { keys: ring, added } = rotateKeys(options.dataDir, configuredAlgorithm(config));
    resolveServerSettings(options, false);
    say(`added key ${added.kid} (${added.algorithm}); it signs new tokens once the server restarts; ${ring.length - 1} older key${ring.length === 2 ? '' : 's'} kept for verification`);
  });

  withCommonOptions(keys.command('list').description('list the keys: kid, algorithm, created, current (never the key)').option('--json', 'print JSON instead of a table')).action(
    (options: CommonOptions & { json?: boolean }) => {
      const config = loadCliConfig(options);
      if (hasConfiguredKey(config)) {
        const { settings, keySource } = resolveServerSettings(options, false);
        const rows = settings.keyRing!.keys.map((key, index) => ({ kid: key.kid ?? null, algorithm: key.algorithm, created: null, current: index === 0 }));
        if (options.json) say(JSON.stringify(rows));
        else say(`keys configured by ${describeSource(keySource)} (keys.json is not used):\n${table(['KID', 'ALGORITHM', 'CURRENT'], rows.map((r) => [r.kid ?? '-', r.algorithm, r.current ? 'yes' : '']))}`);
        return;
      }
      const stored = readKeys(options.dataDir);
      if (!stored) throw new CliError(`no keys yet: ${keyFilePath(options.dataDir)} does not exist (it is created by \`tokenpair serve\` or \`tokenpair keys generate\`)`, EXIT.failed);
      const rows = describeKeys(stored);
      if (options.json) say(JSON.stringify(rows));
      else say(table(['KID', 'ALGORITHM', 'CREATED', 'CURRENT'], rows.map((r) => [r.kid, r.algorithm, r.created, r.current ? 'yes' : ''])));
    },
  );
}
