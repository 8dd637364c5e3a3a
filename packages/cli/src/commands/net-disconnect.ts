import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';

/** `vxnet [-H HOST] net disconnect NETWORK CONTAINER`: remove the container's interface on NETWORK. */
export async function netDisconnectCommand(network: string, container: string, conn: EngineFlags): Promise<number> {
  await engineCall(resolveEngine(conn), 'DELETE', `/v1/containers/${seg(container)}/networks/${seg(network)}`);
  return 0;
}
