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

/**
 * The body of POST /v1/images/pull. Credentials and the CA travel in the body over the
 * engine's socket only; the engine never logs them.
 */
export interface ImagePullRequest {
  /** `registry[:port]/name[:tag|@sha256:<hex>]`. */
  ref: string;
  /** HTTP basic credentials for the registry's token server (or the registry itself). */
  username?: string;
  password?: string;
  /** Extra CA certificate(s), PEM, trusted for this pull besides the system ones and the engine's registryCaFile. */
  ca?: string;
}

/** The answer of POST /v1/images/pull. */
export interface ImagePullResult {
  image: ImageView;
  /** Digest of the image manifest pulled. */
  digest: string;
  /** Bytes downloaded (config and layers). */
  bytes: number;
}
