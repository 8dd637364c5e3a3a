import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgument } from '@vxnet/common';
import { parseDetachKeys, parsePortSpec, parseRestartPolicy, type AttachRequest, type ContainerView, type LogChunk, type RunRequest } from '@vxnet/common/api';
import { attach } from '../attach.js';
import { engineCall, engineUpgrade, resolveEngine, seg, type EngineFlags, type EngineTarget } from '../engine-client.js';
import { print } from '../output.js';

export interface RunFlags {
  detach?: boolean;
  name?: string;
  net?: string[];
  ip?: string;
  alias?: string[];
  hostname?: string;
  env?: string[];
  rootfs?: string;
  rm?: boolean;
  interactive?: boolean;
  tty?: boolean;
  /** `-p` / `--publish` values, as typed. */
  publish?: string[];
  /** `--restart no|on-failure[:N]|always|unless-stopped` */
  restart?: string;
  workdir?: string;
  user?: string;
  /** `--entrypoint CMD` (one word, as docker's; "" clears the image's). */
  entrypoint?: string;
  detachKeys?: string;
}

/** `--restart` as the API takes it; InvalidArgument with what is wrong. */
export function restartFlag(text: string): RunRequest['restart'] {
  try {
    return parseRestartPolicy(text);
  } catch (err) {
    throw new InvalidArgument(`invalid --restart "${text}": ${(err as Error).message}`);
  }
}

/** `--detach-keys`, checked before anything is sent. */
export function detachKeysFlag(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    parseDetachKeys(text);
  } catch (err) {
    throw new InvalidArgument(`invalid --detach-keys "${text}": ${(err as Error).message}`);
  }
  return text;
}

/**
 * `-e` entries as docker takes them: KEY=VALUE, or KEY alone for the caller's value
 * (dropped when the caller has none). Throws InvalidArgument for an empty key.
 */
export function parseEnv(entries: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i === 0 || e === '') throw new InvalidArgument(`invalid -e "${e}": the variable name is empty (expected KEY=VALUE)`);
    if (i > 0) out.push(e);
    else if (env[e] !== undefined) out.push(`${e}=${env[e]}`);
  }
  return out;
}

/**
 * Turn `run` arguments into the API request. With --rootfs there is no image: every
 * positional argument is the command.
 */
export function runRequest(image: string | undefined, cmd: string[], flags: RunFlags): RunRequest {
  if (flags.interactive && !flags.tty) throw new InvalidArgument('run -i needs -t: a container\'s input is its terminal (vxnet run -it … sh)');
  const req: RunRequest = { detach: Boolean(flags.detach) };
  if (flags.tty) req.tty = true;
  let command = cmd;
  if (flags.rootfs !== undefined) {
    req.rootfs = resolve(flags.rootfs);
    command = image !== undefined ? [image, ...cmd] : cmd;
  } else {
    if (image === undefined) throw new InvalidArgument('run needs an image (e.g. `vxnet -H h1 run -d busybox`) or --rootfs DIR');
    req.image = image;
  }
  if (command.length > 0) req.cmd = command;
  if (flags.name !== undefined) req.name = flags.name;
  if (flags.net?.length) req.networks = flags.net;
  if (flags.ip !== undefined) req.ip = flags.ip;
  if (flags.alias?.length) req.aliases = flags.alias;
  if (flags.hostname !== undefined) req.hostname = flags.hostname;
  if (flags.env?.length) req.env = parseEnv(flags.env);
  if (flags.publish?.length) req.ports = flags.publish.map((p) => parsePortSpec(p));
  if (flags.restart !== undefined) req.restart = restartFlag(flags.restart);
  if (flags.workdir !== undefined) req.workdir = flags.workdir;
  if (flags.user !== undefined) req.user = flags.user;
  if (flags.entrypoint !== undefined) req.entrypoint = flags.entrypoint === '' ? [] : [flags.entrypoint];
  // removed by the engine when it exits, unless the CLI waits for it to read its output and code
  if (flags.rm && (flags.detach || flags.tty)) req.autoRemove = true;
  return req;
}

/**
 * `vxnet [-H HOST] run [-d] [-i] [-t] [--name N] [--net NET]… [--ip A] [--alias A]… [-p [IP:]HP:CP[/PROTO]]… [--hostname H] [-e K=V]… [--rm] (IMAGE | --rootfs DIR) [CMD…]`
 * Detached: prints the id. Attached: prints the container's output as it comes and
 * exits with its exit code (the container stays, as in docker, unless --rm). With -t
 * the container runs on a terminal and the CLI attaches to it (-i: with our stdin, as
 * an interactive shell); if the CLI goes away the container keeps running.
 */
export async function runCommand(image: string | undefined, cmd: string[], flags: RunFlags, conn: EngineFlags): Promise<number> {
  const req = runRequest(image, cmd, flags);
  const detachKeys = detachKeysFlag(flags.detachKeys);
  const target = resolveEngine(conn);
  const c = await engineCall<ContainerView>(target, 'POST', '/v1/containers', req);
  if (flags.detach) {
    print(c.id);
    return 0;
  }
  let exitCode: number | null;
  if (req.tty) {
    const attachReq: AttachRequest = { stdin: Boolean(flags.interactive), ...(detachKeys !== undefined ? { detachKeys } : {}) };
    if (process.stdout.isTTY) Object.assign(attachReq, { rows: process.stdout.rows, cols: process.stdout.columns });
    const { socket, head } = await engineUpgrade(target, `/v1/containers/${seg(c.id)}/attach`, attachReq);
    exitCode = await attach(socket, head, { url: target.url, stdin: attachReq.stdin === true, tty: true });
  } else {
    await followLogs(target, c.id, 0, true);
    ({ exitCode } = await engineCall<{ exitCode: number | null }>(target, 'POST', `/v1/containers/${seg(c.id)}/wait`, undefined, null));
  }
  if (flags.rm && !req.autoRemove) await engineCall(target, 'DELETE', `/v1/containers/${seg(c.id)}?force=1`);
  return exitCode ?? 125;
}

/**
 * Print the log from `offset`; with `follow`, keep polling until the container is not
 * running (nor restarting). `timestamps`: each line prefixed by when it was written;
 * `sinceMs`: only lines written since. Returns the final offset.
 */
export async function followLogs(target: EngineTarget, ref: string, offset: number, follow: boolean, o: { timestamps?: boolean; sinceMs?: number } = {}): Promise<number> {
  let at = offset;
  const query = `${o.timestamps ? '&timestamps=1' : ''}${o.sinceMs !== undefined ? `&since=${o.sinceMs}` : ''}`;
  for (;;) {
    const chunk = await engineCall<LogChunk>(target, 'GET', `/v1/containers/${seg(ref)}/logs?offset=${at}${query}`);
    if (chunk.data) process.stdout.write(Buffer.from(chunk.data, 'base64'));
    const moved = chunk.offset !== at;
    at = chunk.offset;
    if (!follow) return at;
    if (!chunk.running && !moved) return at;
    if (!moved) await sleep(50);
  }
}
