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
