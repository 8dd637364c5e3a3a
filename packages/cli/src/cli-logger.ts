/**
 * The CLI's pino logger, `$VXNET_HOME/vxnet.log`. Only the lab's verbs log, so bin.ts
 * loads this module (and pino with it) for them alone, not on every command's start.
 */
import { join } from 'node:path';
import { createLogger, type Logger } from '@vxnet/common';
import { vxnetHome } from './context.js';

export function cliLogger(): Logger {
  return createLogger({ name: 'vxnet-cli', file: join(vxnetHome(), 'vxnet.log') });
}
