/** The `tokenpair` command line: every command, and how failures become messages and exit codes. */
import { Command, CommanderError } from 'commander';
import { ConfigurationError } from '../errors.js';
import { StoreUnavailableError } from '../store/types.js';
import { packageVersion } from '../server/version.js';
import { registerCheckCommands } from './check.js';
import { CliError, EXIT } from './context.js';
import { registerKeyCommands } from './keys.js';
import { registerServeCommand } from './serve.js';
import { registerSessionCommands } from './sessions.js';
import { registerUserCommands } from './users.js';

export function createProgram(): Command {
  const program = new Command('tokenpair')
    .description('JWT auth server and admin tool, wire-compatible with djangorestframework-simplejwt')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerServeCommand(program);
  registerCheckCommands(program);
  registerUserCommands(program);
  registerSessionCommands(program);
  registerKeyCommands(program);
  program.addHelpText('after', '\nExit codes: 0 done, 1 the operation failed, 2 bad usage or configuration.\nSettings: a JSON file (--config) and TOKENPAIR_<SIMPLEJWT_NAME> variables, e.g. TOKENPAIR_ACCESS_TOKEN_LIFETIME=10m.');
  return program;
}

/** Runs the command line and returns the exit code (`serve` keeps running after it resolves). */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message (or the help / version).
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`tokenpair: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof ConfigurationError) {
      process.stderr.write(`tokenpair: invalid configuration: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof StoreUnavailableError) {
      process.stderr.write(`tokenpair: the store is unavailable: ${error.message}\n`);
      return EXIT.failed;
    }
    const err = error as NodeJS.ErrnoException;
    if (err?.code === 'EADDRINUSE' || err?.code === 'EACCES' || err?.code === 'EADDRNOTAVAIL') {
      process.stderr.write(`tokenpair: cannot listen: ${err.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`tokenpair: ${err?.message ?? String(error)}\n`);
    return EXIT.failed;
  }
}
