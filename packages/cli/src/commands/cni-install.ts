import { DEFAULT_CNI_BIN_DIR, DEFAULT_CNI_CONF_DIR, installCni } from '@vxnet/cni';
import type { NetworkDetail } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { CniInstallFailed } from '../errors.js';
import { print, printJson } from '../output.js';

/**
 * `vxnet cni install [--dir D] [--conf-dir C] [--json] NETWORK`: on this host, the
 * `vxnet` CNI executable in D and a configuration list for NETWORK (which must exist:
 * asked of the controller) in C. The same command on every host gives every host the
 * same configuration; running it again changes nothing.
 */
export async function cniInstallCommand(ref: string, flags: { dir?: string; confDir?: string; json?: boolean }, conn: ControllerFlags): Promise<number> {
  const { network } = await call<NetworkDetail>(resolveController(conn), 'GET', `/v1/networks/${encodeURIComponent(ref)}`);
  let r;
  try {
    r = installCni({ network: network.name, dir: flags.dir ?? DEFAULT_CNI_BIN_DIR, confDir: flags.confDir ?? DEFAULT_CNI_CONF_DIR });
  } catch (err) {
    throw new CniInstallFailed(network.name, (err as Error).message);
  }
  if (flags.json) {
    printJson({ network: network.name, plugin: r.plugin, conflist: r.conflist, interpreter: process.execPath, changed: r.pluginChanged || r.conflistChanged });
    return 0;
  }
  const state = (changed: boolean) => (changed ? 'written' : 'unchanged');
  print(`plugin    ${r.plugin} (${state(r.pluginChanged)}; runs ${process.execPath})`);
  print(`conflist  ${r.conflist} (${state(r.conflistChanged)}; network "${network.name}")`);
  return 0;
}
