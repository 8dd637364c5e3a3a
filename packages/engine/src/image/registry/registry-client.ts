/**
 * A client of the OCI distribution API (v2), enough to pull one image into an OCI image
 * layout directory, which the loader (image-store.ts) then stores all or nothing.
 *
 *   GET /v2/<name>/manifests/<ref>   Accept: OCI index and manifest, Docker manifest list
 *                                    and manifest v2; an index -> its linux/amd64 entry
 *   GET /v2/<name>/blobs/<digest>    the config and each layer, redirects followed (the
 *                                    Authorization header only to the registry's own host)
 *
 * Auth (distribution's token spec): a 401 with `WWW-Authenticate: Bearer realm=…,
 * service=…,scope=…` -> GET realm?service=…&scope=repository:<name>:pull with HTTP basic
 * credentials when the user gave some -> {token} -> the request again with `Bearer`.
 * A `Basic` challenge gets the credentials directly. Credentials never reach a log.
 *
 * Transport: HTTPS with the system CAs plus an optional extra CA (PEM); plain HTTP only
 * for a registry the caller allows insecure. Every blob is hashed while it streams to
 * disk and checked against its digest and size before the next one starts.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type { Logger } from '@vxnet/common';
import type { PullReference } from './reference.js';

/** A pull that failed: the message is the phrase after `could not pull image "X": `. */
export class RegistryError extends Error {}

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** Speak plain HTTP to this registry (an explicitly allowed insecure one). */
  insecure: boolean;
  /** Extra trusted CA certificates (PEM), added to the system ones. */
  ca?: string;
  auth?: RegistryCredentials;
  log: Logger;
  /** Give up on a request that sends nothing for this long (ms). */
  idleTimeoutMs?: number;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const MAX_MANIFEST = 4 << 20;
const MAX_REDIRECTS = 5;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string };
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

export class RegistryClient {
  private token: string | undefined;
  private readonly base: string;

  constructor(private readonly registry: string, private readonly o: RegistryClientOptions) {
    this.base = `${o.insecure ? 'http' : 'https'}://${registry}`;
  }

  /**
   * Download `ref` into `dir` as an OCI image layout (oci-layout, index.json naming
   * `ref.name`, blobs/sha256/*). Throws RegistryError; leaves whatever it wrote for the
   * caller to remove.
   */
  async pullToLayout(ref: PullReference, dir: string): Promise<{ digest: string; layers: number; bytes: number }> {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    let { bytes: body, type } = await this.manifest(ref.repository, ref.ref);
    let doc = parseJson(body, `the manifest ${ref.ref}`);
    if (type === MANIFEST_TYPES[0] || type === MANIFEST_TYPES[2] || Array.isArray(doc.manifests)) {
      const entries = (Array.isArray(doc.manifests) ? doc.manifests : []).map((m) => descriptor(m, 'the index'));
      const pick = entries.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
      if (!pick) throw new RegistryError(`the index of ${ref.repository}:${ref.ref} has no linux/amd64 image`);
      ({ bytes: body, type } = await this.manifest(ref.repository, pick.digest));
      doc = parseJson(body, `the manifest ${pick.digest}`);
    }
    const manifestDigest = sha256(body);
    writeFileSync(join(dir, 'blobs', 'sha256', hex(manifestDigest)), body);
    const config = descriptor(doc.config, 'the manifest\'s config');
    if (!Array.isArray(doc.layers)) throw new RegistryError('the manifest lists no layers');
    const layers = doc.layers.map((l) => descriptor(l, 'the manifest\'s layers'));
    let bytes = 0;
    for (const d of [config, ...layers]) bytes += await this.blob(ref.repository, d, dir);
    const annotations = ref.name === undefined ? {} : { annotations: { 'org.opencontainers.image.ref.name': ref.name } };
    writeFileSync(join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2, manifests: [{ mediaType: type ?? MANIFEST_TYPES[1], digest: manifestDigest, size: body.length, ...annotations }],
    }));
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    return { digest: manifestDigest, layers: layers.length, bytes };
  }

  /** The manifest `ref` (tag or digest) of `repo`, checked against its digest when one is known. */
  private async manifest(repo: string, ref: string): Promise<{ bytes: Buffer; type: string | undefined }> {
    const res = await this.get(`/v2/${repo}/manifests/${ref}`, repo, { accept: MANIFEST_TYPES.join(', ') });
    if (res.status === 404) {
      res.body.resume();
      throw new RegistryError(`registry ${this.registry} has no ${repo}:${ref} (404)`);
    }
    await this.expectOk(res, `the manifest of ${repo}:${ref}`);
    const bytes = await readAll(res.body, MAX_MANIFEST, `the manifest of ${repo}:${ref}`);
    const want = DIGEST_RE.test(ref) ? ref : headerValue(res.headers['docker-content-digest']);
    if (want !== undefined && DIGEST_RE.test(want) && sha256(bytes) !== want) {
      throw new RegistryError(`the manifest of ${repo}:${ref} has digest ${sha256(bytes)}, not ${want}`);
    }
    const type = headerValue(res.headers['content-type'])?.split(';')[0]?.trim();
    return { bytes, type };
  }

  /** Stream blob `d` to `dir/blobs/sha256/<hex>`, hashing it on the way; returns its size. */
  private async blob(repo: string, d: Descriptor, dir: string): Promise<number> {
    const res = await this.get(`/v2/${repo}/blobs/${d.digest}`, repo, {});
    await this.expectOk(res, `blob ${d.digest}`);
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > d.size) return cb(new RegistryError(`blob ${d.digest} is larger than the ${d.size} bytes its manifest says`));
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(res.body, count, createWriteStream(join(dir, 'blobs', 'sha256', hex(d.digest))));
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError(`the download of blob ${d.digest} from ${this.registry} broke off after ${size} of ${d.size} bytes (${(err as Error).message})`);
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (size !== d.size) throw new RegistryError(`the download of blob ${d.digest} from ${this.registry} ended after ${size} of ${d.size} bytes`);
    if (got !== d.digest) throw new RegistryError(`blob ${d.digest} from ${this.registry} has digest ${got}`);
    this.o.log.debug({ blob: d.digest, bytes: size }, 'blob downloaded');
    return size;
  }

  private async expectOk(res: Response, what: string): Promise<void> {
    if (res.status === 200) return;
    const text = (await readAll(res.body, 64 << 10, what).catch(() => Buffer.alloc(0))).toString('utf8');
    const detail = registryErrorText(text);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(`registry ${this.registry} refused access to ${what} (${res.status}${detail ? `: ${detail}` : ''})${this.o.auth ? '' : '; give credentials with --username and --password-stdin'}`);
    }
    throw new RegistryError(`registry ${this.registry} answered ${res.status} for ${what}${detail ? ` (${detail})` : ''}`);
  }

  /** GET `path` of the registry with auth: a 401 challenge answered once. */
  private async get(path: string, repo: string, headers: Record<string, string>): Promise<Response> {
    const url = new URL(path, this.base);
    let res = await this.request(url, headers, true);
    if (res.status !== 401) return res;
    const challenge = headerValue(res.headers['www-authenticate']) ?? '';
    res.body.resume();
    if (/^basic\b/i.test(challenge)) {
      if (!this.o.auth) throw new RegistryError(`registry ${this.registry} needs credentials (401); give them with --username and --password-stdin`);
      this.token = undefined;
      return this.request(url, headers, true, basicAuth(this.o.auth));
    }
    const params = /^bearer\s+(.*)$/i.exec(challenge)?.[1];
    if (params === undefined) throw new RegistryError(`registry ${this.registry} answered 401 without a Bearer or Basic challenge`);
    this.token = await this.fetchToken(parseChallenge(params), repo);
    res = await this.request(url, headers, true);
    return res;
  }

  /** A bearer token from the realm of a challenge, for pulling `repo`. */
  private async fetchToken(c: Record<string, string>, repo: string): Promise<string> {
    if (!c.realm) throw new RegistryError(`registry ${this.registry} sent a Bearer challenge without a realm`);
    let realm: URL;
    try {
      realm = new URL(c.realm);
    } catch {
      throw new RegistryError(`registry ${this.registry} sent a Bearer realm that is no URL (${JSON.stringify(c.realm)})`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.o.insecure)) {
      throw new RegistryError(`registry ${this.registry} sent the token realm ${realm.origin}, which is not HTTPS (allow it as an insecure registry to use plain HTTP)`);
    }
    if (c.service) realm.searchParams.set('service', c.service);
    realm.searchParams.set('scope', c.scope ?? `repository:${repo}:pull`);
    const res = await this.request(realm, {}, false, this.o.auth ? basicAuth(this.o.auth) : undefined);
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      throw new RegistryError(`the token server of registry ${this.registry} (${realm.origin}) refused ${this.o.auth ? `the credentials of user "${this.o.auth.username}"` : 'an anonymous pull; give credentials with --username and --password-stdin'} (${res.status})`);
    }
    const body = await readAll(res.body, 1 << 20, 'the token');
    if (res.status !== 200) throw new RegistryError(`the token server of registry ${this.registry} (${realm.origin}) answered ${res.status}`);
    const doc = parseJson(body, 'the token answer');
    const token = typeof doc.token === 'string' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') throw new RegistryError(`the token server of registry ${this.registry} (${realm.origin}) answered without a token`);
    return token;
  }

  /** One GET, redirects followed; `own` requests (to the registry) carry the bearer token or `authorization`. */
  private async request(url: URL, headers: Record<string, string>, own: boolean, authorization?: string): Promise<Response> {
    let target = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const h: Record<string, string> = { ...headers, 'user-agent': 'vxnet-engine' };
      const sameHost = target.host === url.host;
      if (sameHost && authorization !== undefined) h.authorization = authorization;
      else if (sameHost && own && this.token !== undefined) h.authorization = `Bearer ${this.token}`;
      const res = await this.once(target, h);
      if (res.status >= 300 && res.status < 400 && res.headers.location !== undefined) {
        res.body.resume();
        target = new URL(res.headers.location, target);
        if (target.protocol !== 'https:' && !(target.protocol === 'http:' && this.o.insecure)) {
          throw new RegistryError(`registry ${this.registry} redirected to ${target.origin}, which is not HTTPS`);
        }
        continue;
      }
      return res;
    }
    throw new RegistryError(`registry ${this.registry} redirected more than ${MAX_REDIRECTS} times for ${url.pathname}`);
  }

  private once(url: URL, headers: Record<string, string>): Promise<Response> {
    return new Promise((resolve, reject) => {
      const lib = url.protocol === 'https:' ? https : http;
      const opts: https.RequestOptions = { method: 'GET', headers };
      if (url.protocol === 'https:' && this.o.ca !== undefined) opts.ca = [...rootCertificates, this.o.ca];
      const req = lib.request(url, opts, (res) => {
        res.setTimeout(this.o.idleTimeoutMs ?? 30_000, () => res.destroy(new Error('no data for too long')));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.setTimeout(this.o.idleTimeoutMs ?? 30_000, () => req.destroy(new Error('no answer')));
      req.on('error', (err) => reject(new RegistryError(`could not reach registry ${this.registry} at ${url.origin} (${(err as Error).message})`)));
      req.end();
    });
  }
}

/** `key="value"` pairs of a challenge. */
export function parseChallenge(params: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of params.matchAll(/([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) out[(m[1] as string).toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

function basicAuth(a: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
}

function descriptor(d: unknown, where: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (typeof o !== 'object' || o === null || typeof o.digest !== 'string' || !DIGEST_RE.test(o.digest) || typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new RegistryError(`${where} holds a descriptor without a sha256 digest and a size`);
  }
  return o as Descriptor;
}

function parseJson(b: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(b.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RegistryError(`${what} is not a JSON object`);
}

/** The first error message of a distribution error body `{errors: [{code, message}]}`. */
function registryErrorText(text: string): string | undefined {
  try {
    const e = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
    return e ? [e.code, e.message].filter(Boolean).join(' ') : undefined;
  } catch {
    return undefined;
  }
}

async function readAll(stream: NodeJS.ReadableStream, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of stream) {
      n += (c as Buffer).length;
      if (n > max) throw new RegistryError(`${what} is larger than ${max} bytes`);
      parts.push(c as Buffer);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw new RegistryError(`the download of ${what} broke off (${(err as Error).message})`);
  }
  return Buffer.concat(parts);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function hex(d: string): string {
  return d.slice('sha256:'.length);
}
