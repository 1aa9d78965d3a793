/**
 * A small micro-benchmark harness: interleaved time slices, medians, ratios to a baseline measured
 * in the same run, and a Markdown table. No dependencies; used by every script in bench/.
 *
 * Why it is shaped this way (this machine is a shared, noisy 2-core VM):
 * - Every case of a group runs one time slice per round, round-robin, and the starting case rotates
 *   each round, so a noisy second hits all cases of the group alike instead of one of them.
 * - Ratios are paired: each round gives case/baseline from slices a second or two apart, and the
 *   median of those per-round ratios is reported. A slow round moves both sides of its ratio.
 * - Each slice is timed twice: wall clock (ops/s as a client sees it) and this process's CPU time
 *   (`process.cpuUsage`, all threads). When another tenant takes the core, wall time grows and CPU
 *   time does not, so targets are judged on CPU-time ratios by default (`--judge wall` to change).
 *   CPU time includes helper threads: GC, and the libuv pool where WebCrypto (jose) does its work.
 * - Each case gets its own loop function compiled with `new Function`, so the call inside the loop
 *   stays monomorphic: with one shared loop, V8 would see every case's function at the same call
 *   site and all cases would pay for a megamorphic call.
 * - With `--expose-gc` (bench/run.mjs passes it) the heap is collected before each slice, so a
 *   case does not pay for the previous case's garbage.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, platform, release } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;

const DEFAULTS = { rounds: 9, sliceMs: 250, warmupMs: 300, judge: 'cpu' };

/** Command-line options common to every benchmark script. */
export function parseOptions(argv = process.argv.slice(2)) {
  const options = { ...DEFAULTS, only: null, json: null, strict: false, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${arg} needs a value`);
      return v;
    };
    if (arg === '--rounds') options.rounds = positiveInt(arg, value());
    else if (arg === '--slice') options.sliceMs = positiveInt(arg, value());
    else if (arg === '--warmup') options.warmupMs = positiveInt(arg, value());
    else if (arg === '--judge') {
      options.judge = value();
      if (options.judge !== 'cpu' && options.judge !== 'wall') fail(`--judge must be cpu or wall (got ${JSON.stringify(options.judge)})`);
    } else if (arg === '--only') options.only = value();
    else if (arg === '--json') options.json = value();
    else if (arg === '--strict') options.strict = true;
    else if (arg === '--quick') Object.assign(options, { rounds: 3, sliceMs: 100, warmupMs: 100, quick: true });
    else if (arg === '--help' || arg === '-h') {
      console.log(`options:
  --rounds N      timed rounds per case (default ${DEFAULTS.rounds})
  --slice MS      length of one timed slice (default ${DEFAULTS.sliceMs})
  --warmup MS     untimed warm-up per case (default ${DEFAULTS.warmupMs})
  --judge CLOCK   cpu or wall: which ratios the targets are judged on (default ${DEFAULTS.judge})
  --quick         3 rounds of 100 ms: a smoke run, not numbers to quote
  --only TEXT     only the groups whose title contains TEXT
  --json FILE     also write the results, every sample included, as JSON
  --strict        exit with status 1 when a target is missed`);
      process.exit(0);
    } else fail(`unknown option ${arg} (try --help)`);
  }
  return options;
}

function positiveInt(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) fail(`${name} must be a positive integer (got ${JSON.stringify(text)})`);
  return n;
}

export function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}

/** Imports the built library, or exits with a message saying how to build it. Warns when dist/ is older than src/. */
export async function loadDist() {
  const entry = join(ROOT, 'dist/index.js');
  if (!existsSync(entry)) fail('dist/ is missing: run `npm run build` first (benchmarks measure the built library)');
  if (newestMtime(join(ROOT, 'src')) > statSync(entry).mtimeMs) {
    console.error('bench: warning: src/ has changed since dist/ was built; run `npm run build` to measure the current code');
  }
  return import(entry);
}

function newestMtime(dir) {
  let newest = 0;
  for (const name of readdirSync(dir, { recursive: true })) {
    const stat = statSync(join(dir, String(name)));
    if (stat.isFile()) newest = Math.max(newest, stat.mtimeMs);
  }
  return newest;
}

/** Throws unless `condition`: used to check, before timing, that each case does what it claims. */
export function check(condition, message) {
  if (!condition) throw new Error(`benchmark self-check failed: ${message}`);
}

function compileLoop(isAsync) {
  const body = isAsync
    ? 'return async function loop(fn, n) { let sink; for (let i = 0; i < n; i++) sink = await fn(); return sink; }'
    : 'return function loop(fn, n) { let sink; for (let i = 0; i < n; i++) sink = fn(); return sink; }';
  return new Function(body)();
}

const now = () => performance.now();
const collect = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};

/** Runs the case's loop in batches for at least `ms`; records ops per wall second and per CPU second. */
async function timeSlice(c, ms) {
  let calls = 0;
  const cpu0 = process.cpuUsage();
  const start = now();
  const end = start + ms;
  let t = start;
  do {
    const r = c.loop(c.fn, c.batch);
    if (c.async) await r;
    calls += c.batch;
    t = now();
  } while (t < end);
  const cpu = process.cpuUsage(cpu0);
  const ops = calls * c.opsPerCall;
  c.wall.push((ops * 1e3) / (t - start));
  c.cpu.push((ops * 1e6) / Math.max(1, cpu.user + cpu.system));
}

/** Warms a case up and picks a batch size of about 1 ms, so reading the clock costs nothing measurable. */
async function warmUp(c, ms) {
  c.batch = 1;
  const end = now() + ms;
  while (now() < end) {
    const t0 = now();
    const r = c.loop(c.fn, c.batch);
    if (c.async) await r;
    if (now() - t0 < 1 && c.batch < 1 << 20) c.batch *= 2;
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median over rounds of this round's a / b. */
const pairedRatio = (a, b) => median(a.map((x, i) => x / b[i]));
const spread = (samples) => (Math.max(...samples) - Math.min(...samples)) / median(samples);

/**
 * Runs the groups. A group: `{ title, baseline, cases }`; a case: `{ name, fn, async?, note?,
 * opsPerCall?, targets? }` (`opsPerCall`: operations one call of `fn` performs, e.g. a
 * `Promise.all` of 16); a target: `{ label, against?, min? }` — passes when the paired ratio of this
 * case to the case named `against` (default: the baseline) is at least `min`; without `min` the
 * ratio is only shown.
 */
export async function runGroups(groups, options) {
  const selected = options.only ? groups.filter((g) => g.title.includes(options.only)) : groups;
  if (selected.length === 0) fail(`no group matches --only ${JSON.stringify(options.only)}`);
  const results = [];
  for (const group of selected) {
    const cases = group.cases.map((c) => ({
      ...c,
      async: Boolean(c.async),
      opsPerCall: c.opsPerCall ?? 1,
      loop: compileLoop(Boolean(c.async)),
      wall: [],
      cpu: [],
    }));
    process.stderr.write(`${group.title}: warming up ${cases.length} cases`);
    for (const c of cases) await warmUp(c, options.warmupMs);
    process.stderr.write(`, ${options.rounds} rounds of ${options.sliceMs} ms `);
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < cases.length; k++) {
        collect();
        await timeSlice(cases[(round + k) % cases.length], options.sliceMs);
      }
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    results.push(summarise(group, cases, options.judge));
  }
  return results;
}

function summarise(group, cases, judge) {
  const byName = new Map(cases.map((c) => [c.name, c]));
  const baseline = byName.get(group.baseline);
  if (!baseline) throw new Error(`group "${group.title}": baseline "${group.baseline}" is not one of its cases`);
  const rows = cases.map((c) => ({
    name: c.name,
    note: c.note ?? '',
    wallOps: median(c.wall),
    cpuOps: median(c.cpu),
    wallRatio: pairedRatio(c.wall, baseline.wall),
    cpuRatio: pairedRatio(c.cpu, baseline.cpu),
    wallSpread: spread(c.wall),
    cpuSpread: spread(c.cpu),
    checks: (c.targets ?? []).map((t) => {
      const against = byName.get(t.against ?? group.baseline);
      if (!against) throw new Error(`group "${group.title}": target of "${c.name}" refers to unknown case "${t.against}"`);
      const wallRatio = pairedRatio(c.wall, against.wall);
      const cpuRatio = pairedRatio(c.cpu, against.cpu);
      const ratio = judge === 'cpu' ? cpuRatio : wallRatio;
      return { label: t.label, against: against.name, judge, ratio, wallRatio, cpuRatio, min: t.min ?? null, pass: t.min === undefined ? null : ratio >= t.min };
    }),
    samples: { wall: c.wall, cpu: c.cpu },
  }));
  return { title: group.title, baseline: group.baseline, rows };
}

export function environment(options) {
  const cpu = cpus();
  return {
    node: process.version,
    cpu: `${cpu[0]?.model ?? 'unknown'} × ${cpu.length}`,
    os: `${platform()} ${release()}`,
    date: new Date().toISOString(),
    rounds: options.rounds,
    sliceMs: options.sliceMs,
    judge: options.judge,
    gc: typeof globalThis.gc === 'function',
  };
}

const fmtOps = (n) => Math.round(n).toLocaleString('en-US');
const fmtUs = (ops) => (1e6 / ops).toFixed(ops > 1e5 ? 2 : 1);
const fmtRatio = (r) => `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
const fmtPct = (x) => `${Math.round(x * 100)} %`;

export function renderMarkdown(results, env) {
  const lines = [
    `Node ${env.node} · ${env.cpu} · ${env.os} · ${env.date}`,
    '',
    `Median of ${env.rounds} interleaved rounds of ${env.sliceMs} ms per case${env.gc ? '' : ' (no --expose-gc: heap not collected between slices)'}. ` +
      'ops/s and µs/op: wall clock; CPU µs/op: CPU time of the process (all threads) per op. ' +
      'Ratios: median of per-round ratios to the baseline. Spread: (max − min) / median of the rounds, wall / CPU. ' +
      `Targets judged on ${env.judge === 'cpu' ? 'CPU-time' : 'wall-clock'} ratios.`,
  ];
  for (const group of results) {
    lines.push('', `### ${group.title}`, '', `baseline: ${group.baseline}`, '');
    lines.push('| case | ops/s | µs/op | CPU µs/op | vs baseline (wall) | vs baseline (CPU) | spread | target | result |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
    for (const row of group.rows) {
      const target = row.checks.map((c) => c.label).join('; ') || '—';
      const result = row.checks.length === 0
        ? '—'
        : row.checks.map((c) => (c.pass === null ? fmtRatio(c.ratio) : `${c.pass ? 'pass' : '**FAIL**'} (${fmtRatio(c.ratio)})`)).join('; ');
      const name = row.note ? `${row.name} <sub>${row.note}</sub>` : row.name;
      lines.push(
        `| ${name} | ${fmtOps(row.wallOps)} | ${fmtUs(row.wallOps)} | ${fmtUs(row.cpuOps)} | ${fmtRatio(row.wallRatio)} | ${fmtRatio(row.cpuRatio)} ` +
          `| ${fmtPct(row.wallSpread)} / ${fmtPct(row.cpuSpread)} | ${target} | ${result} |`,
      );
    }
  }
  return lines.join('\n');
}

/** Prints the table (and writes JSON when asked); returns the exit status. */
export function report(results, options) {
  const env = environment(options);
  console.log(renderMarkdown(results, env));
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ env, results }, null, 2)}\n`);
  const missed = results.flatMap((g) => g.rows.flatMap((r) => r.checks.filter((c) => c.pass === false).map((c) => `${g.title} / ${r.name}: ${c.label} (${fmtRatio(c.ratio)})`)));
  if (missed.length > 0) {
    console.error(`\nbench: ${missed.length} target(s) missed:\n  ${missed.join('\n  ')}`);
    if (options.quick) console.error('bench: (--quick run: too short to judge targets)');
  }
  return options.strict && missed.length > 0 ? 1 : 0;
}
