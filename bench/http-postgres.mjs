/**
 * The standalone server on PostgreSQL: real `tokenpair serve --database-url …` processes (the
 * built CLI, dist/cli/main.js), against `tokenpair serve --data-dir …` on SQLite measured in the
 * same run, rounds alternating the cases.
 *
 * - Refresh with rotation, `POST /api/token/refresh/`, 50 concurrent clients each with its own
 *   refresh-token chain (every answer's `refresh` is the next request's token), on: SQLite (one
 *   instance), PostgreSQL with one instance, and PostgreSQL with two instances on one database
 *   (the clients split 25 + 25 between them; chains come from one pool, so a chain logged in on one
 *   instance is refreshed on the other). Only 200s count.
 * - Protected `GET /api/me/`, stateless (`TOKENPAIR_USER_LOOKUP=false`): the store is never asked,
 *   so PostgreSQL should change nothing. 50 keep-alive connections.
 *
 * PostgreSQL: TOKENPAIR_TEST_DATABASE_URL (or a cluster started by scripts/pg-test-server.sh, which
 * this script starts if none is running and stops again); a fresh database `tp_bench_<random>`,
 * dropped at the end. Everything on 127.0.0.1. CPU from /proc/<pid>/stat (Linux): of the tokenpair
 * processes, and of the PostgreSQL backends connected to the benchmark's database.
 *
 *   npm run bench -- http-postgres [options]     (or: node bench/http-postgres.mjs [options]; --help)
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  Chains,
  ME_PATH,
  PASSWORD,
  REFRESH_PATH,
  USERNAME,
  cannon,
  finish,
  fmt,
  fmtInt,
  fmtPct,
  fmtRatio,
  getJson,
  header,
  loadDist,
  login,
  logins,
  median,
  newSecret,
  outcome,
  parseOptions,
  postJson,
  refreshClients,
  spread,
  watchdog,
} from './lib/http.mjs';
import { ROOT, check, fail } from './lib/harness.mjs';

const TITLE = 'HTTP: tokenpair serve on PostgreSQL vs SQLite (refresh with rotation; stateless GET /api/me/)';
const options = parseOptions(TITLE, {
  rounds: 3,
  duration: 5,
  defaults: { connections: 50, spares: 10 },
  quick: { rounds: 1, duration: 1 },
  extra: { '--connections': ['connections', 'int', 'concurrent clients in all (split evenly over the instances of a case)'] },
});
await loadDist();
const CASES = 5;
watchdog(180 + options.rounds * CASES * (options.duration + 20), TITLE);

const CLI = join(ROOT, 'dist/cli/main.js');
const scratch = mkdtempSync(join(tmpdir(), 'tokenpair-bench-pg-'));
const children = new Set();
let cleanup = async () => {};
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

// ---- PostgreSQL ---------------------------------------------------------------------------------

/** The server URL: the tests' variable, a running pg-test-server, or one started here (and stopped at the end). */
function postgresServer() {
  const fromEnv = process.env.TOKENPAIR_TEST_DATABASE_URL?.trim();
  if (fromEnv) return { url: fromEnv, started: false };
  const script = join(ROOT, 'scripts/pg-test-server.sh');
  const running = spawnSync('bash', [script, 'url'], { encoding: 'utf8' });
  if (running.status === 0) return { url: running.stdout.trim(), started: false };
  process.stderr.write('starting a throw-away PostgreSQL (scripts/pg-test-server.sh)\n');
  const started = spawnSync('bash', [script, 'start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (started.status !== 0) fail('no PostgreSQL: set TOKENPAIR_TEST_DATABASE_URL or install PostgreSQL for scripts/pg-test-server.sh');
  return { url: started.stdout.trim(), started: true };
}

async function adminQuery(url, text) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end().catch(() => {});
  }
}

const server = postgresServer();
const dbName = `tp_bench_${randomBytes(6).toString('hex')}`;
await adminQuery(server.url, `CREATE DATABASE ${dbName}`);
const dbUrl = (() => {
  const url = new URL(server.url);
  url.pathname = `/${dbName}`;
  return url.toString();
})();
cleanup = async () => {
  await adminQuery(server.url, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((error) => console.error(`bench: could not drop ${dbName}: ${error.message}`));
  if (server.started) spawnSync('bash', [join(ROOT, 'scripts/pg-test-server.sh'), 'stop'], { stdio: 'inherit' });
};

// ---- tokenpair serve processes ------------------------------------------------------------------

const secret = newSecret();
const baseEnv = () => {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('TOKENPAIR_')) env[name] = value;
  return { ...env, TOKENPAIR_SIGNING_KEY: secret, TOKENPAIR_ACCESS_TOKEN_LIFETIME: '3600' };
};

/** Runs the CLI to completion (setup only). */
function cli(args, { env = {}, input = '' } = {}) {
  const run = spawnSync(process.execPath, [CLI, ...args], { env: { ...baseEnv(), ...env }, input, encoding: 'utf8' });
  if (run.status !== 0) fail(`tokenpair ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

/** `tokenpair serve --port 0` with `store` args; resolves once it listens. */
function serve(name, storeArgs, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--log-level', 'warn', ...storeArgs], { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const match = /^tokenpair listening on (http:\/\/\S+)/m.exec(out);
      if (match) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        const base = match[1];
        resolve({ name, child, url: (path) => `${base}${path}`, cpu: () => processCpuUs(child.pid) });
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`${name} exited before listening (${code ?? signal}): ${out}`)));
  });
}

const CLOCK_TICKS = (() => {
  const run = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(run.stdout) > 0 ? Number(run.stdout) : 100;
})();

/** User + system CPU of a process so far, in µs (Linux /proc); NaN elsewhere. */
function processCpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1e6;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU of the PostgreSQL backends serving this benchmark's database (their command line names it),
 * per pid, in µs. Backends that exit between two snapshots are lost; the shared server processes
 * (WAL writer, checkpointer) are not counted.
 */
function postgresCpu() {
  const byPid = new Map();
  let pids;
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return byPid;
  }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.startsWith('postgres: ') && cmdline.includes(` ${dbName} `)) byPid.set(pid, processCpuUs(pid));
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}
const postgresCpuSince = (before) => [...postgresCpu()].reduce((sum, [pid, us]) => sum + us - (before.get(pid) ?? 0), 0);

async function stop(instance) {
  const exited = new Promise((resolve) => instance.child.once('exit', resolve));
  instance.child.kill('SIGTERM');
  const timer = setTimeout(() => instance.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

process.stderr.write(`${TITLE}: setting up`);
const sqliteDir = join(scratch, 'sqlite');
const sqliteStatelessDir = join(scratch, 'sqlite-stateless');
for (const dir of [sqliteDir, sqliteStatelessDir]) cli(['createuser', USERNAME, '--password-stdin', '--data-dir', dir], { input: `${PASSWORD}\n` });
cli(['migrate', '--database-url', dbUrl]);
cli(['createuser', USERNAME, '--password-stdin', '--database-url', dbUrl], { input: `${PASSWORD}\n` });

let instances;
try {
  const pgArgs = ['--database-url', dbUrl, '--data-dir', join(scratch, 'unused')];
  instances = {
    sqlite: await serve('SQLite', ['--data-dir', sqliteDir]),
    pg1: await serve('PostgreSQL #1', pgArgs),
    pg2: await serve('PostgreSQL #2', pgArgs),
    sqliteStateless: await serve('SQLite, stateless', ['--data-dir', sqliteStatelessDir], { TOKENPAIR_USER_LOOKUP: 'false' }),
    pgStateless: await serve('PostgreSQL, stateless', pgArgs, { TOKENPAIR_USER_LOOKUP: 'false' }),
  };
} catch (error) {
  await cleanup();
  fail(error.message);
}

const refreshCases = [
  { name: 'SQLite, 1 instance', servers: [instances.sqlite], chains: new Chains() },
  { name: 'PostgreSQL, 1 instance', servers: [instances.pg1], chains: new Chains() },
  { name: 'PostgreSQL, 2 instances (clients split evenly)', servers: [instances.pg1, instances.pg2], chains: new Chains() },
];
const meCases = [
  { name: 'SQLite, stateless', servers: [instances.sqliteStateless] },
  { name: 'PostgreSQL, stateless', servers: [instances.pgStateless] },
];

// Self-checks: a refresh answers a new pair, the spent token is refused (by the other instance too),
// the new access token is accepted everywhere; the stateless servers answer a valid token with the
// user. A benchmark of 401s would be worthless.
try {
  for (const c of refreshCases) {
    const first = await login(c.servers[0]);
    const next = await postJson(c.servers.at(-1).url(REFRESH_PATH), { refresh: first.refresh });
    check(next.status === 200 && typeof next.body?.refresh === 'string', `${c.name}: refresh answered ${next.status}`);
    for (const s of c.servers) {
      const replay = await postJson(s.url(REFRESH_PATH), { refresh: first.refresh });
      check(replay.status === 401, `${c.name}: a spent refresh token answered ${replay.status} on ${s.name}`);
      const me = await getJson(s.url(ME_PATH), { authorization: `Bearer ${next.body.access}` });
      check(me.status === 200, `${c.name}: the refreshed access token was refused by ${s.name} (${me.status})`);
    }
    c.chains.add([next.body.refresh]);
  }
  for (const c of meCases) {
    c.token = (await login(c.servers[0])).access;
    const ok = await getJson(c.servers[0].url(ME_PATH), { authorization: `Bearer ${c.token}` });
    check(ok.status === 200 && ok.body?.id === '1', `${c.name}: answered ${ok.status} ${JSON.stringify(ok.body)}`);
    c.expectBody = JSON.stringify(ok.body);
  }
} catch (error) {
  await cleanup();
  fail(error.message);
}

/** Tops a case's chains up with fresh logins (outside the timed run: argon2id takes tens of ms). */
async function topUp(c) {
  const wanted = options.connections + options.spares;
  if (c.chains.size < wanted) c.chains.add(await logins(c.servers[0], wanted - c.chains.size));
}

/** Splits `total` connections over `n` instances. */
const split = (total, n) => Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));

const cpuOf = (servers) => servers.reduce((sum, s) => sum + s.cpu(), 0);

async function runRefresh(c, seconds) {
  await topUp(c);
  const used = [];
  const cpu0 = cpuOf(c.servers);
  const pg0 = postgresCpu();
  const t0 = performance.now();
  const results = await Promise.all(
    c.servers.map((s, i) => cannon({ url: s.url(REFRESH_PATH), connections: split(options.connections, c.servers.length)[i], duration: seconds, setupClient: refreshClients(c.chains, used) })),
  );
  const elapsedMs = performance.now() - t0;
  const cpuUs = cpuOf(c.servers) - cpu0;
  const pgUs = postgresCpuSince(pg0);
  c.chains.giveBack(used);
  const outcomes = results.map(outcome);
  const ok = outcomes.reduce((sum, o) => sum + (o.statuses['200'] ?? 0), 0);
  const duration = Math.max(...results.map((r) => r.duration));
  return {
    rps: ok / duration,
    other: outcomes.reduce((sum, o) => sum + o.non2xx + o.errors + o.timeouts, 0),
    cpuPerRequest: cpuUs / Math.max(1, ok),
    cpuUse: cpuUs / 1000 / elapsedMs,
    pgCpuPerRequest: pgUs / Math.max(1, ok),
    pgCpuUse: pgUs / 1000 / elapsedMs,
    p50: median(results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    statuses: outcomes.map((o) => o.statuses),
  };
}

async function runMe(c, seconds) {
  const [s] = c.servers;
  const cpu0 = s.cpu();
  const t0 = performance.now();
  const result = await cannon({ url: s.url(ME_PATH), connections: options.connections, duration: seconds, headers: { authorization: `Bearer ${c.token}` }, expectBody: c.expectBody });
  const elapsedMs = performance.now() - t0;
  const cpuUs = s.cpu() - cpu0;
  const o = outcome(result);
  return { rps: o.ok / result.duration, other: o.non2xx + o.errors + o.timeouts + o.mismatches, cpuPerRequest: cpuUs / Math.max(1, o.ok), cpuUse: cpuUs / 1000 / elapsedMs, p50: result.latency.p50, p99: result.latency.p99, statuses: o.statuses };
}

const all = [...refreshCases.map((c) => ({ c, run: runRefresh })), ...meCases.map((c) => ({ c, run: runMe }))];
process.stderr.write(', warming up');
for (const { c, run } of all) await run(c, 1);
process.stderr.write(`, ${options.rounds} rounds of ${options.duration} s per case `);
for (const { c } of all) c.runs = [];
for (let round = 0; round < options.rounds; round++) {
  // Round-robin, one case further each round: a noisy second hits every case alike.
  for (let k = 0; k < all.length; k++) {
    const { c, run } = all[(round + k) % all.length];
    c.runs.push(await run(c, options.duration));
  }
  process.stderr.write('.');
}
process.stderr.write('\n');
for (const instance of Object.values(instances)) await stop(instance);
await cleanup();

const summarise = (c, baseline) => ({
  name: c.name,
  rps: median(c.runs.map((r) => r.rps)),
  minRps: Math.min(...c.runs.map((r) => r.rps)),
  maxRps: Math.max(...c.runs.map((r) => r.rps)),
  vsBaseline: median(c.runs.map((r, i) => r.rps / baseline.runs[i].rps)),
  other: c.runs.reduce((sum, r) => sum + r.other, 0),
  cpuPerRequest: median(c.runs.map((r) => r.cpuPerRequest)),
  cpuUse: median(c.runs.map((r) => r.cpuUse)),
  pgCpuPerRequest: median(c.runs.map((r) => r.pgCpuPerRequest ?? Number.NaN)),
  pgCpuUse: median(c.runs.map((r) => r.pgCpuUse ?? Number.NaN)),
  p50: median(c.runs.map((r) => r.p50)),
  p99: median(c.runs.map((r) => r.p99)),
  spread: spread(c.runs.map((r) => r.rps)),
  runs: c.runs,
});
const refreshRows = refreshCases.map((c) => summarise(c, refreshCases[0]));
const meRows = meCases.map((c) => summarise(c, meCases[0]));

const { env, line } = header(options);
const cpuNote = Number.isNaN(refreshRows[0].cpuPerRequest) ? ' (no /proc here: not measured)' : '';
const targets = [
  { label: 'no answer other than 200', pass: [...refreshRows, ...meRows].every((r) => r.other === 0), value: [...refreshRows, ...meRows].map((r) => `${r.other}`).join(' / ') },
  { label: 'stateless GET /api/me/ on PostgreSQL within 15 % of SQLite (req/s; no store I/O)', pass: Math.abs(meRows[1].vsBaseline - 1) <= 0.15, value: fmtRatio(meRows[1].vsBaseline) },
];
const lines = [
  `### ${TITLE}`,
  '',
  line,
  `PostgreSQL ${server.started ? '(started by this script) ' : ''}on 127.0.0.1, synchronous_commit on, pool of 10 connections per instance. ` +
    `${options.connections} keep-alive connections in all (autocannon, in the parent process; split evenly over the instances of a case), ` +
    `${options.rounds} rounds of ${options.duration} s per case, round-robin; medians. Only 200 answers count. ` +
    `CPU (user + system, from /proc${cpuNote}): tokenpair, the tokenpair processes; PostgreSQL, the backends connected to the benchmark's database (not the WAL writer or checkpointer); per 200 answer, and as a share of one core.`,
  '',
  '#### Refresh with rotation (POST /api/token/refresh/)',
  '',
  '| case | refreshes/s | rounds | vs SQLite | spread | non-200 | tokenpair CPU µs/refresh | tokenpair CPU use | PostgreSQL CPU µs/refresh | PostgreSQL CPU use | latency p50 / p99 |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...refreshRows.map((r, i) => {
    const pgCpu = i === 0 ? ['—', '—'] : [fmt(r.pgCpuPerRequest), fmtPct(r.pgCpuUse)];
    return `| ${r.name} | ${fmtInt(r.rps)} | ${fmtInt(r.minRps)}–${fmtInt(r.maxRps)} | ${fmtRatio(r.vsBaseline)} | ${fmtPct(r.spread)} | ${r.other} | ${fmt(r.cpuPerRequest)} | ${fmtPct(r.cpuUse)} | ${pgCpu[0]} | ${pgCpu[1]} | ${r.p50} / ${r.p99} ms |`;
  }),
  '',
  '#### Protected GET /api/me/, stateless (TOKENPAIR_USER_LOOKUP=false)',
  '',
  '| case | req/s | rounds | vs SQLite | spread | non-200 | tokenpair CPU µs/req | latency p50 / p99 |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...meRows.map((r) => `| ${r.name} | ${fmtInt(r.rps)} | ${fmtInt(r.minRps)}–${fmtInt(r.maxRps)} | ${fmtRatio(r.vsBaseline)} | ${fmtPct(r.spread)} | ${r.other} | ${fmt(r.cpuPerRequest)} | ${r.p50} / ${r.p99} ms |`),
];
finish({ lines, targets, json: { refresh: refreshRows, me: meRows }, options, env });
