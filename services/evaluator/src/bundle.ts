// OPA bundles as the evaluator loads them: what `opa build -t wasm -e palisade/main/alerts` writes (a bundle.tar.gz,
// or the same files in a directory), checked and turned into the parts PolicyEngine.create compiles.
//
//   /.manifest     JSON: revision, roots, wasm [{entrypoint, module}], metadata. The rule metadata (severity, actions,
//                  event kinds: what `opa inspect -a` reads from the rules' # METADATA blocks) is metadata.palisade,
//                  put there by scripts/build-policies.mjs. A directory laid out as build/policies/ may carry it as
//                  /metadata.json instead.
//   /policy.wasm   the module the manifest names for palisade/main/alerts (policy.wasm when it names none)
//   **/data.json   base data, at the path of its directory (/a/b/data.json is data.a.b); every path under a root
//   *.rego, other  ignored: the wasm is what runs
//
// A bundle without the rule metadata (a third-party `opa build` of its own rules) is refused as missing_metadata:
// without event kinds the evaluator cannot tell which events to send, and without severity and actions its alerts
// would mean nothing to the responder. Build it with `node scripts/build-policies.mjs --policies <dir> --out <dir>`
// (which validates the # METADATA blocks and writes them into the manifest).
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PalisadeError } from '@palisade/common';
import { POLICY_ENTRYPOINT, mergeData, parseMetadata, type PolicyLoadReason, type RuleMetadata } from './policy-engine.js';

/** Why a bundle was refused: the `result` label of palisade_evaluator_bundle_loads_total, a fixed set. */
export type BundleRejectReason = PolicyLoadReason | 'fetch_failed' | 'corrupt' | 'missing_metadata' | 'bad_metadata';

export const BUNDLE_REJECT_REASONS: readonly BundleRejectReason[] = [
  'fetch_failed', 'corrupt', 'bad_wasm', 'wrong_entrypoint', 'bad_data', 'missing_metadata', 'bad_metadata',
];

export class BundleError extends PalisadeError {
  constructor(readonly reason: BundleRejectReason, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super('POLICY_LOAD_FAILED', message, opts);
  }
}

/** A bundle's files by path, without the leading slash. */
export type BundleFiles = Map<string, Buffer>;

/** A checked bundle: everything PolicyEngine.create needs, and what identifies it. */
export interface Bundle {
  /** The manifest's revision; "" when it has none. */
  readonly revision: string;
  readonly roots: readonly string[];
  readonly wasm: Buffer;
  readonly data: Record<string, unknown>;
  readonly rules: readonly RuleMetadata[];
  /** sha256 of the bundle's files (path and content), hex: tells two bundles apart when revisions do not. */
  readonly digest: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MAX_BUNDLE_BYTES = 256 << 20;

/** Reads a gzipped ustar/pax tarball (what `opa build` writes). Throws BundleError corrupt. */
export function readTarGz(gz: Buffer): BundleFiles {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (err) {
    throw new BundleError('corrupt', `not a gzip stream: ${(err as Error).message}`, { cause: err });
  }
  const files: BundleFiles = new Map();
  const text = (start: number, len: number): string => {
    const s = tar.subarray(start, start + len);
    const nul = s.indexOf(0);
    return s.subarray(0, nul === -1 ? s.length : nul).toString('utf8');
  };
  let offset = 0;
  let paxPath: string | undefined;
  let ended = false;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) { ended = true; break; }
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    const stored = parseInt(text(offset + 148, 8).trim(), 8);
    if (stored !== sum) throw new BundleError('corrupt', `tar: bad header checksum at byte ${offset}`);
    const size = parseInt(text(offset + 124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new BundleError('corrupt', `tar: bad size at byte ${offset}`);
    const type = String.fromCharCode(header[156] || 0x30);
    const prefix = text(offset + 257, 6).startsWith('ustar') ? text(offset + 345, 155) : '';
    const name = prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (body.length !== size) throw new BundleError('corrupt', `tar: ${name} is truncated`);
    if (type === 'x') {
      for (const rec of body.toString('utf8').split('\n')) {
        const m = /^\d+ path=(.*)$/.exec(rec);
        if (m) paxPath = m[1];
      }
    } else {
      if (type === '0' || type === '\0') files.set(normalise(paxPath ?? name), Buffer.from(body));
      paxPath = undefined;
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  if (!ended) throw new BundleError('corrupt', 'tar: no end-of-archive marker (truncated download?)');
  return files;
}

/** Writes files as a gzipped ustar tarball that readTarGz and opa read: for repacking a bundle (tests, tools). */
export function writeTarGz(files: BundleFiles): Buffer {
  const blocks: Buffer[] = [];
  for (const [path, body] of files) {
    const h = Buffer.alloc(512);
    const name = `/${normalise(path)}`;
    if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`);
    h.write(name, 0, 100, 'utf8');
    h.write('0000600\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

function normalise(path: string): string {
  return path.replace(/^(\.\/|\/)+/, '');
}

/**
 * Reads a bundle directory. Names starting with ".." are skipped: a ConfigMap mount keeps its files behind the
 * ..data symlink, and its top-level names are symlinks into it, which are followed.
 */
export async function readBundleDir(dir: string): Promise<BundleFiles> {
  const files: BundleFiles = new Map();
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      if (entry.name.startsWith('..')) continue;
      const p = join(abs, entry.name);
      const r = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const st = entry.isSymbolicLink() ? await stat(p) : undefined;
      if (entry.isDirectory() || st?.isDirectory()) await walk(p, r);
      else if (entry.isFile() || st?.isFile()) files.set(r, await readFile(p));
    }
  };
  try {
    await walk(dir, '');
  } catch (err) {
    throw new BundleError('fetch_failed', `cannot read the bundle directory ${dir}: ${(err as Error).message}`,
      { cause: err, retriable: true });
  }
  return files;
}

/** sha256 over the files in path order, so a directory and its tarball of the same files have one digest. */
export function digestOf(files: BundleFiles): string {
  const h = createHash('sha256');
  for (const path of [...files.keys()].sort()) {
    const body = files.get(path)!;
    h.update(`${path}\0${body.length}\0`).update(body);
  }
  return h.digest('hex');
}

function json(files: BundleFiles, path: string, reason: BundleRejectReason): unknown {
  const buf = files.get(path);
  if (buf === undefined) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new BundleError(reason, `/${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

function underRoot(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => r === '' || path === r || path.startsWith(`${r}/`));
}

/** Checks a bundle's files and returns its parts. Throws BundleError with the reason. */
export function parseBundle(files: BundleFiles): Bundle {
  const manifest = json(files, '.manifest', 'corrupt') ?? {};
  if (!isRecord(manifest)) throw new BundleError('corrupt', '/.manifest is not an object');
  const revision = manifest.revision === undefined ? '' : manifest.revision;
  if (typeof revision !== 'string') throw new BundleError('corrupt', '/.manifest: revision is not a string');
  const roots = manifest.roots === undefined ? [''] : manifest.roots;
  if (!Array.isArray(roots) || !roots.every((r): r is string => typeof r === 'string')) {
    throw new BundleError('corrupt', '/.manifest: roots is not a list of strings');
  }
  const cleanRoots = roots.map((r) => r.replace(/^\/+|\/+$/g, ''));

  // The wasm module for our entrypoint.
  let module = 'policy.wasm';
  if (manifest.wasm !== undefined) {
    if (!Array.isArray(manifest.wasm)) throw new BundleError('corrupt', '/.manifest: wasm is not a list');
    if (manifest.wasm.length > 0) {
      const entry = manifest.wasm.find((w): w is Record<string, unknown> => isRecord(w) && w.entrypoint === POLICY_ENTRYPOINT);
      if (!entry) {
        const names = manifest.wasm.map((w) => (isRecord(w) ? String(w.entrypoint) : '?')).join(', ');
        throw new BundleError('wrong_entrypoint', `the bundle's wasm is built for ${names}, not ${POLICY_ENTRYPOINT} ` +
          `(opa build -t wasm -e ${POLICY_ENTRYPOINT})`);
      }
      if (typeof entry.module !== 'string') throw new BundleError('corrupt', '/.manifest: wasm module is not a path');
      module = normalise(entry.module);
    }
  }
  const wasm = files.get(module);
  if (wasm === undefined) throw new BundleError('bad_wasm', `no /${module} in the bundle (is it built with -t wasm?)`);
  if (!underRoot(POLICY_ENTRYPOINT, cleanRoots)) {
    throw new BundleError('wrong_entrypoint', `${POLICY_ENTRYPOINT} is outside the bundle's roots (${cleanRoots.join(', ')})`);
  }

  // Data: every data.json, at its directory's path, within the roots.
  let data: Record<string, unknown> = {};
  for (const path of [...files.keys()].sort()) {
    if (path !== 'data.json' && !path.endsWith('/data.json')) continue;
    const value = json(files, path, 'bad_data');
    const dirs = path.split('/').slice(0, -1);
    if (dirs.length === 0 && !isRecord(value)) throw new BundleError('bad_data', '/data.json is not an object');
    const keys = dirs.length === 0 ? Object.keys(value as Record<string, unknown>) : [dirs.join('/')];
    for (const k of keys) {
      if (!underRoot(k, cleanRoots)) throw new BundleError('bad_data', `/${path}: data at ${k} is outside the bundle's roots`);
    }
    let tree: unknown = value;
    for (const d of [...dirs].reverse()) tree = { [d]: tree };
    data = mergeData(data, tree as Record<string, unknown>);
  }

  // Rule metadata: the manifest's metadata.palisade, else /metadata.json (the build/policies layout).
  const meta = (isRecord(manifest.metadata) ? manifest.metadata.palisade : undefined) ?? json(files, 'metadata.json', 'bad_metadata');
  if (meta === undefined) {
    throw new BundleError('missing_metadata', 'the bundle carries no rule metadata (.manifest metadata.palisade): build it ' +
      'with scripts/build-policies.mjs, which reads the rules\' # METADATA blocks into the manifest');
  }
  let rules: RuleMetadata[];
  try {
    rules = parseMetadata(meta);
  } catch (err) {
    throw new BundleError('bad_metadata', (err as Error).message, { cause: err });
  }
  if (rules.length === 0) throw new BundleError('bad_metadata', 'the bundle\'s metadata lists no rules');
  return { revision, roots: cleanRoots, wasm, data, rules, digest: digestOf(files) };
}
