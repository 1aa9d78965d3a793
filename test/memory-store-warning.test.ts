import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MEMORY_MODULE = fileURLToPath(new URL('../src/store/memory.js', import.meta.url));

function run(code: string) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
}

describe('the in-memory store says it is for tests only', () => {
  it('warns once per process, loudly, that revocations do not survive a restart', () => {
    const result = run(`import { MemoryStore } from ${JSON.stringify(MEMORY_MODULE)}; new MemoryStore(); new MemoryStore();`);
    assert.equal(result.status, 0);
    const lines = result.stderr.split('\n').filter((line) => line.includes('TOKENPAIR_IN_MEMORY_STORE'));
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /IN-MEMORY store — revoked and rotated-out tokens become valid again after a restart/);
  });

  it('is silent with { warn: false }', () => {
    const result = run(`import { MemoryStore } from ${JSON.stringify(MEMORY_MODULE)}; new MemoryStore({ warn: false });`);
    assert.equal(result.status, 0);
    assert.equal(result.stderr, '');
  });
});
