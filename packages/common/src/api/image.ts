/**
 * Wire types of the engine's image API (routes listed in
 * packages/engine/src/api/image-routes.ts).
 */

/** What an image's config says a container runs, as loaded (the OCI image config's `config`). */
export interface ImageRuntimeConfig {
  entrypoint: string[];
  cmd: string[];
  /** K=V entries. */
  env: string[];
  /** Absolute; empty: `/`. */
  workingDir: string;
  /** `uid`, `uid:gid`, `name` or `name:group`; empty: root. */
  user: string;
  /** `80/tcp`, … (metadata only: nothing is published from it). */
  exposedPorts: string[];
}

/** An image as the API answers it. */
export interface ImageView {
  /** `sha256:<hex>` of the image config; the built-in busybox has `builtin:busybox`. */
  id: string;
  /** `name:tag` references. */
  tags: string[];
  builtin: boolean;
  /** Uncompressed layer digests (diff ids), bottom first. */
  layers: string[];
  /** Bytes of the unpacked layers. */
  size: number;
  architecture: string;
  os: string;
  config: ImageRuntimeConfig;
  /** When the image was made (its config's `created`), if it says. */
  created: string | null;
  loadedAt: string | null;
}

/** The answer of POST /v1/images/load: the images the archive held, with their tags. */
export interface ImageLoadResult {
  images: ImageView[];
}
