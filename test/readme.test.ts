/**
 * The README's Express and Fastify snippets are test/fixtures/readme-snippets.ts, which the test
 * build compiles (strict, NodeNext): a snippet that stops type-checking fails the build. Here:
 * that the fixture still holds every line of the README's snippets, so the two cannot drift apart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const root = new URL('../..', import.meta.url); // build-<pid>/test/ → the repository
const readme = readFileSync(new URL('README.md', root), 'utf8');
const fixture = readFileSync(new URL('test/fixtures/readme-snippets.ts', root), 'utf8');

/** The code lines of the first ```ts block under `heading`, without imports and blank lines. */
function snippet(heading: string): string[] {
  const section = readme.slice(readme.indexOf(`\n${heading}\n`));
  const block = /```ts\n([^]*?)```/.exec(section)?.[1];
  assert.ok(block, `no ts block under ${heading}`);
  return block.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('import '));
}

describe('README snippets', () => {
  const fixtureLines = new Set(fixture.split('\n').map((line) => line.trim()));
  for (const heading of ['### Express', '### Fastify']) {
    it(`${heading.slice(4)}: every line is in the compiled fixture`, () => {
      const lines = snippet(heading);
      assert.ok(lines.length >= 4);
      assert.deepEqual(lines.filter((line) => !fixtureLines.has(line)), []);
    });
  }
});
