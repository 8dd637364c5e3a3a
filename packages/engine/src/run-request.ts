/** The checks of a `run` request that need nothing but the request: names, --net, env, hostname, image, ports, restart policy. */
import { InvalidArgument } from '@vxnet/common';
import { portRequestsProblem, restartPolicyProblem, type RunRequest } from '@vxnet/common/api';
import { hostnameProblem, nameProblem } from './names.js';

export type ParsedMode = { kind: 'overlay'; networks: string[] } | { kind: 'none' } | { kind: 'host' } | { kind: 'container'; ref: string };

/**
 * Validate `req` for a container named `name`; resolves its --net values. Throws
 * InvalidArgument, with `what` (what could not be done) first, for the first problem.
 */
export function checkRunRequest(req: RunRequest, name: string, what: string): ParsedMode {
  const problem = nameProblem(name);
  if (problem) throw new InvalidArgument(`${what}: ${problem}`);
  const mode = parseNetworks(req, what);
  for (const a of req.aliases ?? []) {
    const p = nameProblem(a);
    if (p) throw new InvalidArgument(`${what}: ${p.replace('container name', 'alias')}`);
  }
  for (const e of req.env ?? []) {
    if (e.indexOf('=') < 1) throw new InvalidArgument(`${what}: invalid environment entry "${e}": expected KEY=VALUE`);
  }
  if (req.hostname !== undefined) {
    const p = hostnameProblem(req.hostname);
    if (p) throw new InvalidArgument(`${what}: ${p}`);
  }
  if (req.image !== undefined && req.rootfs !== undefined) throw new InvalidArgument(`${what}: give an image or --rootfs, not both`);
  if (req.image === undefined && req.rootfs === undefined) throw new InvalidArgument(`${what}: no image given (e.g. busybox, or --rootfs DIR)`);
  if (req.ports?.length) {
    if (mode.kind !== 'overlay') throw new InvalidArgument(`${what}: -p needs an overlay network (--net NET): ports are published to the first network's address`);
    const p = portRequestsProblem(req.ports);
    if (p) throw new InvalidArgument(`${what}: ${p}`);
  }
  if (req.restart !== undefined) {
    const p = restartPolicyProblem(req.restart);
    if (p) throw new InvalidArgument(`${what}: ${p}`);
    if (req.autoRemove && req.restart.name !== 'no') throw new InvalidArgument(`${what}: --rm and --restart ${req.restart.name} conflict: a container removed when it exits cannot be restarted`);
  }
  return mode;
}

/** --net values: overlay networks, or exactly one of none / host / container:C. Default: none (there is no default bridge). */
export function parseNetworks(req: Pick<RunRequest, 'networks' | 'aliases' | 'ip'>, what: string): ParsedMode {
  const nets = req.networks ?? [];
  const special = nets.filter((n) => n === 'none' || n === 'host' || n.startsWith('container:'));
  if (special.length > 0 && nets.length > 1) throw new InvalidArgument(`${what}: --net ${special[0]} cannot be combined with other networks`);
  const dup = nets.find((n, i) => nets.indexOf(n) !== i);
  if (dup !== undefined) throw new InvalidArgument(`${what}: network "${dup}" given twice`);
  if (nets.some((n) => n === '')) throw new InvalidArgument(`${what}: empty network name`);
  let mode: ParsedMode;
  const first = nets[0];
  if (first === undefined || first === 'none') mode = { kind: 'none' };
  else if (first === 'host') mode = { kind: 'host' };
  else if (first.startsWith('container:')) {
    const ref = first.slice('container:'.length);
    if (ref === '') throw new InvalidArgument(`${what}: --net container: needs a container name or id`);
    mode = { kind: 'container', ref };
  } else mode = { kind: 'overlay', networks: nets };
  if (mode.kind !== 'overlay' && (req.ip !== undefined || (req.aliases?.length ?? 0) > 0)) {
    throw new InvalidArgument(`${what}: --ip and --alias need an overlay network (--net NET)`);
  }
  return mode;
}
