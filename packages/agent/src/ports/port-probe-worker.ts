/**
 * Worker thread of inNetnsPortProbe: enters the namespace given in workerData,
 * then binds. net.listen/dgram.bind create their fds on a later tick, so they cannot
 * run in a synchronous setns window on the main thread (shared/notes/kernel.md); a
 * thread of its own can stay in the namespace for as long as it needs.
 */
import { closeSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CLONE_NEWNET, native } from '@vxnet/netns';

import { tryBindAll, type BindTarget } from './bind-check.js';

const { netnsPath, targets } = workerData as { netnsPath: string; targets: BindTarget[] };
const fd = openSync(netnsPath, 'r');
try {
  native().setns(fd, CLONE_NEWNET);
} finally {
  closeSync(fd);
}
parentPort?.postMessage(await tryBindAll(targets));
