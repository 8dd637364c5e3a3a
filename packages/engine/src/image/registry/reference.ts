/**
 * Image references as `vxnet pull` takes them: `registry[:port]/name[:tag|@digest]`.
 * The registry host is required: this engine has no default registry (there is no
 * docker.io to fall back to on an isolated host, and guessing one would send a user's
 * credentials somewhere they did not name).
 */
import { referenceProblem } from '../image-archive.js';

export interface PullReference {
  /** `host[:port]` of the registry. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/demo`. */
  repository: string;
  /** Tag or `sha256:<hex>` digest to fetch. */
  ref: string;
  /** The name the image is stored under: `registry/repository:tag`; undefined for a pull by digest alone. */
  name: string | undefined;
}

/** Parse `text`; returns the reason it is no pullable reference as a string. */
export function parsePullReference(text: string): PullReference | string {
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return 'has an invalid digest (want @sha256:<64 hex digits>)';
  }
  const problem = referenceProblem(rest);
  if (problem) return problem;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash < 0 || !/[.:]|^localhost$/.test(first)) {
    return 'names no registry: write it as REGISTRY[:PORT]/NAME[:TAG] (e.g. 203.0.113.10:5000/demo:1.0); vxnet has no default registry';
  }
  const path = rest.slice(slash + 1);
  const colon = path.lastIndexOf(':');
  const repository = colon >= 0 ? path.slice(0, colon) : path;
  const tag = colon >= 0 ? path.slice(colon + 1) : 'latest';
  if (digest !== undefined) return { registry: first, repository, ref: digest, name: colon >= 0 ? `${first}/${repository}:${tag}` : undefined };
  return { registry: first, repository, ref: tag, name: `${first}/${repository}:${tag}` };
}
