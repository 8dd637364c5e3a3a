import { eachContainer, engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { parseIntStrict } from '../format.js';

/** `vxnet [-H HOST] stop [-t SECONDS] CONTAINER…`: SIGTERM, then SIGKILL after the timeout (default 10 s). */
export async function stopCommand(refs: string[], flags: { time?: string }, conn: EngineFlags): Promise<number> {
  const timeout = flags.time !== undefined ? parseIntStrict('--time', flags.time) : undefined;
  const target = resolveEngine(conn);
  return eachContainer(refs, (ref) => engineCall(target, 'POST', `/v1/containers/${seg(ref)}/stop`, timeout !== undefined ? { timeout } : {}, null));
}
