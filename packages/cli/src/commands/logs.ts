import { resolveEngine, type EngineFlags } from '../engine-client.js';
import { followLogs } from './run.js';

/** `vxnet [-H HOST] logs [-f] CONTAINER`: the container's output (stdout and stderr, in order); -f follows until it stops. */
export async function logsCommand(container: string, flags: { follow?: boolean }, conn: EngineFlags): Promise<number> {
  await followLogs(resolveEngine(conn), container, 0, Boolean(flags.follow));
  return 0;
}
