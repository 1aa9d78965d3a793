/** Store child processes for the cross-process tests (test/fixtures/store-child.mjs). */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TokenStore } from '../../src/store/types.js';
import { NO_CLIENT, T, tokenRecord } from './store-contract.js';

const CHILD = fileURLToPath(new URL('../../../test/fixtures/store-child.mjs', import.meta.url));

export type ChildMessage = { type: string; [key: string]: unknown };

/** Forks a child that opens the compiled `kind` store on `target` (a file or a database URL). */
export function startStoreChild(kind: 'sqlite' | 'postgres', target: string): { child: ChildProcess; next: (type: string) => Promise<ChildMessage>; messages: ChildMessage[] } {
  const storeModule = fileURLToPath(new URL(`../../src/store/${kind}.js`, import.meta.url));
  const child = fork(CHILD, [kind, storeModule, target], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: ChildMessage[] = [];
  const waiting: Array<{ type: string; resolve: (m: ChildMessage) => void; reject: (e: Error) => void }> = [];
  child.on('message', (m: ChildMessage) => {
    messages.push(m);
    if (m.type === 'error') for (const w of waiting.splice(0)) w.reject(new Error(`child failed: ${String(m.message)}`));
    for (let i = 0; i < waiting.length; i++) {
      if (waiting[i]!.type === m.type) {
        waiting.splice(i, 1)[0]!.resolve(m);
        break;
      }
    }
  });
  child.on('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`child exited (${code ?? signal}) while we waited for "${w.type}"`));
  });
  const next = (type: string) =>
    new Promise<ChildMessage>((resolve, reject) => {
      const seen = messages.find((m) => m.type === type);
      if (seen) {
        messages.splice(messages.indexOf(seen), 1);
        resolve(seen);
      } else {
        waiting.push({ type, resolve: (m) => (messages.splice(messages.indexOf(m), 1), resolve(m)), reject });
      }
    });
  return { child, next, messages };
}

export const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

export function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** The record the child fixture builds for a jti (family `fam-<jti>`, user 7). */
export const childRecord = (jti: string, now: number) => tokenRecord({ jti, familyId: `fam-${jti}`, issuedAt: now, expiresAt: now + 86_400 });

/**
 * R1, single use across processes: `target` holds 100 fresh refresh tokens; two child processes
 * consume all of them at once, each in its own random order, 4 at a time. Every token must be
 * consumed exactly once (the loser sees a reuse within the grace period), and only the winner's
 * successor recorded. `open` opens the same store again in this process for the checks.
 */
export async function everyTokenConsumedOnce(kind: 'sqlite' | 'postgres', target: string, open: () => Promise<TokenStore>): Promise<void> {
  const jtis = Array.from({ length: 100 }, (_, i) => `cross-${i}`);
  const setup = await open();
  await Promise.all(jtis.map((jti) => setup.startFamily(childRecord(jti, T), NO_CLIENT, null)));
  await setup.close();

  const children = [startStoreChild(kind, target), startStoreChild(kind, target)];
  try {
    await Promise.all(children.map((c) => c.next('ready')));
    // Each process works through the tokens in its own random order, 4 at a time, so that their
    // transactions interleave many times.
    for (const c of children) c.child.send({ type: 'consume-all', jtis: shuffled(jtis), now: T + 10, inFlight: 4 });
    const results = await Promise.all(children.map((c) => c.next('outcomes')));

    const wins = new Map<string, number>();
    const perProcess = [0, 0];
    for (const [index, result] of results.entries()) {
      const outcomes = result.outcomes as Array<{ jti: string; outcome: { status: string; familyRevoked?: boolean } }>;
      assert.equal(outcomes.length, 100);
      for (const { jti, outcome } of outcomes) {
        if (outcome.status === 'consumed') {
          wins.set(jti, (wins.get(jti) ?? 0) + 1);
          perProcess[index]!++;
        } else {
          assert.deepEqual(outcome, { status: 'reused', familyRevoked: false }, jti);
        }
      }
    }
    assert.equal(wins.size, 100, 'every token was consumed by someone');
    for (const [jti, n] of wins) assert.equal(n, 1, `${jti} consumed ${n} times`);
    assert.equal(perProcess[0]! + perProcess[1]!, 100);

    const check = await open();
    try {
      for (const jti of jtis) {
        assert.equal(await check.status(jti, T + 10), 'used');
        const successors = await Promise.all(children.map((c) => check.status(`${jti}-next-${c.child.pid}`, T + 10)));
        assert.deepEqual(successors.sort(), ['active', 'unknown'], `${jti}: only the winner's successor is recorded`);
      }
    } finally {
      await check.close();
    }
  } finally {
    for (const c of children) if (c.child.connected) c.child.send({ type: 'close' });
    await Promise.all(children.map((c) => exited(c.child)));
  }
}

/**
 * R2, durable before acknowledge: a child streams consumes (with successors), blacklists of known
 * tokens and blacklists of never-seen ones, and is killed with SIGKILL once `minAcks` were
 * acknowledged; then every acknowledged write must be found in the store. Returns how many of each
 * were checked.
 */
export async function acknowledgedWritesSurviveKill(
  kind: 'sqlite' | 'postgres',
  target: string,
  options: { known: number; minAcks: number; inFlight: number; open: () => Promise<TokenStore> },
): Promise<{ consumes: number; blacklists: number }> {
  const now = T + 100;
  const known = Array.from({ length: options.known }, (_, i) => `dur-${i}`);
  const setup = await options.open();
  await Promise.all(known.map((jti) => setup.startFamily(childRecord(jti, T), NO_CLIENT, null)));
  await setup.close();

  // Interleaved: consume a known token (with a successor), blacklist a known one, blacklist a never-seen one.
  const ops: Array<{ kind: 'consume' | 'blacklist'; jti: string; successor?: string }> = [];
  for (let i = 0; i < known.length; i += 2) {
    ops.push({ kind: 'consume', jti: known[i]!, successor: `${known[i]}-next` });
    ops.push({ kind: 'blacklist', jti: known[i + 1]! });
    ops.push({ kind: 'blacklist', jti: `unseen-${i}` });
  }
  const { child, next, messages } = startStoreChild(kind, target);
  await next('ready');
  const acked = new Promise<void>((resolve, reject) => {
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'stream-done') reject(new Error('the child finished before it was killed: make the stream longer'));
      if (messages.filter((x) => x.type === 'ack').length >= options.minAcks) resolve();
    });
  });
  child.send({ type: 'stream', ops, inFlight: options.inFlight, now });
  await acked;
  child.kill('SIGKILL');
  assert.equal((await exited(child)).signal, 'SIGKILL');

  const acks = messages.filter((m) => m.type === 'ack') as Array<ChildMessage & { kind: string; jti: string; successor?: string; status: string }>;
  assert.ok(acks.length >= options.minAcks && acks.length < ops.length, `${acks.length} acknowledgements`);
  const check = await options.open();
  let consumes = 0;
  let blacklists = 0;
  try {
    for (const ack of acks) {
      if (ack.kind === 'consume') {
        assert.equal(ack.status, 'consumed');
        assert.equal(await check.status(ack.jti, now), 'used', `acknowledged consume of ${ack.jti} was lost`);
        assert.equal(await check.status(ack.successor!, now), 'active', `acknowledged successor ${ack.successor} was lost`);
        consumes++;
      } else {
        assert.equal(ack.status, 'blacklisted');
        assert.equal(await check.status(ack.jti, now), 'revoked', `acknowledged blacklist of ${ack.jti} was lost`);
        blacklists++;
      }
    }
  } finally {
    await check.close();
  }
  return { consumes, blacklists };
}
