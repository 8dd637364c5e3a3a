import type { ExposeResult } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { print, printJson } from '../output.js';

/**
 * `vxnet [-H HOST] net unexpose [--json] NETWORK`: take the host's address on the
 * network back; prints the address it had. A network not exposed there is an error.
 */
export async function netUnexposeCommand(network: string, flags: { json?: boolean }, conn: EngineFlags): Promise<number> {
  const r = await engineCall<ExposeResult>(resolveEngine(conn), 'DELETE', `/v1/networks/${seg(network)}/expose`);
  if (flags.json) printJson(r);
  else print(`${r.ip}/${r.prefixLength}`);
  return 0;
}
