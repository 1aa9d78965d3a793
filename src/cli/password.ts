/**
 * Reading a new password: from stdin with `--password-stdin` (one trailing newline removed, the rest
 * exactly as given), else by a prompt without echo on a terminal. Never from an argument: argv is
 * visible to every user of the machine and kept in shell history.
 */
import { MAX_PASSWORD_BYTES, passwordTooLong } from '../passwords/hasher.js';
import { CliError, EXIT } from './context.js';

async function readAll(stream: NodeJS.ReadStream, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.byteLength;
    if (size > limit) throw new CliError(`the password on stdin is longer than ${MAX_PASSWORD_BYTES} bytes`, EXIT.usage);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads the password from stdin; one trailing `\n` or `\r\n` is not part of it (as `echo` adds one). */
export async function readPasswordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  const text = await readAll(stdin, MAX_PASSWORD_BYTES + 2);
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** Prompts on the terminal without echoing what is typed. Ctrl-C cancels (exit 130). */
export function promptHidden(question: string): Promise<string> {
  const input = process.stdin;
  const output = process.stderr;
  return new Promise((resolve, reject) => {
    let value = '';
    output.write(question);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.resume();
    const finish = () => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n' || character === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (character === '\u0003') {
          finish();
          reject(new CliError('cancelled', 130));
          return;
        }
        if (character === '\u007f' || character === '\b') value = Array.from(value).slice(0, -1).join('');
        else value += character;
      }
    };
    input.on('data', onData);
  });
}

/** The new password, checked: not empty, not over the length limit. */
export async function obtainNewPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = await readPasswordFromStdin();
  } else if (process.stdin.isTTY) {
    password = await promptHidden('Password: ');
    const again = await promptHidden('Password (again): ');
    if (password !== again) throw new CliError('the passwords do not match', EXIT.usage);
  } else {
    throw new CliError('no terminal to prompt for the password: pipe it in with --password-stdin (e.g. printf %s "$PASSWORD" | tokenpair … --password-stdin)', EXIT.usage);
  }
  if (password.length === 0) throw new CliError('the password is empty', EXIT.usage);
  if (passwordTooLong(password)) throw new CliError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`, EXIT.usage);
  return password;
}
