/** Store child processes for the cross-process tests (test/fixtures/store-child.mjs). */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
