import type { Logger } from '@vxnet/common';
import { resolveLab } from '../context.js';
import { labDown } from '../lab/lab.js';
import { printJson } from '../output.js';

/** `vxnet lab down [--name L] [--json]` */
export async function labDownCommand(flags: { name?: string; json?: boolean }, log: Logger): Promise<number> {
  const removed = await labDown(resolveLab(flags.name), log);
  if (flags.json) printJson(removed);
  else process.stdout.write(`lab "${removed.name}" removed: ${removed.namespaces.length} namespaces, ${removed.processes.length} processes\n`);
  return 0;
}
