/**
 * Tar archives built in memory for the image tests, entry by entry, including the
 * malicious ones a file system cannot hold (`../../etc/passwd`, absolute paths):
 * node-tar's Header encodes each header block.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

export interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  body?: string | Buffer;
  linkpath?: string;
  mode?: number;
}

export function tarOf(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const type = e.type ?? (e.path.endsWith('/') ? 'Directory' : 'File');
    const h = new Header({
      path: e.path, type, size: type === 'File' ? body.length : 0, mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: 0, gid: 0, mtime: new Date(1_700_000_000_000), ...(e.linkpath !== undefined ? { linkpath: e.linkpath } : {}),
    });
    const block = Buffer.alloc(512);
    h.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && body.length > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export const gzip = (b: Buffer): Buffer => gzipSync(b);

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** An image config for layers with these diff ids. */
export function imageConfig(diffIds: string[], config: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z', config, rootfs: { type: 'layers', diff_ids: diffIds } }));
}

/** A docker save archive: manifest.json, <n>/layer.tar, <hex>.json. */
export function dockerSave(layers: Buffer[], tags: string[], config?: Record<string, unknown>, opts: { diffIds?: string[] } = {}): Buffer {
  const cfg = imageConfig(opts.diffIds ?? layers.map((l) => sha256(l)), config);
  const cfgName = `${sha256(cfg).slice(7)}.json`;
  const entries: TarEntry[] = [{ path: cfgName, body: cfg }];
  layers.forEach((l, i) => entries.push({ path: `l${i}/`, type: 'Directory' }, { path: `l${i}/layer.tar`, body: l }));
  entries.push({ path: 'manifest.json', body: JSON.stringify([{ Config: cfgName, RepoTags: tags, Layers: layers.map((_, i) => `l${i}/layer.tar`) }]) });
  return tarOf(entries);
}

/** An OCI image layout: oci-layout, index.json, blobs/sha256/… (layers as given: gzip them first for tar+gzip). */
export function ociLayout(layers: Buffer[], diffIds: string[], name: string, config?: Record<string, unknown>): Buffer {
  const cfg = imageConfig(diffIds, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(l), size: l.length })),
  }));
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': name } }] };
  const blob = (b: Buffer): TarEntry => ({ path: `blobs/sha256/${sha256(b).slice(7)}`, body: b });
  return tarOf([
    { path: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' }, { path: 'index.json', body: JSON.stringify(index) },
    { path: 'blobs/', type: 'Directory' }, { path: 'blobs/sha256/', type: 'Directory' }, blob(cfg), blob(manifest), ...layers.map(blob),
  ]);
}
