import type { Logger } from '@vxnet/common';
import { resolveLab } from '../context.js';
import { labRestart, type LabTarget } from '../lab/lab.js';

/** `vxnet lab restart [--name L] TARGET [DAEMON]` */
export async function labRestartCommand(target: LabTarget, flags: { name?: string }, log: Logger): Promise<number> {
  const r = await labRestart(resolveLab(flags.name), target, log);
  process.stdout.write(`restarted ${r.what} (pid ${r.pid})\n`);
  return 0;
}
