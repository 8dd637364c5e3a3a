import { InvalidArgument } from '@vxnet/common';
import type { LabTarget } from '../lab/lab.js';

/** The target of `lab kill`/`lab restart` from its arguments and `--member N`. */
export function labTarget(target: string, daemon: string | undefined, member: string | undefined): LabTarget {
  if (member !== undefined && !/^[1-9][0-9]?$/.test(member)) throw new InvalidArgument(`invalid --member "${member}": expected a member number (1, 2, …; see \`vxnet lab status\`)`);
  return { target, ...(daemon !== undefined ? { daemon } : {}), ...(member !== undefined ? { member: Number(member) } : {}) };
}
