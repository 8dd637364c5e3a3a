import { resolveLab } from '../context.js';
import { labPodman } from '../lab/lab.js';

/** `vxnet lab podman [--name L] HOST -- ARGS...`: podman in HOST's machine; exits with its exit code. */
export function labPodmanCommand(host: string, args: string[], flags: { name?: string }): Promise<number> {
  // commander keeps the `--` that separates our options from podman's
  return labPodman(resolveLab(flags.name), host, args[0] === '--' ? args.slice(1) : args);
}
