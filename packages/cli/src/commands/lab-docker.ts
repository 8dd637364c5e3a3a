import { resolveLab } from '../context.js';
import { labDocker } from '../lab/lab.js';

/** `vxnet lab docker [--name L] HOST -- ARGS...`: the docker CLI against HOST's dockerd; exits with its exit code. */
export function labDockerCommand(host: string, args: string[], flags: { name?: string }): Promise<number> {
  // commander keeps the `--` that separates our options from docker's
  return labDocker(resolveLab(flags.name), host, args[0] === '--' ? args.slice(1) : args);
}
