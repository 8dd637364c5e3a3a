/**
 * The seam through which the agent asks whether host ports are in use: binding in
 * the agent's own namespace (the daemon), or inside another namespace through a
 * worker thread (tests driving a simulated host from the root namespace).
 */
import { Worker } from 'node:worker_threads';
import { netnsPath } from '@vxnet/netns';

import { tryBindAll, type BindTarget } from './bind-check.js';

export type { BindTarget };

export interface PortProbe {
  /**
   * For each target, undefined when nothing on the host uses it, else the bind
   * error's code (EADDRINUSE…). Same order as `targets`. Binds and closes at once:
   * nothing is held afterwards.
   */
  check(targets: BindTarget[]): Promise<Array<string | undefined>>;
}

/** Binds in the calling process's namespace. */
export const localPortProbe: PortProbe = { check: tryBindAll };

/** Binds inside `netns` (a name under /run/netns or a path), from a short-lived worker thread. */
export function netnsPortProbe(netns: string): PortProbe {
  const path = netns.startsWith('/') ? netns : netnsPath(netns);
  return {
    check: (targets) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(new URL('./port-probe-worker.js', import.meta.url), { workerData: { netnsPath: path, targets }, execArgv: [] });
        worker.once('message', (m: Array<string | undefined>) => {
          resolve(m);
          void worker.terminate();
        });
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`port probe worker exited with code ${code}`)));
      }),
  };
}
