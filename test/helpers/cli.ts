/** Run the real `vxnet` CLI as a user would, with a private VXNET_HOME per test. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { listNetns } from '@vxnet/common';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VXNET_BIN = fileURLToPath(new URL('../../../packages/cli/bin/vxnet.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function vxnet(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [VXNET_BIN, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh VXNET_HOME, removed by the returned cleanup. */
export function tempHome(tag: string): { home: string; cleanup: () => void } {
  const home = mkdtempSync(join(tmpdir(), `vxnet-test-${tag}-`));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** A lab name unique to this process and tag (lab names: a-z, 0-9, '-'). */
export function uniqueLabName(tag: string): string {
  return `t${process.pid.toString(36)}-${tag}`;
}

/** Named network namespaces that start with `prefix`. */
export const netnsWithPrefix = listNetns;

export const isRoot = process.getuid?.() === 0;

/**
 * For a test file's top-level lab setup: tap does not run t.teardown when the file
 * dies on an uncaught error, so a failed setup must remove the lab itself. Returns a
 * function that does that and rethrows.
 */
export function setupFailure(lab: string, env: NodeJS.ProcessEnv, cleanup: () => void): (err: unknown) => Promise<never> {
  return async (err) => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
    throw err;
  };
}
