import { contextLab } from '../context.js';
import { listLabs } from '../lab/lab.js';
import { printJson, table } from '../output.js';

/** `vxnet lab ls [--json]` */
export function labLsCommand(flags: { json?: boolean }): number {
  const current = contextLab();
  const labs = listLabs().map((l) => ({ ...l, current: l.name === current }));
  if (flags.json) printJson(labs);
  else process.stdout.write(`${table(['NAME', 'PHASE', 'HOSTS', 'UNDERLAY', 'CURRENT'], labs.map((l) => [l.name, l.phase, String(l.hosts), l.underlay, l.current ? '*' : '']))}\n`);
  return 0;
}
