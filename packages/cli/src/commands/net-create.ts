import { InvalidArgument, VxnetError, type NetworkSpec } from '@vxnet/common';
import type { CreateNetworkRequest } from '@vxnet/common/api';
import { call, callWrite, resolveController, type ControllerFlags, type ControllerTarget } from '../controller-client.js';
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

/**
 * `vxnet net create [flags] NAME`: prints the new network's id (its JSON with --json).
 *
 * With several controllers, a create whose controller gave no answer is sent to the
 * next one. The first may have created the network all the same (the claim is the
 * controller's commit point), so a retry that finds the name taken looks the network
 * up: the same settings as asked are reported as created (with a note on stderr),
 * anything else is the "name taken" error it is. A create is never half made either
 * way (see the controller's network-service.ts).
 */
export async function netCreateCommand(name: string, flags: NetCreateFlags, conn: ControllerFlags): Promise<number> {
  let network: NetworkSpec;
  try {
    const req = createRequest(name, flags);
    const target = resolveController(conn);
    const res = await callWrite<NetworkSpec>(target, 'POST', '/v1/networks', req, async (err) => {
      if (err.code !== 'VXNET_NETWORK_NAME_TAKEN') return undefined;
      const existing = await lookup(target, name);
      return existing && sameAsAsked(existing, req) ? existing : undefined;
    });
    network = res.value;
    if (res.unknownAt !== undefined) {
      process.stderr.write(`vxnet: note: the controller at ${res.unknownAt} gave no answer; network "${name}" exists with the settings asked for (id ${network.id.slice(0, 12)}), so it was created by that try or this one\n`);
    }
  } catch (err) {
    throw withContext(name, err);
  }
  if (flags.json) printJson(network);
  else print(network.id);
  return 0;
}

async function lookup(target: ControllerTarget, name: string): Promise<NetworkSpec | undefined> {
  try {
    return (await call<{ network: NetworkSpec }>(target, 'GET', `/v1/networks/${encodeURIComponent(name)}`)).network;
  } catch {
    return undefined; // the "name taken" error stands
  }
}

/** True when `n` has every setting the request named (what it left out was the controller's choice). */
export function sameAsAsked(n: NetworkSpec, req: CreateNetworkRequest): boolean {
  const sameMap = (a: Record<string, string>, b: Record<string, string> | undefined) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());
  return n.name === req.name
    && n.driver === (req.driver ?? 'overlay')
    && (req.subnet === undefined || n.subnet === req.subnet)
    && (req.hostSubnetLength === undefined || n.hostSubnetLength === req.hostSubnetLength)
    && (req.vni === undefined || n.vni === req.vni)
    && n.mtu === (req.mtu ?? null)
    && n.internal === (req.internal ?? false)
    && sameMap(n.labels, req.labels) && sameMap(n.options, req.options);
}

/**
 * The controller's conflict errors already say `could not create network "x": …`; its
 * (and our) input errors say only what is wrong with which value. Give those the same
 * context, so every failure of this verb reads alike.
 */
function withContext(name: string, err: unknown): unknown {
  const wrap = err instanceof VxnetError && (err.code === InvalidArgument.code || err.code === 'VXNET_STORE_UNAVAILABLE' || err.code === 'VXNET_CONTROLLER_UNREACHABLE');
  if (!wrap || err.message.startsWith('could not create network')) return err;
  return new VxnetError(err.code, err.statusCode, `could not create network "${name}": ${err.message}`, { cause: err });
}
