/**
 * What a container of a loaded image runs: the image config's defaults with the run
 * request's overrides, as docker merges them. The one place the two meet: flags that
 * override the image (`-w`, `-u`, `--entrypoint`) belong in `ProcessOverrides`.
 *
 *   args   entrypoint ++ (request cmd, or else the image's Cmd). `--entrypoint E`
 *          replaces the entrypoint and drops the image's Cmd (docker does the same).
 *   env    the image's Env, then the request's entries (same key: the request wins)
 *   cwd    request, else the image's WorkingDir, else /
 *   user   request, else the image's User, else root (resolved by image-user.ts)
 */
import type { ImageRuntimeConfig, RunRequest } from '@vxnet/common/api';

export interface ProcessOverrides {
  cmd?: string[];
  env?: string[];
  /** `--entrypoint`: replaces the image's; an empty list clears it. */
  entrypoint?: string[];
  /** `-w`: absolute. */
  workingDir?: string;
  /** `-u`: uid[:gid] or name[:group]. */
  user?: string;
}

export interface ContainerProcess {
  args: string[];
  env: string[];
  cwd: string;
  /** As given (resolved to ids once the root file system is mounted); empty: root. */
  user: string;
}

/** Merge; returns the process, or why there is none ("the image has no Cmd or Entrypoint …"). */
export function mergeProcess(image: ImageRuntimeConfig, o: ProcessOverrides): ContainerProcess | string {
  const entrypoint = o.entrypoint ?? image.entrypoint;
  const cmd = o.cmd && o.cmd.length > 0 ? o.cmd : o.entrypoint !== undefined ? [] : image.cmd;
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) return 'the image has no Entrypoint or Cmd: give a command after the image name';
  return { args, env: mergeEnv(image.env, o.env ?? []), cwd: o.workingDir ?? (image.workingDir || '/'), user: o.user ?? image.user };
}

/** `base` with `over` applied by key, order kept (new keys appended). */
export function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const key = (e: string) => e.slice(0, e.indexOf('='));
  const out = [...base];
  for (const e of over) {
    const i = out.findIndex((b) => key(b) === key(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/** The overrides a run request makes (the lifecycle flags -w, -u, --entrypoint are to be read here too). */
export function requestOverrides(req: RunRequest): ProcessOverrides {
  return { ...(req.cmd?.length ? { cmd: req.cmd } : {}), ...(req.env?.length ? { env: req.env } : {}) };
}
