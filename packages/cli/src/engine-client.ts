/**
 * How the CLI reaches a container engine, as docker's -H does: `-H HOST` is a host of
 * the current lab (its engine socket from lab.json), `-H unix:///path` any engine;
 * else VXNET_HOST. Without either, a one-host lab's only host; a lab with several
 * hosts asks for -H rather than guessing (a container on the wrong host is a silent
 * surprise, an error is not).
 */
import { request, type IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { VxnetError, callJson, isUserError } from '@vxnet/common';
import { resolveLab } from './context.js';
import { EngineUnreachable, LabHostNotFound, NoEngine } from './errors.js';
import { readLabState } from './lab/lab-state.js';

/** The global flags that choose the engine (`vxnet -H HOST`, `vxnet --lab NAME`). */
export interface EngineFlags {
  host?: string;
  lab?: string;
}

export interface EngineTarget {
  /** For messages: the URL, or the lab host. */
  url: string;
  socketPath: string;
}

export function resolveEngine(flags: EngineFlags, env: NodeJS.ProcessEnv = process.env): EngineTarget {
  const given = flags.host ?? (env.VXNET_HOST || undefined);
  if (given !== undefined && given.includes('://')) {
    if (!given.startsWith('unix:///')) throw new NoEngine(`-H "${given}" is not supported: use a lab host name (h1) or unix:///path/to/engine.sock`);
    return { url: given, socketPath: given.slice('unix://'.length) };
  }
  let lab: string;
  try {
    lab = resolveLab(flags.lab);
  } catch {
    throw new NoEngine('pass -H unix:///path/to/engine.sock, set VXNET_HOST, or run `vxnet lab up` and pass -H h1');
  }
  const state = readLabState(lab);
  if (!state) throw new NoEngine(`lab "${lab}" does not exist (see \`vxnet lab ls\`)`);
  const names = state.hosts.map((h) => h.name);
  let hostName = given;
  if (hostName === undefined) {
    if (state.hosts.length !== 1) throw new NoEngine(`lab "${lab}" has ${state.hosts.length} hosts: choose one with -H (${names.join(', ')}) or set VXNET_HOST`);
    hostName = names[0] as string;
  }
  const host = state.hosts.find((h) => h.name === hostName);
  if (!host) throw new LabHostNotFound(lab, hostName, names.join(', '));
  if (!host.engine) throw new NoEngine(`lab "${lab}" runs no engine on ${hostName} (it was made before engines existed: recreate it)`);
  return { url: `${hostName} (unix://${host.engine.socket})`, socketPath: host.engine.socket };
}

/**
 * One engine API call. Resolves with the parsed JSON body on 2xx; throws a VxnetError
 * with the engine's code and message otherwise, or EngineUnreachable. `timeoutMs`
 * null: no timeout (exec, wait).
 */
export function engineCall<T>(target: EngineTarget, method: string, path: string, body?: unknown, timeoutMs: number | null = 60_000): Promise<T> {
  return callJson<T>(target, method, path, body, {
    timeoutMs,
    who: 'the engine',
    unreachable: (err) => new EngineUnreachable(target.url, err.message, err),
  });
}

/**
 * An HTTP upgrade to the engine (`Connection: Upgrade`, `Upgrade: tcp`) with a JSON
 * body: resolves with the raw connection and the bytes that came with the 101 answer;
 * throws the engine's VxnetError when it answers anything else, EngineUnreachable
 * when it cannot be reached. No timeout: the stream lasts as long as its command.
 */
export function engineUpgrade(target: EngineTarget, path: string, body: unknown): Promise<{ socket: Duplex; head: Buffer }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      method: 'POST', path, socketPath: target.socketPath, agent: false,
      headers: { connection: 'Upgrade', upgrade: 'tcp', 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('upgrade', (_res, socket, head) => {
      socket.setTimeout(0);
      resolve({ socket, head });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let e: { code?: string; message?: string } | undefined;
        try {
          e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof e;
        } catch {
          e = undefined;
        }
        reject(new VxnetError(e?.code ?? 'VXNET_HTTP_ERROR', res.statusCode ?? 0, e?.message ?? `the engine answered ${res.statusCode} to an upgrade`));
      });
    });
    req.on('error', (err) => reject(new EngineUnreachable(target.url, err.message, err)));
    req.end(payload);
  });
}

/**
 * A streamed engine call (cp's tar archives): `body`, if any, is piped as the request
 * with `contentType`. Resolves with the response once a 2xx has come (its body still
 * to read); throws the engine's VxnetError otherwise, or EngineUnreachable.
 */
export function engineStream(target: EngineTarget, method: string, path: string, body?: { stream: Readable; contentType: string }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ method, path, socketPath: target.socketPath, agent: false, headers: body ? { 'content-type': body.contentType } : {} });
    req.on('response', (res) => {
      if ((res.statusCode ?? 500) < 300) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let e: { code?: string; message?: string } | undefined;
        try {
          e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof e;
        } catch {
          e = undefined;
        }
        reject(new VxnetError(e?.code ?? 'VXNET_HTTP_ERROR', res.statusCode ?? 0, e?.message ?? `the engine answered ${res.statusCode}`));
      });
    });
    req.on('error', (err) => reject(new EngineUnreachable(target.url, err.message, err)));
    if (body) {
      body.stream.on('error', (err) => req.destroy(err));
      body.stream.pipe(req);
    } else req.end();
  });
}

/** Path segment for a container or network reference. */
export function seg(ref: string): string {
  return encodeURIComponent(ref);
}

/**
 * What stop, start and rm share: act on each container in turn, report each user
 * error on its own line, go on, and exit 1 if any failed (as docker does).
 */
export async function eachContainer(refs: string[], act: (ref: string) => Promise<unknown>): Promise<number> {
  let code = 0;
  for (const ref of refs) {
    try {
      await act(ref);
      process.stdout.write(`${ref}\n`);
    } catch (err) {
      if (!isUserError(err)) throw err;
      process.stderr.write(`vxnet: ${err.message}\n`);
      code = 1;
    }
  }
  return code;
}

/**
 * POST a byte stream (an image archive) to the engine, as it is read; resolves with the
 * parsed JSON answer on 2xx, throws the engine's VxnetError otherwise (the engine reads
 * a refused upload to its end, so its answer always arrives), EngineUnreachable when
 * it cannot be reached. No timeout: a large archive takes as long as it takes.
 */
export function engineUpload<T>(target: EngineTarget, path: string, body: Readable, contentType: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ method: 'POST', path, socketPath: target.socketPath, agent: false, headers: { 'content-type': contentType, accept: 'application/json' } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let json: { code?: string; message?: string } | undefined;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof json;
        } catch {
          json = undefined;
        }
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(json as T);
        reject(new VxnetError(json?.code ?? 'VXNET_HTTP_ERROR', status, json?.message ?? `the engine answered ${status}`));
      });
    });
    req.on('error', (err) => reject(new EngineUnreachable(target.url, err.message, err)));
    body.on('error', (err) => {
      req.destroy();
      reject(err);
    });
    body.pipe(req);
  });
}
