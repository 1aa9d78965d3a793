/**
 * SQLite store: refresh-token rotation (consume + successor, synchronous=FULL) at 50 operations in
 * flight, SqliteStore (writes on a worker thread, group commit) against the naive way measured in
 * the same run (one BEGIN IMMEDIATE … COMMIT per operation on the main thread, same SQL, same
 * durability). For each: throughput, the event-loop delay seen by everything else in the process
 * (perf_hooks.monitorEventLoopDelay) and the latency of one consume. Medians of several rounds;
 * the order of the two cases alternates between rounds. Local files only, no network.
 *
 *   node bench/store.mjs [--rounds N] [--slice MS] [--in-flight N] [--quick] [--json FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { ROOT, check, environment, fail, loadDist } from './lib/harness.mjs';
import { openNaiveConsume } from './lib/naive-consume.mjs';

const TITLE = 'SQLite store: rotation (consume + successor), synchronous=FULL';
const options = { rounds: 5, sliceMs: 600, inFlight: 50, json: null, quick: false, strict: false, only: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  const int = () => {
    const n = Number(argv[++i]);
    if (!Number.isInteger(n) || n <= 0) fail(`${arg} needs a positive integer`);
    return n;
  };
  if (arg === '--rounds') options.rounds = int();
  else if (arg === '--slice') options.sliceMs = int();
  else if (arg === '--in-flight') options.inFlight = int();
  else if (arg === '--json') options.json = argv[++i] ?? fail('--json needs a file');
  else if (arg === '--quick') Object.assign(options, { rounds: 3, sliceMs: 250, quick: true });
  else if (arg === '--strict') options.strict = true;
  else if (arg === '--only') options.only = argv[++i] ?? fail('--only needs a value');
  else if (arg === '--warmup') int(); // accepted for bench/run.mjs; the warm-up here is one 300 ms slice per case
  else if (arg === '--help' || arg === '-h') {
    console.log(`options:
  --rounds N      rounds per case (default 5)
  --slice MS      length of one case's run per round (default 600)
  --in-flight N   concurrent operations (default 50)
  --quick         3 rounds of 250 ms: a smoke run, not numbers to quote
  --only TEXT     run only if "${TITLE}" contains TEXT
  --json FILE     also write the results as JSON
  --strict        exit with status 1 when a target is missed`);
    process.exit(0);
  } else fail(`unknown option ${arg} (try --help)`);
}

if (options.only && !TITLE.includes(options.only)) {
  console.log(`(skipped: --only ${JSON.stringify(options.only)} does not match "${TITLE}")`);
  process.exit(0);
}

await loadDist(); // checks that dist/ exists and is current
const { SqliteStore, migrateSqlite } = await import(join(ROOT, 'dist/store/sqlite.js'));

const DAY = 86_400;
const NOW = Math.floor(Date.now() / 1000);
const NO_CLIENT = { userAgent: null, address: null };
const dir = mkdtempSync(join(tmpdir(), 'tokenpair-bench-store-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
/** A migrated database file holding `count` active refresh tokens (one family each), written in one transaction. */
async function prepareFile(count) {
  const file = join(dir, `bench-${fileNo++}.sqlite3`);
  await migrateSqlite(file);
  const db = new Database(file);
  db.pragma('synchronous = OFF');
  const family = db.prepare('INSERT INTO token_families (id, user_id, created_at, last_used_at, expires_at) VALUES (?, ?, ?, ?, ?)');
  const token = db.prepare("INSERT INTO issued_tokens (jti, family_id, user_id, token_type, issued_at, expires_at) VALUES (?, ?, ?, 'refresh', ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      family.run(`f${i}`, String(i % 1000), NOW, NOW, NOW + DAY);
      token.run(`t${i}`, `f${i}`, String(i % 1000), NOW, NOW + DAY);
    }
  })();
  db.close();
  return { file, count };
}

const record = (i) => ({ jti: `t${i}`, userId: String(i % 1000), familyId: `f${i}`, tokenType: 'refresh', issuedAt: NOW, expiresAt: NOW + DAY });
const successor = (i) => ({ jti: `s${i}`, userId: String(i % 1000), familyId: `f${i}`, tokenType: 'refresh', issuedAt: NOW, expiresAt: NOW + 2 * DAY });
const request = (i) => ({ token: record(i), successor: successor(i), client: NO_CLIENT, now: NOW + 1, reuseGraceSeconds: 0 });

const CASES = {
  'SqliteStore (worker thread, group commit)': (file) => SqliteStore.open(file, { synchronous: 'FULL' }),
  // The same naive store the HTTP benchmarks use: one immediate transaction per consume, on the main thread.
  'naive (main thread, one commit per op)': async (file) => openNaiveConsume(file),
};

/**
 * `inFlight` clients, each starting its next consume on a new event-loop turn (as requests arriving
 * over sockets would) until the slice ends or the tokens run out.
 */
async function measure(open, prepared, sliceMs) {
  const store = await open(prepared.file);
  const latencies = [];
  let next = 0;
  let bad = 0;
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const started = performance.now();
  const deadline = started + sliceMs;
  histogram.enable();
  const client = async () => {
    while (performance.now() < deadline && next < prepared.count) {
      // Latency counts from the request's arrival: for the naive store that includes waiting
      // behind the other requests' synchronous commits.
      const t0 = performance.now();
      await nextTurn();
      const i = next++;
      const outcome = await store.consume(request(i));
      latencies.push(performance.now() - t0);
      if (outcome.status !== 'consumed') bad++;
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, client));
  const elapsed = performance.now() - started;
  histogram.disable();
  await store.close();
  check(bad === 0, `${bad} consumes did not return "consumed"`);
  check(next < prepared.count, 'ran out of prepared tokens: the slice measured less than it claims');
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return {
    ops: (latencies.length * 1000) / elapsed,
    loopP99: histogram.percentile(99) / 1e6,
    loopMax: histogram.max / 1e6,
    latencyP50: q(0.5),
    latencyP99: q(0.99),
  };
}

/** Tokens to prepare for one slice of a case that ran at `opsPerSecond` in the warm-up. */
const budget = (opsPerSecond, sliceMs) => Math.ceil(opsPerSecond * (sliceMs / 1000) * 2) + 1000;

process.stderr.write(`store: warming up`);
const estimate = {};
for (const [name, open] of Object.entries(CASES)) {
  estimate[name] = (await measure(open, await prepareFile(50_000), 300)).ops;
}
process.stderr.write(`, ${options.rounds} rounds of ${options.sliceMs} ms per case `);
const samples = Object.fromEntries(Object.keys(CASES).map((name) => [name, []]));
const names = Object.keys(CASES);
for (let round = 0; round < options.rounds; round++) {
  const order = round % 2 === 0 ? names : [...names].reverse();
  for (const name of order) {
    const prepared = await prepareFile(budget(estimate[name], options.sliceMs));
    samples[name].push(await measure(CASES[name], prepared, options.sliceMs));
  }
  process.stderr.write('.');
}
process.stderr.write('\n');

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const summary = names.map((name) => {
  const runs = samples[name];
  const pick = (key) => median(runs.map((r) => r[key]));
  return { name, ops: pick('ops'), minOps: Math.min(...runs.map((r) => r.ops)), maxOps: Math.max(...runs.map((r) => r.ops)), loopP99: pick('loopP99'), loopMax: pick('loopMax'), latencyP50: pick('latencyP50'), latencyP99: pick('latencyP99'), runs };
});
const baseline = summary.find((s) => s.name.startsWith('naive'));

// Targets: group commit must at least double the naive throughput and keep the event loop freer.
const group = summary.find((s) => !s.name.startsWith('naive'));
const targets = [
  { label: 'throughput ≥ 2× naive', pass: group.ops >= 2 * baseline.ops, value: `${(group.ops / baseline.ops).toFixed(1)}×` },
  { label: 'event-loop delay p99 below naive', pass: group.loopP99 < baseline.loopP99, value: `${group.loopP99.toFixed(1)} vs ${baseline.loopP99.toFixed(1)} ms` },
];

const env = environment({ rounds: options.rounds, sliceMs: options.sliceMs });
const fmt = (n, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const lines = [
  `### ${TITLE}`,
  '',
  `Node ${env.node} · ${env.cpu} · ${env.os} · ${env.date}`,
  `consume + successor, synchronous=FULL, ${options.inFlight} in flight; median of ${options.rounds} rounds of ${options.sliceMs} ms per case (order alternating)`,
  '',
  '| case | ops/s (median) | vs naive | spread | event-loop delay p99 | event-loop delay max | latency p50 / p99 (arrival → answer) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const s of summary) {
  const spread = `${(((s.maxOps - s.minOps) / s.ops) * 100).toFixed(0)} %`;
  lines.push(`| ${s.name} | ${Math.round(s.ops).toLocaleString('en-US')} | ${(s.ops / baseline.ops).toFixed(1)}× | ${spread} | ${fmt(s.loopP99)} ms | ${fmt(s.loopMax)} ms | ${fmt(s.latencyP50, 2)} / ${fmt(s.latencyP99, 2)} ms |`);
}
lines.push('', ...targets.map((t) => `- target: ${t.label} — ${t.pass ? 'pass' : '**FAIL**'} (${t.value})`));
console.log(lines.join('\n'));
if (options.json) writeFileSync(options.json, `${JSON.stringify({ env, options, summary, targets }, null, 2)}\n`);
if (options.quick) console.error('store: (--quick run: too short to quote)');
const missed = targets.filter((t) => !t.pass);
if (missed.length > 0) console.error(`\nbench: ${missed.length} target(s) missed: ${missed.map((t) => t.label).join('; ')}`);
process.exitCode = options.strict && missed.length > 0 ? 1 : 0;
