/**
 * `npm run bench`: runs every benchmark script, each in its own Node process (a fresh heap and JIT
 * state, and `--expose-gc` so the harness can collect between slices). Benchmarks measure dist/;
 * this script builds nothing.
 *
 *   node bench/run.mjs                 every benchmark
 *   node bench/run.mjs jws             only the named ones
 *   node bench/run.mjs jws --quick     options after the names go to each script (see --help)
 *   node bench/run.mjs --json out.json one JSON file per script: out.jws.json, out.store.json, …
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** name → script in bench/. Add new benchmarks here. */
const BENCHMARKS = {
  jws: 'jws.mjs',
  store: 'store.mjs',
  'http-route': 'http-route.mjs',
  'http-me': 'http-me.mjs',
  'http-refresh': 'http-refresh.mjs',
  'http-loop': 'http-loop.mjs',
  'http-memory': 'http-memory.mjs',
  'http-postgres': 'http-postgres.mjs',
};

const here = new URL('.', import.meta.url).pathname;
const root = join(here, '..');

const args = process.argv.slice(2);
const names = [];
while (args.length > 0 && !args[0].startsWith('-')) names.push(args.shift());
for (const name of names) {
  if (!Object.hasOwn(BENCHMARKS, name)) {
    console.error(`bench: no benchmark named "${name}" (known: ${Object.keys(BENCHMARKS).join(', ')})`);
    process.exit(1);
  }
}
if (!existsSync(join(root, 'dist/index.js'))) {
  console.error('bench: dist/ is missing: run `npm run build` first (benchmarks measure the built library)');
  process.exit(1);
}

const selected = names.length > 0 ? names : Object.keys(BENCHMARKS);

/** The options for one script: with several scripts, `--json out.json` becomes `out.<name>.json` for each. */
function argsFor(name) {
  if (selected.length === 1) return args;
  return args.map((arg, i) => (args[i - 1] === '--json' ? arg.replace(/(\.json)?$/, `.${name}$1`) : arg));
}

let status = 0;
for (const name of selected) {
  console.log(`\n## ${name}\n`);
  const run = spawnSync(process.execPath, ['--expose-gc', join(here, BENCHMARKS[name]), ...argsFor(name)], { stdio: 'inherit', cwd: root });
  if (run.status !== 0) {
    console.error(`bench: ${name} exited with ${run.status ?? run.signal}`);
    status = 1;
  }
}
process.exit(status);
