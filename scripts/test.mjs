// Compiles src/ and test/ into build/ and runs every *.test.js with node's test runner.
// Extra arguments are passed to `node --test` (e.g. --test-name-pattern=jws).
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// One build folder per run, beside src/, so that concurrent runs never overwrite each other.
const outDir = join(root, `build-${process.pid}`);
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }));
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.test.json'), '--outDir', outDir], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const filter = process.env.TEST_FILES ? new RegExp(process.env.TEST_FILES) : null;
const files = readdirSync(join(outDir, 'test'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js') && (!filter || filter.test(f)))
  .sort()
  .map((f) => join(outDir, 'test', f));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], { stdio: 'inherit', cwd: root });
process.exit(run.status ?? 1);
