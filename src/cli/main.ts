#!/usr/bin/env node
/** The `tokenpair` executable (package.json "bin"). */
import { runCli } from './program.js';

// Everything the command creates (data directory, database, WAL, key file) is the owner's alone:
// the database holds password hashes.
process.umask(0o077);
process.exitCode = await runCli(process.argv);
