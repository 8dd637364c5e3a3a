import type { ContainerView } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { print, printJson } from '../output.js';

/** `vxnet [-H HOST] net connect [--alias A]… [--ip A] NETWORK CONTAINER`: one more interface (next ethN) on NETWORK. */
export async function netConnectCommand(network: string, container: string, flags: { alias?: string[]; ip?: string; json?: boolean }, conn: EngineFlags): Promise<number> {
  const c = await engineCall<ContainerView>(resolveEngine(conn), 'POST', `/v1/containers/${seg(container)}/networks`, {
    network, ...(flags.alias?.length ? { aliases: flags.alias } : {}), ...(flags.ip !== undefined ? { ip: flags.ip } : {}),
  });
  const ep = c.networks.find((n) => n.network === network || n.networkId === network || n.networkId.startsWith(network)) ?? c.networks[c.networks.length - 1];
  if (flags.json) printJson(ep);
  else if (ep) print(`${c.name} ${ep.ifname} ${ep.ip}/${ep.prefixLength} on ${ep.network}`);
  return 0;
}
