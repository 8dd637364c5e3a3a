/**
 * Exit codes of processes that runc started detached (a console socket requires it):
 * they are reparented to the engine, a subreaper (main.ts), and reaped here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@vxnet/common';
import { native } from '@vxnet/netns';

/** How often an exited process is looked for (its exit is seen at most this late). */
const REAP_EVERY_MS = 50;

/**
 * Resolves with child `pid`'s exit code (128+N after signal N) once it has exited,
 * reaping it. 255 when it is not our child (the engine is not a subreaper): its code
 * is then lost, and it is only seen to be gone.
 */
export async function reapLoop(pid: number, log: Logger): Promise<number> {
  for (;;) {
    await sleep(REAP_EVERY_MS);
    try {
      const code = native().reap(pid);
      if (code !== null) return code;
    } catch (err) {
      log.error({ err, pid }, 'could not reap a detached process: its exit code is lost');
      return 255;
    }
  }
}
