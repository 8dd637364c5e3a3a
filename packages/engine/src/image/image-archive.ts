/**
 * What an unpacked image archive holds, in either format `image load` takes:
 *
 *   docker save   manifest.json: [{Config, RepoTags, Layers}], paths inside the archive
 *                 (`<id>/layer.tar`, `<hex>.json`; newer dockers: `blobs/sha256/<hex>`)
 *   OCI layout    oci-layout + index.json -> manifest (or an index of them: the
 *                 linux/amd64 one) -> config and layer blobs at blobs/sha256/<hex>,
 *                 each checked against its digest here (layers when they are unpacked)
 *
 * A docker-save archive that also is an OCI layout (docker 25+) is read as docker save:
 * its manifest.json carries the tags. Every path named by a manifest is resolved
 * inside the archive directory (symlinks included: docker save links shared layers).
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { relativeParts } from './tar-unpack.js';

export interface ArchiveLayer {
  /** Absolute path of the layer's blob in the unpacked archive. */
  path: string;
  /** `sha256:<hex>` the blob must hash to (OCI); undefined when the format names none (docker save's layer.tar). */
  digest?: string;
}

export interface ArchiveImage {
  /** `name:tag` references the archive gives the image (possibly none). */
  tags: string[];
  /** The config's bytes, checked against its digest when the archive names one. */
  config: Buffer;
  /** `sha256:<hex>` of the config: the image id. */
  id: string;
  layers: ArchiveLayer[];
}

/** An archive that cannot be loaded: the message is the phrase after "could not load image: ". */
export class ArchiveInvalid extends Error {}

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export function readArchive(dir: string): ArchiveImage[] {
  const root = realpathSync(dir);
  if (isFile(root, 'manifest.json')) return readDockerSave(root);
  if (isFile(root, 'index.json') && isFile(root, 'oci-layout')) return readOciLayout(root);
  throw new ArchiveInvalid('the archive is neither a docker save tarball (no manifest.json) nor an OCI image layout (no index.json and oci-layout)');
}

function readDockerSave(root: string): ArchiveImage[] {
  const manifest = readJson(root, 'manifest.json');
  if (!Array.isArray(manifest) || manifest.length === 0) throw new ArchiveInvalid('manifest.json is not a list of images');
  return manifest.map((m: unknown, i) => {
    if (!isObject(m) || typeof m.Config !== 'string' || !Array.isArray(m.Layers) || !m.Layers.every((l) => typeof l === 'string')) {
      throw new ArchiveInvalid(`manifest.json entry ${i} has no Config or Layers`);
    }
    const tags = Array.isArray(m.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === 'string').map(normalizeReference) : [];
    const config = readBlob(root, m.Config, 'the config');
    // docker names the config by its digest (<hex>.json or blobs/sha256/<hex>): hold it to that
    const named = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(m.Config)?.[1];
    const id = sha256(config);
    if (named !== undefined && `sha256:${named}` !== id) throw new ArchiveInvalid(`the config ${m.Config} has digest ${id}, not the one its name says`);
    return { tags, config, id, layers: (m.Layers as string[]).map((l) => ({ path: blobPath(root, l, `layer ${l}`) })) };
  });
}

function readOciLayout(root: string): ArchiveImage[] {
  const layout = readJson(root, 'oci-layout');
  if (!isObject(layout) || typeof layout.imageLayoutVersion !== 'string') throw new ArchiveInvalid('oci-layout has no imageLayoutVersion');
  const index = readJson(root, 'index.json');
  if (!isObject(index) || !Array.isArray(index.manifests) || index.manifests.length === 0) throw new ArchiveInvalid('index.json lists no manifests');
  return index.manifests.map((d: unknown) => {
    const desc = descriptor(d, 'index.json');
    const ann = isObject(desc.annotations) ? desc.annotations : {};
    const name = typeof ann['io.containerd.image.name'] === 'string' ? ann['io.containerd.image.name'] : ann['org.opencontainers.image.ref.name'];
    const tags = typeof name === 'string' && name !== '' ? [normalizeReference(name)] : [];
    const manifest = resolveManifest(root, desc, 0);
    const config = verifiedBlob(root, descriptor(manifest.config, 'the manifest\'s config'), 'the config');
    if (!Array.isArray(manifest.layers)) throw new ArchiveInvalid('the manifest has no layers');
    const layers = manifest.layers.map((l: unknown) => {
      const ld = descriptor(l, 'the manifest\'s layers');
      return { path: blobPath(root, digestPath(ld.digest), `layer ${ld.digest}`), digest: ld.digest };
    });
    return { tags, config, id: sha256(config), layers };
  });
}

/** The image manifest a descriptor leads to: itself, or the linux/amd64 entry of an index (one level). */
function resolveManifest(root: string, desc: Descriptor, depth: number): Record<string, unknown> {
  const doc = JSON.parse(verifiedBlob(root, desc, `manifest ${desc.digest}`).toString('utf8')) as unknown;
  if (!isObject(doc)) throw new ArchiveInvalid(`manifest ${desc.digest} is not a JSON object`);
  const type = typeof doc.mediaType === 'string' ? doc.mediaType : desc.mediaType;
  if ((type !== undefined && INDEX_TYPES.has(type)) || Array.isArray(doc.manifests)) {
    if (depth > 0 || !Array.isArray(doc.manifests)) throw new ArchiveInvalid(`manifest ${desc.digest} is a nested index`);
    const entries = doc.manifests.map((m: unknown) => descriptor(m, `index ${desc.digest}`));
    const pick = entries.find((m) => isObject(m.platform) && m.platform.os === 'linux' && m.platform.architecture === 'amd64')
      ?? entries.find((m) => m.platform === undefined);
    if (!pick) throw new ArchiveInvalid(`index ${desc.digest} has no linux/amd64 image`);
    return resolveManifest(root, pick, depth + 1);
  }
  return doc;
}

interface Descriptor {
  digest: string;
  mediaType?: string;
  size?: number;
  annotations?: unknown;
  platform?: unknown;
}

function descriptor(d: unknown, where: string): Descriptor {
  if (!isObject(d) || typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest)) {
    throw new ArchiveInvalid(`${where} holds a descriptor without a sha256 digest (${JSON.stringify(d).slice(0, 80)})`);
  }
  return d as unknown as Descriptor;
}

function digestPath(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

function verifiedBlob(root: string, desc: Descriptor, what: string): Buffer {
  const bytes = readBlob(root, digestPath(desc.digest), what);
  const got = sha256(bytes);
  if (got !== desc.digest) throw new ArchiveInvalid(`${what} has digest ${got}, not ${desc.digest}`);
  return bytes;
}

function readBlob(root: string, rel: string, what: string): Buffer {
  return readFileSync(blobPath(root, rel, what));
}

/** `rel` resolved inside `root` (symlinks followed, but never out of it); must be a regular file. */
export function blobPath(root: string, rel: string, what: string): string {
  const parts = relativeParts(rel);
  if (typeof parts === 'string' || parts.length === 0) throw new ArchiveInvalid(`${what}: path ${JSON.stringify(rel)} ${typeof parts === 'string' ? parts : 'is empty'}`);
  let real: string;
  try {
    real = realpathSync(join(root, ...parts));
  } catch {
    throw new ArchiveInvalid(`${what} is missing from the archive (${rel})`);
  }
  if (!real.startsWith(root + sep)) throw new ArchiveInvalid(`${what} (${rel}) points outside the archive`);
  if (!statSync(real).isFile()) throw new ArchiveInvalid(`${what} (${rel}) is not a file`);
  return real;
}

function readJson(root: string, name: string): unknown {
  try {
    return JSON.parse(readFileSync(join(root, name), 'utf8'));
  } catch (err) {
    throw new ArchiveInvalid(`${name} is not JSON (${(err as Error).message})`);
  }
}

function isFile(root: string, name: string): boolean {
  try {
    return lstatSync(join(root, name)).isFile();
  } catch {
    return false;
  }
}

/**
 * `name:tag` for a reference as docker writes it; a bare name gets `:latest`.
 * Throws ArchiveInvalid for what is no image reference.
 */
export function normalizeReference(ref: string): string {
  const problem = referenceProblem(ref);
  if (problem) throw new ArchiveInvalid(`the image name ${JSON.stringify(ref)} ${problem}`);
  return hasTag(ref) ? ref : `${ref}:latest`;
}

/** Why `ref` is no `[host[:port]/]name[:tag]`, or undefined. */
export function referenceProblem(ref: string): string | undefined {
  if (ref.length > 255) return 'is longer than 255 characters';
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const name = colon > slash ? ref.slice(0, colon) : ref;
  const tag = colon > slash ? ref.slice(colon + 1) : undefined;
  if (tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) return 'has an invalid tag';
  const comps = name.split('/');
  const host = comps.length > 1 && /[.:]|^localhost$/.test(comps[0] as string) ? comps.shift() : undefined;
  if (host !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) return 'has an invalid registry host';
  if (!comps.every((c) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(c))) return 'is not a valid image name (lowercase letters, digits, . _ - and /)';
  return undefined;
}

export function hasTag(ref: string): boolean {
  return ref.lastIndexOf(':') > ref.lastIndexOf('/');
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
