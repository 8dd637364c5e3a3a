import { resolveLab } from '../context.js';
import { labExec } from '../lab/lab.js';

/** `vxnet lab exec [--name L] HOST -- CMD...`: exits with CMD's exit code. */
export function labExecCommand(host: string, cmd: string[], flags: { name?: string }): Promise<number> {
  // commander keeps the `--` that separates our options from the command's
  return labExec(resolveLab(flags.name), host, cmd[0] === '--' ? cmd.slice(1) : cmd);
}
