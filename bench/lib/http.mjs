/**
 * What the HTTP benchmarks (bench/http-*.mjs) share: starting a server under test in its own
 * process (bench/lib/http-server.mjs), asking it for its counters over IPC, logging in, refresh
 * chains, a paced (open-loop) HTTP client, autocannon runs, options, medians and Markdown.
 *
 * Everything is on 127.0.0.1 and bounded in time and count: a watchdog ends the script (and its
 * servers) if a run hangs.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { ROOT, environment, fail, loadDist } from './harness.mjs';

export { ROOT, environment, fail, loadDist };

export const USERNAME = 'bench';
export const PASSWORD = 'correct horse battery staple, benchmark edition';
export const ME_PATH = '/api/me/';
export const LOGIN_PATH = '/api/token/';
export const REFRESH_PATH = '/api/token/refresh/';

// ---------------------------------------------------------------------------------------------
// Options

/**
 * `spec`: { rounds, duration (s), defaults, quick: { …overrides }, extra: { '--name': [key, 'int' | 'text' | 'flag', help] } }.
 * Accepts the options bench/run.mjs may pass to every script (`--slice MS` sets the duration,
 * `--warmup` is accepted and ignored: each script warms up on its own).
 */
export function parseOptions(title, spec, argv = process.argv.slice(2)) {
  const options = { rounds: spec.rounds, duration: spec.duration, json: null, strict: false, quick: false, only: null, cpuProf: null, nodeFlags: [], ...spec.defaults };
  const help = [
    `  --rounds N        rounds (default ${spec.rounds})`,
    `  --duration S      seconds per timed run (default ${spec.duration}); --slice MS does the same in ms`,
    ...Object.entries(spec.extra ?? {}).map(([flag, [key, , text]]) => `  ${flag.padEnd(17)} ${text} (default ${options[key]})`),
    '  --quick           a short smoke run: numbers not to quote',
    `  --only TEXT       run only if "${title}" contains TEXT`,
    '  --cpu-prof DIR    write a V8 CPU profile of each server process to DIR',
    '  --node-flags "…"  extra node/V8 flags for the server processes, e.g. "--max-semi-space-size=8"',
    '  --json FILE       also write the results as JSON',
    '  --strict          exit with status 1 when a target is missed',
  ];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i] ?? fail(`${arg} needs a value`);
    const positive = (text) => {
      const n = Number(text);
      if (!(n > 0) || !Number.isFinite(n)) fail(`${arg} needs a positive number (got ${JSON.stringify(text)})`);
      return n;
    };
    if (arg === '--rounds') options.rounds = Math.round(positive(value()));
    else if (arg === '--duration') options.duration = positive(value());
    else if (arg === '--slice') options.duration = positive(value()) / 1000;
    else if (arg === '--warmup') value();
    else if (arg === '--json') options.json = value();
    else if (arg === '--strict') options.strict = true;
    else if (arg === '--only') options.only = value();
    else if (arg === '--cpu-prof') options.cpuProf = value();
    else if (arg === '--node-flags') options.nodeFlags = value().split(/\s+/).filter(Boolean);
    else if (arg === '--judge') options.judge = value();
    else if (arg === '--quick') Object.assign(options, { quick: true, ...spec.quick });
    else if (spec.extra && Object.hasOwn(spec.extra, arg)) {
      const [key, kind] = spec.extra[arg];
      options[key] = kind === 'flag' ? true : kind === 'int' ? Math.round(positive(value())) : value();
    } else if (arg === '--help' || arg === '-h') {
      console.log(`options:\n${help.join('\n')}`);
      process.exit(0);
    } else fail(`unknown option ${arg} (try --help)`);
  }
  if (options.judge !== undefined && options.judge !== 'cpu' && options.judge !== 'wall') fail(`--judge must be cpu or wall (got ${JSON.stringify(options.judge)})`);
  if (options.only && !title.includes(options.only)) {
    console.log(`(skipped: --only ${JSON.stringify(options.only)} does not match "${title}")`);
    process.exit(0);
  }
  return options;
}

/** Ends the script (and, through `exit`, its servers) if it has not finished within `seconds`. */
export function watchdog(seconds, what) {
  const timer = setTimeout(() => fail(`${what} did not finish within ${seconds} s: stopped`), seconds * 1000);
  timer.unref();
}

// ---------------------------------------------------------------------------------------------
// Servers under test

const servers = new Set();
const scratch = mkdtempSync(join(tmpdir(), 'tokenpair-bench-http-'));
process.on('exit', () => {
  for (const child of servers) child.kill();
  rmSync(scratch, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/**
 * How long one fsync'd commit takes on the disk the servers use, now: `count` one-row transactions,
 * WAL, synchronous=FULL, in the scratch directory. The p50 in ms; what bounds a durable store.
 */
export async function commitLatency(count = 100) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(scratch, `commit-probe-${serverNo++}.sqlite3`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (x)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  const write = db.transaction((i) => insert.run(i));
  const times = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    write.immediate(i);
    times.push(performance.now() - t0);
  }
  db.close();
  return median(times);
}

/** A fresh random HS256 secret (43 base64url characters), shared by a script's servers and clients. */
export const newSecret = () => randomBytes(32).toString('base64url');

let serverNo = 0;

/**
 * Starts a server under test (see bench/lib/http-server.mjs for `config`) in its own process and
 * resolves once it listens. `name` labels its CPU profile with --cpu-prof.
 */
export async function startServer(name, config, options) {
  const dataDir = join(scratch, `server-${serverNo++}`);
  mkdirSync(dataDir);
  const execArgv = ['--expose-gc', ...(options.nodeFlags ?? [])];
  if (options.cpuProf) {
    mkdirSync(options.cpuProf, { recursive: true });
    execArgv.push('--cpu-prof', '--cpu-prof-dir', options.cpuProf, '--cpu-prof-name', `${name.replace(/[^\w.-]+/g, '_')}.${process.pid}.cpuprofile`);
  }
  const child = fork(join(ROOT, 'bench/lib/http-server.mjs'), [], {
    env: { ...process.env, TOKENPAIR_BENCH_SERVER: JSON.stringify({ username: USERNAME, password: PASSWORD, dataDir, ...config }) },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  servers.add(child);
  child.once('exit', () => servers.delete(child));
  const port = await new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message?.type !== 'listening') return;
      child.off('exit', onExit);
      child.off('message', onMessage);
      resolve(message.port);
    };
    const onExit = (code, signal) => reject(new Error(`server "${name}" exited before listening (${code ?? signal})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  let nextId = 1;
  const ask = (type, extra = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const onMessage = (message) => {
        if (message?.id !== id) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = () => reject(new Error(`server "${name}" exited`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ id, type, ...extra });
    });
  return {
    name,
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    /** Starts the server's CPU and event-loop counters. */
    begin: () => ask('begin'),
    /** `{ cpu: {user, system} µs, elapsedMs, loop: {p50, p99, max, mean} ms, memory }` since `begin`. */
    end: () => ask('end'),
    memory: (gc) => ask('memory', { gc }).then((m) => m.memory),
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ id: 0, type: 'close' });
      const timer = setTimeout(() => child.kill(), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Requests outside the timed runs (fetch: simple, and its cost does not matter there)

export async function login(server) {
  const response = await fetch(server.url(LOGIN_PATH), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: USERNAME, password: PASSWORD }),
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`login on "${server.name}" answered ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/** `count` fresh logins, `inFlight` at a time: refresh tokens to start chains from. */
export async function logins(server, count, inFlight = 4) {
  const tokens = [];
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      tokens.push((await login(server)).refresh);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return tokens;
}

export async function getJson(url, headers = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json().catch(() => null) };
}

export async function postJson(url, body) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** The token with the middle character of its signature changed. */
export function tampered(token) {
  const at = token.lastIndexOf('.') + Math.floor((token.length - token.lastIndexOf('.')) / 2);
  return `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
}

// ---------------------------------------------------------------------------------------------
// Load

/** One autocannon run (in this process); resolves with its results. */
export function cannon(options) {
  return new Promise((resolve, reject) => {
    autocannon({ ...options }, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** 2xx answers of an autocannon result, and everything else (non-2xx, errors, timeouts, body mismatches). */
export function outcome(result) {
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, Number(count)]));
  const ok = Object.entries(statuses).filter(([code]) => code.startsWith('2')).reduce((sum, [, n]) => sum + n, 0);
  return { ok, statuses, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, mismatches: result.mismatches };
}

/**
 * Refresh chains: each holds one live refresh token, replaced by the `refresh` of each 200 answer.
 * A chain whose request was cut off (the run ended while it was in flight) may have been spent on
 * the server: it is dropped, never presented again. `take()` gives a chain that is idle and valid.
 */
export class Chains {
  #idle = [];

  add(tokens) {
    for (const token of tokens) this.#idle.push({ token, inFlight: false, broken: false });
  }

  get size() {
    return this.#idle.length;
  }

  take() {
    return this.#idle.pop() ?? null;
  }

  /** Puts chains back after a run: only those that are not in flight and not broken. */
  giveBack(chains) {
    for (const chain of chains) if (!chain.inFlight && !chain.broken) this.#idle.push(chain);
  }
}

/**
 * An autocannon `setupClient` that gives each connection its own refresh chain: every request
 * presents the chain's current token, every 200 answer advances the chain. A non-200 answer breaks
 * the chain (counted by autocannon as non-2xx); the connection then takes a spare chain if any.
 * `used` collects every chain handed out, for `Chains.giveBack`.
 */
export function refreshClients(chains, used) {
  return (client) => {
    let chain = chains.take();
    if (!chain) throw new Error('no refresh chain left for a new connection');
    used.push(chain);
    client.setRequests([
      {
        method: 'POST',
        path: REFRESH_PATH,
        headers: { 'content-type': 'application/json' },
        setupRequest(request) {
          chain.inFlight = true;
          request.body = `{"refresh":"${chain.token}"}`;
          return request;
        },
        onResponse(status, body) {
          chain.inFlight = false;
          if (status === 200) {
            chain.token = JSON.parse(body).refresh;
            return;
          }
          chain.broken = true;
          const spare = chains.take();
          if (spare) {
            used.push(spare);
            chain = spare;
          }
        },
      },
    ]);
  };
}

/**
 * An open-loop client: starts `rate` requests a second, evenly spaced, for `seconds`, whatever the
 * answers do, and times each from its scheduled start (so a stalled server is charged for every
 * request that waited, not only for the one in flight: no coordinated omission). `next()` returns
 * `{ method, path, headers, body }` or null (skip this slot: counted); `done(status, body, request)`
 * sees every answer. Also samples this process's own event-loop delay: what the load generator
 * adds to the latencies.
 */
export async function paced({ port, rate, seconds, next, done = () => {}, maxSockets = 64 }) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const latencies = [];
  const statuses = {};
  let errors = 0;
  let skipped = 0;
  const total = Math.round(rate * seconds);
  const ownLoop = monitorEventLoopDelay({ resolution: 1 });
  ownLoop.enable();
  const start = performance.now();
  let sent = 0;
  let answered = 0;
  await new Promise((resolve) => {
    const finishOne = () => {
      answered++;
      if (answered === total) resolve();
    };
    const fire = (scheduled) => {
      const spec = next();
      if (!spec) {
        skipped++;
        finishOne();
        return;
      }
      const req = httpRequest({ agent, host: '127.0.0.1', port, method: spec.method ?? 'GET', path: spec.path, headers: spec.headers }, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          latencies.push(performance.now() - scheduled);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          done(res.statusCode, Buffer.concat(chunks).toString('utf8'), spec);
          finishOne();
        });
      });
      req.on('error', () => {
        errors++;
        done(0, '', spec);
        finishOne();
      });
      req.end(spec.body);
    };
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) / 1000) * rate) + 1);
      while (sent < due) {
        fire(start + (sent / rate) * 1000);
        sent++;
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = (performance.now() - start) / 1000;
  ownLoop.disable();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return {
    sent: total - skipped,
    skipped,
    errors,
    statuses,
    elapsed,
    latency: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: latencies.at(-1) ?? NaN },
    ownLoop: { p99: ownLoop.percentile(99) / 1e6, max: ownLoop.max / 1e6 },
  };
}

// ---------------------------------------------------------------------------------------------
// Numbers and Markdown

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** (max − min) / median. */
export const spread = (values) => (Math.max(...values) - Math.min(...values)) / median(values);

export const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
export const fmt = (n, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const fmtPct = (x) => `${Math.round(x * 100)} %`;
export const fmtRatio = (r) => `${r.toFixed(2)}×`;
export const fmtMiB = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The header line every script prints: machine, Node, date, and how busy the machine was (load average: 1, 5, 15 min). */
export function header(options) {
  const env = { ...environment({ rounds: options.rounds, sliceMs: options.duration * 1000, judge: options.judge ?? null }), loadavg: loadavg() };
  const flags = options.nodeFlags?.length ? ` · server node flags: ${options.nodeFlags.join(' ')}` : '';
  env.serverNodeFlags = options.nodeFlags ?? [];
  return { env, line: `Node ${env.node} · ${env.cpu} · ${env.os} · ${env.date} · load average at the end ${env.loadavg.map((x) => x.toFixed(1)).join(' / ')}${flags}` };
}

/** Prints the lines, writes JSON when asked, reports missed targets; sets the exit status. */
export function finish({ lines, targets, json, options, env }) {
  console.log(lines.join('\n'));
  if (targets.length > 0) console.log(['', ...targets.map((t) => `- target: ${t.label} — ${t.pass ? 'pass' : '**FAIL**'} (${t.value})`)].join('\n'));
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ env, options, ...json, targets }, null, 2)}\n`);
  const missed = targets.filter((t) => !t.pass);
  if (missed.length > 0) console.error(`\nbench: ${missed.length} target(s) missed: ${missed.map((t) => t.label).join('; ')}`);
  if (options.quick) console.error('bench: (--quick run: too short to quote or to judge targets)');
  process.exitCode = options.strict && missed.length > 0 ? 1 : 0;
}
