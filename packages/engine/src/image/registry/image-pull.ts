/**
 * `pull`: a registry image downloaded into an OCI image layout inside the store's tmp/,
 * then stored by the same loader as `image load` (all or nothing). Whatever breaks the
 * download (network cut, a digest that does not match, a refused token) removes the
 * temporary directory with the rest of the load: no partial image, no stray files.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '@vxnet/common';
import type { ImagePullRequest } from '@vxnet/common/api';
import { ImagePullFailed, ImageReferenceInvalid } from '../../errors.js';
import type { LoadedImages, StoredImage } from '../image-store.js';
import { parsePullReference } from './reference.js';
import { RegistryClient, RegistryError } from './registry-client.js';

export interface RegistrySettings {
  /** `host[:port]` of registries spoken to over plain HTTP (loopback ones always may be). */
  insecure: readonly string[];
  /** A CA file (PEM) trusted for every registry besides the system CAs; null: none. */
  caFile: string | null;
}

/** Whether `registry` (host[:port]) may be spoken to over plain HTTP. */
export function isInsecure(registry: string, s: RegistrySettings): boolean {
  if (s.insecure.includes(registry)) return true;
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

export async function pullImage(store: LoadedImages, req: ImagePullRequest, s: RegistrySettings, log: Logger): Promise<{ image: StoredImage; digest: string; bytes: number }> {
  const ref = parsePullReference(req.ref);
  if (typeof ref === 'string') throw new ImageReferenceInvalid(req.ref, ref);
  const cas: string[] = [];
  if (s.caFile !== null) cas.push(readFileSync(s.caFile, 'utf8'));
  if (req.ca !== undefined) cas.push(req.ca);
  const auth = req.username !== undefined ? { username: req.username, password: req.password ?? '' } : undefined;
  const client = new RegistryClient(ref.registry, {
    insecure: isInsecure(ref.registry, s), ...(cas.length > 0 ? { ca: cas.join('\n') } : {}), ...(auth ? { auth } : {}), log,
  });
  const t0 = Date.now();
  let got: { digest: string; bytes: number } | undefined;
  try {
    const images = await store.loadFrom(async (dir) => {
      got = await client.pullToLayout(ref, dir);
    });
    const image = images[0];
    if (!image || !got) throw new ImagePullFailed(req.ref, 'the registry sent no image');
    log.info({ image: { id: image.id, tags: image.tags }, registry: ref.registry, digest: got.digest, bytes: got.bytes, ms: Date.now() - t0 }, 'image pulled');
    return { image, ...got };
  } catch (err) {
    if (err instanceof RegistryError) {
      log.warn({ registry: ref.registry, ref: req.ref, err: { message: err.message } }, 'image pull failed');
      throw new ImagePullFailed(req.ref, err.message);
    }
    throw err;
  }
}
