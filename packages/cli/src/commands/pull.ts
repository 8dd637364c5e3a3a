import { readFileSync } from 'node:fs';
import { InvalidArgument } from '@vxnet/common';
import type { ImagePullRequest, ImagePullResult } from '@vxnet/common/api';
import { engineCall, resolveEngine, type EngineFlags } from '../engine-client.js';
import { decimalSize } from '../format.js';
import { print, printJson } from '../output.js';

export interface PullFlags {
  username?: string;
  passwordStdin?: boolean;
  caFile?: string;
  json?: boolean;
}

/** All of stdin, without its trailing newline (a password piped with echo). */
async function readStdin(input: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of input) parts.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * `vxnet [-H HOST] pull REGISTRY[:PORT]/NAME[:TAG|@DIGEST] [--username U --password-stdin]
 * [--ca-file PEM] [--json]`: the engine of HOST downloads the image and stores it like
 * `image load`. The password is read from stdin, never from argv (visible in ps).
 */
export async function pullCommand(ref: string, flags: PullFlags, conn: EngineFlags, stdin: NodeJS.ReadableStream = process.stdin): Promise<number> {
  if (flags.passwordStdin && flags.username === undefined) throw new InvalidArgument(`could not pull image "${ref}": --password-stdin needs --username`);
  if (flags.username !== undefined && !flags.passwordStdin) throw new InvalidArgument(`could not pull image "${ref}": --username needs --password-stdin (the password is never taken from the command line)`);
  const req: ImagePullRequest = { ref };
  if (flags.username !== undefined) {
    req.username = flags.username;
    req.password = await readStdin(stdin);
  }
  if (flags.caFile !== undefined) {
    try {
      req.ca = readFileSync(flags.caFile, 'utf8');
    } catch (err) {
      throw new InvalidArgument(`could not pull image "${ref}": cannot read --ca-file ${flags.caFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const res = await engineCall<ImagePullResult>(resolveEngine(conn), 'POST', '/v1/images/pull', req, null);
  if (flags.json) printJson(res);
  else print(`Pulled ${res.image.tags[0] ?? res.image.id} (${res.image.id.slice(7, 19)}, ${decimalSize(res.bytes)})\nDigest: ${res.digest}`);
  return 0;
}
