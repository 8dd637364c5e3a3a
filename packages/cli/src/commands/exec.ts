import type { ExecRequest } from '@vxnet/common/api';
import { attach } from '../attach.js';
import { engineUpgrade, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { parseEnv } from './run.js';

export interface ExecFlags {
  env?: string[];
  interactive?: boolean;
  tty?: boolean;
}

/**
 * `vxnet [-H HOST] exec [-i] [-t] [-e K=V]… CONTAINER CMD…`: runs the command with its
 * output streamed as it comes (stdout to stdout, stderr to stderr; one stream with a
 * TTY); exits with its exit code. -i forwards stdin (else it reads /dev/null), -t
 * gives it a terminal. Ctrl-C ends it.
 */
export async function execCommand(container: string, cmd: string[], flags: ExecFlags, conn: EngineFlags): Promise<number> {
  const env = parseEnv(flags.env ?? []);
  const req: ExecRequest = { cmd, stdin: Boolean(flags.interactive), tty: Boolean(flags.tty) };
  if (env.length) req.env = env;
  if (flags.tty && process.stdout.isTTY) Object.assign(req, { rows: process.stdout.rows, cols: process.stdout.columns });
  const target = resolveEngine(conn);
  const { socket, head } = await engineUpgrade(target, `/v1/containers/${seg(container)}/exec`, req);
  return attach(socket, head, { url: target.url, stdin: req.stdin === true, tty: req.tty === true });
}
