import { eachContainer, engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { parseIntStrict } from '../format.js';

/** `vxnet [-H HOST] restart [-t SECONDS] CONTAINER…`: stop (SIGTERM, SIGKILL after the timeout, default 10 s), then start. */
export async function restartCommand(refs: string[], flags: { time?: string }, conn: EngineFlags): Promise<number> {
  const timeout = flags.time !== undefined ? parseIntStrict('--time', flags.time) : undefined;
  const target = resolveEngine(conn);
  return eachContainer(refs, (ref) => engineCall(target, 'POST', `/v1/containers/${seg(ref)}/restart`, timeout !== undefined ? { timeout } : {}, null));
}
