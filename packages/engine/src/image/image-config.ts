/**
 * The image config (OCI image-spec config.md; Docker's is the same document): what a
 * container of the image runs, and the uncompressed digests of its layers. Parsed
 * and checked once, when the image is loaded, so that a bad config is refused then,
 * not at every run.
 */
import type { ImageRuntimeConfig } from '@vxnet/common/api';

export interface ParsedImageConfig {
  architecture: string;
  os: string;
  created: string | null;
  config: ImageRuntimeConfig;
  /** rootfs.diff_ids: `sha256:<hex>` of each layer's uncompressed tar, bottom first. */
  diffIds: string[];
}

export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Parse an image config's bytes. Returns the config, or the problem as one phrase
 * ("its Cmd is not a list of strings") for the caller's "could not load image" line.
 */
export function parseImageConfig(bytes: Buffer): ParsedImageConfig | string {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return `its config is not JSON (${(err as Error).message})`;
  }
  if (!isObject(doc)) return 'its config is not a JSON object';
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) return 'its config has no rootfs.diff_ids';
  const diffIds = rootfs.diff_ids;
  const badId = diffIds.find((d) => typeof d !== 'string' || !DIGEST.test(d));
  if (badId !== undefined) return `its config lists a layer digest ${JSON.stringify(badId)} that is not sha256:<64 hex>`;
  if (diffIds.length === 0) return 'its config lists no layers';
  const c = doc.config ?? {};
  if (!isObject(c)) return 'its config\'s "config" is not an object';
  const list = (key: string): string[] | string => {
    const v = c[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return `its ${key} is not a list of strings (${JSON.stringify(v).slice(0, 60)})`;
    if (v.some((s) => s.includes('\0'))) return `its ${key} holds a NUL byte`;
    return v;
  };
  const text = (key: string): string | { problem: string } => {
    const v = c[key];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string' || v.includes('\0')) return { problem: `its ${key} is not a string` };
    return v;
  };
  const entrypoint = list('Entrypoint');
  if (typeof entrypoint === 'string') return entrypoint;
  const cmd = list('Cmd');
  if (typeof cmd === 'string') return cmd;
  if (cmd.length > 0 && entrypoint.length === 0 && cmd[0] === '') return 'its Cmd starts with an empty program name';
  if (entrypoint.length > 0 && entrypoint[0] === '') return 'its Entrypoint starts with an empty program name';
  const env = list('Env');
  if (typeof env === 'string') return env;
  const badEnv = env.find((e) => e.indexOf('=') < 1);
  if (badEnv !== undefined) return `its Env entry ${JSON.stringify(badEnv)} is not KEY=VALUE`;
  const workingDir = text('WorkingDir');
  if (typeof workingDir !== 'string') return workingDir.problem;
  if (workingDir !== '' && !workingDir.startsWith('/')) return `its WorkingDir ${JSON.stringify(workingDir)} is not an absolute path`;
  const user = text('User');
  if (typeof user !== 'string') return user.problem;
  if (user !== '' && userProblem(user) !== undefined) return `its User ${JSON.stringify(user)} ${userProblem(user)}`;
  const ports = c.ExposedPorts ?? {};
  if (!isObject(ports)) return 'its ExposedPorts is not an object';
  const exposedPorts = Object.keys(ports);
  const badPort = exposedPorts.find((p) => !/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(p) || Number(p.split('/')[0]) > 65535);
  if (badPort !== undefined) return `its ExposedPorts entry ${JSON.stringify(badPort)} is not PORT[/tcp|udp|sctp]`;
  return {
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    os: typeof doc.os === 'string' ? doc.os : '',
    created: typeof doc.created === 'string' ? doc.created : null,
    config: { entrypoint, cmd, env, workingDir, user, exposedPorts },
    diffIds: diffIds as string[],
  };
}

/** Why `user` is no user spec (`uid`, `uid:gid`, `name`, `name:group`), or undefined. */
export function userProblem(user: string): string | undefined {
  const parts = user.split(':');
  if (parts.length > 2) return 'has more than one ":"';
  for (const p of parts) {
    if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(p)) return 'is not uid[:gid] or name[:group]';
    if (/^\d+$/.test(p) && Number(p) > 0xfffffffe) return 'has an id above 4294967294';
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
