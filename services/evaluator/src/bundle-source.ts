// Where a bundle comes from: a bundle.tar.gz or a bundle directory on disk, or a bundle server over HTTP(S), asked
// with the ETag of the last bundle it sent (If-None-Match), so an unchanged bundle costs a 304 and no download.
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BundleError, digestOf, readBundleDir, readTarGz, type BundleFiles } from './bundle.js';

export type FetchResult =
  | { changed: false }
  | { changed: true; files: BundleFiles; digest: string; etag?: string };

export interface BundleSource {
  /** The path or URL, for logs and /readyz. */
  readonly location: string;
  /**
   * The bundle, unless it is the one the last call returned (same ETag or same digest): a bundle that was refused
   * is not fetched and refused again until it changes. Throws BundleError (fetch_failed, corrupt).
   */
  fetch(): Promise<FetchResult>;
}

export interface HttpSourceOptions {
  /** Deadline of one request. */
  timeoutMs: number;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
}

export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

export function bundleSource(location: string, http: HttpSourceOptions): BundleSource {
  return isUrl(location) ? new HttpBundleSource(location, http) : new FileBundleSource(resolve(location));
}

/** A bundle.tar.gz or a directory; re-read on every fetch, and "changed" only when its digest is. */
export class FileBundleSource implements BundleSource {
  #last: string | undefined;
  constructor(readonly location: string) {}

  async fetch(): Promise<FetchResult> {
    let isDir: boolean;
    try {
      isDir = (await stat(this.location)).isDirectory();
    } catch (err) {
      throw new BundleError('fetch_failed', `cannot read ${this.location}: ${(err as Error).message}`, { cause: err, retriable: true });
    }
    let files: BundleFiles;
    if (isDir) {
      // A directory being rewritten (a build, a ConfigMap update) may be read half old, half new: read it until two
      // reads agree.
      let digest = '';
      for (let tries = 0; ; tries++) {
        files = await readBundleDir(this.location);
        const again = digestOf(files);
        if (again === digest) break;
        if (tries >= 3) throw new BundleError('fetch_failed', `${this.location} keeps changing while it is read`, { retriable: true });
        digest = again;
      }
    } else {
      let gz: Buffer;
      try {
        gz = await readFile(this.location);
      } catch (err) {
        throw new BundleError('fetch_failed', `cannot read ${this.location}: ${(err as Error).message}`, { cause: err, retriable: true });
      }
      const raw = digestOf(new Map([['', gz]]));
      if (raw === this.#last) return { changed: false };
      this.#last = raw;
      files = readTarGz(gz);
      return { changed: true, files, digest: digestOf(files) };
    }
    const digest = digestOf(files);
    if (digest === this.#last) return { changed: false };
    this.#last = digest;
    return { changed: true, files, digest };
  }
}

/** OPA's bundle service API: GET the URL; 200 with a gzipped tarball and an ETag, or 304 for If-None-Match. */
export class HttpBundleSource implements BundleSource {
  #etag: string | undefined;
  #lastDigest: string | undefined;
  constructor(readonly location: string, private readonly opts: HttpSourceOptions) {}

  async fetch(): Promise<FetchResult> {
    const headers: Record<string, string> = { accept: 'application/gzip, application/vnd.openpolicyagent.bundles' };
    if (this.#etag !== undefined) headers['if-none-match'] = this.#etag;
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    let res: Response;
    let body: Buffer;
    try {
      res = await fetch(this.location, { headers, signal: AbortSignal.timeout(this.opts.timeoutMs), redirect: 'follow' });
      body = res.status === 200 ? Buffer.from(await res.arrayBuffer()) : Buffer.alloc(0);
      if (res.status !== 200) await res.body?.cancel();
    } catch (err) {
      throw new BundleError('fetch_failed', `GET ${this.location}: ${(err as Error).message}`, { cause: err, retriable: true });
    }
    if (res.status === 304) return { changed: false };
    if (res.status !== 200) {
      throw new BundleError('fetch_failed', `GET ${this.location}: HTTP ${res.status}`, { retriable: res.status >= 500 || res.status === 429 });
    }
    // Remembered before the bundle is checked: a refused bundle is not downloaded again until the server has another.
    const etag = res.headers.get('etag') ?? undefined;
    this.#etag = etag;
    const files = readTarGz(body);
    const digest = digestOf(files);
    if (etag === undefined && digest === this.#lastDigest) return { changed: false };
    this.#lastDigest = digest;
    return { changed: true, files, digest, ...(etag !== undefined && { etag }) };
  }
}
