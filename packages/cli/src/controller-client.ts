/**
 * How the CLI reaches the controller: `--controller URL`, else VXNET_CONTROLLER, else
 * the current lab's controller. URLs are `unix:///path/to/socket` or `http://host:port`.
 * A bearer token comes from VXNET_TOKEN_FILE when set.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgument, VxnetError, callJson } from '@vxnet/common';
import { resolveLab } from './context.js';
import { ControllerUnreachable, NoController } from './errors.js';
import { readLabState } from './lab/lab-state.js';

export interface ControllerTarget {
  /** For messages: the URL as given. */
  url: string;
  socketPath?: string;
  host?: string;
  port?: number;
  token?: string;
}

/** The global flags that choose the controller (`vxnet --controller URL`, `vxnet --lab NAME`). */
export interface ControllerFlags {
  controller?: string;
  lab?: string;
}

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
  const token = process.env.VXNET_TOKEN_FILE ? readFileSync(process.env.VXNET_TOKEN_FILE, 'utf8').trim() : undefined;
  const withToken = (t: ControllerTarget): ControllerTarget => (token === undefined ? t : { ...t, token });
  if (url.startsWith('unix://')) return withToken({ url, socketPath: url.slice('unix://'.length) });
  const m = /^http:\/\/([^/:]+):([0-9]{1,5})\/?$/.exec(url);
  if (!m) throw new InvalidArgument(`invalid controller URL "${url}": use unix:///path or http://host:port`);
  return withToken({ url, host: m[1] as string, port: Number(m[2]) });
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
        ? ` by the controller at ${target.url}: set VXNET_TOKEN_FILE to a file holding its token`
        : `: the controller at ${target.url} refused the token in $VXNET_TOKEN_FILE`;
    }
    throw err;
  }
}
