/**
 * Docker in a lab made with `--docker` (packages/cli/src/lab/docker.ts): the docker CLI
 * that came with Debian's docker.io, against a host's dockerd, whose socket is
 * /run/docker.sock inside the host's machine.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { RunResult } from './cli.js';
import type { HostJson } from './lab.js';

/** Debian's CLI, not a newer one earlier on PATH. */
export const DOCKER_CLI = '/usr/bin/docker';

/** Why Docker tests cannot run here, or undefined when they can. */
export function dockerMissing(): string | undefined {
  const missing = [DOCKER_CLI, '/usr/sbin/dockerd', '/usr/bin/containerd'].filter((p) => !existsSync(p));
  return missing.length > 0 ? `Debian docker.io is not installed (${missing.join(', ')} missing; scripts/test.sh installs it)` : undefined;
}

/** The host's dockerd socket from the root namespace. */
export function dockerSocket(h: HostJson): string {
  if (!h.docker) throw new Error(`host ${h.name} has no dockerd (lab made without --docker)`);
  return `/proc/${h.keeper.pid}/root${h.docker.socket}`;
}

/** Run `docker ARGS` against host h's dockerd; never throws. */
export function docker(h: HostJson, args: string[], timeoutMs = 60_000, configDir?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, DOCKER_HOST: `unix://${dockerSocket(h)}`, ...(configDir ? { DOCKER_CONFIG: configDir } : {}) };
    execFile(DOCKER_CLI, args, { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
