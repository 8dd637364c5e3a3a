/**
 * Names of network namespaces, laid out as iproute2 does (/run/netns/NAME). Pure file
 * system work, no native code: shared by the agent (which creates namespaces through
 * its addon), the lab (through `ip netns`) and the tests.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Where named namespaces are mounted (iproute2's NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = '/run/netns';

const NAME = /^[A-Za-z0-9_.-]{1,255}$/;

/**
 * The path of the named namespace NAME (it need not exist). Throws TypeError when
 * NAME is not a plain file name.
 *
 * Equivalent to: the path `ip netns` uses, /run/netns/NAME
 */
export function netnsPath(name: string): string {
  if (!NAME.test(name) || name === '.' || name === '..') throw new TypeError(`invalid network namespace name "${name}"`);
  return join(NETNS_RUN_DIR, name);
}

/**
 * Names of the namespaces under /run/netns that start with `prefix`, sorted.
 *
 * Equivalent to: ip netns list | grep ^PREFIX
 */
export function listNetns(prefix = ''): string[] {
  let names: string[];
  try {
    names = readdirSync(NETNS_RUN_DIR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => n.startsWith(prefix)).sort();
}

/**
 * The start of every namespace name a vxnet daemon makes: the agent's network
 * namespaces are `vxnet-<network id[0:12]>`, the engine's sandboxes `vxnet-s-<id12>`.
 * Fixed, not configurable: every host names its namespaces alike. It must not decide
 * ownership (both daemons share it); the agent's reconcile still lists namespaces by it
 * until ownership comes from what each daemon recorded making (issue 8, part 2).
 */
export const VXNET_NETNS_PREFIX = 'vxnet-';
