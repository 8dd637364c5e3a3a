import { eachContainer, engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';

/** `vxnet [-H HOST] rm [-f] CONTAINER…`: remove containers and everything they had (endpoints, sandbox, logs); -f kills running ones first. */
export async function rmCommand(refs: string[], flags: { force?: boolean }, conn: EngineFlags): Promise<number> {
  const target = resolveEngine(conn);
  return eachContainer(refs, (ref) => engineCall(target, 'DELETE', `/v1/containers/${seg(ref)}${flags.force ? '?force=1' : ''}`, undefined, null));
}
