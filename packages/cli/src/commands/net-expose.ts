import type { ExposeResult } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { print, printJson } from '../output.js';

/**
 * `vxnet [-H HOST] net expose [--json] NETWORK`: give the host an address on the
 * network (weave expose), through its engine to its agent; prints ADDRESS/LEN. Asking
 * again prints the same address.
 */
export async function netExposeCommand(network: string, flags: { json?: boolean }, conn: EngineFlags): Promise<number> {
  const r = await engineCall<ExposeResult>(resolveEngine(conn), 'POST', `/v1/networks/${seg(network)}/expose`);
  if (flags.json) printJson(r);
  else print(`${r.ip}/${r.prefixLength}`);
  return 0;
}
