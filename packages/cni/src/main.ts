/**
 * The `vxnet` CNI executable: environment + stdin in, the result or an error on
 * stdout, exit 0 or 1. Loads only node:net and the protocol module, and reads stdin
 * and writes stdout with plain fd calls: process.stdin and process.stdout are streams
 * built on first use, ~4 ms of a start-up a runtime pays on every call.
 */
import { readFileSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { runPlugin } from './plugin.js';

async function readStdin(): Promise<string> {
  if (isatty(0)) return '';
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    // a non-blocking stdin (a parent that set O_NONBLOCK on the pipe) says EAGAIN: read it as a stream
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
}

/** Writes `text` on fd 1, then exits with `code`; through process.stdout when fd 1 is a non-blocking pipe that is full. */
function printAndExit(text: string, code: number): void {
  const buf = Buffer.from(text, 'utf8');
  let at = 0;
  try {
    while (at < buf.length) at += writeSync(1, buf, at);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    process.stdout.write(buf.subarray(at), () => process.exit(code));
    return;
  }
  process.exit(code);
}

const out = await runPlugin(process.env, await readStdin());
printAndExit(out.stdout, out.exitCode);
