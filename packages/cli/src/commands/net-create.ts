import { InvalidArgument, VxnetError, type NetworkSpec } from '@vxnet/common';
import type { CreateNetworkRequest } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { parseIntStrict, parseKeyValues } from '../format.js';
import { print, printJson } from '../output.js';

export interface NetCreateFlags {
  driver?: string;
  subnet?: string;
  hostSubnetLen?: string;
  vni?: string;
  mtu?: string;
  internal?: boolean;
  label?: string[];
  opt?: string[];
  json?: boolean;
}

/**
 * Turn the flags into an API request. Only the form of each value is checked here
 * (whole numbers, key=value); ranges, names and CIDRs are the controller's policy.
 * Throws InvalidArgument naming the flag.
 */
export function createRequest(name: string, flags: NetCreateFlags): CreateNetworkRequest {
  const req: CreateNetworkRequest = { name };
  if (flags.driver !== undefined) req.driver = flags.driver;
  if (flags.subnet !== undefined) req.subnet = flags.subnet;
  if (flags.hostSubnetLen !== undefined) req.hostSubnetLength = parseIntStrict('--host-subnet-len', flags.hostSubnetLen);
  if (flags.vni !== undefined) req.vni = parseIntStrict('--vni', flags.vni);
  if (flags.mtu !== undefined) req.mtu = parseIntStrict('--mtu', flags.mtu);
  if (flags.internal) req.internal = true;
  if (flags.label?.length) req.labels = parseKeyValues('--label', flags.label);
  if (flags.opt?.length) req.options = parseKeyValues('--opt', flags.opt);
  return req;
}

/** `vxnet net create [flags] NAME`: prints the new network's id (its JSON with --json). */
export async function netCreateCommand(name: string, flags: NetCreateFlags, conn: ControllerFlags): Promise<number> {
  let network: NetworkSpec;
  try {
    const req = createRequest(name, flags);
    network = await call<NetworkSpec>(resolveController(conn), 'POST', '/v1/networks', req);
  } catch (err) {
    throw withContext(name, err);
  }
  if (flags.json) printJson(network);
  else print(network.id);
  return 0;
}

/**
 * The controller's conflict errors already say `could not create network "x": …`; its
 * (and our) input errors say only what is wrong with which value. Give those the same
 * context, so every failure of this verb reads alike.
 */
function withContext(name: string, err: unknown): unknown {
  if (!(err instanceof VxnetError) || err.code !== InvalidArgument.code || err.message.startsWith('could not create network')) return err;
  return new VxnetError(err.code, err.statusCode, `could not create network "${name}": ${err.message}`, { cause: err });
}
