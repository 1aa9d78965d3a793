/**
 * Protected route throughput: `GET /api/me/` with an HS256 bearer on the standalone server
 * (`buildServer`, SqliteStore), stateless and with the SQLite user lookup, against a bare Fastify
 * route doing the raw node:crypto check, measured in the same run. Each server runs in its own
 * process; autocannon runs here. Rounds interleave the cases; medians and paired ratios.
 *
 *   npm run bench -- http-me [options]     (or: node bench/http-me.mjs [options]; --help)
 */
import {
  ME_PATH,
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
  median,
  newSecret,
  outcome,
  parseOptions,
  spread,
  startServer,
  tampered,
  watchdog,
} from './lib/http.mjs';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { check, fail } from './lib/harness.mjs';

const TITLE = 'HTTP: protected GET /api/me/ (HS256 bearer)';
const options = parseOptions(TITLE, {
  rounds: 5,
  duration: 5,
  defaults: { connections: 50, warmup: 2, judge: 'cpu', logging: false, compareDist: null, sameProcess: false },
  quick: { rounds: 2, duration: 1, warmup: 1 },
  extra: {
    '--connections': ['connections', 'int', 'concurrent keep-alive connections'],
    '--logging': ['logging', 'flag', 'also measure the stateless server with its default info logging'],
    '--compare-dist': ['compareDist', 'text', 'also measure the tokenpair cases on the build in DIR (e.g. of the previous commit), in the same rounds'],
    '--same-process': ['sameProcess', 'flag', 'keep one server process per case for all rounds (default: a fresh process per case and round)'],
  },
});
await loadDist();

const secret = newSecret();
const FLOOR = 'bare Fastify + raw node:crypto check';
const cases = [
  { name: FLOOR, config: { kind: 'floor', secret }, note: 'no checks' },
  {
    name: 'tokenpair buildServer, stateless',
    config: { kind: 'tokenpair', secret, userLookup: false },
    note: 'userLookup: false',
    target: { label: 'stateless ≥ 0.90× the floor', min: 0.9 },
  },
  {
    name: 'tokenpair buildServer, SQLite user lookup',
    config: { kind: 'tokenpair', secret, userLookup: true },
    note: 'userLookup: true (server default)',
    target: { label: 'user lookup ≥ 0.70× the floor', min: 0.7 },
  },
];
if (options.compareDist) {
  const dist = resolve(options.compareDist);
  if (!existsSync(join(dist, 'index.js'))) fail(`--compare-dist ${dist}: no index.js there`);
  for (const c of cases.slice(1)) cases.push({ name: `${c.name} [${options.compareDist}]`, config: { ...c.config, dist }, note: c.note });
}
if (options.logging) {
  cases.push({ name: 'tokenpair buildServer, stateless, info logging', config: { kind: 'tokenpair', secret, userLookup: false, logger: 'info' }, note: 'the server default; lines formatted, then dropped' });
}

const perRound = !options.sameProcess;
watchdog(60 + cases.length * (options.warmup + 5 + options.rounds * (options.duration + 3 + (perRound ? options.warmup + 5 : 0))), TITLE);

// The floor verifies a token of the stateless tokenpair server (same secret, same claims, same
// length): taken from one login on a server started for that alone.
let floorToken;
try {
  const source = await startServer('token source', cases[1].config, options);
  floorToken = (await login(source)).access;
  await source.close();
} catch (error) {
  fail(error.message);
}

// Self-checks: each tokenpair server answers its own login's access token with the user, and
// refuses the same token with one signature character changed; the floor too. A benchmark of 401s
// would be worthless.
async function prepare(c) {
  c.server = await startServer(c.name, c.config, options);
  try {
    c.token = c.config.kind === 'floor' ? floorToken : (await login(c.server)).access;
    const ok = await getJson(c.server.url(ME_PATH), { authorization: `Bearer ${c.token}` });
    check(ok.status === 200 && ok.body?.id === '1', `${c.name} answered ${ok.status} ${JSON.stringify(ok.body)} to a valid token`);
    c.expectBody = JSON.stringify(ok.body);
    const bad = await getJson(c.server.url(ME_PATH), { authorization: `Bearer ${tampered(c.token)}` });
    check(bad.status === 401, `${c.name} answered ${bad.status} to a token with a changed signature`);
  } catch (error) {
    fail(error.message);
  }
}

const run = async (c, seconds) => {
  await c.server.begin();
  const result = await cannon({
    url: c.server.url(ME_PATH),
    connections: options.connections,
    duration: seconds,
    headers: { authorization: `Bearer ${c.token}` },
    expectBody: c.expectBody,
  });
  const server = await c.server.end();
  const o = outcome(result);
  const cpuUs = server.cpu.user + server.cpu.system;
  return {
    rps: o.ok / result.duration,
    cpuPerRequest: cpuUs / o.ok,
    cpuUse: cpuUs / 1000 / server.elapsedMs,
    p99: result.latency.p99,
    bad: o.non2xx + o.errors + o.mismatches,
    o,
  };
};

for (const c of cases) c.runs = [];
if (perRound) {
  // A fresh process per case and round: what a process happens to get (its JIT's choices, its
  // heap's layout, the core it runs on) differs from one process to the next by more than the
  // rounds of one process do, so each round samples it anew. Each process is warmed up first.
  process.stderr.write(`${TITLE}: ${options.rounds} rounds; per case and round a fresh server, ${options.warmup} s of warm-up, ${options.duration} s timed `);
} else {
  process.stderr.write(`${TITLE}: starting ${cases.length} servers`);
  for (const c of cases) await prepare(c);
  process.stderr.write(', warming up');
  for (const c of cases) await run(c, options.warmup);
  process.stderr.write(`, ${options.rounds} rounds of ${options.duration} s per case `);
}
for (let round = 0; round < options.rounds; round++) {
  for (let k = 0; k < cases.length; k++) {
    const c = cases[(round + k) % cases.length];
    if (perRound) {
      await prepare(c);
      await run(c, options.warmup);
    }
    const r = await run(c, options.duration);
    if (perRound) await c.server.close();
    if (r.bad > 0) fail(`${c.name}: ${r.bad} requests failed or answered something else (${JSON.stringify(r.o)})`);
    c.runs.push(r);
  }
  process.stderr.write('.');
}
process.stderr.write('\n');
if (!perRound) for (const c of cases) await c.server.close();

// Paired ratios: this round's case against this round's floor. req/s: higher is better; server
// CPU per request: the floor's over the case's, so that both ratios read "fraction of the floor".
const floor = cases[0];
const paired = (c, f) => median(c.runs.map((r, i) => f(r, floor.runs[i])));
const rows = cases.map((c) => ({
  name: c.name,
  note: c.note,
  rps: median(c.runs.map((r) => r.rps)),
  cpuPerRequest: median(c.runs.map((r) => r.cpuPerRequest)),
  cpuUse: median(c.runs.map((r) => r.cpuUse)),
  p99: median(c.runs.map((r) => r.p99)),
  wallRatio: paired(c, (r, f) => r.rps / f.rps),
  cpuRatio: paired(c, (r, f) => f.cpuPerRequest / r.cpuPerRequest),
  wallRatios: c.runs.map((r, i) => r.rps / floor.runs[i].rps),
  cpuRatios: c.runs.map((r, i) => floor.runs[i].cpuPerRequest / r.cpuPerRequest),
  spread: `${fmtPct(spread(c.runs.map((r) => r.rps)))} / ${fmtPct(spread(c.runs.map((r) => r.cpuPerRequest)))}`,
  target: c.target ?? null,
  runs: c.runs.map(({ o, ...r }) => ({ ...r, statuses: o.statuses })),
}));

const { env, line } = header(options);
const judged = (row) => (options.judge === 'cpu' ? row.cpuRatio : row.wallRatio);
const targets = rows.filter((r) => r.target).map((r) => ({
  label: `${r.target.label} (${options.judge === 'cpu' ? 'server CPU per request' : 'req/s'})`,
  pass: judged(r) >= r.target.min,
  value: `${fmtRatio(judged(r))}; req/s ${fmtRatio(r.wallRatio)}, server CPU ${fmtRatio(r.cpuRatio)}`,
}));
const lines = [
  `### ${TITLE}`,
  '',
  line,
  `${options.connections} keep-alive connections (autocannon, in the parent process), ${options.rounds} interleaved rounds of ${options.duration} s per case` +
    `${perRound ? ', each in a fresh server process after its own warm-up' : ', one server process per case'}; medians. ` +
    'Server CPU: the server process (all threads), user + system, per 2xx answer. Ratios: median of per-round ratios to the floor ' +
    '(req/s: case ÷ floor; server CPU: floor ÷ case). Spread: (max − min) / median over rounds, req/s / server CPU. ' +
    `Targets judged on ${options.judge === 'cpu' ? 'server CPU per request' : 'req/s'}.`,
  '',
  '| case | req/s | server CPU µs/req | server CPU use | client p99 | vs floor (req/s) | vs floor (server CPU) | spread | result |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...rows.map((r) => {
    const result = r.target ? `${judged(r) >= r.target.min ? 'pass' : '**FAIL**'} (≥ ${r.target.min.toFixed(2)}×)` : '—';
    return `| ${r.name} <sub>${r.note}</sub> | ${fmtInt(r.rps)} | ${fmt(r.cpuPerRequest)} | ${fmtPct(r.cpuUse)} | ${r.p99} ms | ${fmtRatio(r.wallRatio)} | ${fmtRatio(r.cpuRatio)} | ${r.spread} | ${result} |`;
  }),
];
finish({ lines, targets, json: { rows }, options, env });
