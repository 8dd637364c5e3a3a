import { eachContainer, engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';

/** `vxnet [-H HOST] start CONTAINER…`: run stopped containers again, with their names, sandboxes and addresses. */
export async function startCommand(refs: string[], conn: EngineFlags): Promise<number> {
  const target = resolveEngine(conn);
  return eachContainer(refs, (ref) => engineCall(target, 'POST', `/v1/containers/${seg(ref)}/start`));
}
