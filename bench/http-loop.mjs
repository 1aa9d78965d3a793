/**
 * Event loop under mixed load: the latency of protected `GET /api/me/` (user lookup on, the
 * server default) on the standalone server while 20 concurrent logins (argon2id) and a steady
 * refresh load (rotation, SqliteStore synchronous=FULL) run, against the same probe on the idle
 * server in the same run. The probe and the refresh load are open-loop (a fixed rate, evenly
 * spaced, latency counted from each request's scheduled start); the logins are closed-loop (20
 * connections, each sends its next login when the previous one is answered). The server samples its
 * own event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) in each phase.
 *
 *   npm run bench -- http-loop [options]     (or: node bench/http-loop.mjs [options]; --help)
 */
import {
  Chains,
  LOGIN_PATH,
  ME_PATH,
  PASSWORD,
  REFRESH_PATH,
  USERNAME,
  cannon,
  finish,
  fmt,
  fmtInt,
  header,
  loadDist,
  login,
  logins,
  median,
  newSecret,
  outcome,
  paced,
  parseOptions,
  startServer,
  watchdog,
} from './lib/http.mjs';
import { check, fail } from './lib/harness.mjs';

const TITLE = 'HTTP: event loop under mixed load (logins, refreshes, protected GET)';
const TARGET_MS = 10;
const options = parseOptions(TITLE, {
  rounds: 2,
  duration: 8,
  defaults: { probeRate: 1000, refreshRate: 1000, loginClients: 20, chains: 200, hasherConcurrency: null },
  quick: { rounds: 1, duration: 2 },
  extra: {
    '--probe-rate': ['probeRate', 'int', 'GET /api/me/ per second (open loop)'],
    '--refresh-rate': ['refreshRate', 'int', 'refreshes per second during the mixed phase (open loop)'],
    '--login-clients': ['loginClients', 'int', 'concurrent logins during the mixed phase'],
    '--hasher-concurrency': ['hasherConcurrency', 'int', "the server's argon2id operations at once (maxConcurrent; library default 4)"],
  },
});
await loadDist();
watchdog(120 + options.rounds * 2 * (options.duration + 20), TITLE);

const secret = newSecret();
process.stderr.write(`${TITLE}: starting the server`);
const server = await startServer('tokenpair buildServer (user lookup)', { kind: 'tokenpair', secret, userLookup: true, hasherConcurrency: options.hasherConcurrency, extraUsers: options.loginClients }, options);
let access;
try {
  access = (await login(server)).access;
} catch (error) {
  fail(error.message);
}
const chains = new Chains();

const probe = (seconds) =>
  paced({ port: server.port, rate: options.probeRate, seconds, next: () => ({ path: ME_PATH, headers: { authorization: `Bearer ${access}` } }) });

/** The open-loop refresh load: each slot takes an idle chain; a slot with none idle is skipped (counted). */
function refreshLoad(seconds) {
  const idle = [];
  for (let chain = chains.take(); chain; chain = chains.take()) idle.push(chain);
  const all = [...idle];
  return paced({
    port: server.port,
    rate: options.refreshRate,
    seconds,
    next: () => {
      const chain = idle.pop();
      if (!chain) return null;
      chain.inFlight = true;
      return { method: 'POST', path: REFRESH_PATH, headers: { 'content-type': 'application/json' }, body: `{"refresh":"${chain.token}"}`, chain };
    },
    done: (status, body, spec) => {
      spec.chain.inFlight = false;
      if (status === 200) {
        spec.chain.token = JSON.parse(body).refresh;
        idle.push(spec.chain);
      } else {
        spec.chain.broken = true;
      }
    },
  }).then((result) => {
    chains.giveBack(all);
    return result;
  });
}

/**
 * Closed-loop logins of `loginClients` different users, round robin: the login throttle lets at most
 * `loginThrottlePerUsername` (10) logins of ONE username be checked at once, so 20 concurrent logins
 * of one user would be partly refused, as they should be.
 */
const loginNames = Array.from({ length: options.loginClients }, (_, i) => `${USERNAME}-${i + 1}`);
let loginNo = 0;
const loginLoad = (seconds) =>
  cannon({
    url: server.url(LOGIN_PATH),
    connections: options.loginClients,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ username: loginNames[loginNo++ % loginNames.length], password: PASSWORD }) }),
      },
    ],
  });

async function phase(kind, seconds) {
  if (kind === 'mixed' && chains.size < options.chains) chains.add(await logins(server, options.chains - chains.size));
  await server.begin();
  const [me, refresh, loginResult] = await Promise.all([
    probe(seconds),
    kind === 'mixed' ? refreshLoad(seconds) : null,
    kind === 'mixed' ? loginLoad(seconds) : null,
  ]);
  const s = await server.end();
  const loginsDone = loginResult ? outcome(loginResult) : null;
  const meBad = me.sent - (me.statuses['200'] ?? 0);
  if (meBad > 0 || me.skipped > 0) fail(`${kind}: ${meBad} of ${me.sent} GET /api/me/ did not answer 200 (${JSON.stringify(me.statuses)}, ${me.errors} errors)`);
  return {
    kind,
    me,
    loop: s.loop,
    main: s.main && { cpu: s.main.cpuMs / s.elapsedMs, wait: s.main.waitMs / s.elapsedMs },
    cpuUse: (s.cpu.user + s.cpu.system) / 1000 / s.elapsedMs,
    refresh: refresh && { ok: refresh.statuses['200'] ?? 0, other: refresh.sent - (refresh.statuses['200'] ?? 0), skipped: refresh.skipped, p99: refresh.latency.p99, elapsed: refresh.elapsed },
    logins: loginsDone && { ok: loginsDone.statuses['200'] ?? 0, other: loginsDone.non2xx + loginsDone.errors + loginsDone.timeouts, perSecond: (loginsDone.statuses['200'] ?? 0) / loginResult.duration, p99: loginResult.latency.p99 },
  };
}

process.stderr.write(', warming up');
try {
  await phase('mixed', Math.min(2, options.duration));
} catch (error) {
  fail(error.message);
}
process.stderr.write(`, ${options.rounds} rounds of ${options.duration} s per phase `);
const results = { quiet: [], mixed: [] };
for (let round = 0; round < options.rounds; round++) {
  for (const kind of round % 2 === 0 ? ['quiet', 'mixed'] : ['mixed', 'quiet']) results[kind].push(await phase(kind, options.duration));
  process.stderr.write('.');
}
process.stderr.write('\n');
await server.close();

const summary = (runs) => ({
  p50: median(runs.map((r) => r.me.latency.p50)),
  p99: median(runs.map((r) => r.me.latency.p99)),
  p99s: runs.map((r) => r.me.latency.p99),
  max: Math.max(...runs.map((r) => r.me.latency.max)),
  loopP99: median(runs.map((r) => r.loop.p99)),
  loopP99s: runs.map((r) => r.loop.p99),
  loopMax: Math.max(...runs.map((r) => r.loop.max)),
  ownLoopP99: median(runs.map((r) => r.me.ownLoop.p99)),
  cpuUse: median(runs.map((r) => r.cpuUse)),
  mainCpu: runs[0].main ? median(runs.map((r) => r.main.cpu)) : null,
  mainWait: runs[0].main ? median(runs.map((r) => r.main.wait)) : null,
  logins: runs[0].logins ? median(runs.map((r) => r.logins.perSecond)) : null,
  refreshes: runs[0].refresh ? median(runs.map((r) => r.refresh.ok / r.refresh.elapsed)) : null,
  other: runs.reduce((sum, r) => sum + (r.refresh?.other ?? 0) + (r.logins?.other ?? 0), 0),
  skipped: runs.reduce((sum, r) => sum + (r.refresh?.skipped ?? 0), 0),
});
const quiet = summary(results.quiet);
const mixed = summary(results.mixed);
check(mixed.other === 0, `${mixed.other} logins or refreshes did not answer 200`);

const { env, line } = header(options);
const list = (values) => values.map((v) => fmt(v)).join(', ');
const targets = [
  { label: `p99 of GET /api/me/ under mixed load < ${TARGET_MS} ms (client side)`, pass: mixed.p99 < TARGET_MS, value: `${fmt(mixed.p99)} ms; rounds ${list(mixed.p99s)}` },
  { label: `server event-loop delay p99 under mixed load < ${TARGET_MS} ms`, pass: mixed.loopP99 < TARGET_MS, value: `${fmt(mixed.loopP99)} ms; rounds ${list(mixed.loopP99s)}` },
  { label: 'every login and refresh answered 200', pass: mixed.other === 0, value: `${mixed.other} others, ${mixed.skipped} refresh slots skipped (no idle chain)` },
];
const lines = [
  `### ${TITLE}`,
  '',
  line,
  `GET /api/me/ (user lookup on) at ${fmtInt(options.probeRate)}/s, open loop; mixed phase: + ${options.loginClients} concurrent logins (argon2id, closed loop) + ${fmtInt(options.refreshRate)} refreshes/s (open loop). ` +
    `${options.rounds} rounds of ${options.duration} s per phase, order alternating; medians of the rounds (max: the largest seen). ` +
    'Client latency from each request\'s scheduled start; load generator in one process, server in another. ' +
    `Password hasher: ${options.hasherConcurrency ?? 'default (4)'} argon2id at once. Main thread: shares of wall time from /proc (schedstat).`,
  '',
  '| phase | GET /api/me/ p50 / p99 / max | server event-loop delay p99 / max | load generator\'s own loop delay p99 | server CPU use (all threads) | server main thread: on a CPU / waiting for one | logins/s | refreshes/s |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...[['idle server (baseline)', quiet], ['mixed load', mixed]].map(([name, s]) =>
    `| ${name} | ${fmt(s.p50, 2)} / ${fmt(s.p99, 2)} / ${fmt(s.max)} ms | ${fmt(s.loopP99)} / ${fmt(s.loopMax)} ms | ${fmt(s.ownLoopP99)} ms | ${Math.round(s.cpuUse * 100)} % | ${s.mainCpu === null ? '—' : `${Math.round(s.mainCpu * 100)} % / ${Math.round(s.mainWait * 100)} %`} | ${s.logins === null ? '—' : fmtInt(s.logins)} | ${s.refreshes === null ? '—' : fmtInt(s.refreshes)} |`),
];
finish({ lines, targets, json: { quiet, mixed, results }, options, env });
