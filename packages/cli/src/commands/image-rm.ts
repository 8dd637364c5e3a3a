import { eachContainer, engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';

/** `vxnet [-H HOST] image rm IMAGE…`: remove images (a tag only, when the image has others); refused while a container uses one. */
export async function imageRmCommand(refs: string[], conn: EngineFlags): Promise<number> {
  const target = resolveEngine(conn);
  return eachContainer(refs, (ref) => engineCall(target, 'DELETE', `/v1/images/${seg(ref)}`));
}
