/**
 * Podman on a lab host (packages/cli/src/lab/podman.ts): Debian's podman run inside the
 * host's machine, as `vxnet lab podman` does, so it uses the host's storage, CNI
 * configs (/etc/cni/net.d), plugins (/opt/cni/bin) and cgroup tree.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { RunResult } from './cli.js';
import { enterArgs, type HostJson } from './lab.js';

/** What `lab up --podman` needs (scripts/install-podman.sh installs it). */
const NEEDED = ['/usr/bin/podman', '/usr/bin/conmon', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local'];

/** Why podman tests cannot run here, or undefined when they can. */
export function podmanMissing(): string | undefined {
  const missing = NEEDED.filter((p) => !existsSync(p));
  return missing.length > 0 ? `Debian podman / containernetworking-plugins are not installed (${missing.join(', ')} missing; scripts/test.sh installs them)` : undefined;
}

/** Run `podman ARGS` in host h's machine, `input` on stdin; never throws (a timeout is code 124). */
export function podman(h: Pick<HostJson, 'keeper'>, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [...enterArgs(h), 'podman', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    child.stdin.on('error', () => { /* exited before reading its input */ });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 1, stdout, stderr: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? 124 : (code ?? 1), stdout, stderr });
    });
    child.stdin.end(opts.input);
  });
}
