/**
 * The bearer token of the controller's TCP listener, kept in one file. Generated at
 * the first start, so that a controller is never reachable over the network without
 * one unless the operator said `--insecure` (issue 8: anyone on the underlay could
 * create and remove networks). Clients read the same file (the CLI's --token-file).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TokenFileInvalid } from './errors.js';

/** Visible ASCII only: what an Authorization header can carry unchanged. */
const TOKEN = /^[\x21-\x7e]+$/;

export interface LoadedToken {
  token: string;
  /** True when this call generated the file. */
  created: boolean;
  /** Permission bits of the file (0o600 when created here). */
  mode: number;
}

/**
 * Read the token from `path`; when the file does not exist, generate one (32 random
 * bytes, hex) into it first: the directory is created 0700 if missing, the file is
 * written 0600 under a temporary name and linked into place, so a reader never sees a
 * partial file and an existing token is never overwritten (of two controllers
 * starting at once, both end up with the one that was linked first).
 * Throws TokenFileInvalid naming the file when it exists but cannot be read, is
 * empty, or holds characters a bearer token cannot have, or cannot be created.
 */
export function loadOrCreateToken(path: string): LoadedToken {
  const existing = readToken(path);
  if (existing) return existing;
  const token = randomBytes(32).toString('hex');
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      fchmodSync(fd, 0o600); // whatever the umask
      writeSync(fd, `${token}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    rmQuietly(tmp);
    throw new TokenFileInvalid(path, `could not be created: ${(err as Error).message}`, err);
  }
  try {
    linkSync(tmp, path); // unlike rename, fails when the name exists
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new TokenFileInvalid(path, `could not be created: ${(err as Error).message}`, err);
    const winner = readToken(path); // another controller made it first: use theirs
    if (!winner) throw new TokenFileInvalid(path, 'vanished while it was being created', err);
    return winner;
  } finally {
    rmQuietly(tmp);
  }
  syncDir(dir);
  return { token, created: true, mode: 0o600 };
}

/** The token in `path`, or undefined when there is no such file. */
function readToken(path: string): LoadedToken | undefined {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(path, 'utf8');
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenFileInvalid(path, `cannot be read: ${(err as Error).message}`, err);
  }
  const token = text.trim();
  if (token === '') throw new TokenFileInvalid(path, 'is empty (write a token into it, or delete it to have one generated)');
  if (!TOKEN.test(token)) throw new TokenFileInvalid(path, 'holds characters a bearer token cannot have (use visible ASCII, no spaces)');
  return { token, created: false, mode };
}

function rmQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone (the normal case after a failed open)
  }
}

/** Make the new directory entry survive a crash (the file's data was synced already). */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
