/** `serve`: the standalone server over the data directory (or PostgreSQL), until SIGTERM or SIGINT. */
import { Option, type Command } from 'commander';
import { createPasswordHasher } from '../passwords/hasher.js';
import { AuthService } from '../service/auth-service.js';
import { buildServer, timeoutCheckInterval } from '../server/app.js';
import { statSync } from 'node:fs';
import { databasePath, keyFilePath } from '../server/keys.js';
import { displayDatabaseUrl } from './database.js';
import { LOG_LEVELS, checkHost, demoEnabled, optionLabel, parseLogLevel, parsePoolSize, parsePort, parseRequestTimeout, parseTrustProxy } from './server-options.js';
import { EXIT, databaseUrlOf, openStore, resolveServerSettings, say, withStoreOptions, type CommonOptions } from './context.js';

interface ServeOptions extends CommonOptions {
  host: string;
  port: string;
  logLevel: string;
  trustProxy?: string;
  /** `false` with `--no-demo`. */
  demo: boolean;
  databasePoolSize?: string;
  requestTimeout?: string;
}

/**
 * In-flight requests get this long to finish after SIGTERM/SIGINT; then the process exits 1. At
 * least 10 s, and always longer than a request may take to arrive (`--request-timeout`, plus Node's
 * check interval) with 5 s to answer it: a client whose body stalls gets its 408 and the process
 * still exits 0.
 */
function shutdownTimeout(requestTimeout: number): number {
  return Math.max(10_000, requestTimeout + timeoutCheckInterval(requestTimeout) + 5_000);
}

export function registerServeCommand(program: Command): void {
  withStoreOptions(
    program
      .command('serve')
      .description('run the auth server (SQLite in --data-dir, or PostgreSQL with --database-url; without a configured key one is generated in --data-dir on first start)')
      .addOption(new Option('--host <host>', 'address to listen on').env('TOKENPAIR_HOST').default('127.0.0.1'))
      .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').env('TOKENPAIR_PORT').default('8000'))
      .addOption(new Option('--log-level <level>', 'log level').env('TOKENPAIR_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
      .addOption(new Option('--trust-proxy <addresses>', 'believe X-Forwarded-For from these proxies (comma-separated addresses or CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8)').env('TOKENPAIR_TRUST_PROXY'))
      // Not .env(): commander turns a negatable flag off for any value of its variable, "true" included.
      .addOption(new Option('--database-pool-size <n>', 'most PostgreSQL connections this server opens (default 10; with --database-url only)').env('TOKENPAIR_DATABASE_POOL_SIZE'))
      .addOption(new Option('--request-timeout <duration>', 'time a client has to send a whole request, headers and body, before a 408 (default 10s)').env('TOKENPAIR_REQUEST_TIMEOUT'))
      .addOption(new Option('--no-demo', 'do not serve the demo page at / (env: TOKENPAIR_DEMO=false)')),
  ).action(async (options: ServeOptions, command: Command) => {
    // Every option is checked before anything (key file, database) is created.
    const label = (option: string, flag: string, variable: string) => optionLabel(flag, variable, command.getOptionValueSource(option) === 'env');
    const port = parsePort(options.port, label('port', '--port', 'TOKENPAIR_PORT'));
    await checkHost(options.host, label('host', '--host', 'TOKENPAIR_HOST'));
    parseLogLevel(options.logLevel, label('logLevel', '--log-level', 'TOKENPAIR_LOG_LEVEL'));
    const demo = demoEnabled(options.demo, process.env.TOKENPAIR_DEMO);
    const trustProxy = parseTrustProxy(options.trustProxy, label('trustProxy', '--trust-proxy', 'TOKENPAIR_TRUST_PROXY'));
    const databaseUrl = databaseUrlOf(options);
    const poolSize = parsePoolSize(options.databasePoolSize, databaseUrl, label('databasePoolSize', '--database-pool-size', 'TOKENPAIR_DATABASE_POOL_SIZE'));
    const requestTimeout = parseRequestTimeout(options.requestTimeout, label('requestTimeout', '--request-timeout', 'TOKENPAIR_REQUEST_TIMEOUT'));
    const { settings, keysCreated } = resolveServerSettings(options, true);
    const store = await openStore(options, poolSize === undefined ? {} : { poolSize });
    const hasher = createPasswordHasher();
    const service = new AuthService({ settings, userStore: store, tokenStore: store, throttleStore: store, hasher });
    const app = buildServer({ service, store, logger: { level: options.logLevel }, demo, requestTimeout, ...(trustProxy ? { trustProxy } : {}) });
    // Before the "listening" line: a process manager may send SIGTERM as soon as it sees it.
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
      }, shutdownTimeout(requestTimeout));
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
    try {
      // The first login must not pay for making the dummy hash (it would time differently, S13).
      await hasher.verifyDummy('');
      if (keysCreated) app.log.info({ path: keyFilePath(options.dataDir) }, 'generated a new signing key');
      if (!databaseUrl) {
        // keys.json readable by others is refused; the database holds password hashes: say so loudly.
        for (const path of [options.dataDir, databasePath(options.dataDir)]) {
          const mode = statSync(path).mode & 0o777;
          if (mode & 0o077) app.log.warn({ path, mode: mode.toString(8) }, 'other users can access this: it holds the password hashes (chmod 700 the data directory, 600 the database)');
        }
      }
      if (databaseUrl) {
        // Never the password: the URL is logged without it.
        app.log.info({ store: 'postgres', database: displayDatabaseUrl(databaseUrl) }, 'using the PostgreSQL store');
        if (keysCreated) app.log.warn({ path: keyFilePath(options.dataDir) }, 'every instance sharing this database must sign with the same key: copy this key file to them, or configure one key for all (TOKENPAIR_SIGNING_KEY or keyRing)');
      }
      await app.listen({ host: options.host, port });
    } catch (error) {
      await app.close().catch(() => {});
      throw error;
    }
    const address = app.server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    say(`tokenpair listening on http://${host}:${actualPort} (${databaseUrl ? `database: PostgreSQL ${displayDatabaseUrl(databaseUrl)}` : `data: ${options.dataDir}`})`);
  });
}
