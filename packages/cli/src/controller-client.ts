/**
 * How the CLI reaches the controller: `--controller URL`, else VXNET_CONTROLLER, else
 * the current lab's controller. URLs are `unix:///path/to/socket` or `http://host:port`.
 *
 * The unix socket is root-only and needs no token. Over TCP the controller wants
 * `Authorization: Bearer <token>` (unless it runs with --insecure); the token is read
 * from `--token-file FILE`, else VXNET_TOKEN_FILE, else the current lab's controller
 * token file. With none of them, no token is sent, and a 401 says how to give one.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgument, VxnetError, callJson } from '@vxnet/common';
import { resolveLab } from './context.js';
import { ControllerUnreachable, NoController, TokenUnreadable } from './errors.js';
import { readLabState } from './lab/lab-state.js';

export interface ControllerTarget {
  /** For messages: the URL as given. */
  url: string;
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
  /** For messages: where the token came from, e.g. `/root/t (--token-file)`. */
  tokenFrom?: string;
}

/** The global flags that choose the controller (`vxnet --controller URL`, `--lab NAME`, `--token-file FILE`). */
export interface ControllerFlags {
  controller?: string;
  lab?: string;
  tokenFile?: string;
}

/**
 * Where to send requests, with the token for a TCP controller. Throws NoController,
 * InvalidArgument (a bad URL) or TokenUnreadable (a named token file that is missing,
 * unreadable or empty).
 */
export function resolveController(flags: ControllerFlags): ControllerTarget {
  let url = flags.controller ?? (process.env.VXNET_CONTROLLER || undefined);
  if (url === undefined) {
    let lab: string | undefined;
    try {
      lab = resolveLab(flags.lab);
    } catch {
      throw new NoController();
    }
    url = readLabState(lab)?.controller?.url;
    if (url === undefined) throw new NoController();
  }
  if (url.startsWith('unix://')) return { url, socketPath: url.slice('unix://'.length) };
  const m = /^http:\/\/([^/:]+):([0-9]{1,5})\/?$/.exec(url);
  if (!m) throw new InvalidArgument(`invalid controller URL "${url}": use unix:///path or http://host:port`);
  const source = tokenSource(flags);
  return {
    url,
    host: m[1] as string,
    port: Number(m[2]),
    ...(source ? { token: readToken(url, source), tokenFrom: `${source.file} (${source.via})` } : {}),
  };
}

interface TokenSource {
  file: string;
  /** What named the file: `--token-file`, `$VXNET_TOKEN_FILE`, `lab "l1"`. */
  via: string;
}

function tokenSource(flags: ControllerFlags): TokenSource | undefined {
  if (flags.tokenFile) return { file: flags.tokenFile, via: '--token-file' };
  if (process.env.VXNET_TOKEN_FILE) return { file: process.env.VXNET_TOKEN_FILE, via: '$VXNET_TOKEN_FILE' };
  let lab: string;
  try {
    lab = resolveLab(flags.lab);
  } catch {
    return undefined; // no lab: nothing names a token
  }
  const file = readLabState(lab)?.controller?.tokenFile;
  return file ? { file, via: `lab "${lab}"` } : undefined;
}

function readToken(url: string, source: TokenSource): string {
  let token: string;
  try {
    token = readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    throw new TokenUnreadable(url, source.file, source.via, (err as Error).message, err);
  }
  if (token === '') throw new TokenUnreadable(url, source.file, source.via, 'the file is empty');
  return token;
}

/**
 * One API call. Resolves with the parsed JSON body on 2xx; throws a VxnetError with the
 * controller's code and message otherwise, or ControllerUnreachable.
 */
export async function call<T>(target: ControllerTarget, method: string, path: string, body?: unknown): Promise<T> {
  try {
    return await callJson<T>(target, method, path, body, {
      timeoutMs: 30_000,
      who: 'the controller',
      unreachable: (err) => new ControllerUnreachable(target.url, err.message, err),
    });
  } catch (err) {
    // The controller's 401 says only "authentication required"; say how to fix it.
    if (err instanceof VxnetError && err.statusCode === 401) {
      err.message += target.token === undefined
        ? ` by the controller at ${target.url}: pass --token-file FILE or set VXNET_TOKEN_FILE (the controller's token file, /var/lib/vxnet/controller/token by default)`
        : `: the controller at ${target.url} refused the token in ${target.tokenFrom}`;
    }
    throw err;
  }
}
