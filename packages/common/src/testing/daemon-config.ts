/**
 * Runs a daemon's compiled binary the way an operator checks a configuration:
 * `vxnet-<daemon> --config FILE --print-config ...`. Needs no root: nothing starts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BinRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `bin` (a .js file) with `--config <file holding fileSettings>` and `args`, in an
 * environment without the caller's VXNET_* variables plus `env`. Always passes a
 * config file so /etc/vxnet/*.json of the machine running the test plays no part.
 */
export function runDaemonBin(bin: string, fileSettings: object, args: string[], env: Record<string, string> = {}): BinRun {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-bin-config-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(fileSettings));
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VXNET_')));
    const r = spawnSync(process.execPath, [bin, '--config', file, ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
