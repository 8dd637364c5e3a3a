/**
 * Loaded images, in `<imagesDir>` next to the built-in busybox:
 *
 *   images/<hex>.json   one record per image (StoredImage), <hex> of its config digest;
 *                       written atomically, last step of a load
 *   layers/<hex>/       one unpacked layer per diff id, shared by every image that has
 *                       it; whiteouts in overlayfs form (whiteouts.ts), so it is an
 *                       overlayfs lowerdir as it is. Never written once renamed here.
 *   tmp/load-*          loads in progress
 *
 * A load is all or nothing: the archive is unpacked into tmp/, its configs and
 * layers checked (digests, whiteouts, paths), every new layer unpacked into tmp/ too,
 * and only then are the layers renamed into layers/ and the records written. A load
 * that fails removes its tmp directory; one cut short by a crash leaves a tmp
 * directory and perhaps layers no record names, which the next open() removes.
 * Loads, removals and the opening sweep run one at a time (a queue).
 */
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeJsonAtomic, type Logger } from '@vxnet/common';
import type { ImageRuntimeConfig, ImageView } from '@vxnet/common/api';
import { ImageAmbiguous, ImageInUse, ImageLoadRefused, ImageStoreUnreadable, NoSuchImage } from '../errors.js';
import { ArchiveInvalid, hasTag, readArchive, type ArchiveImage } from './image-archive.js';
import { parseImageConfig, type ParsedImageConfig } from './image-config.js';
import { UnpackRefused, digestBlob, unpackTar } from './tar-unpack.js';
import { applyWhiteouts, type WhiteoutOps } from './whiteouts.js';

/** Layer blobs are read in 1 MiB chunks: fewer, larger writes when unpacking. */
const READ_CHUNK = 1 << 20;

export interface StoredImage {
  id: string;
  tags: string[];
  /** Diff ids, bottom first. */
  layers: string[];
  /** Bytes of each layer's files, as `layers`. */
  layerSizes: number[];
  architecture: string;
  os: string;
  created: string | null;
  config: ImageRuntimeConfig;
  loadedAt: string;
}

export interface LoadedImagesOptions {
  dir: string;
  whiteouts: WhiteoutOps;
  log: Logger;
}

export class LoadedImages {
  private readonly images = new Map<string, StoredImage>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: LoadedImagesOptions) {}

  private get imagesDir(): string {
    return join(this.o.dir, 'images');
  }

  private get tmpDir(): string {
    return join(this.o.dir, 'tmp');
  }

  /** Directory of the unpacked layer `diffId` (an overlayfs lowerdir). */
  layerDir(diffId: string): string {
    return join(this.o.dir, 'layers', diffId.slice('sha256:'.length));
  }

  /**
   * Read every image record, remove loads a crash cut short and layers no record
   * names. Throws ImageStoreUnreadable, before removing anything, when a record cannot
   * be read: removing the layers of an image we could not read would break it.
   */
  open(): void {
    for (const d of [this.imagesDir, this.tmpDir, join(this.o.dir, 'layers')]) mkdirSync(d, { recursive: true });
    for (const f of readdirSync(this.imagesDir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      const file = join(this.imagesDir, f);
      let rec: StoredImage;
      try {
        rec = JSON.parse(readFileSync(file, 'utf8')) as StoredImage;
      } catch (err) {
        throw new ImageStoreUnreadable(file, (err as Error).message, err);
      }
      if (rec.id !== `sha256:${f.slice(0, 64)}` || !Array.isArray(rec.layers) || !Array.isArray(rec.tags)) throw new ImageStoreUnreadable(file, 'it is not an image record');
      this.images.set(rec.id, rec);
    }
    for (const t of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, t), { recursive: true, force: true });
    this.sweepLayers();
    this.o.log.info({ images: this.images.size }, 'images loaded');
  }

  list(): StoredImage[] {
    return [...this.images.values()].sort((a, b) => b.loadedAt.localeCompare(a.loadedAt));
  }

  /**
   * The image `ref` names: `name[:tag]` (tag latest by default), `sha256:<hex>`, or a
   * unique prefix of the hex id; undefined when none. Throws ImageAmbiguous.
   */
  find(ref: string): StoredImage | undefined {
    const tagged = hasTag(ref) ? ref : `${ref}:latest`;
    for (const img of this.images.values()) if (img.tags.includes(tagged)) return img;
    const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
    if (!/^[0-9a-f]{1,64}$/.test(hex)) return undefined;
    const matches = [...this.images.values()].filter((i) => i.id.slice(7).startsWith(hex));
    if (matches.length > 1) throw new ImageAmbiguous(ref, matches.map((m) => m.id.slice(7, 19)).join(', '));
    return matches[0];
  }

  /** Load every image of the archive in `input` (a tar, gzipped or not). All or nothing; throws ImageLoadRefused. */
  load(input: Readable | AsyncIterable<Buffer>): Promise<StoredImage[]> {
    return this.serial(() => this.loadNow(async (archiveDir) => {
      try {
        await unpackTar(input, archiveDir, { layer: false });
      } catch (err) {
        if (err instanceof UnpackRefused) throw new ImageLoadRefused(`the archive: ${err.message}`, err);
        throw err;
      }
    }));
  }

  /**
   * Load the archive `fill` writes into the directory it is given (inside this store's
   * tmp/, removed afterwards whatever happens): how `pull` stores what it downloads. All
   * or nothing, like load; errors of `fill` are thrown as they are. `fill` runs outside
   * the store's queue (a slow download holds up no other load or rm); the load after it
   * is queued like any other.
   */
  async loadFrom(fill: (archiveDir: string) => Promise<void>): Promise<StoredImage[]> {
    const download = mkdtempSync(join(this.tmpDir, 'download-'));
    try {
      await fill(download);
      return await this.serial(() => this.loadNow(async (archiveDir) => {
        rmSync(archiveDir, { recursive: true });
        renameSync(download, archiveDir);
      }));
    } finally {
      rmSync(download, { recursive: true, force: true });
    }
  }

  /**
   * Remove `ref`: a tag only when the image has others (docker rmi), else the image and
   * the layers no other image has. `usedBy` lists the containers that use an image id;
   * the image is refused (ImageInUse) while any does. Returns what was removed.
   */
  remove(ref: string, usedBy: (id: string) => string[]): Promise<{ id: string; untagged: string[]; deleted: boolean }> {
    return this.serial(async () => {
      const img = this.find(ref);
      if (!img) throw new NoSuchImage('remove', ref);
      const tag = hasTag(ref) ? ref : `${ref}:latest`;
      if (img.tags.includes(tag) && img.tags.length > 1) {
        img.tags = img.tags.filter((t) => t !== tag);
        this.write(img);
        return { id: img.id, untagged: [tag], deleted: false };
      }
      const users = usedBy(img.id);
      if (users.length > 0) throw new ImageInUse(ref, users.join(', '));
      rmSync(join(this.imagesDir, `${img.id.slice(7)}.json`), { force: true });
      this.images.delete(img.id);
      this.sweepLayers();
      this.o.log.info({ image: { id: img.id, tags: img.tags } }, 'image removed');
      return { id: img.id, untagged: img.tags, deleted: true };
    });
  }

  view(img: StoredImage): ImageView {
    return {
      id: img.id, tags: img.tags, builtin: false, layers: img.layers, size: img.layerSizes.reduce((a, b) => a + b, 0),
      architecture: img.architecture, os: img.os, config: img.config, created: img.created, loadedAt: img.loadedAt,
    };
  }

  // ---- internals -------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async loadNow(fill: (archiveDir: string) => Promise<void>): Promise<StoredImage[]> {
    const t0 = Date.now();
    const tmp = mkdtempSync(join(this.tmpDir, 'load-'));
    try {
      const archiveDir = join(tmp, 'archive');
      mkdirSync(archiveDir);
      await fill(archiveDir);
      let found: ArchiveImage[];
      try {
        found = readArchive(archiveDir);
      } catch (err) {
        if (err instanceof ArchiveInvalid) throw new ImageLoadRefused(err.message, err);
        throw err;
      }
      const parsed = found.map((img) => {
        const cfg = parseImageConfig(img.config);
        const what = img.tags[0] ?? img.id.slice(7, 19);
        if (typeof cfg === 'string') throw new ImageLoadRefused(`image ${what}: ${cfg}`);
        if (cfg.diffIds.length !== img.layers.length) {
          throw new ImageLoadRefused(`image ${what}: its manifest has ${img.layers.length} layers but its config lists ${cfg.diffIds.length}`);
        }
        return { img, cfg, what };
      });
      // unpack each layer not in the store yet, once, and check it against the config
      const sizes = new Map<string, number>();
      for (const s of this.images.values()) s.layers.forEach((d, i) => sizes.set(d, s.layerSizes[i] ?? 0));
      const fresh = new Map<string, string>();
      for (const { img, cfg, what } of parsed) {
        for (const [i, layer] of img.layers.entries()) {
          const diffId = cfg.diffIds[i] as string;
          if (sizes.has(diffId)) {
            // unpacked already (by an earlier load, or earlier in this one): the blob must still be what the archive says it is
            const got = await wrapRefusal(() => digestBlob(createReadStream(layer.path, { highWaterMark: READ_CHUNK })), `image ${what}: layer ${i + 1}`);
            if (layer.digest !== undefined && got.digest !== layer.digest) {
              throw new ImageLoadRefused(`image ${what}: layer ${i + 1} has digest ${got.digest}, not ${layer.digest} as its manifest says`);
            }
            if (got.diffId !== diffId) throw new ImageLoadRefused(`image ${what}: layer ${i + 1} unpacks to ${got.diffId}, not ${diffId} as its config says`);
            continue;
          }
          const dir = join(tmp, `layer-${sizes.size}`);
          mkdirSync(dir);
          let got;
          try {
            got = await unpackTar(createReadStream(layer.path, { highWaterMark: READ_CHUNK }), dir, { layer: true });
          } catch (err) {
            if (err instanceof UnpackRefused) throw new ImageLoadRefused(`image ${what}: layer ${i + 1} (${diffId.slice(0, 19)}…): ${err.message}`, err);
            throw err;
          }
          if (layer.digest !== undefined && got.digest !== layer.digest) {
            throw new ImageLoadRefused(`image ${what}: layer ${i + 1} has digest ${got.digest}, not ${layer.digest} as its manifest says`);
          }
          if (got.diffId !== diffId) {
            throw new ImageLoadRefused(`image ${what}: layer ${i + 1} unpacks to ${got.diffId}, not ${diffId} as its config says`);
          }
          try {
            applyWhiteouts(dir, got.whiteouts, got.opaque, this.o.whiteouts);
          } catch (err) {
            throw new ImageLoadRefused(`image ${what}: layer ${i + 1}: ${(err as Error).message}`, err);
          }
          sizes.set(diffId, got.size);
          fresh.set(diffId, dir);
        }
      }
      // commit: layers first, then the records that name them
      for (const [diffId, dir] of fresh) {
        try {
          renameSync(dir, this.layerDir(diffId));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
      }
      const loadedAt = new Date().toISOString();
      const out: StoredImage[] = [];
      for (const { img, cfg } of parsed) {
        const rec = this.record(img, cfg, sizes, loadedAt);
        out.push(rec);
      }
      this.o.log.info({ images: out.map((r) => ({ id: r.id, tags: r.tags })), layers: fresh.size, ms: Date.now() - t0 }, 'images loaded from an archive');
      return out;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Write the record of a loaded image (merging with an existing one) and move its tags off other images. */
  private record(img: ArchiveImage, cfg: ParsedImageConfig, sizes: Map<string, number>, loadedAt: string): StoredImage {
    for (const other of this.images.values()) {
      if (other.id === img.id || !other.tags.some((t) => img.tags.includes(t))) continue;
      other.tags = other.tags.filter((t) => !img.tags.includes(t));
      this.write(other);
    }
    const existing = this.images.get(img.id);
    const rec: StoredImage = {
      id: img.id, tags: [...new Set([...(existing?.tags ?? []), ...img.tags])], layers: cfg.diffIds,
      layerSizes: cfg.diffIds.map((d) => sizes.get(d) ?? 0), architecture: cfg.architecture, os: cfg.os, created: cfg.created,
      config: cfg.config, loadedAt: existing?.loadedAt ?? loadedAt,
    };
    this.write(rec);
    this.images.set(rec.id, rec);
    return rec;
  }

  private write(rec: StoredImage): void {
    writeJsonAtomic(join(this.imagesDir, `${rec.id.slice(7)}.json`), rec);
  }

  /** Remove layer directories that no image record names. */
  private sweepLayers(): void {
    const wanted = new Set([...this.images.values()].flatMap((i) => i.layers.map((d) => d.slice(7))));
    const dir = join(this.o.dir, 'layers');
    for (const l of readdirSync(dir)) {
      if (wanted.has(l)) continue;
      this.o.log.info({ layer: l }, 'removing a layer no image uses');
      rmSync(join(dir, l), { recursive: true, force: true });
    }
  }
}

/** `fn`, with an UnpackRefused turned into ImageLoadRefused under `what`. */
async function wrapRefusal<T>(fn: () => Promise<T>, what: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UnpackRefused) throw new ImageLoadRefused(`${what}: ${err.message}`, err);
    throw err;
  }
}
