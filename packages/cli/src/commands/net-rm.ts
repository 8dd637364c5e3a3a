import { isUserError, type NetworkSpec } from '@vxnet/common';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { print, printJson } from '../output.js';

/**
 * `vxnet net rm [-f] NAME|ID...`: removes each network in turn, printing its name; a
 * failure is reported on stderr and the rest are still tried. Exit 1 if any failed.
 * -f removes a network even while it has endpoints (agents tear down their part).
 */
export async function netRmCommand(refs: string[], flags: { force?: boolean; json?: boolean }, conn: ControllerFlags): Promise<number> {
  const target = resolveController(conn);
  const removed: NetworkSpec[] = [];
  let failed = 0;
  for (const ref of refs) {
    try {
      const res = await call<{ removed: NetworkSpec }>(target, 'DELETE', `/v1/networks/${encodeURIComponent(ref)}${flags.force ? '?force=true' : ''}`);
      removed.push(res.removed);
      if (!flags.json) print(res.removed.name);
    } catch (err) {
      if (!isUserError(err)) throw err;
      failed++;
      process.stderr.write(`vxnet: ${err.message}\n`);
    }
  }
  if (flags.json) printJson(removed);
  return failed > 0 ? 1 : 0;
}
