/** `serve`: the standalone server over the data directory, until SIGTERM or SIGINT. */
import { Option, type Command } from 'commander';
import { createPasswordHasher } from '../passwords/hasher.js';
import { AuthService } from '../service/auth-service.js';
import { buildServer } from '../server/app.js';
import { databasePath, keyFilePath } from '../server/keys.js';
import { SqliteStore } from '../store/sqlite.js';
import { CliError, EXIT, resolveServerSettings, say, withCommonOptions, type CommonOptions } from './context.js';

interface ServeOptions extends CommonOptions {
  host: string;
  port: string;
  logLevel: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** In-flight requests get this long to finish after SIGTERM/SIGINT; then the process exits 1. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new CliError(`--port must be a port number from 0 to 65535 (got ${JSON.stringify(text)})`, EXIT.usage);
  return port;
}

export function registerServeCommand(program: Command): void {
  withCommonOptions(
    program
      .command('serve')
      .description('run the auth server (SQLite in --data-dir; a signing key is generated there on first start)')
      .addOption(new Option('--host <host>', 'address to listen on').env('TOKENPAIR_HOST').default('127.0.0.1'))
      .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').env('TOKENPAIR_PORT').default('8000'))
      .addOption(new Option('--log-level <level>', 'log level').env('TOKENPAIR_LOG_LEVEL').choices(LOG_LEVELS).default('info')),
  ).action(async (options: ServeOptions) => {
    const port = parsePort(options.port);
    const { settings, keysCreated } = resolveServerSettings(options, true);
    const store = await SqliteStore.open(databasePath(options.dataDir));
    const hasher = createPasswordHasher();
    const service = new AuthService({ settings, userStore: store, tokenStore: store, throttleStore: store, hasher });
    const app = buildServer({ service, store, logger: { level: options.logLevel } });
    try {
      // The first login must not pay for making the dummy hash (it would time differently, S13).
      await hasher.verifyDummy('');
      if (keysCreated) app.log.info({ path: keyFilePath(options.dataDir) }, 'generated a new signing key');
      await app.listen({ host: options.host, port });
    } catch (error) {
      await app.close().catch(() => {});
      throw error;
    }
    const address = app.server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    say(`tokenpair listening on http://${host}:${actualPort} (data: ${options.dataDir})`);

    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        app.log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(EXIT.failed);
      }
      stopping = true;
      app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      const timer = setTimeout(() => {
        app.log.error('in-flight requests did not finish in time: exiting');
        process.exit(EXIT.failed);
      }, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      app.close().then(
        () => {
          clearTimeout(timer);
          process.exit(EXIT.ok);
        },
        (error: unknown) => {
          app.log.error({ err: error }, 'shutdown failed');
          process.exit(EXIT.failed);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
