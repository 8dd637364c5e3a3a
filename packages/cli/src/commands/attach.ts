import type { AttachRequest } from '@vxnet/common/api';
import { attach } from '../attach.js';
import { engineUpgrade, resolveEngine, seg, type EngineFlags } from '../engine-client.js';
import { detachKeysFlag } from './run.js';

export interface AttachFlags {
  /** commander's --no-stdin: false when given. */
  stdin?: boolean;
  detachKeys?: string;
}

/**
 * `vxnet [-H HOST] attach [--no-stdin] [--detach-keys KEYS] CONTAINER`: to the
 * terminal of a container run with -t (`run -dit`): its recent output, then what it
 * prints; our input to it. Ctrl-p ctrl-q (or KEYS) leaves it running and exits 0;
 * when the container ends, exits with its code.
 */
export async function attachCommand(container: string, flags: AttachFlags, conn: EngineFlags): Promise<number> {
  const detachKeys = detachKeysFlag(flags.detachKeys);
  const req: AttachRequest = { stdin: flags.stdin !== false, ...(detachKeys !== undefined ? { detachKeys } : {}) };
  if (process.stdout.isTTY) Object.assign(req, { rows: process.stdout.rows, cols: process.stdout.columns });
  const target = resolveEngine(conn);
  const { socket, head } = await engineUpgrade(target, `/v1/containers/${seg(container)}/attach`, req);
  return attach(socket, head, { url: target.url, stdin: req.stdin === true, tty: true });
}
