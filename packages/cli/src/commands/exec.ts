import type { ExecResult } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { parseEnv } from './run.js';

/** `vxnet [-H HOST] exec [-e K=V]… CONTAINER CMD…`: prints the command's output, exits with its exit code. */
export async function execCommand(container: string, cmd: string[], flags: { env?: string[] }, conn: EngineFlags): Promise<number> {
  const env = parseEnv(flags.env ?? []);
  const r = await engineCall<ExecResult>(resolveEngine(conn), 'POST', `/v1/containers/${seg(container)}/exec`, { cmd, ...(env.length ? { env } : {}) }, null);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.exitCode;
}
