/**
 * Refresh with rotation over HTTP: `POST /api/token/refresh/` on the standalone server, SqliteStore
 * with synchronous=FULL (every answered refresh is durable), 50 concurrent clients, each with its
 * own refresh-token chain (every answer's `refresh` is the next request's token). Against the same
 * server whose store spends tokens the naive way (one BEGIN IMMEDIATE … COMMIT per refresh on the
 * main thread), measured in the same run; rounds alternate the two. Only 200s count.
 *
 *   npm run bench -- http-refresh [options]     (or: node bench/http-refresh.mjs [options]; --help)
 */
import {
  Chains,
  ME_PATH,
  REFRESH_PATH,
  cannon,
  commitLatency,
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
  startServer,
  watchdog,
} from './lib/http.mjs';
import { check, fail } from './lib/harness.mjs';

const TITLE = 'HTTP: refresh with rotation, SQLite synchronous=FULL';
const TARGET = 5000;
const options = parseOptions(TITLE, {
  rounds: 3,
  duration: 5,
  defaults: { connections: 50, spares: 10 },
  quick: { rounds: 1, duration: 1 },
  extra: { '--connections': ['connections', 'int', 'concurrent clients, each with its own chain'] },
});
await loadDist();
watchdog(120 + options.rounds * 2 * (options.duration + 20), TITLE);

const secret = newSecret();
const GROUP = 'SqliteStore (writer thread, group commit)';
const NAIVE = 'naive store (one commit per refresh, main thread)';
const cases = [
  { name: GROUP, config: { kind: 'tokenpair', secret, userLookup: true, store: 'sqlite' }, chains: new Chains() },
  { name: NAIVE, config: { kind: 'tokenpair', secret, userLookup: true, store: 'naive' }, chains: new Chains() },
];
process.stderr.write(`${TITLE}: starting ${cases.length} servers`);
for (const c of cases) c.server = await startServer(c.name, c.config, options);

// Self-checks: a refresh answers a new pair, the new access token is accepted, the spent refresh
// token is refused (rotation and blacklisting are on), and the new one works once.
try {
  for (const c of cases) {
    const first = await login(c.server);
    const next = await postJson(c.server.url(REFRESH_PATH), { refresh: first.refresh });
    check(next.status === 200 && typeof next.body?.refresh === 'string' && typeof next.body?.access === 'string', `${c.name}: refresh answered ${next.status}`);
    const me = await getJson(c.server.url(ME_PATH), { authorization: `Bearer ${next.body.access}` });
    check(me.status === 200, `${c.name}: the refreshed access token was refused (${me.status})`);
    const replay = await postJson(c.server.url(REFRESH_PATH), { refresh: first.refresh });
    check(replay.status === 401, `${c.name}: a spent refresh token answered ${replay.status}, not 401`);
    c.chains.add([next.body.refresh]);
  }
} catch (error) {
  fail(error.message);
}

/** Tops a case's chains up with fresh logins (outside the timed run: argon2id takes tens of ms). */
async function topUp(c) {
  const wanted = options.connections + options.spares;
  if (c.chains.size < wanted) c.chains.add(await logins(c.server, wanted - c.chains.size));
}

const run = async (c, seconds) => {
  await topUp(c);
  const used = [];
  await c.server.begin();
  const result = await cannon({
    url: c.server.url(REFRESH_PATH),
    connections: options.connections,
    duration: seconds,
    setupClient: refreshClients(c.chains, used),
  });
  const server = await c.server.end();
  c.chains.giveBack(used);
  const o = outcome(result);
  const cpuUs = server.cpu.user + server.cpu.system;
  return {
    rps: (o.statuses['200'] ?? 0) / result.duration,
    other: o.non2xx + o.errors + o.timeouts,
    cpuPerRefresh: cpuUs / Math.max(1, o.statuses['200'] ?? 0),
    cpuUse: cpuUs / 1000 / server.elapsedMs,
    p50: result.latency.p50,
    p99: result.latency.p99,
    loopP99: server.loop.p99,
    statuses: o.statuses,
  };
};

const commitBefore = await commitLatency();
process.stderr.write(', warming up');
for (const c of cases) await run(c, 1);
process.stderr.write(`, ${options.rounds} rounds of ${options.duration} s per case `);
for (const c of cases) c.runs = [];
for (let round = 0; round < options.rounds; round++) {
  const order = round % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) c.runs.push(await run(c, options.duration));
  process.stderr.write('.');
}
process.stderr.write('\n');
for (const c of cases) await c.server.close();
const commitAfter = await commitLatency();

const naive = cases[1];
const rows = cases.map((c) => ({
  name: c.name,
  rps: median(c.runs.map((r) => r.rps)),
  minRps: Math.min(...c.runs.map((r) => r.rps)),
  maxRps: Math.max(...c.runs.map((r) => r.rps)),
  vsNaive: median(c.runs.map((r, i) => r.rps / naive.runs[i].rps)),
  other: c.runs.reduce((sum, r) => sum + r.other, 0),
  cpuPerRefresh: median(c.runs.map((r) => r.cpuPerRefresh)),
  cpuUse: median(c.runs.map((r) => r.cpuUse)),
  p50: median(c.runs.map((r) => r.p50)),
  p99: median(c.runs.map((r) => r.p99)),
  loopP99: median(c.runs.map((r) => r.loopP99)),
  spread: spread(c.runs.map((r) => r.rps)),
  runs: c.runs,
}));

const { env, line } = header(options);
const group = rows[0];
const targets = [
  { label: `≥ ${fmtInt(TARGET)} refreshes/s (200s only) at ${options.connections} clients, durable`, pass: group.rps >= TARGET, value: `${fmtInt(group.rps)}/s, rounds ${fmtInt(group.minRps)}–${fmtInt(group.maxRps)}` },
  { label: 'no answer other than 200', pass: rows.every((r) => r.other === 0), value: rows.map((r) => `${r.other}`).join(' / ') },
];
const lines = [
  `### ${TITLE}`,
  '',
  line,
  `${options.connections} keep-alive connections (autocannon, in the parent process), each with its own refresh chain; ${options.rounds} rounds of ${options.duration} s per case, order alternating; medians. ` +
    'refreshes/s counts 200 answers only. Server CPU: the server process, all threads (the SQLite writer thread included). ' +
    `One fsync'd SQLite commit on this disk (median of 100, before / after the rounds): ${fmt(commitBefore, 2)} / ${fmt(commitAfter, 2)} ms.`,
  '',
  '| case | refreshes/s | vs naive | spread | non-200 | server CPU µs/refresh | server CPU use | latency p50 / p99 | server event-loop delay p99 |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.name} | ${fmtInt(r.rps)} | ${fmtRatio(r.vsNaive)} | ${fmtPct(r.spread)} | ${r.other} | ${fmt(r.cpuPerRefresh)} | ${fmtPct(r.cpuUse)} | ${r.p50} / ${r.p99} ms | ${fmt(r.loopP99)} ms |`),
];
finish({ lines, targets, json: { rows, commitMs: { before: commitBefore, after: commitAfter } }, options, env });
