#!/usr/bin/env node
/** The `tokenpair` executable (package.json "bin"). */
import { runCli } from './program.js';

// Everything the command creates (data directory, database, WAL, key file) is the owner's alone:
// the database holds password hashes.
process.umask(0o077);
// `tokenpair check | head`: a reader that goes away is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}
process.exitCode = await runCli(process.argv);
