import { resolveLab } from '../context.js';
import { labKill, type LabTarget } from '../lab/lab.js';

/** `vxnet lab kill [--name L] [-s SIGNAL] TARGET [DAEMON]` */
export async function labKillCommand(target: LabTarget, flags: { name?: string; signal?: string }): Promise<number> {
  const r = await labKill(resolveLab(flags.name), target, flags.signal);
  process.stdout.write(`sent ${r.signal} to ${r.what} (pid ${r.pid})\n`);
  return 0;
}
