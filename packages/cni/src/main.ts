/**
 * The `vxnet` CNI executable: environment + stdin in, the result or an error on
 * stdout, exit 0 or 1. Loads only node:http and the protocol module.
 */
import { runPlugin } from './plugin.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const out = await runPlugin(process.env, await readStdin());
process.stdout.write(out.stdout, () => process.exit(out.exitCode));
